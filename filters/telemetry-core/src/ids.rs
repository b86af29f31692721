//! Trace and span identifiers, their lowercase-hex form, and a generator seeded from the host.
//!
//! W3C Trace Context level 1, section 3.2.2.3 and 3.2.2.4: a trace-id is 16 bytes, a parent-id
//! (span id) is 8 bytes, both written as lowercase hex, and the all-zero value of either is invalid.

use std::fmt;

/// A 16-byte trace id. Never all-zero once constructed through [`TraceId::new`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id. Never all-zero once constructed through [`SpanId::new`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

/// Makes ids from a seed that the caller took from the host's random source.
///
/// The generator is xoshiro256** (Blackman and Vigna): one host random read seeds it, then every id
/// costs a few arithmetic instructions and no hostcall. It is not a cryptographic generator, which
/// W3C Trace Context does not ask for; it only needs ids to be unique with overwhelming probability.
///
/// Random enough for the Level 2 `random-trace-id` flag? Yes. Trace Context Level 2 ("Random
/// Trace ID Flag", "Considerations for trace-id field generation") asks that at least the
/// right-most 7 bytes be "selected randomly (or pseudo-randomly) with uniform distribution over
/// the interval [0..2^56-1]"; it names no cryptographic requirement. Every byte of a trace id
/// from [`IdGenerator::trace_id`] is output of xoshiro256**, which is equidistributed over 64-bit
/// outputs and passes the BigCrush and PractRand statistical batteries, seeded with 256 bits from
/// the host's random source; the low 8 bytes are one whole output. The one bias is the all-zero
/// id, which is skipped (a 2^-128 event). What it does not give is unpredictability: someone who
/// sees several consecutive ids of one worker can compute the following ones. The spec's flag
/// does not promise that, and the ids are not used as secrets.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    state: [u64; 4],
}

impl TraceId {
    /// The id, or `None` when all bytes are zero (invalid per W3C Trace Context 3.2.2.3).
    pub fn new(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(Self(bytes))
    }

    /// Parses exactly 32 lowercase hex characters; `None` for anything else or all zeros.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        decode_hex_lower(hex.as_bytes(), &mut bytes)?;
        Self::new(bytes)
    }

    /// The 16 raw bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// The 32-character lowercase hex form.
    pub fn to_hex(self) -> String {
        encode_hex(&self.0)
    }

    /// Appends the lowercase hex form to `out` without an intermediate allocation.
    pub fn write_hex(self, out: &mut String) {
        push_hex(out, &self.0);
    }

    /// The low 8 bytes as a big-endian integer: the part that ratio samplers compare
    /// (OpenTelemetry `TraceIdRatioBased`), so every proxy decides the same for one trace.
    pub fn low_u64(self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }
}

impl SpanId {
    /// The id, or `None` when all bytes are zero (invalid per W3C Trace Context 3.2.2.4).
    pub fn new(bytes: [u8; 8]) -> Option<Self> {
        (bytes != [0; 8]).then_some(Self(bytes))
    }

    /// Parses exactly 16 lowercase hex characters; `None` for anything else or all zeros.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let mut bytes = [0u8; 8];
        decode_hex_lower(hex.as_bytes(), &mut bytes)?;
        Self::new(bytes)
    }

    /// The 8 raw bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// The 16-character lowercase hex form.
    pub fn to_hex(self) -> String {
        encode_hex(&self.0)
    }

    /// Appends the lowercase hex form to `out` without an intermediate allocation.
    pub fn write_hex(self, out: &mut String) {
        push_hex(out, &self.0);
    }
}

impl IdGenerator {
    /// A generator seeded with 32 bytes from the host's random source.
    ///
    /// An all-zero seed (which would make xoshiro emit only zeros) is replaced by a fixed
    /// non-zero state, so the generator can never get stuck.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut state = [0u64; 4];
        for (word, chunk) in state.iter_mut().zip(seed.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_le_bytes(b);
        }
        if state == [0; 4] {
            state = [0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb, 1];
        }
        Self { state }
    }

    /// A new, non-zero trace id whose 16 bytes are all pseudo-random: it may be sent with the
    /// Level 2 `random-trace-id` flag.
    pub fn trace_id(&mut self) -> TraceId {
        loop {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            if let Some(id) = TraceId::new(bytes) {
                return id;
            }
        }
    }

    /// A new, non-zero span id.
    pub fn span_id(&mut self) -> SpanId {
        loop {
            if let Some(id) = SpanId::new(self.next_u64().to_be_bytes()) {
                return id;
            }
        }
    }

    /// The next 64 random bits (xoshiro256**).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.to_hex())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.to_hex())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// The two lowercase hex digits of every byte value. (Indexing in a constant: an index out of
/// range fails the build, never a request.)
#[allow(clippy::indexing_slicing)]
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0x0f]];
        i += 1;
    }
    table
};

/// Appends the lowercase hex of `bytes` to `out`.
///
/// Ids are hex-encoded several times per request (trace-ID header, `traceparent`, log line), so
/// each byte's two digits are one table load into a stack buffer, appended once per 32 bytes,
/// instead of one `String::push` (a capacity check and UTF-8 encoding) per digit.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buffer = [0u8; 64];
    for chunk in bytes.chunks(buffer.len() / 2) {
        let text = buffer.get_mut(..chunk.len() * 2).unwrap_or_default();
        hex_into(text, chunk);
        // Only ASCII hex digits were written, so the slice is valid UTF-8.
        out.push_str(std::str::from_utf8(text).unwrap_or_default());
    }
}

/// Writes the lowercase hex of `bytes` into `out`, two digits per byte, as far as `out` holds
/// them: for callers that assemble a header value in one stack buffer.
pub fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(HEX_PAIRS.get(usize::from(*b)).unwrap_or(&[b'0'; 2]));
    }
}

/// Writes the lowercase hex of each `(offset, bytes)` field into `text` at its offset: for a
/// header value or a log field assembled from a template in one stack buffer. A field that does
/// not fit is left as the template has it.
pub fn hex_fields(text: &mut [u8], fields: &[(usize, &[u8])]) {
    for &(at, bytes) in fields {
        if let Some(slot) = text.get_mut(at..at + 2 * bytes.len()) {
            hex_into(slot, bytes);
        }
    }
}

/// Decodes lowercase hex into `out`, which must be exactly half as long as `hex`.
/// Uppercase is rejected: W3C Trace Context requires lowercase (3.2.2.3, 3.2.2.4).
pub fn decode_hex_lower(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != out.len() * 2 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = (lower_hex_value(*hi)? << 4) | lower_hex_value(*lo)?;
    }
    Some(())
}

/// The value of one lowercase hex digit.
pub fn lower_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_zero_ids_are_rejected() {
        assert_eq!(TraceId::new([0; 16]), None);
        assert_eq!(SpanId::new([0; 8]), None);
        assert_eq!(TraceId::from_hex("00000000000000000000000000000000"), None);
        assert_eq!(SpanId::from_hex("0000000000000000"), None);
    }

    #[test]
    fn hex_must_be_lowercase_and_exact_length() {
        assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").is_some());
        assert_eq!(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736"), None);
        assert_eq!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473"), None);
        assert_eq!(SpanId::from_hex("00f067aa0ba902b7").map(SpanId::to_hex).as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(SpanId::from_hex("00f067aa0ba902bg"), None);
    }

    #[test]
    fn zero_seed_still_generates_distinct_non_zero_ids() {
        let mut g = IdGenerator::from_seed([0; 32]);
        let a = g.trace_id();
        let b = g.trace_id();
        assert_ne!(a, b);
        assert_ne!(g.span_id(), g.span_id());
    }

    #[test]
    fn same_seed_same_ids() {
        let mut a = IdGenerator::from_seed([7; 32]);
        let mut b = IdGenerator::from_seed([7; 32]);
        assert_eq!(a.trace_id(), b.trace_id());
        assert_eq!(a.span_id(), b.span_id());
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in any::<[u8; 16]>()) {
            if let Some(id) = TraceId::new(bytes) {
                prop_assert_eq!(TraceId::from_hex(&id.to_hex()), Some(id));
            }
        }

        #[test]
        fn generated_ids_are_never_zero(seed in any::<[u8; 32]>()) {
            let mut g = IdGenerator::from_seed(seed);
            for _ in 0..64 {
                prop_assert_ne!(g.trace_id().to_bytes(), [0; 16]);
                prop_assert_ne!(g.span_id().to_bytes(), [0; 8]);
            }
        }
    }
}
