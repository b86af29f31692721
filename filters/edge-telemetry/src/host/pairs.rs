//! Header maps as the host serializes them (`proxy_wasm_abi::pairs`), viewed as text without
//! copying.

use std::borrow::Cow;

use telemetry_core::pipeline::host::text_ref;

/// Decodes a serialized map; `None` when the bytes are malformed (never panics). Names and
/// values borrow from `bytes` (they are copied only when not UTF-8, to replace invalid bytes).
/// No cap on the count: the host already holds the map.
pub fn decode(bytes: &[u8]) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    proxy_wasm_abi::pairs::decode(bytes, usize::MAX, |k, v| (text_ref(k), text_ref(v))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxy_wasm_abi::pairs::encode;

    #[test]
    fn round_trips_as_text_and_rejects_truncation() {
        let pairs = [(":method", "GET"), ("traceparent", "00-ab"), ("empty", "")];
        let bytes = encode(&pairs);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!((decoded[1].0.as_ref(), decoded[1].1.as_ref()), ("traceparent", "00-ab"));
        assert!(matches!(decoded[1].1, Cow::Borrowed(_)), "UTF-8 values are not copied");
        for cut in 1..bytes.len() - 1 {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(&[]), Some(vec![]));
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
        let bytes = encode(&[(&b"k"[..], &b"a\xffb"[..])]);
        let lossy = decode(&bytes).unwrap();
        assert_eq!(lossy[0].1, "a\u{fffd}b");
    }
}
