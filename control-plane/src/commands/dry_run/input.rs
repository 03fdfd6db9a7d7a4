//! One line of `dry-run` input: the request, what happens before it (time passing, ticks), the
//! connection facts Envoy exposes as properties, and the upstream's answer. Unknown fields are
//! refused, so a misspelt field fails its line instead of being ignored.
//!
//! ```json
//! {"method":"POST","path":"/v1/x","authority":"svc","headers":{"k":"v"},"body":"…",
//!  "trailers":[["k","v"]],"source_address":"10.0.0.7:51000",
//!  "peer_principal":"spiffe://cluster.local/ns/default/sa/caller",
//!  "advance_ms":1500,"ticks":2,
//!  "upstream":{"status":201,"headers":[["content-type","application/json"]],"body":"{}","trailers":{}}}
//! ```
//!
//! Header lists are an object, or an array of `[name, value]` pairs for repeated names; both keep
//! the line's order. Without `upstream` the upstream answers `upstream_status` (default 200) with
//! `content-type: text/plain` and the body `ok`.

use std::fmt;
use std::net::SocketAddr;

use acgs_wasm_host::{Headers, HttpRequest, HttpResponse};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Where requests come from unless a line says otherwise.
const DEFAULT_SOURCE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestLine {
    #[serde(default = "default_method")]
    pub(super) method: String,
    pub(super) path: String,
    #[serde(default = "default_authority")]
    authority: String,
    #[serde(default)]
    headers: HeaderList,
    #[serde(default)]
    body: String,
    #[serde(default)]
    trailers: HeaderList,
    /// The downstream peer (`source.address`).
    #[serde(default)]
    source_address: Option<SocketAddr>,
    /// The peer's mTLS identity (`connection.uri_san_peer_certificate`).
    #[serde(default)]
    peer_principal: Option<String>,
    /// Milliseconds the sidecar runs before this request: ticks fire, callout answers arrive.
    #[serde(default)]
    pub(super) advance_ms: u64,
    /// `on_tick` calls before this request (when the filter set a tick period), without waiting.
    #[serde(default)]
    pub(super) ticks: usize,
    #[serde(default)]
    upstream: Option<UpstreamLine>,
    #[serde(default)]
    upstream_status: Option<u16>,
}

/// The upstream's answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamLine {
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    headers: HeaderList,
    #[serde(default)]
    body: String,
    #[serde(default)]
    trailers: HeaderList,
}

fn default_method() -> String {
    "GET".to_owned()
}
fn default_authority() -> String {
    "dry-run.local".to_owned()
}
fn default_status() -> u16 {
    200
}

impl RequestLine {
    /// Parses and checks one line.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let line: Self = serde_json::from_str(text).map_err(|error| error.to_string())?;
        if line.upstream.is_some() && line.upstream_status.is_some() {
            return Err("give either `upstream` or `upstream_status`, not both".to_owned());
        }
        let status = line.upstream.as_ref().map(|upstream| upstream.status).or(line.upstream_status);
        if let Some(status) = status.filter(|status| !(100..=999).contains(status)) {
            return Err(format!("upstream status {status} is not an HTTP status (100-999)"));
        }
        for (name, _) in line.headers.0.iter().chain(&line.trailers.0) {
            if name.is_empty() || name.starts_with(':') {
                return Err(format!("header name {name:?}: give the method, path and authority as their own fields"));
            }
        }
        Ok(line)
    }

    /// The request as Envoy hands it to the filter (pseudo-headers first, names lower-cased).
    pub(super) fn request(&self) -> HttpRequest {
        let mut headers = Headers::new();
        headers.push(":method", self.method.as_str());
        headers.push(":path", self.path.as_str());
        headers.push(":authority", self.authority.as_str());
        headers.push(":scheme", "http");
        for (name, value) in &self.headers.0 {
            headers.push(&name.to_ascii_lowercase(), value.as_str());
        }
        HttpRequest {
            headers,
            body: self.body.clone().into_bytes(),
            trailers: self.trailers.to_headers(),
            source_address: self.source_address.unwrap_or(DEFAULT_SOURCE),
            peer_principal: self.peer_principal.clone(),
        }
    }

    /// What the upstream answers.
    pub(super) fn upstream_response(&self) -> HttpResponse {
        match &self.upstream {
            Some(upstream) => HttpResponse {
                status: upstream.status,
                headers: upstream.headers.to_headers(),
                body: upstream.body.clone().into_bytes(),
                trailers: upstream.trailers.to_headers(),
            },
            None => HttpResponse {
                status: self.upstream_status.unwrap_or(200),
                headers: Headers::from_pairs([("content-type", "text/plain")]),
                body: b"ok".to_vec(),
                trailers: Headers::new(),
            },
        }
    }
}

/// Headers in the order the line gives them.
#[derive(Debug, Default)]
struct HeaderList(Vec<(String, String)>);

impl HeaderList {
    fn to_headers(&self) -> Headers {
        Headers::from_pairs(self.0.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.as_str())))
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HeaderListVisitor)
    }
}

struct HeaderListVisitor;

impl<'de> Visitor<'de> for HeaderListVisitor {
    type Value = HeaderList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of header values or an array of [name, value] pairs")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderList, A::Error> {
        let mut pairs = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, String>()? {
            pairs.push((name, value));
        }
        Ok(HeaderList(pairs))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderList, A::Error> {
        let mut pairs = Vec::new();
        while let Some(pair) = seq.next_element::<(String, String)>()? {
            pairs.push(pair);
        }
        Ok(HeaderList(pairs))
    }

    fn visit_unit<E: de::Error>(self) -> Result<HeaderList, E> {
        Ok(HeaderList::default())
    }
}
