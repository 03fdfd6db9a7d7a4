//! What the filter reports for one finished request (docs/contracts.md, filter steps 3 and 5): the
//! telemetry record that feeds the aggregates and, for a sampled request, its own span record
//! (encoded), whose facts travel typed (hash status, category, rule, method, path, status,
//! authority, user agent) and become the span's attributes at the control plane. Only the header
//! values docs/contracts.md names are copied (authority, user agent); never authorization,
//! cookies or any other header.

use std::rc::Rc;

use crate::decision::RequestDecision;
use crate::span_wire::{bounded, field, put_len_field, put_varint, text};
use crate::telemetry::RequestRecord;

/// The finished request as the glue saw it.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    pub decision: &'a RequestDecision,
    /// The response status, when a response was seen.
    pub status: Option<u16>,
    pub authority: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub start_nanos: u64,
    pub end_nanos: u64,
    /// Who called: the peer identity, or its address (UTF-8, at most
    /// [`acgs_proto::telemetry::MAX_SPAN_VALUE_BYTES`]: [`crate::span_wire::text`]).
    pub peer: &'a [u8],
}

/// Bytes the span buffer starts with (a span of the benchmark's request is about 250).
const SPAN_CAPACITY: usize = 1_024;

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
        buf.extend_from_slice(&decision.span_fields);
        put_varint(field::START, request.start_nanos, buf);
        put_varint(field::END, request.end_nanos.max(request.start_nanos), buf);
        put_len_field(field::PEER, request.peer, buf);
        put_varint(field::HASH_STATUS, decision.hash_status as u64, buf);
        put_len_field(field::SAMPLING_RULE, bounded(&decision.rule).as_bytes(), buf);
        put_varint(field::STATUS_CODE, request.status.map_or(0, u64::from), buf);
        put_len_field(field::AUTHORITY, &text(request.authority.unwrap_or_default()), buf);
        put_len_field(field::USER_AGENT, &text(request.user_agent.unwrap_or_default()), buf);
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
            source: decision.hash_status.is_violation().then(|| Rc::from(String::from_utf8_lossy(request.peer))),
            span: if decision.sampled { Some(self.span_record(request)) } else { None },
        }
    }
}

#[cfg(test)]
mod tests;
