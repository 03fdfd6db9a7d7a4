//! A header map as the host returns it from `proxy_get_header_map_pairs`, read in place.
//!
//! The proxy-wasm ABI serialises a map as a `u32` count, then a (`u32` name length, `u32` value
//! length) pair per header, then each name and value followed by a NUL byte, all little-endian
//! (Envoy's `exportPairs`, proxy-wasm-cpp-host `PairsUtil`). The filter reads every request header
//! it needs with one host call and looks them up here without copying or allocating per header:
//! one host call instead of one per header, and one allocation (the host's buffer) instead of one
//! per value. A malformed buffer reads as a map without those headers, never as a panic.

/// A serialised header map and lookups into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    bytes: Vec<u8>,
}

use std::ops::Range;

use crate::words;

const WORD: usize = 4;

fn word(bytes: &[u8], at: usize) -> Option<usize> {
    let end = at.checked_add(WORD)?;
    let raw: [u8; WORD] = bytes.get(at..end)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(raw)).ok()
}

impl HeaderMap {
    /// The map in `bytes` (the host's serialisation).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// The buffer, to be used again.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// (name, value) pairs in the host's order; stops at the first entry out of bounds.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries().map(|(name, value)| (&self.bytes[name], &self.bytes[value]))
    }

    /// Where each entry's name and value are in the buffer (every range checked against it).
    fn entries(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        let bytes = self.bytes.as_slice();
        let count = word(bytes, 0).unwrap_or(0);
        let mut data = count.checked_mul(2 * WORD).and_then(|sizes| sizes.checked_add(WORD)).unwrap_or(usize::MAX);
        (0..count).map_while(move |index| {
            let sizes = WORD + index * 2 * WORD;
            let (name_len, value_len) = (word(bytes, sizes)?, word(bytes, sizes + WORD)?);
            let name = data..data.checked_add(name_len)?;
            let value_start = name.end.checked_add(1)?;
            let value = value_start..value_start.checked_add(value_len)?;
            if value.end >= bytes.len() {
                return None;
            }
            data = value.end + 1;
            Some((name, value))
        })
    }

    /// The first value of each of `names`, as Envoy's `getHeaderMapValue` answers each (names
    /// are lower-case in Envoy's maps, so the comparison is exact), found in one pass over the
    /// map: the filter reads eight headers of every request. A header whose name has the length
    /// of none of the names still wanted costs one table lookup.
    pub fn select<const N: usize>(self, names: &HeaderNames<N>) -> Selected<N> {
        let mut ranges = [const { None }; N];
        let mut wanted = names.all();
        for (name, value) in self.entries() {
            let key = &self.bytes[name];
            let mut candidates = names.of_length(key.len()) & wanted;
            while candidates != 0 {
                let index = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if words::same(&names.names[index], key) {
                    ranges[index] = Some(value.clone());
                    wanted &= !(1 << index);
                }
            }
            if wanted == 0 {
                break;
            }
        }
        Selected { map: self, ranges }
    }
}

/// Up to 32 header names to select, indexed by their lengths.
#[derive(Debug, Clone)]
pub struct HeaderNames<const N: usize> {
    names: [Box<[u8]>; N],
    /// For each length below [`LONG`], the names of that length (bit `i`: `names[i]`); names of
    /// [`LONG`] bytes or more share the last slot.
    by_length: [u32; LONG + 1],
}

/// Names this long or longer share one slot of [`HeaderNames::by_length`].
const LONG: usize = 63;

impl<const N: usize> HeaderNames<N> {
    pub fn new(names: [&[u8]; N]) -> Self {
        const { assert!(N <= 32, "at most 32 names: one bit each in a u32") };
        let mut by_length = [0u32; LONG + 1];
        for (index, name) in names.iter().enumerate() {
            by_length[name.len().min(LONG)] |= 1 << index;
        }
        Self { names: names.map(Box::from), by_length }
    }

    /// One bit per name.
    fn all(&self) -> u32 {
        ((1u64 << N) - 1) as u32
    }

    fn of_length(&self, len: usize) -> u32 {
        self.by_length[len.min(LONG)]
    }
}

/// The values of a fixed list of headers, by their index in that list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<const N: usize> {
    map: HeaderMap,
    ranges: [Option<Range<usize>>; N],
}

impl<const N: usize> Selected<N> {
    /// The value of the `index`th name given to [`HeaderMap::select`].
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let range = self.ranges.get(index)?.clone()?;
        self.map.bytes.get(range)
    }

    /// The map the values were selected from.
    pub fn into_map(self) -> HeaderMap {
        self.map
    }
}

#[cfg(test)]
mod tests;
