//! The Fx hash (rustc's `FxHasher`, after Firefox's): a multiply and rotate per word. The
//! per-request series lookup hashes one short label key; the standard SipHash-1-3 costs several
//! times more per byte and its flooding resistance buys nothing here, because the keys are label
//! values the series cap already bounds (an attacker can only ever reach the overflow series).

use std::hash::Hasher;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A fast, non-cryptographic hasher for `HashMap`s keyed by short strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::hash::BuildHasherDefault;

    use super::*;

    #[test]
    fn distinguishes_keys_in_a_map() {
        let mut map: HashMap<String, usize, BuildHasherDefault<FxHasher>> = HashMap::default();
        for i in 0..1000 {
            map.insert(format!("GET\u{1f}/users/{{id}}\u{1f}{i}"), i);
        }
        assert_eq!(map.len(), 1000);
        assert!((0..1000).all(|i| map.get(&format!("GET\u{1f}/users/{{id}}\u{1f}{i}")) == Some(&i)));
    }
}
