//! The proxy-wasm map serialization (`proxy_wasm_abi::pairs`) as the host uses it: maps a guest
//! sends are decoded into owned bytes, with Envoy's cap on the number of pairs.

use crate::abi::Status;

pub use proxy_wasm_abi::pairs::encode;

/// Envoy (proxy-wasm-cpp-host `limits.h`) refuses maps with more pairs than this.
pub const MAX_PAIRS: usize = 1024;

/// One key and value as raw bytes.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Deserializes pairs sent by a guest; `BadArgument` on malformed input or more than
/// [`MAX_PAIRS`] pairs (never panics).
pub fn decode(bytes: &[u8]) -> Result<Vec<Pair>, Status> {
    decode_as(bytes, |k, v| (k.to_vec(), v.to_vec()))
}

/// Decodes pairs as UTF-8 text (lossy), the way a header map holds them.
pub fn decode_text(bytes: &[u8]) -> Result<Vec<(String, String)>, Status> {
    decode_as(bytes, |k, v| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
}

fn decode_as<'a, T>(bytes: &'a [u8], pair: impl FnMut(&'a [u8], &'a [u8]) -> T) -> Result<Vec<T>, Status> {
    proxy_wasm_abi::pairs::decode(bytes, MAX_PAIRS, pair).map_err(|_| Status::BadArgument)
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
