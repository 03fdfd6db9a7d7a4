//! What the filter reports for one finished request (docs/contracts.md, filter steps 3 and 5): the telemetry
//! record that feeds the aggregates and, for a sampled request, its own span (encoded) with the
//! constitutional attributes and the OTel HTTP semantic-convention attributes. Only the header
//! values docs/contracts.md names are copied (authority as `server.address`, user agent); never
//! authorization, cookies or any other header.

use std::borrow::Cow;
use std::rc::Rc;

use prost::encoding::{encoded_len_varint, WireType};

use crate::category::{Category, Compliance};
use crate::decision::RequestDecision;
use crate::hash::HashStatus;
use crate::span_headers::decision_value;
use crate::telemetry::RequestRecord;

/// The finished request as the glue saw it.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub decision: &'a RequestDecision,
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

/// Bytes the span buffer starts with (a span of the benchmark's request is 623).
const SPAN_CAPACITY: usize = 1_024;

/// An attribute value.
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
}

/// The first byte of a field's key: every field here has a number below 16, so its key is one
/// byte (`number << 3 | wire type`).
const fn key(field: u8, wire_type: WireType) -> u8 {
    (field << 3) | wire_type as u8
}

/// A length or varint value, written with one copy: prost's `encode_varint` pushes byte by byte
/// through `BufMut`, each push checking the capacity, and the two nine-byte timestamps of every
/// span made that a fifth of the span's cost.
fn put_varint_value(mut value: u64, buf: &mut Vec<u8>) {
    if value < 0x80 {
        buf.push(value as u8);
        return;
    }
    let mut bytes = [0u8; 10];
    let mut len = 0;
    for slot in &mut bytes {
        len += 1;
        if value < 0x80 {
            *slot = value as u8;
            break;
        }
        *slot = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
    }
    buf.extend_from_slice(&bytes[..len]);
}

fn len_field(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_len_field(field: u8, bytes: &[u8], buf: &mut Vec<u8>) {
    buf.push(key(field, WireType::LengthDelimited));
    put_varint_value(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn put_varint(field: u8, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        buf.push(key(field, WireType::Varint));
        put_varint_value(value, buf);
    }
}

/// `SpanRecord.attributes` (field 7): an `Attribute { key = 1; oneof value { string = 2;
/// int64 = 3; bool = 4 } }`, written in place.
fn put_attribute(key_text: &str, value: Value<'_>, buf: &mut Vec<u8>) {
    let value_len = match &value {
        Value::Text(text) => len_field(text.len()),
        Value::Int(n) => 1 + encoded_len_varint(*n as u64),
        Value::Bool(_) => 2,
    };
    buf.push(key(7, WireType::LengthDelimited));
    put_varint_value((len_field(key_text.len()) + value_len) as u64, buf);
    put_len_field(1, key_text.as_bytes(), buf);
    match value {
        Value::Text(text) => put_len_field(2, text.as_bytes(), buf),
        Value::Int(n) => {
            buf.push(key(3, WireType::Varint));
            put_varint_value(n as u64, buf);
        }
        Value::Bool(flag) => {
            buf.push(key(4, WireType::Varint));
            buf.push(u8::from(flag));
        }
    }
}

/// A header value as text: borrowed when it is UTF-8 (checked by the standard library's fast
/// path), else carried lossily so that a batch always decodes.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed)
}

/// Attribute blocks that are the same for many requests, encoded once per VM: the VM's hash and
/// service, and one block per value of the hash status, compliance, category and sampling
/// decision. A span copies these whole, so most of its attributes cost one copy instead of five
/// small writes (each small copy is a call into the runtime in Wasm).
#[derive(Debug)]
struct Blocks {
    hash: Vec<u8>,
    status: [Vec<u8>; HashStatus::ALL.len()],
    compliant: [Vec<u8>; 2],
    category: [Vec<u8>; Category::ALL.len()],
    service: Vec<u8>,
    decision: [Vec<u8>; 2],
}

fn block(key_text: &str, value: Value<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    put_attribute(key_text, value, &mut bytes);
    bytes
}

impl Blocks {
    fn new(service: &str, constitutional_hash: &str) -> Self {
        Self {
            hash: block("constitutional.hash", Value::Text(constitutional_hash)),
            status: HashStatus::ALL.map(|status| block("constitutional.hash.status", Value::Text(status.as_str()))),
            compliant: [false, true].map(|flag| block("constitutional.compliant", Value::Bool(flag))),
            category: Category::ALL.map(|category| block("acgs.category", Value::Text(category.as_str()))),
            service: block("acgs.service", Value::Text(service)),
            decision: [false, true].map(|keep| block("acgs.sampling.decision", Value::Text(decision_value(keep)))),
        }
    }
}

/// The block of `value` among `all`'s (every value has one: the arrays are built from `ALL`).
fn block_of<'a, T: PartialEq>(blocks: &'a [Vec<u8>], all: &[T], value: &T) -> &'a [u8] {
    all.iter().position(|candidate| candidate == value).and_then(|at| blocks.get(at)).map_or(&[], Vec::as_slice)
}

/// Writes the VM's span records: one reused buffer and the VM's pre-encoded [`Blocks`].
#[derive(Debug)]
pub struct SpanWriter {
    blocks: Blocks,
    buf: Vec<u8>,
}

impl SpanWriter {
    pub fn new(service: &str, constitutional_hash: &str) -> Self {
        Self { blocks: Blocks::new(service, constitutional_hash), buf: Vec::with_capacity(SPAN_CAPACITY) }
    }

    /// The filter's span for a sampled request, as the bytes of an `acgs.telemetry.v1.SpanRecord`
    /// message. Written straight from the request's facts into the reused buffer: a span costs
    /// no allocation and no string per attribute (this runs for every sampled request in every
    /// sidecar). Header values that are not UTF-8 are carried lossily, so a batch always decodes.
    pub fn span_record(&mut self, request: &Finished<'_>) -> &[u8] {
        let (blocks, buf) = (&self.blocks, &mut self.buf);
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
        buf.extend_from_slice(&blocks.hash);
        buf.extend_from_slice(block_of(&blocks.status, &HashStatus::ALL, &decision.hash_status));
        buf.extend_from_slice(&blocks.compliant[usize::from(decision.compliance == Compliance::Compliant)]);
        buf.extend_from_slice(block_of(&blocks.category, &Category::ALL, &decision.category));
        buf.extend_from_slice(&blocks.service);
        put_attribute("acgs.operation", Value::Text(&decision.operation), buf);
        buf.extend_from_slice(&blocks.decision[usize::from(decision.sampled)]);
        put_attribute("acgs.sampling.rule", Value::Text(&decision.rule), buf);
        put_attribute("http.request.method", Value::Text(&text(request.method)), buf);
        put_attribute("url.path", Value::Text(&text(request.path)), buf);
        if let Some(status) = request.status {
            put_attribute("http.response.status_code", Value::Int(i64::from(status)), buf);
        }
        if let Some(authority) = request.authority {
            put_attribute("server.address", Value::Text(&text(authority)), buf);
        }
        if let Some(agent) = request.user_agent {
            put_attribute("user_agent.original", Value::Text(&text(agent)), buf);
        }
        if !request.peer.is_empty() {
            put_len_field(8, request.peer.as_bytes(), buf);
        }
        buf
    }

    /// The telemetry record of a finished request, with its span when sampled.
    pub fn request_record(&mut self, request: &Finished<'_>) -> RequestRecord<'_> {
        let decision = request.decision;
        let status_class = request
            .status
            .map_or(0, |status| u8::try_from(status / 100).ok().filter(|c| (1..=5).contains(c)).unwrap_or(0));
        RequestRecord {
            operation: Rc::clone(&decision.operation),
            category: decision.category,
            status_class,
            hash_status: decision.hash_status,
            latency_micros: request.end_nanos.saturating_sub(request.start_nanos) / 1_000,
            source: decision.hash_status.is_violation().then(|| Rc::from(request.peer)),
            span: if decision.sampled { Some(self.span_record(request)) } else { None },
        }
    }
}

#[cfg(test)]
mod tests;
