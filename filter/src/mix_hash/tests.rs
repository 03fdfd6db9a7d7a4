use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};

use super::*;

fn hash_of(value: impl Hash) -> u64 {
    MixState::default().hash_one(value)
}

#[test]
fn aligned_addresses_and_ids_spread_over_the_low_bits() {
    // Interned names are hashed by address (8- or 16-byte aligned, some bytes apart), context ids
    // count up: a table of 1,024 buckets indexed by the low bits must use them about as a random
    // hash would (647 buckets on average, below 600 with a chance under one in 10^6).
    for (start, stride) in [(1usize, 1usize), (0x10_0000, 8), (0x10_0000, 16), (0x10_0000, 48), (0x2000, 64)] {
        let buckets: HashSet<u64> = (0..1_024).map(|i| hash_of(start + i * stride) & 1_023).collect();
        assert!(buckets.len() > 600, "stride {stride}: {} of 1024 buckets used", buckets.len());
    }
}

#[test]
fn bytes_of_every_length_hash_apart_from_their_neighbours() {
    let texts = ["", "a", "ab", "ab\0", "abcdefg", "abcdefgh", "abcdefgh\0", "abcdefghi", "GET /v1/x", "GET /v1/y"];
    let hashes: HashSet<u64> = texts
        .iter()
        .map(|text| {
            let mut hasher = MixHasher::default();
            hasher.write(text.as_bytes());
            hasher.finish()
        })
        .collect();
    assert_eq!(hashes.len(), texts.len());
}

#[test]
fn the_seed_changes_every_value() {
    let of = |seed: u64| {
        let mut hasher = MixHasher::seeded(seed);
        hasher.write(b"POST /v1/constitutional/validate");
        hasher.finish()
    };
    assert_eq!(of(7), of(7));
    assert_ne!(of(7), of(8));
}
