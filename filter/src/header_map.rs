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

    /// The first value of `name` (names are lower-case in Envoy's maps, so the comparison is
    /// exact), as Envoy's `getHeaderMapValue` answers.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs().find(|(key, _)| *key == name).map(|(_, value)| value)
    }

    /// (name, value) pairs in the host's order; stops at the first entry out of bounds.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let bytes = self.bytes.as_slice();
        let count = word(bytes, 0).unwrap_or(0);
        let mut data = count.checked_mul(2 * WORD).and_then(|sizes| sizes.checked_add(WORD)).unwrap_or(usize::MAX);
        (0..count).map_while(move |index| {
            let sizes = WORD + index * 2 * WORD;
            let (name_len, value_len) = (word(bytes, sizes)?, word(bytes, sizes + WORD)?);
            let name_end = data.checked_add(name_len)?;
            let value_start = name_end.checked_add(1)?;
            let value_end = value_start.checked_add(value_len)?;
            let name = bytes.get(data..name_end)?;
            let value = bytes.get(value_start..value_end)?;
            data = value_end.checked_add(1)?;
            Some((name, value))
        })
    }
}

#[cfg(test)]
mod tests;
