//! What the filter reports for one finished request (docs/contracts.md, filter steps 3 and 5): the telemetry
//! record that feeds the aggregates and, for a sampled request, its own span (encoded) with the
//! constitutional attributes and the OTel HTTP semantic-convention attributes. Only the header
//! values docs/contracts.md names are copied (authority as `server.address`, user agent); never
//! authorization, cookies or any other header.

use std::rc::Rc;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

use crate::category::Compliance;
use crate::decision::RequestDecision;
use crate::span_headers::decision_value;
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

/// An attribute value.
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
}

fn len_field(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_len_field(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn put_varint(tag: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(value, buf);
    }
}

/// `SpanRecord.attributes` (field 7): an `Attribute { key = 1; oneof value { string = 2;
/// int64 = 3; bool = 4 } }`, written in place.
fn put_attribute(key: &str, value: Value<'_>, buf: &mut Vec<u8>) {
    let value_len = match &value {
        Value::Text(text) => len_field(2, text.len()),
        Value::Int(n) => key_len(3) + encoded_len_varint(*n as u64),
        Value::Bool(_) => key_len(4) + 1,
    };
    encode_key(7, WireType::LengthDelimited, buf);
    encode_varint((len_field(1, key.len()) + value_len) as u64, buf);
    put_len_field(1, key.as_bytes(), buf);
    match value {
        Value::Text(text) => put_len_field(2, text.as_bytes(), buf),
        Value::Int(n) => {
            encode_key(3, WireType::Varint, buf);
            encode_varint(n as u64, buf);
        }
        Value::Bool(flag) => {
            encode_key(4, WireType::Varint, buf);
            encode_varint(u64::from(flag), buf);
        }
    }
}

/// The filter's span for a sampled request, as the bytes of an `acgs.telemetry.v1.SpanRecord`
/// message, written into `buf` (cleared first). Written straight from the request's facts into a
/// buffer the VM reuses: a span costs no allocation and no string per attribute (this runs for
/// every sampled request in every sidecar). Header values that are not UTF-8 are carried lossily,
/// so a batch always decodes.
pub fn span_record(request: &Finished<'_>, buf: &mut Vec<u8>) {
    let decision = request.decision;
    buf.clear();
    put_len_field(1, &decision.trace_id, buf);
    put_len_field(2, &decision.span_id, buf);
    if let Some(parent) = &decision.parent_span_id {
        put_len_field(3, parent, buf);
    }
    put_len_field(4, decision.operation.as_bytes(), buf);
    put_varint(5, request.start_nanos, buf);
    put_varint(6, request.end_nanos.max(request.start_nanos), buf);
    put_attribute("constitutional.hash", Value::Text(request.constitutional_hash), buf);
    put_attribute("constitutional.hash.status", Value::Text(decision.hash_status.as_str()), buf);
    put_attribute("constitutional.compliant", Value::Bool(decision.compliance == Compliance::Compliant), buf);
    put_attribute("acgs.category", Value::Text(decision.category.as_str()), buf);
    put_attribute("acgs.service", Value::Text(request.service), buf);
    put_attribute("acgs.operation", Value::Text(&decision.operation), buf);
    put_attribute("acgs.sampling.decision", Value::Text(decision_value(decision.sampled)), buf);
    put_attribute("acgs.sampling.rule", Value::Text(&decision.rule), buf);
    put_attribute("http.request.method", Value::Text(&String::from_utf8_lossy(request.method)), buf);
    put_attribute("url.path", Value::Text(&String::from_utf8_lossy(request.path)), buf);
    if let Some(status) = request.status {
        put_attribute("http.response.status_code", Value::Int(i64::from(status)), buf);
    }
    if let Some(authority) = request.authority {
        put_attribute("server.address", Value::Text(&String::from_utf8_lossy(authority)), buf);
    }
    if let Some(agent) = request.user_agent {
        put_attribute("user_agent.original", Value::Text(&String::from_utf8_lossy(agent)), buf);
    }
    if !request.peer.is_empty() {
        put_len_field(8, request.peer.as_bytes(), buf);
    }
}

/// The telemetry record of a finished request, with its span (encoded into `span_buffer`) when
/// sampled.
pub fn request_record<'a>(request: &Finished<'_>, span_buffer: &'a mut Vec<u8>) -> RequestRecord<'a> {
    let decision = request.decision;
    let status_class =
        request.status.map_or(0, |status| u8::try_from(status / 100).ok().filter(|c| (1..=5).contains(c)).unwrap_or(0));
    let span = if decision.sampled {
        span_record(request, span_buffer);
        Some(span_buffer.as_slice())
    } else {
        None
    };
    RequestRecord {
        operation: Rc::clone(&decision.operation),
        category: decision.category,
        status_class,
        hash_status: decision.hash_status,
        latency_micros: request.end_nanos.saturating_sub(request.start_nanos) / 1_000,
        source: decision.hash_status.is_violation().then(|| Rc::from(request.peer)),
        span,
    }
}

#[cfg(test)]
mod tests;
