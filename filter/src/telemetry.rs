//! Per-VM telemetry: request aggregates keyed by (operation, status class, hash status, and for
//! violations the calling source) with the agreed latency histogram, plus the sampled span
//! records, drained into one `TelemetryBatch` per flush.
//!
//! Delivery is at-least-once with exactly-once acceptance: a batch keeps its `seq` until the
//! control plane acknowledges it, and the glue resends the same bytes until then, while new
//! requests keep aggregating into the next batch. Memory is bounded: at most
//! [`BufferLimits::max_entries`] distinct aggregate keys and [`BufferLimits::max_spans`] spans
//! wait; what does not fit is dropped and counted (aggregates in requests, spans in spans), and
//! the counts ride in the next batch, so that delivered + dropped = seen. A batch the control
//! plane refuses as bad (4xx) is dropped and counted the same way instead of being retried
//! forever.

use std::collections::HashMap;
use std::rc::Rc;

use acgs_proto::telemetry::{
    AggregateEntry, DroppedCounters, SpanSource, TelemetryBatch, LATENCY_BUCKETS, LATENCY_BUCKET_BOUNDS_MICROS,
};
use prost::Message as _;

use crate::category::Category;
use crate::config::Tracer;
use crate::hash::HashStatus;
use crate::mix_hash::MixState;
use crate::operation::Operation;

/// `TelemetryBatch.spans`.
const SPANS_FIELD: u32 = 7;

/// Room a batch body has from the start beside its spans, for the other fields and a few hundred
/// aggregates (more grow it once).
const BODY_RESERVE: usize = 64 * 1024;

/// Bounds of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Distinct aggregate keys waiting.
    pub max_entries: usize,
    /// Span records waiting.
    pub max_spans: usize,
    /// Bytes of encoded span records waiting. The span buffer is this large from the start and
    /// the batch body is reused from batch to batch, so a VM's linear memory does not grow with
    /// the traffic: a busy sidecar reaches the same size as an idle one.
    pub max_span_bytes: usize,
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self { max_entries: 1_024, max_spans: 2_048, max_span_bytes: 512 * 1024 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AggregateKey {
    operation: Operation,
    category: Category,
    status_class: u8,
    hash_status: HashStatus,
    source: Option<Rc<str>>,
}

#[derive(Debug, Clone, Default)]
struct AggregateValue {
    count: u64,
    buckets: [u64; LATENCY_BUCKETS],
    sum_micros: u64,
    max_micros: u64,
}

/// One finished request, as the glue saw it.
#[derive(Debug)]
pub struct RequestRecord<'a> {
    pub operation: Operation,
    pub category: Category,
    /// 1..=5 for 1xx..5xx, 0 when no response was seen.
    pub status_class: u8,
    pub hash_status: HashStatus,
    pub latency_micros: u64,
    /// The caller, recorded for violations only (missing, mismatch).
    pub source: Option<Rc<str>>,
    /// The encoded `SpanRecord` message, when the request was sampled.
    pub span: Option<&'a [u8]>,
}

/// A batch handed to the glue for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    pub seq: u64,
    pub body: Vec<u8>,
    /// Requests aggregated in it.
    requests: u64,
    spans: u64,
}

/// What the control plane said about a sent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx: accepted (or already had it).
    Delivered,
    /// Unreachable, timeout, 5xx, 429, 408, and 401/403 (a token being rotated): send the same
    /// batch again later.
    Retry,
    /// Any other 4xx: the control plane will never take it; drop it and count.
    Refused,
}

impl Delivery {
    /// Classifies an HTTP status (`None`: no response at all).
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Delivery::Delivered,
            Some(401 | 403 | 408 | 429) | None => Delivery::Retry,
            Some(400..=499) => Delivery::Refused,
            Some(_) => Delivery::Retry,
        }
    }
}

/// The VM's telemetry buffer.
#[derive(Debug)]
pub struct TelemetryBuffer {
    service: String,
    vm_id: String,
    constitutional_hash: String,
    span_source: SpanSource,
    limits: BufferLimits,
    entries: HashMap<AggregateKey, AggregateValue, MixState>,
    /// Encoded `SpanRecord` messages, each already framed as the batch's `spans` field (7), so a
    /// batch is the other fields followed by these bytes; the buffer is reused across batches.
    spans: Vec<u8>,
    /// The body of the last settled batch, kept to write the next one into.
    spare_body: Vec<u8>,
    /// How many spans `spans` holds.
    span_count: usize,
    dropped: DroppedCounters,
    window_start_nanos: u64,
    next_seq: u64,
    in_flight: Option<PendingBatch>,
    /// Requests and spans seen, delivered and dropped (for the invariant and tests).
    pub totals: Totals,
}

/// Running totals: requests and spans seen, delivered and dropped by this VM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests_seen: u64,
    pub requests_delivered: u64,
    pub requests_dropped: u64,
    pub spans_seen: u64,
    pub spans_delivered: u64,
    pub spans_dropped: u64,
}

impl TelemetryBuffer {
    pub fn new(service: &str, vm_id: &str, constitutional_hash: &str, limits: BufferLimits, now_nanos: u64) -> Self {
        Self {
            service: service.to_owned(),
            vm_id: vm_id.to_owned(),
            constitutional_hash: constitutional_hash.to_owned(),
            span_source: SpanSource::Envoy,
            limits,
            entries: HashMap::default(),
            spans: Vec::with_capacity(limits.max_span_bytes),
            spare_body: Vec::with_capacity(limits.max_span_bytes + BODY_RESERVE),
            span_count: 0,
            dropped: DroppedCounters::default(),
            window_start_nanos: now_nanos,
            next_seq: 1,
            in_flight: None,
            totals: Totals::default(),
        }
    }

    /// Says in every batch who records this VM's hops as spans (Envoy's tracer unless told).
    pub fn spans_recorded_by(mut self, tracer: Tracer) -> Self {
        self.span_source = match tracer {
            Tracer::Envoy => SpanSource::Envoy,
            Tracer::None => SpanSource::Filter,
        };
        self
    }

    /// Adds one finished request.
    pub fn record(&mut self, request: RequestRecord<'_>) {
        self.totals.requests_seen += 1;
        let key = AggregateKey {
            operation: request.operation,
            category: request.category,
            status_class: request.status_class,
            hash_status: request.hash_status,
            source: request.source,
        };
        let full = self.entries.len() >= self.limits.max_entries;
        match self.entries.get_mut(&key) {
            Some(value) => value.observe(request.latency_micros),
            None if full => {
                self.dropped.aggregates += 1;
                self.totals.requests_dropped += 1;
            }
            None => {
                let mut value = AggregateValue::default();
                value.observe(request.latency_micros);
                self.entries.insert(key, value);
            }
        }
        if let Some(span) = request.span {
            self.totals.spans_seen += 1;
            // Framed: the field's key (one byte) and the length (at most three bytes here).
            let framed = span.len() + 4;
            if self.span_count >= self.limits.max_spans || self.spans.len() + framed > self.limits.max_span_bytes {
                self.dropped.spans += 1;
                self.totals.spans_dropped += 1;
            } else {
                prost::encoding::encode_key(SPANS_FIELD, prost::encoding::WireType::LengthDelimited, &mut self.spans);
                prost::encoding::encode_varint(span.len() as u64, &mut self.spans);
                self.spans.extend_from_slice(span);
                self.span_count += 1;
            }
        }
    }

    /// Whether the buffer is close enough to its bounds to flush before the interval ends.
    pub fn nearly_full(&self) -> bool {
        self.entries.len() * 4 >= self.limits.max_entries * 3
            || self.span_count * 4 >= self.limits.max_spans * 3
            || self.spans.len() * 4 >= self.limits.max_span_bytes * 3
    }

    /// Whether anything waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.span_count == 0 && self.dropped == DroppedCounters::default()
    }

    /// The batch to send now: the unacknowledged one again (same seq, same bytes), or a new one
    /// from what has accumulated; `None` when there is nothing to send.
    pub fn next_batch(&mut self, now_nanos: u64) -> Option<&PendingBatch> {
        if self.in_flight.is_none() {
            if self.is_empty() {
                return None;
            }
            let batch = self.drain(now_nanos);
            self.in_flight = Some(batch);
        }
        self.in_flight.as_ref()
    }

    /// Records what became of the batch `seq`.
    pub fn settle(&mut self, seq: u64, delivery: Delivery) {
        let Some(batch) = self.in_flight.as_ref() else { return };
        if batch.seq != seq {
            return;
        }
        match delivery {
            Delivery::Retry => {}
            Delivery::Delivered => {
                self.totals.requests_delivered += batch.requests;
                self.totals.spans_delivered += batch.spans;
                self.recycle_in_flight();
            }
            Delivery::Refused => {
                self.dropped.batches += 1;
                self.dropped.aggregates += batch.requests;
                self.dropped.spans += batch.spans;
                self.totals.requests_dropped += batch.requests;
                self.totals.spans_dropped += batch.spans;
                self.recycle_in_flight();
            }
        }
    }

    /// Ends the batch in flight, keeping its body's memory for the next one.
    fn recycle_in_flight(&mut self) {
        if let Some(batch) = self.in_flight.take() {
            self.spare_body = batch.body;
        }
    }

    fn drain(&mut self, now_nanos: u64) -> PendingBatch {
        let mut requests = 0;
        let aggregates: Vec<AggregateEntry> = self
            .entries
            .drain()
            .map(|(key, value)| {
                requests += value.count;
                let used = value.buckets.iter().rposition(|n| *n > 0).map_or(0, |last| last + 1);
                AggregateEntry {
                    service: self.service.clone(),
                    operation: key.operation.as_str().to_owned(),
                    status_class: u32::from(key.status_class),
                    hash_status: key.hash_status as i32,
                    category: key.category.as_str().to_owned(),
                    count: value.count,
                    latency_buckets: value.buckets[..used].to_vec(),
                    latency_sum_micros: value.sum_micros,
                    latency_max_micros: value.max_micros,
                    source: key.source.map(|s| s.to_string()).unwrap_or_default(),
                }
            })
            .collect();
        let span_count = std::mem::take(&mut self.span_count) as u64;
        let dropped = std::mem::take(&mut self.dropped);
        let batch = TelemetryBatch {
            vm_id: self.vm_id.clone(),
            seq: self.next_seq,
            service: self.service.clone(),
            window_start_unix_nanos: self.window_start_nanos,
            window_end_unix_nanos: now_nanos,
            aggregates,
            spans: Vec::new(),
            dropped: (dropped != DroppedCounters::default()).then_some(dropped),
            constitutional_hash: self.constitutional_hash.clone(),
            span_source: self.span_source as i32,
        };
        self.next_seq += 1;
        self.window_start_nanos = now_nanos;
        // The spans are already encoded: a repeated field may follow the rest of the message.
        let mut body = std::mem::take(&mut self.spare_body);
        body.clear();
        body.reserve(batch.encoded_len() + self.spans.len());
        batch.encode_raw(&mut body);
        body.extend_from_slice(&self.spans);
        self.spans.clear();
        PendingBatch { seq: batch.seq, body, requests, spans: span_count }
    }
}

impl AggregateValue {
    fn observe(&mut self, micros: u64) {
        let index = LATENCY_BUCKET_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        if let Some(slot) = self.buckets.get_mut(index) {
            *slot += 1;
        }
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.max_micros = self.max_micros.max(micros);
    }
}

#[cfg(test)]
mod tests;
