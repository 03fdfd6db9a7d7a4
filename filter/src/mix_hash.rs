//! A multiplicative hasher (the FxHash family: each word added, then multiplied by an odd
//! constant) for the per-request lookups whose keys a client cannot choose: context ids, interned
//! operation names by address, enum labels. SipHash, the standard library's default, costs more
//! than the lookup it serves there. Raw request bytes are hashed only with a per-VM random seed,
//! and only where a collision costs a cache miss, never a longer probe ([`crate::route`]).

use std::hash::{BuildHasherDefault, Hasher};

use crate::words::tail_word;

/// 2^64 / φ, odd: spreads consecutive integers over the whole word.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hasher; [`MixState`] builds it for `HashMap`s.
#[derive(Debug, Clone, Copy, Default)]
pub struct MixHasher(u64);

/// `HashMap<K, V, MixState>`.
pub type MixState = BuildHasherDefault<MixHasher>;

impl MixHasher {
    /// A hasher that starts from `seed` (a random seed makes its values unpredictable).
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    fn add(&mut self, word: u64) {
        self.0 = (self.0.wrapping_add(word)).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for MixHasher {
    /// The high bits of a product depend on every bit of the input, the low ones do not: folded
    /// onto the low bits, which index a table (hashbrown, [`crate::route`]); hashbrown's tag, the
    /// top seven bits, keeps the product's.
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        let (whole, rest) = bytes.as_chunks::<8>();
        for word in whole {
            self.add(u64::from_le_bytes(*word));
        }
        // The length is mixed in, so `"ab"` and `"ab\0"` differ.
        self.add(tail_word(rest) ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }
}

#[cfg(test)]
mod tests;
