//! What the filter reports for one finished request (docs/contracts.md, filter steps 3 and 5): the
//! telemetry record that feeds the aggregates and, for a sampled request, its own span record
//! (encoded), whose facts travel typed (hash status, category, rule, method, path, status,
//! authority, user agent) and become the span's attributes at the control plane. Only the header
//! values docs/contracts.md names are copied (authority, user agent); never authorization,
//! cookies or any other header.

use std::borrow::Cow;
use std::rc::Rc;

use prost::encoding::WireType;

use crate::decision::RequestDecision;
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

/// Field numbers of `acgs.telemetry.v1.SpanRecord` (proto/proto/telemetry.proto; the tests decode
/// what is written here with the generated type, field by field).
mod field {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const PARENT_SPAN_ID: u32 = 3;
    pub const NAME: u32 = 4;
    pub const START: u32 = 5;
    pub const END: u32 = 6;
    pub const PEER: u32 = 8;
    pub const HASH_STATUS: u32 = 9;
    pub const CATEGORY: u32 = 10;
    pub const SAMPLING_RULE: u32 = 11;
    pub const METHOD: u32 = 12;
    pub const PATH: u32 = 13;
    pub const STATUS_CODE: u32 = 14;
    pub const AUTHORITY: u32 = 15;
    pub const USER_AGENT: u32 = 16;
}

/// Bytes the span buffer starts with (a span of the benchmark's request is about 250).
const SPAN_CAPACITY: usize = 1_024;

/// A varint, written with one copy: prost's `encode_varint` pushes byte by byte through
/// `BufMut`, each push checking the capacity, and the two nine-byte timestamps of every span made
/// that a fifth of the span's cost.
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

fn put_key(field: u32, wire_type: WireType, buf: &mut Vec<u8>) {
    put_varint_value(u64::from(field << 3 | wire_type as u32), buf);
}

/// A bytes or string field; empty values are not written (proto3 defaults).
fn put_len_field(field: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes.is_empty() {
        put_key(field, WireType::LengthDelimited, buf);
        put_varint_value(bytes.len() as u64, buf);
        buf.extend_from_slice(bytes);
    }
}

/// A varint field; zero is not written (proto3 default).
fn put_varint(field: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        put_key(field, WireType::Varint, buf);
        put_varint_value(value, buf);
    }
}

/// A header value as text: borrowed when it is UTF-8 (checked by the standard library's fast
/// path), else carried lossily so that a batch always decodes.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed)
}

/// Writes the VM's span records into one reused buffer.
#[derive(Debug)]
pub struct SpanWriter {
    buf: Vec<u8>,
}

impl Default for SpanWriter {
    fn default() -> Self {
        Self { buf: Vec::with_capacity(SPAN_CAPACITY) }
    }
}

impl SpanWriter {
    /// The filter's span for a sampled request, as the bytes of an `acgs.telemetry.v1.SpanRecord`
    /// message. Written straight from the request's facts into the reused buffer: a span costs
    /// no allocation and no string per attribute (this runs for every sampled request in every
    /// sidecar). Header values that are not UTF-8 are carried lossily, so a batch always decodes.
    pub fn span_record(&mut self, request: &Finished<'_>) -> &[u8] {
        let buf = &mut self.buf;
        let decision = request.decision;
        buf.clear();
        put_len_field(field::TRACE_ID, &decision.trace_id, buf);
        put_len_field(field::SPAN_ID, &decision.span_id, buf);
        if let Some(parent) = &decision.parent_span_id {
            put_len_field(field::PARENT_SPAN_ID, parent, buf);
        }
        put_len_field(field::NAME, decision.operation.as_str().as_bytes(), buf);
        put_varint(field::START, request.start_nanos, buf);
        put_varint(field::END, request.end_nanos.max(request.start_nanos), buf);
        put_len_field(field::PEER, request.peer.as_bytes(), buf);
        put_varint(field::HASH_STATUS, decision.hash_status as u64, buf);
        put_len_field(field::CATEGORY, decision.category.as_str().as_bytes(), buf);
        put_len_field(field::SAMPLING_RULE, decision.rule.as_bytes(), buf);
        put_len_field(field::METHOD, text(request.method).as_bytes(), buf);
        put_len_field(field::PATH, text(request.path).as_bytes(), buf);
        put_varint(field::STATUS_CODE, request.status.map_or(0, u64::from), buf);
        put_len_field(field::AUTHORITY, text(request.authority.unwrap_or_default()).as_bytes(), buf);
        put_len_field(field::USER_AGENT, text(request.user_agent.unwrap_or_default()).as_bytes(), buf);
        buf
    }

    /// The telemetry record of a finished request, with its span when sampled.
    pub fn request_record(&mut self, request: &Finished<'_>) -> RequestRecord<'_> {
        let decision = request.decision;
        let status_class = request
            .status
            .map_or(0, |status| u8::try_from(status / 100).ok().filter(|c| (1..=5).contains(c)).unwrap_or(0));
        RequestRecord {
            operation: decision.operation.clone(),
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
