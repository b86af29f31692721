//! SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for `query_hash`: equal queries group
//! together without being logged. Small and dependency-free because it ships in the wasm module.

use std::fmt;

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// SHA-256's block size, in bytes: HMAC pads its key to one block.
const BLOCK: usize = 64;

/// The initial hash value (FIPS 180-4 section 5.3.3).
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// An HMAC-SHA-256 key, prepared once: the hash states after the key's inner and outer pad
/// blocks (RFC 2104 section 4 suggests precomputing them), so a request compresses only its own
/// blocks. The key's bytes are not kept, and `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// The SHA-256 digest of `data`.
pub fn digest(data: &[u8]) -> [u8; 32] {
    finish(H0, 0, data)
}

/// The first 8 bytes of the digest as 16 lowercase hex characters (the seed plan's SQL hash).
pub fn short_hex(data: &[u8]) -> String {
    crate::ids::encode_hex(digest(data).get(..8).unwrap_or_default())
}

/// The HMAC-SHA-256 of `data` under `key`: `H((K ^ opad) || H((K ^ ipad) || data))`.
pub fn hmac(key: &HmacKey, data: &[u8]) -> [u8; 32] {
    let inner = finish(key.inner, BLOCK as u64, data);
    finish(key.outer, BLOCK as u64, &inner)
}

/// The first 8 bytes of the HMAC as 16 lowercase hex characters: the same form as [`short_hex`].
pub fn hmac_short_hex(key: &HmacKey, data: &[u8]) -> String {
    crate::ids::encode_hex(hmac(key, data).get(..8).unwrap_or_default())
}

impl HmacKey {
    /// RFC 2104 section 2: a key longer than a block is replaced by its digest, then zero-padded
    /// to a block.
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block.iter_mut().zip(digest(key)).for_each(|(b, k)| *b = k);
        } else {
            block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
        }
        let pad = |byte: u8| {
            let mut state = H0;
            compress(&mut state, &block.map(|b| b ^ byte));
            state
        };
        Self { inner: pad(0x36), outer: pad(0x5c) }
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// Hashes `data` on from `state`, which has already compressed `prefix_len` bytes (whole
/// blocks), and pads with the length of everything: the digest.
fn finish(mut state: [u32; 8], prefix_len: u64, data: &[u8]) -> [u8; 32] {
    let bit_len = prefix_len.wrapping_add(data.len() as u64).wrapping_mul(8);
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % BLOCK != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(BLOCK) {
        compress(&mut state, block);
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// One block (64 bytes) into the state: FIPS 180-4 section 6.2.2.
// Indices stay inside the fixed 64-entry schedule and round-constant arrays.
#[allow(clippy::indexing_slicing)]
fn compress(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (state, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *state = state.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::encode_hex;

    #[test]
    fn fips_180_test_vectors() {
        assert_eq!(encode_hex(&digest(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(encode_hex(&digest(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            encode_hex(&digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            encode_hex(&digest(&[b'a'; 1000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
        assert_eq!(short_hex(b"abc"), "ba7816bf8f01cfea");
    }

    fn check_hmac(key: &[u8], data: &[u8], expected: &str) {
        let mac = encode_hex(&hmac(&HmacKey::new(key), data));
        assert_eq!(&mac[..expected.len()], expected, "key {} bytes, data {} bytes", key.len(), data.len());
    }

    /// RFC 4231 section 4, HMAC-SHA-256 of test cases 1 to 7 (case 5's output is truncated to
    /// 128 bits by the RFC, so only that prefix is compared).
    #[test]
    fn rfc_4231_test_vectors() {
        check_hmac(&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        check_hmac(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        );
        check_hmac(&[0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
        let key4: Vec<u8> = (0x01..=0x19).collect();
        check_hmac(&key4, &[0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
        check_hmac(&[0x0c; 20], b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b");
        check_hmac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        );
        check_hmac(
            &[0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. \
              The key needs to be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        );
    }

    #[test]
    fn hmac_short_hex_has_the_form_of_short_hex() {
        let key = HmacKey::new(b"0123456789abcdef");
        let hex = hmac_short_hex(&key, b"q=1");
        assert_eq!(hex.len(), 16);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(hex, encode_hex(&hmac(&key, b"q=1")[..8]));
        assert_ne!(hex, short_hex(b"q=1"));
        assert_eq!(format!("{key:?}"), "HmacKey(..)");
    }
}
