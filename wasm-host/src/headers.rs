//! HTTP messages as Envoy hands them to a filter: header maps with lower-case names in wire
//! order (pseudo-headers first), bodies and trailers.

use std::net::SocketAddr;

/// An ordered header map. Names are stored lower-case, as Envoy's codecs and `LowerCaseString`
/// keys make them; values are raw bytes (they need not be UTF-8). Names and values live in one
/// byte buffer with an index beside it, so a map costs two allocations however many headers it
/// holds (the host copies maps on every stream).
#[derive(Debug, Clone, Default)]
pub struct Headers {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Bytes of `bytes` no entry refers to any more (removed headers).
    garbage: usize,
}

/// Headers and bytes a map has room for beyond what it holds when a filter gets it.
const FILTER_HEADROOM_ENTRIES: usize = 8;
const FILTER_HEADROOM_BYTES: usize = 512;

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    name_len: u32,
    value_len: u32,
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// A map from (name, value) pairs, names lower-cased.
    pub fn from_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.append(name.as_ref(), value.as_ref());
        }
        headers
    }

    /// Appends a header (a repeated name adds another entry, as `addCopy` does).
    pub fn push(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.append(name.as_bytes(), value.as_ref());
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_bytes(name.as_bytes())
    }

    /// The first value of `name` when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|value| std::str::from_utf8(value).ok())
    }

    /// (name, value) pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + Clone + '_ {
        self.entries.iter().map(|entry| self.split(*entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of names and values (what Envoy's header size limits count).
    pub fn byte_size(&self) -> usize {
        self.bytes.len() - self.garbage
    }

    fn split(&self, entry: Entry) -> (&[u8], &[u8]) {
        let start = entry.start as usize;
        let name_end = start + entry.name_len as usize;
        let value_end = name_end + entry.value_len as usize;
        (&self.bytes[start..name_end], &self.bytes[name_end..value_end])
    }

    pub(crate) fn get_bytes(&self, name: &[u8]) -> Option<&[u8]> {
        let entry = self.entries.iter().find(|entry| self.is_named(**entry, name))?;
        Some(self.split(*entry).1)
    }

    /// Whether `entry`'s name is `name` (case-insensitive); the length is compared first, so most
    /// entries cost one comparison (this runs for every header a filter reads, writes or removes).
    fn is_named(&self, entry: Entry, name: &[u8]) -> bool {
        let start = entry.start as usize;
        entry.name_len as usize == name.len()
            && self.bytes.get(start..start + name.len()).is_some_and(|key| key.eq_ignore_ascii_case(name))
    }

    pub(crate) fn append(&mut self, name: &[u8], value: &[u8]) {
        let start = crate::abi::u32_len(self.bytes.len());
        self.bytes.extend_from_slice(name);
        self.bytes[start as usize..].make_ascii_lowercase();
        self.bytes.extend_from_slice(value);
        self.entries.push(Entry {
            start,
            name_len: crate::abi::u32_len(name.len()),
            value_len: crate::abi::u32_len(value.len()),
        });
    }

    /// Envoy's `setCopy`: every entry of `name` is removed, then one is appended.
    pub(crate) fn replace(&mut self, name: &[u8], value: &[u8]) {
        self.remove(name);
        self.append(name, value);
    }

    /// Envoy's set of an inline header (`setContentLength`, `setReferenceContentType`,
    /// `setGrpcStatus`…): the first entry of `name` keeps its place and takes `value`, later
    /// entries of `name` are removed; a name not present is appended.
    pub(crate) fn set(&mut self, name: &[u8], value: &[u8]) {
        let Some(first) = self.iter().position(|(key, _)| key.eq_ignore_ascii_case(name)) else {
            self.append(name, value);
            return;
        };
        let old = self.entries[first];
        let start = crate::abi::u32_len(self.bytes.len());
        let key_range = old.start as usize..(old.start + old.name_len) as usize;
        self.bytes.extend_from_within(key_range);
        self.bytes.extend_from_slice(value);
        self.entries[first] = Entry { start, name_len: old.name_len, value_len: crate::abi::u32_len(value.len()) };
        self.garbage += (old.name_len + old.value_len) as usize;
        let bytes = &self.bytes;
        let mut removed = 0usize;
        let mut index = 0;
        self.entries.retain(|entry| {
            let keep = index <= first || {
                let key = &bytes[entry.start as usize..(entry.start + entry.name_len) as usize];
                !key.eq_ignore_ascii_case(name)
            };
            if !keep {
                removed += (entry.name_len + entry.value_len) as usize;
            }
            index += 1;
            keep
        });
        self.garbage += removed;
        self.compact_if_sparse();
    }

    pub(crate) fn remove(&mut self, name: &[u8]) {
        if !self.entries.iter().any(|entry| self.is_named(*entry, name)) {
            return;
        }
        let mut removed = 0usize;
        let bytes = &self.bytes;
        self.entries.retain(|entry| {
            let start = entry.start as usize;
            let keep =
                entry.name_len as usize != name.len() || !bytes[start..start + name.len()].eq_ignore_ascii_case(name);
            if !keep {
                removed += (entry.name_len + entry.value_len) as usize;
            }
            keep
        });
        self.garbage += removed;
        self.compact_if_sparse();
    }

    /// Rebuilds the byte buffer once most of it belongs to removed or replaced headers.
    fn compact_if_sparse(&mut self) {
        if self.garbage > 4096 && self.garbage > self.bytes.len() / 2 {
            *self = Self::from_pairs(self.iter().collect::<Vec<_>>());
        }
    }

    /// Room for the headers a filter typically adds ([`FILTER_HEADROOM_ENTRIES`] of
    /// [`FILTER_HEADROOM_BYTES`] bytes) without reallocating: Envoy's maps are lists that grow by
    /// an entry, so a filter's writes should not cost this host a copy of the whole map.
    pub(crate) fn reserve_filter_headroom(&mut self) {
        self.entries.reserve(FILTER_HEADROOM_ENTRIES);
        self.bytes.reserve(FILTER_HEADROOM_BYTES);
    }

    pub(crate) fn set_all(&mut self, pairs: Vec<(Vec<u8>, Vec<u8>)>) {
        *self = Self::from_pairs(pairs);
    }
}

/// A downstream request: headers (with `:method`, `:path`, `:authority`, `:scheme`), body,
/// trailers, and the connection facts Envoy exposes as properties.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
    /// The downstream peer (`source.address`).
    pub source_address: SocketAddr,
    /// The peer's mTLS identity (`connection.uri_san_peer_certificate`), e.g. a SPIFFE id.
    pub peer_principal: Option<String>,
}

/// An HTTP response: the status (`:status`) and the other headers, body, trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

impl HttpResponse {
    /// The response as a filter sees it: a header map with `:status` first, the body, the
    /// trailers.
    pub(crate) fn into_filter_view(self) -> (Headers, Vec<u8>, Headers) {
        let mut map = Headers {
            bytes: Vec::with_capacity(self.headers.byte_size() + 10 + FILTER_HEADROOM_BYTES),
            entries: Vec::with_capacity(self.headers.len() + 1 + FILTER_HEADROOM_ENTRIES),
            garbage: 0,
        };
        let mut digits = [0u8; 5];
        map.append(b":status", status_digits(self.status, &mut digits));
        for (name, value) in self.headers.iter() {
            map.append(name, value);
        }
        (map, self.body, self.trailers)
    }

    /// Back from the filter's view: `:status` parsed (502 when the filter broke it, as Envoy's
    /// codec would refuse to encode it), pseudo-headers dropped.
    pub(crate) fn from_filter_view(mut map: Headers, body: Vec<u8>, trailers: Headers) -> Self {
        let status = map
            .get(":status")
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.parse::<u16>().ok())
            .filter(|code| (100..=999).contains(code))
            .unwrap_or(502);
        map.remove(b":status");
        if map.iter().any(|(name, _)| name.starts_with(b":")) {
            map = Headers::from_pairs(map.iter().filter(|(name, _)| !name.starts_with(b":")).collect::<Vec<_>>());
        }
        Self { status, headers: map, body, trailers }
    }
}

/// The decimal digits of a status code, written into `buffer`.
fn status_digits(status: u16, buffer: &mut [u8; 5]) -> &[u8] {
    let mut rest = status;
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return &buffer[at..];
        }
    }
}

#[cfg(test)]
mod tests;
