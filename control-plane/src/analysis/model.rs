//! The trace data every analysis reads, whatever the source: spans with their service,
//! operation, timing, parent, hash status, HTTP status, caller and attributes. Sources
//! (`source::*`) convert their formats into [`Span`]s grouped by trace; the analyses never see a
//! source format.

use std::sync::Arc;

use acgs_proto::telemetry::HashStatus;

/// A span attribute's value, as text (numbers and booleans formatted).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// One span, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Lower-case hex, as Jaeger prints it.
    pub trace_id: Arc<str>,
    pub span_id: u64,
    /// `None` for a root span.
    pub parent_span_id: Option<u64>,
    pub service: Arc<str>,
    pub operation: Arc<str>,
    pub start_micros: u64,
    pub duration_micros: u64,
    /// The HTTP response status, when recorded.
    pub http_status: Option<u16>,
    /// Marked as failed (an `error` tag, OTel status ERROR, or a 5xx status).
    pub error: bool,
    /// The outcome of the constitutional-hash check the span records: the filter's
    /// `constitutional.hash.status` attribute, and nothing else (a literal `constitutional.hash`
    /// tag, which a Telemetry resource may put on every span, is no evidence that a request
    /// carried the hash).
    pub hash_status: Option<HashStatus>,
    /// The calling workload as the server saw it (mTLS principal or address), when recorded.
    pub peer: Option<Arc<str>>,
    /// A client span's remote end outside the traced mesh (`peer.service`, `server.address`,
    /// `http.host` or the host of `http.url` / `url.full`), when recorded.
    pub remote: Option<Arc<str>>,
    /// Whether the span is a client (outgoing) call.
    pub client: bool,
    /// Whether the span is a server's side of a request (`span.kind` server, or Envoy's inbound
    /// span, whose `upstream_cluster` is `inbound|…`): where a hash check belongs.
    pub server: bool,
    pub attributes: Vec<Attribute>,
}

impl Span {
    /// The span's attribute `key`, if any.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str())
    }
}

/// The spans of one trace, in source order.
pub type Trace = Vec<Span>;

/// Attributes the sources read the span facts from (filter, OTel semantic conventions, and the
/// older OpenTracing tags Jaeger clients write).
pub mod keys {
    pub const HASH_STATUS: &str = "constitutional.hash.status";
    pub const HTTP_STATUS: [&str; 2] = ["http.response.status_code", "http.status_code"];
    pub const PEER: [&str; 3] = ["client.address", "peer.principal", "acgs.peer"];
    pub const REMOTE: [&str; 4] = ["peer.service", "server.address", "net.peer.name", "http.host"];
    pub const URL: [&str; 2] = ["url.full", "http.url"];
    pub const SPAN_KIND: &str = "span.kind";
    /// Envoy's tag of the cluster a span's request went to (`inbound|8080||` on a sidecar's
    /// inbound side).
    pub const UPSTREAM_CLUSTER: &str = "upstream_cluster";
    pub const ERROR: &str = "error";
}

/// Builds [`Span`]s from raw facts and attributes, deriving what the attributes say (status,
/// error, hash status, peer, remote end), so every source derives them the same way. A source
/// whose format has typed values gives the HTTP status and hash status it read as such; the
/// attributes' text is read only for what it did not give.
#[derive(Debug, Clone)]
pub struct SpanFacts {
    pub trace_id: Arc<str>,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub service: Arc<str>,
    pub operation: Arc<str>,
    pub start_micros: u64,
    pub duration_micros: u64,
    /// The source's own error marker (e.g. OTLP status ERROR).
    pub error: bool,
    /// The source's own span kind, when it has one (`true` client/producer).
    pub client: bool,
    /// The source's own span kind, when it has one (`true` server).
    pub server: bool,
    pub peer: Option<Arc<str>>,
    /// The HTTP status as the source read it typed, if it did.
    pub http_status: Option<u16>,
    /// The hash status as the source read it, if it did.
    pub hash_status: Option<HashStatus>,
}

impl SpanFacts {
    /// The span, with what its attributes add.
    pub fn into_span(self, attributes: Vec<Attribute>) -> Span {
        let get = |key: &str| attributes.iter().find(|a| a.key == key).map(|a| a.value.as_str());
        let first = |keys: &[&str]| keys.iter().find_map(|key| get(key));
        let http_status = self.http_status.or_else(|| first(&keys::HTTP_STATUS).and_then(|s| s.parse::<u16>().ok()));
        let hash_status = self.hash_status.or_else(|| get(keys::HASH_STATUS).and_then(|s| s.parse().ok()));
        let error = self.error || get(keys::ERROR) == Some("true") || http_status.is_some_and(|s| s >= 500);
        let client = self.client || matches!(get(keys::SPAN_KIND), Some("client" | "producer"));
        let server = !client
            && (self.server
                || get(keys::SPAN_KIND) == Some("server")
                || get(keys::UPSTREAM_CLUSTER).is_some_and(|cluster| cluster.starts_with("inbound|")));
        let remote = first(&keys::REMOTE)
            .map(str::to_owned)
            .or_else(|| first(&keys::URL).and_then(url_host))
            .filter(|r| !r.is_empty())
            .map(Arc::from);
        let peer = self.peer.or_else(|| first(&keys::PEER).filter(|p| !p.is_empty()).map(Arc::from));
        Span {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            service: self.service,
            operation: self.operation,
            start_micros: self.start_micros,
            duration_micros: self.duration_micros,
            http_status,
            error,
            hash_status,
            peer,
            remote,
            client,
            server,
            attributes,
        }
    }
}

/// The host of an absolute URL (`https://api.groq.com:443/v1/x` → `api.groq.com`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Parses a hex trace or span id (Jaeger may drop leading zeros).
pub fn parse_hex_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// Normalises a hex trace id: lower case, leading zeros kept as given, `None` when not hex.
pub fn normalise_trace_id(text: &str) -> Option<Arc<str>> {
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{:0>32}", text.to_ascii_lowercase());
    Some(Arc::from(padded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_drop_scheme_credentials_port_and_path() {
        assert_eq!(url_host("https://api.groq.com:443/v1/chat?x=1").as_deref(), Some("api.groq.com"));
        assert_eq!(url_host("http://user:pw@Example.org/").as_deref(), Some("example.org"));
        assert_eq!(url_host("/relative/path"), None);
    }

    #[test]
    fn trace_ids_are_padded_to_32_hex_digits() {
        assert_eq!(normalise_trace_id("ABC").as_deref(), Some("00000000000000000000000000000abc"));
        assert_eq!(normalise_trace_id("xyz"), None);
        assert_eq!(parse_hex_u64("00ff"), Some(255));
        assert_eq!(parse_hex_u64("1234567890abcdef0"), None);
    }

    fn facts() -> SpanFacts {
        SpanFacts {
            trace_id: Arc::from("1"),
            span_id: 1,
            parent_span_id: None,
            service: Arc::from("a"),
            operation: Arc::from("op"),
            start_micros: 0,
            duration_micros: 1,
            error: false,
            client: false,
            server: false,
            peer: None,
            http_status: None,
            hash_status: None,
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> Vec<Attribute> {
        pairs.iter().map(|(k, v)| Attribute { key: (*k).to_owned(), value: (*v).to_owned() }).collect()
    }

    #[test]
    fn the_server_side_is_span_kind_server_or_envoys_inbound_span() {
        let kinds = |pairs: &[(&str, &str)]| {
            let span = facts().into_span(attrs(pairs));
            (span.client, span.server)
        };
        assert_eq!(kinds(&[("span.kind", "server")]), (false, true));
        assert_eq!(kinds(&[("upstream_cluster", "inbound|8080||")]), (false, true));
        assert_eq!(kinds(&[("upstream_cluster", "outbound|80||legacy.default.svc.cluster.local")]), (false, false));
        assert_eq!(kinds(&[("span.kind", "client"), ("upstream_cluster", "inbound|8080||")]), (true, false));
        assert_eq!(kinds(&[]), (false, false));
        assert!(SpanFacts { server: true, ..facts() }.into_span(Vec::new()).server, "the source's own kind");
    }

    #[test]
    fn facts_from_attributes() {
        let facts = facts();
        let span = facts.clone().into_span(attrs(&[("http.status_code", "503"), ("span.kind", "client")]));
        assert_eq!((span.http_status, span.error, span.hash_status, span.client), (Some(503), true, None, true));
        let span = facts
            .clone()
            .into_span(attrs(&[("constitutional.hash.status", "injected"), ("http.url", "https://api.groq.com/v1")]));
        assert_eq!((span.hash_status, span.remote.as_deref()), (Some(HashStatus::Injected), Some("api.groq.com")));
    }

    #[test]
    fn only_the_filters_status_tag_is_evidence_of_the_hash() {
        let facts = facts();
        // A Telemetry `literal` tag puts the configured hash on every span, filtered or not.
        let literal_only = facts.clone().into_span(attrs(&[("constitutional.hash", "cdd01ef066bc6cf2")]));
        assert_eq!(literal_only.hash_status, None, "no status tag: the hash was not checked here");
        let refused = facts.into_span(attrs(&[
            ("constitutional.hash", "cdd01ef066bc6cf2"),
            ("constitutional.hash.status", "missing"),
        ]));
        assert_eq!(refused.hash_status, Some(HashStatus::Missing));
    }
}
