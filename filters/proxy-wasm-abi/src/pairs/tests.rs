use super::*;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn owned(bytes: &[u8]) -> Result<Pairs, Malformed> {
    decode(bytes, usize::MAX, |k, v| (k.to_vec(), v.to_vec()))
}

#[test]
fn the_layout_is_the_specs() {
    // The spec's own example: {"a": "1"}, {"b": "22"}.
    let bytes = encode(&[("a", "1"), ("b", "22")]);
    assert_eq!(bytes, b"\x02\0\0\0\x01\0\0\0\x01\0\0\0\x01\0\0\0\x02\0\0\0a\x001\0b\x0022\0");
    assert_eq!(owned(&bytes), Ok(vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"22".to_vec())]));
    assert_eq!(owned(b""), Ok(vec![]));
    assert_eq!(encode::<&str, &str>(&[]), b"\0\0\0\0");
}

#[test]
fn more_pairs_than_allowed_is_malformed() {
    let bytes = encode(&[("k", "v"), ("k", "w")]);
    assert_eq!(decode(&bytes, 1, |k, v| (k, v)), Err(Malformed));
    assert_eq!(decode(&bytes, 2, |k, _| k), Ok(vec![&b"k"[..], b"k"]));
    assert_eq!(owned(&u32::MAX.to_le_bytes()), Err(Malformed));
}

proptest! {
    /// Any map survives encode -> decode, and every cut short of the last value's end is
    /// malformed.
    #[test]
    fn round_trips_and_truncation_is_malformed(
        pairs in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..24), proptest::collection::vec(any::<u8>(), 0..24)),
            0..12,
        )
    ) {
        let bytes = encode(&pairs);
        prop_assert_eq!(owned(&bytes), Ok(pairs.clone()));
        for cut in 1..bytes.len() - 1 {
            prop_assert_eq!(owned(bytes.get(..cut).unwrap_or_default()), Err(Malformed), "cut at {}", cut);
        }
    }

    /// Garbage never panics, whatever the limit.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), max in 0usize..2048) {
        let _ = decode(&bytes, max, |k, v| (k.len(), v.len()));
        // Small counts with arbitrary sizes reach the size checks rather than the count check.
        let mut small = bytes.clone();
        if let Some(first) = small.get_mut(0) {
            *first %= 4;
        }
        for b in small.iter_mut().skip(1).take(3) {
            *b = 0;
        }
        let _ = decode(&small, max, |k, v| (k.len(), v.len()));
    }
}
