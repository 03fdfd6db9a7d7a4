//! What the filter reports for one finished request (DESIGN.md steps 3 and 5): the telemetry
//! record that feeds the aggregates and, for a sampled request, its own span with the
//! constitutional attributes and the OTel HTTP semantic-convention attributes. Only the header
//! values DESIGN.md names are copied (authority as `server.address`, user agent); never
//! authorization, cookies or any other header.

use std::rc::Rc;

use acgs_proto::telemetry::{attribute, Attribute, SpanRecord};

use crate::category::Compliance;
use crate::decision::RequestDecision;
use crate::telemetry::RequestRecord;

/// The finished request as the glue saw it.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub decision: &'a RequestDecision,
    pub service: &'a str,
    pub constitutional_hash: &'a str,
    pub method: &'a [u8],
    /// The path without its query string.
    pub path: &'a [u8],
    /// The response status, when a response was seen.
    pub status: Option<u16>,
    pub authority: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub start_nanos: u64,
    pub end_nanos: u64,
    /// Who called: the peer identity, or its address.
    pub peer: &'a str,
}

fn text(key: &str, value: &str) -> Attribute {
    Attribute { key: key.to_owned(), value: Some(attribute::Value::StringValue(value.to_owned())) }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The filter's span for a sampled request.
pub fn span_record(request: &Finished<'_>) -> SpanRecord {
    let decision = request.decision;
    let mut attributes = vec![
        text("constitutional.hash", request.constitutional_hash),
        text("constitutional.hash.status", decision.hash_status.as_str()),
        Attribute {
            key: "constitutional.compliant".to_owned(),
            value: Some(attribute::Value::BoolValue(decision.compliance == Compliance::Compliant)),
        },
        text("acgs.category", decision.category.as_str()),
        text("acgs.service", request.service),
        text("acgs.operation", &decision.operation),
        text("http.request.method", &lossy(request.method)),
        text("url.path", &lossy(request.path)),
    ];
    if let Some(status) = request.status {
        attributes.push(Attribute {
            key: "http.response.status_code".to_owned(),
            value: Some(attribute::Value::IntValue(i64::from(status))),
        });
    }
    if let Some(authority) = request.authority {
        attributes.push(text("server.address", &lossy(authority)));
    }
    if let Some(agent) = request.user_agent {
        attributes.push(text("user_agent.original", &lossy(agent)));
    }
    SpanRecord {
        trace_id: decision.trace_id.to_vec(),
        span_id: decision.span_id.to_vec(),
        parent_span_id: decision.parent_span_id.map(|id| id.to_vec()).unwrap_or_default(),
        name: decision.operation.to_string(),
        start_unix_nanos: request.start_nanos,
        end_unix_nanos: request.end_nanos.max(request.start_nanos),
        attributes,
        peer: request.peer.to_owned(),
    }
}

/// The telemetry record of a finished request (with its span when sampled).
pub fn request_record(request: &Finished<'_>) -> RequestRecord {
    let decision = request.decision;
    let status_class =
        request.status.map_or(0, |status| u8::try_from(status / 100).ok().filter(|c| (1..=5).contains(c)).unwrap_or(0));
    RequestRecord {
        operation: Rc::clone(&decision.operation),
        category: decision.category.as_str(),
        status_class,
        hash_status: decision.hash_status,
        latency_micros: request.end_nanos.saturating_sub(request.start_nanos) / 1_000,
        source: decision.hash_status.is_violation().then(|| Rc::from(request.peer)),
        span: decision.sampled.then(|| span_record(request)),
    }
}

#[cfg(test)]
mod tests;
