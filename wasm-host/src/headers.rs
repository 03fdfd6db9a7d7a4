//! HTTP messages as Envoy hands them to a filter: header maps with lower-case names in wire
//! order (pseudo-headers first), bodies and trailers.

use std::net::SocketAddr;

/// An ordered header map. Names are stored lower-case, as Envoy's codecs and `LowerCaseString`
/// keys make them; values are raw bytes (they need not be UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

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
        self.entries.iter().map(|(name, value)| (name.as_slice(), value.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of names and values (what Envoy's header size limits count).
    pub fn byte_size(&self) -> usize {
        self.entries.iter().map(|(name, value)| name.len() + value.len()).sum()
    }

    pub(crate) fn get_bytes(&self, name: &[u8]) -> Option<&[u8]> {
        let name = lower(name);
        self.entries.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_slice())
    }

    pub(crate) fn append(&mut self, name: &[u8], value: &[u8]) {
        self.entries.push((lower(name), value.to_vec()));
    }

    /// Envoy's `setCopy`: every entry of `name` is removed, then one is appended.
    pub(crate) fn replace(&mut self, name: &[u8], value: &[u8]) {
        self.remove(name);
        self.append(name, value);
    }

    pub(crate) fn remove(&mut self, name: &[u8]) {
        let name = lower(name);
        self.entries.retain(|(key, _)| *key != name);
    }

    pub(crate) fn set_all(&mut self, pairs: Vec<(Vec<u8>, Vec<u8>)>) {
        self.entries = pairs.into_iter().map(|(name, value)| (lower(&name), value)).collect();
    }
}

fn lower(name: &[u8]) -> Vec<u8> {
    name.to_ascii_lowercase()
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
    /// The response's header map as a filter sees it: `:status` first.
    pub(crate) fn filter_view(&self) -> Headers {
        let mut map = Headers::new();
        map.append(b":status", self.status.to_string().as_bytes());
        for (name, value) in self.headers.iter() {
            map.append(name, value);
        }
        map
    }

    /// Back from the filter's view: `:status` parsed (502 when the filter broke it, as Envoy's
    /// codec would refuse to encode it), pseudo-headers dropped.
    pub(crate) fn from_filter_view(map: Headers, body: Vec<u8>, trailers: Headers) -> Self {
        let status = map
            .get(":status")
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.parse::<u16>().ok())
            .filter(|code| (100..=999).contains(code))
            .unwrap_or(502);
        let headers = Headers::from_pairs(map.iter().filter(|(name, _)| !name.starts_with(b":")));
        Self { status, headers, body, trailers }
    }
}

#[cfg(test)]
mod tests;
