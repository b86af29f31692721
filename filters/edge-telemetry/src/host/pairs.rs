//! The proxy-wasm header-map serialization (ABI v0.2.1, "HTTP fields"): a little-endian `u32`
//! count, then `count` pairs of `u32` key and value lengths, then each key and value followed
//! by a NUL byte. An empty map may be encoded as no bytes at all.

use std::borrow::Cow;

/// Decodes a serialized map; `None` when the bytes are malformed (never panics). Names and
/// values borrow from `bytes` (they are copied only when not UTF-8, to replace invalid bytes).
pub fn decode(bytes: &[u8]) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
    let mut sizes_at = 4usize;
    let mut data_at = count.checked_mul(8)?.checked_add(4)?;
    let mut out = Vec::with_capacity(count.min(bytes.len() / 8));
    for _ in 0..count {
        let key_len = usize::try_from(read_u32(bytes, sizes_at)?).ok()?;
        let value_len = usize::try_from(read_u32(bytes, sizes_at + 4)?).ok()?;
        sizes_at += 8;
        let key = bytes.get(data_at..data_at.checked_add(key_len)?)?;
        data_at = data_at.checked_add(key_len + 1)?;
        let value = bytes.get(data_at..data_at.checked_add(value_len)?)?;
        data_at = data_at.checked_add(value_len + 1)?;
        out.push((text(key), text(value)));
    }
    Some(out)
}

/// Borrowed when the bytes are UTF-8 (`from_utf8` has an ASCII fast path; the lossy decoder
/// walks them chunk by chunk even when nothing needs replacing), else a lossy copy.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            out.extend((k.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            out.extend(k.as_bytes());
            out.push(0);
            out.extend(v.as_bytes());
            out.push(0);
        }
        out
    }

    #[test]
    fn round_trips_and_rejects_truncation() {
        let pairs = [(":method", "GET"), ("traceparent", "00-ab"), ("empty", "")];
        let bytes = encode(&pairs);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!((decoded[1].0.as_ref(), decoded[1].1.as_ref()), ("traceparent", "00-ab"));
        for cut in 1..bytes.len() - 1 {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(&[]), Some(vec![]));
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
    }
}
