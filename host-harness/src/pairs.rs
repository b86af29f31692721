//! The proxy-wasm map serialization (ABI v0.2.1, "HTTP fields"): a little-endian `u32` count,
//! `count` pairs of `u32` key and value sizes, then every key and value followed by a NUL byte.

use crate::abi::Status;

/// Envoy (proxy-wasm-cpp-host `limits.h`) refuses maps with more pairs than this.
pub const MAX_PAIRS: usize = 1024;

/// Serializes pairs.
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let data: usize = pairs.iter().map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data);
    out.extend(u32_le(pairs.len()));
    for (k, v) in pairs {
        out.extend(u32_le(k.as_ref().len()));
        out.extend(u32_le(v.as_ref().len()));
    }
    for (k, v) in pairs {
        out.extend(k.as_ref());
        out.push(0);
        out.extend(v.as_ref());
        out.push(0);
    }
    out
}

/// One key and value as raw bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Deserializes pairs sent by a guest; `BadArgument` on malformed input (never panics).
pub fn decode(bytes: &[u8]) -> Result<Vec<Pair>, Status> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(bytes, 0)? as usize;
    if count > MAX_PAIRS {
        return Err(Status::BadArgument);
    }
    let mut sizes_at = 4usize;
    let mut data_at = 4 + count * 8;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let key_len = read_u32(bytes, sizes_at)? as usize;
        let value_len = read_u32(bytes, sizes_at + 4)? as usize;
        sizes_at += 8;
        let key = slice(bytes, data_at, key_len)?;
        data_at = data_at.checked_add(key_len + 1).ok_or(Status::BadArgument)?;
        let value = slice(bytes, data_at, value_len)?;
        data_at = data_at.checked_add(value_len + 1).ok_or(Status::BadArgument)?;
        out.push((key.to_vec(), value.to_vec()));
    }
    Ok(out)
}

/// Decodes pairs as UTF-8 text (lossy), the way a header map holds them.
pub fn decode_text(bytes: &[u8]) -> Result<Vec<(String, String)>, Status> {
    Ok(decode(bytes)?
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
        .collect())
}

fn u32_le(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, Status> {
    let b = slice(bytes, at, 4)?;
    b.try_into().map(u32::from_le_bytes).map_err(|_| Status::BadArgument)
}

fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], Status> {
    bytes.get(at..at.checked_add(len).ok_or(Status::BadArgument)?).ok_or(Status::BadArgument)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_layout() {
        let bytes = encode(&[("a", "bc")]);
        assert_eq!(bytes, b"\x01\0\0\0\x01\0\0\0\x02\0\0\0a\0bc\0");
        assert_eq!(decode_text(&bytes).unwrap(), vec![("a".to_owned(), "bc".to_owned())]);
        assert_eq!(decode(&[]).unwrap(), vec![]);
    }

    #[test]
    fn malformed_input_is_a_bad_argument() {
        let bytes = encode(&[(":path", "/x"), ("k", "v")]);
        for cut in 1..bytes.len() - 2 {
            assert_eq!(decode(&bytes[..cut]), Err(Status::BadArgument), "cut {cut}");
        }
        assert_eq!(decode(&2000u32.to_le_bytes()), Err(Status::BadArgument));
    }
}
