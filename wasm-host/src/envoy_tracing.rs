//! Envoy's request ids and tracing around one HTTP stream, as the connection manager, the
//! OpenTelemetry tracer and the router do them for Istio's sidecars and gateways. What a filter
//! sees and what a collector receives follow from this order (Envoy 1.38.0-dev, commit
//! 28cb0f71; the lines are quoted in the repository's docs/mesh.md):
//!
//! 1. Before any HTTP filter runs (`conn_manager_impl.cc` `decodeHeaders` L1500–1567):
//!    `x-request-id` is generated when absent (`conn_manager_utility.cc` `mutateRequestHeaders`
//!    L310–314, `request_id/uuid/config.cc`); the tracing decision is taken from it — a reason
//!    already packed into it by an earlier hop, else `x-client-trace-id`, `x-envoy-force-trace`,
//!    then `random_sampling` on its first 8 hex digits modulo 10,000 — and packed back into its
//!    15th character (`mutateTracingRequestHeader` L389–446); then the hop's span starts
//!    (`traceRequest` L1577–1601). The OpenTelemetry tracer joins a valid incoming `traceparent`
//!    and copies its sampled flag, ignoring the decision (`tracer.cc` L308–337); without one the
//!    span gets random ids and the decision (L282–306); a malformed one gives no span at all
//!    (`opentelemetry_tracer_impl.cc` L121–147). No trace context is written into the request
//!    here: a filter sees the caller's `traceparent`, or none.
//! 2. When the router sends the request upstream it writes the `traceparent` and `tracestate` of
//!    the hop's span — or of a child CLIENT span `router <cluster> egress` when
//!    `spawn_upstream_span` is set, as Istio does for gateways — into the request headers
//!    (`router/upstream_request.cc` L99–141, `tracer.cc` `injectContext` L94–105).
//! 3. When the stream completes, the span gets the common tags, then the custom tags read from
//!    the request headers as they stand then, the filters' changes included (`modifySpan`
//!    L2187–2214; an absent header takes its default value, and with none the tag is left out:
//!    `custom_tag_impl.cc` L26–66); its status is ERROR for a 5xx, and for a 4xx on a CLIENT
//!    span (`tracer.cc` `setTag` L164–184); it is exported only when sampled (L83–90).
//!
//! The ids come from the proxy's random generator, so what a test or the demo replays is a
//! model of one Envoy, not a recording of one.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

use crate::headers::Headers;

/// The listener's traffic direction, which makes the hop's span SERVER or CLIENT
/// (`opentelemetry_tracer_impl.cc` `getSpanKind` L50–62; Istio: sidecar inbound INBOUND, sidecar
/// outbound OUTBOUND).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficDirection {
    Inbound,
    Outbound,
}

/// A span tag taken from the request (Envoy's `custom_tags`, Istio Telemetry `customTags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomTag {
    RequestHeader { tag: String, header: String, default_value: Option<String> },
    Literal { tag: String, value: String },
}

/// The connection manager's `tracing` block with the OpenTelemetry provider.
#[derive(Debug, Clone)]
pub struct TracingConfig {
    /// The `service.name` resource of the exported spans (Istio: the proxy's cluster name,
    /// `<app>.<namespace>`).
    pub service_name: String,
    pub direction: TrafficDirection,
    /// `random_sampling`, percent (Istio `randomSamplingPercentage`), in steps of 0.01.
    pub random_sampling_percent: f64,
    /// Istio sets it on gateways: the upstream request gets a child CLIENT span.
    pub spawn_upstream_span: bool,
    /// The route's decorator, the span's name (Istio: `<host>:<port>/*`).
    pub operation: Option<String>,
    /// The upstream cluster, for the child span's name.
    pub upstream_cluster: String,
    pub custom_tags: Vec<CustomTag>,
}

impl TracingConfig {
    /// A sidecar's inbound tracing at `random_sampling_percent`, with no custom tags.
    pub fn inbound(service_name: &str, random_sampling_percent: f64) -> Self {
        Self {
            service_name: service_name.to_owned(),
            direction: TrafficDirection::Inbound,
            random_sampling_percent,
            spawn_upstream_span: false,
            operation: None,
            upstream_cluster: "inbound|8080||".to_owned(),
            custom_tags: Vec::new(),
        }
    }
}

/// An OTLP span kind, as Envoy's OpenTelemetry tracer sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Server,
    Client,
}

/// A span Envoy's tracer exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSpan {
    /// The proxy's `service.name`.
    pub service_name: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    /// Tags in the order Envoy sets them (common tags, then custom tags), all strings.
    pub attributes: Vec<(String, String)>,
    /// OTLP status ERROR.
    pub error: bool,
}

impl RecordedSpan {
    /// The value of the tag `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }
}

/// Why a request is traced, as packed into `x-request-id` (`request_id/uuid/config.cc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    NotTraceable,
    Sampling,
    ServiceForced,
    ClientForced,
}

/// The UUID character that carries the reason, and its values.
const TRACE_BYTE_POSITION: usize = 14;
const UUID_LENGTH: usize = 36;

impl Reason {
    fn of_request_id(request_id: &[u8]) -> Self {
        if request_id.len() != UUID_LENGTH {
            return Self::NotTraceable;
        }
        match request_id[TRACE_BYTE_POSITION] {
            b'a' => Self::ServiceForced,
            b'9' => Self::Sampling,
            b'b' => Self::ClientForced,
            _ => Self::NotTraceable,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::NotTraceable => b'4',
            Self::Sampling => b'9',
            Self::ServiceForced => b'a',
            Self::ClientForced => b'b',
        }
    }
}

/// A span open for the stream.
#[derive(Debug, Clone)]
pub(crate) struct ActiveSpan {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    sampled: bool,
    tracestate: Vec<u8>,
    name: String,
    start_unix_nanos: u64,
    /// The router's child span, once the request went upstream (`spawn_upstream_span`).
    upstream: Option<([u8; 8], u64)>,
}

/// Envoy's `x-request-id` handling: a fresh UUIDv4 when the request has none or an empty one.
pub(crate) fn ensure_request_id(headers: &mut Headers) {
    if headers.get("x-request-id").is_some_and(|id| !id.is_empty()) {
        return;
    }
    let bytes: [u8; 16] = rand::rng().random();
    let part = |range: std::ops::Range<usize>| hex(&bytes[range]);
    let mut uuid =
        format!("{}-{}-{}-{}-{}", part(0..4), part(4..6), part(6..8), part(8..10), part(10..16)).into_bytes();
    uuid[TRACE_BYTE_POSITION] = b'4';
    uuid[19] = b"89ab"[usize::from(bytes[8] & 0x03)];
    headers.replace(b"x-request-id", &uuid);
}

/// The connection manager's tracing decision for the request, packed into its `x-request-id`.
fn decide(config: &TracingConfig, headers: &mut Headers) -> bool {
    let Some(request_id) = headers.get("x-request-id").map(<[u8]>::to_vec) else {
        return false;
    };
    let Some(draw) =
        request_id.get(..8).and_then(|digits| u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok())
    else {
        return false;
    };
    let mut reason = Reason::of_request_id(&request_id);
    if reason == Reason::NotTraceable {
        // client_sampling and overall_sampling are 100 in Istio (`configureSampling`).
        let numerator = (config.random_sampling_percent * 100.0).round() as u32;
        reason = if headers.get("x-client-trace-id").is_some() {
            Reason::ClientForced
        } else if headers.get("x-envoy-force-trace").is_some() {
            Reason::ServiceForced
        } else if draw % 10_000 < numerator {
            Reason::Sampling
        } else {
            Reason::NotTraceable
        };
        if request_id.len() == UUID_LENGTH {
            let mut packed = request_id;
            packed[TRACE_BYTE_POSITION] = reason.byte();
            headers.replace(b"x-request-id", &packed);
        }
    }
    reason != Reason::NotTraceable
}

/// A W3C `traceparent` as Envoy's `SpanContextExtractor` reads it: exactly 55 characters in four
/// parts, hex, no all-zero ids (`span_context_extractor.cc` L53–86).
fn parse_traceparent(value: &[u8]) -> Option<([u8; 16], [u8; 8], bool)> {
    let text = std::str::from_utf8(value).ok()?;
    let parts: Vec<&str> = text.split('-').collect();
    let [version, trace, span, flags] = parts.as_slice() else { return None };
    if value.len() != 55 || version.len() != 2 || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?.to_be_bytes();
    let span_id = u64::from_str_radix(span, 16).ok()?.to_be_bytes();
    let flags = u8::from_str_radix(flags, 16).ok()?;
    u8::from_str_radix(version, 16).ok()?;
    (trace_id != [0; 16] && span_id != [0; 8]).then_some((trace_id, span_id, flags & 1 == 1))
}

/// Steps 1 of the module doc: the decision and the hop's span, before the filters run.
pub(crate) fn start(config: &TracingConfig, headers: &mut Headers) -> Option<ActiveSpan> {
    let traced = decide(config, headers);
    let mut rng = rand::rng();
    let span_id = rng.random::<u64>().max(1).to_be_bytes();
    let (trace_id, parent_span_id, sampled) = match headers.get("traceparent") {
        Some(value) => {
            let (trace_id, parent, sampled) = parse_traceparent(value)?;
            (trace_id, Some(parent), sampled)
        }
        None => (rng.random::<u128>().max(1).to_be_bytes(), None, traced),
    };
    let tracestate = headers.get("tracestate").map(<[u8]>::to_vec).unwrap_or_default();
    let decorated = match config.direction {
        TrafficDirection::Inbound => {
            let from_caller = headers.get_str("x-envoy-decorator-operation").map(str::to_owned);
            headers.remove(b"x-envoy-decorator-operation");
            from_caller
        }
        TrafficDirection::Outbound => {
            if let Some(operation) = &config.operation {
                headers.replace(b"x-envoy-decorator-operation", operation.as_bytes());
            }
            None
        }
    };
    let name = decorated.or_else(|| config.operation.clone()).unwrap_or_else(|| match config.direction {
        TrafficDirection::Inbound => "ingress".to_owned(),
        TrafficDirection::Outbound => {
            format!("egress {}", headers.get_str(":authority").unwrap_or_default())
        }
    });
    Some(ActiveSpan {
        trace_id,
        span_id,
        parent_span_id,
        sampled,
        tracestate,
        name,
        start_unix_nanos: unix_nanos(),
        upstream: None,
    })
}

/// Step 2: the router writes the context of the span the upstream request belongs to.
pub(crate) fn inject(config: &TracingConfig, span: &mut ActiveSpan, headers: &mut Headers) {
    let span_id = if config.spawn_upstream_span {
        let child = rand::rng().random::<u64>().max(1).to_be_bytes();
        span.upstream = Some((child, unix_nanos()));
        child
    } else {
        span.span_id
    };
    let mut traceparent = String::with_capacity(55);
    traceparent.push_str("00-");
    traceparent.push_str(&hex(&span.trace_id));
    traceparent.push('-');
    traceparent.push_str(&hex(&span_id));
    traceparent.push_str(if span.sampled { "-01" } else { "-00" });
    headers.replace(b"traceparent", traceparent.as_bytes());
    headers.replace(b"tracestate", &span.tracestate);
}

/// Step 3: the finished span(s), when sampled, from the request headers as they stand at the end
/// and the status the client got (`None`: no response, a reset).
pub(crate) fn finish(
    config: &TracingConfig,
    span: ActiveSpan,
    headers: &Headers,
    status: Option<u16>,
    node_id: &str,
) -> Vec<RecordedSpan> {
    if !span.sampled {
        return Vec::new();
    }
    let end = unix_nanos();
    let kind = match config.direction {
        TrafficDirection::Inbound => SpanKind::Server,
        TrafficDirection::Outbound if config.spawn_upstream_span => SpanKind::Server,
        TrafficDirection::Outbound => SpanKind::Client,
    };
    let error_of = |kind: SpanKind| match status {
        Some(code) => code >= 500 || (code >= 400 && kind == SpanKind::Client),
        None => false,
    };
    let header = |name: &str| headers.get(name).map(|value| String::from_utf8_lossy(value).into_owned());
    let mut attributes = vec![
        ("node_id".to_owned(), node_id.to_owned()),
        ("guid:x-request-id".to_owned(), header("x-request-id").unwrap_or_default()),
        (
            "http.url".to_owned(),
            format!(
                "{}://{}{}",
                header(":scheme").unwrap_or_else(|| "http".to_owned()),
                header(":authority").unwrap_or_default(),
                header(":path").unwrap_or_default()
            ),
        ),
        ("http.method".to_owned(), header(":method").unwrap_or_default()),
        ("http.protocol".to_owned(), "HTTP/1.1".to_owned()),
        ("upstream_cluster".to_owned(), config.upstream_cluster.clone()),
        ("http.status_code".to_owned(), status.unwrap_or(0).to_string()),
        ("component".to_owned(), "proxy".to_owned()),
    ];
    if status.is_none_or(|code| code >= 500) {
        attributes.push(("error".to_owned(), "true".to_owned()));
    }
    for tag in &config.custom_tags {
        let (name, value) = match tag {
            CustomTag::Literal { tag, value } => (tag, Some(value.clone())),
            CustomTag::RequestHeader { tag, header: name, default_value } => {
                (tag, header(name).filter(|value| !value.is_empty()).or_else(|| default_value.clone()))
            }
        };
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            attributes.push((name.clone(), value));
        }
    }
    let mut spans = Vec::with_capacity(2);
    if let Some((child_id, child_start)) = span.upstream {
        spans.push(RecordedSpan {
            service_name: config.service_name.clone(),
            trace_id: span.trace_id,
            span_id: child_id,
            parent_span_id: Some(span.span_id),
            name: format!("router {} egress", config.upstream_cluster),
            kind: SpanKind::Client,
            start_unix_nanos: child_start,
            end_unix_nanos: end,
            attributes: attributes.clone(),
            error: error_of(SpanKind::Client),
        });
    }
    spans.push(RecordedSpan {
        service_name: config.service_name.clone(),
        trace_id: span.trace_id,
        span_id: span.span_id,
        parent_span_id: span.parent_span_id,
        name: span.name,
        kind,
        start_unix_nanos: span.start_unix_nanos,
        end_unix_nanos: end,
        attributes,
        error: error_of(kind),
    });
    spans
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
