//! Byte strings read a word (eight bytes) at a time, for what the filter does to request bytes on
//! every request: comparing header names and cached routes, finding a path's query, hashing.
//! On wasm32 the compiler's `memcmp` compares one byte at a time and a copy of a length known
//! only at run time is a call out of the module (`memory.copy`); these do neither.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether `a` and `b` are the same bytes.
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(a_last), Some(b_last)) => {
            // Whole words from the start, then the last eight bytes (overlapping the last word).
            let (a_words, _) = a.as_chunks::<8>();
            let (b_words, _) = b.as_chunks::<8>();
            a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
                && u64::from_ne_bytes(*a_last) == u64::from_ne_bytes(*b_last)
        }
        _ => same_short(a, b),
    }
}

/// [`same`] for equal lengths below eight: the first and the last four bytes, or byte by byte.
fn same_short(a: &[u8], b: &[u8]) -> bool {
    match (a.first_chunk::<4>(), a.last_chunk::<4>(), b.first_chunk::<4>(), b.last_chunk::<4>()) {
        (Some(a_first), Some(a_last), Some(b_first), Some(b_last)) => {
            u32::from_ne_bytes(*a_first) == u32::from_ne_bytes(*b_first)
                && u32::from_ne_bytes(*a_last) == u32::from_ne_bytes(*b_last)
        }
        _ => a.iter().zip(b).all(|(x, y)| x == y),
    }
}

/// Whether any byte of `word` is `byte` (the classic zero-byte test on `word ^ byte…byte`:
/// exact for the word as a whole).
#[inline]
fn has_byte(word: u64, byte: u8) -> bool {
    let x = word ^ (LOW_BITS * u64::from(byte));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS != 0
}

/// The index of the first `x` or `y` in `bytes`.
pub fn find_either(bytes: &[u8], x: u8, y: u8) -> Option<usize> {
    let (words, _) = bytes.as_chunks::<8>();
    let mut start = 0;
    for word in words {
        let word = u64::from_le_bytes(*word);
        if has_byte(word, x) || has_byte(word, y) {
            break;
        }
        start += 8;
    }
    bytes.get(start..)?.iter().position(|b| *b == x || *b == y).map(|at| start + at)
}

/// Up to eight bytes as a little-endian word, zero-padded.
#[inline]
pub fn tail_word(rest: &[u8]) -> u64 {
    rest.iter().take(8).enumerate().fold(0, |word, (at, byte)| word | u64::from(*byte) << (8 * at))
}

#[cfg(test)]
mod tests;
