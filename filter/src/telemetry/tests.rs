use acgs_proto::telemetry::{HashStatus as Wire, SpanRecord, TelemetryBatch};
use prost::Message as _;

use super::*;

/// Records one request (with a span named after its operation when `sampled`).
fn record(buffer: &mut TelemetryBuffer, operation: &str, status: HashStatus, latency: u64, sampled: bool) {
    let span = SpanRecord { name: operation.to_owned(), ..SpanRecord::default() }.encode_to_vec();
    buffer.record(RequestRecord {
        operation: crate::operation::interned(operation),
        category: Category::Other,
        status_class: 2,
        hash_status: status,
        latency_micros: latency,
        source: None,
        span: sampled.then_some(span.as_slice()),
    });
}

fn decode(batch: &PendingBatch) -> TelemetryBatch {
    TelemetryBatch::decode(batch.body.as_slice()).expect("valid protobuf")
}

#[test]
fn requests_aggregate_per_key_with_their_latency_histogram() {
    let mut buffer = TelemetryBuffer::new("svc", "vm-1", "cdd01ef066bc6cf2", BufferLimits::default(), 100);
    record(&mut buffer, "GET /a", HashStatus::Valid, 40, false);
    record(&mut buffer, "GET /a", HashStatus::Valid, 120, true);
    record(&mut buffer, "GET /a", HashStatus::Mismatch, 60, true);
    let batch = decode(buffer.next_batch(500).expect("something to send"));
    assert_eq!((batch.vm_id.as_str(), batch.seq, batch.service.as_str()), ("vm-1", 1, "svc"));
    assert_eq!((batch.window_start_unix_nanos, batch.window_end_unix_nanos), (100, 500));
    assert_eq!(batch.constitutional_hash, "cdd01ef066bc6cf2");
    let mut entries = batch.aggregates.clone();
    entries.sort_by_key(|e| e.hash_status);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].hash_status, Wire::Valid as i32);
    assert_eq!(entries[0].count, 2);
    assert_eq!(entries[0].latency_buckets, vec![1, 0, 1], "40 µs ≤ 50, 120 µs ≤ 250; trailing zeros cut");
    assert_eq!((entries[0].latency_sum_micros, entries[0].latency_max_micros), (160, 120));
    assert_eq!(entries[1].hash_status, Wire::Mismatch as i32);
    assert_eq!(batch.spans.len(), 2);
    assert_eq!(batch.dropped, None);
    assert_eq!(batch.span_source, SpanSource::Envoy as i32, "Envoy records the hops unless told otherwise");
}

#[test]
fn batches_say_when_the_filters_spans_are_the_hops_spans() {
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", BufferLimits::default(), 0).spans_recorded_by(Tracer::None);
    record(&mut buffer, "GET /a", HashStatus::Valid, 40, true);
    assert_eq!(decode(buffer.next_batch(1).expect("a batch")).span_source, SpanSource::Filter as i32);
}

#[test]
fn an_unacknowledged_batch_is_resent_unchanged_while_new_requests_wait() {
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", BufferLimits::default(), 0);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, false);
    let first = buffer.next_batch(10).cloned().expect("batch");
    buffer.settle(first.seq, Delivery::Retry);
    record(&mut buffer, "GET /b", HashStatus::Valid, 1, false);
    let again = buffer.next_batch(20).cloned().expect("batch");
    assert_eq!(again, first, "same seq, same bytes");
    buffer.settle(first.seq, Delivery::Delivered);
    let second = decode(buffer.next_batch(30).expect("the waiting request"));
    assert_eq!(second.seq, 2);
    assert_eq!(second.aggregates.len(), 1);
    assert_eq!(second.aggregates[0].operation, "GET /b");
    assert!(buffer.next_batch(40).is_some(), "still unacknowledged");
    buffer.settle(2, Delivery::Delivered);
    assert!(buffer.next_batch(50).is_none(), "nothing left");
    assert_eq!(buffer.totals.requests_delivered, 2);
}

#[test]
fn what_does_not_fit_is_dropped_counted_and_reported() {
    let limits = BufferLimits { max_entries: 2, max_spans: 1, ..BufferLimits::default() };
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", limits, 0);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, true);
    record(&mut buffer, "GET /b", HashStatus::Valid, 1, true);
    record(&mut buffer, "GET /c", HashStatus::Valid, 1, false);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, false);
    let batch = decode(buffer.next_batch(1).expect("batch"));
    assert_eq!(batch.dropped, Some(DroppedCounters { spans: 1, aggregates: 1, batches: 0 }));
    assert_eq!(batch.aggregates.iter().map(|e| e.count).sum::<u64>(), 3);
    buffer.settle(1, Delivery::Delivered);
    let t = buffer.totals;
    assert_eq!((t.requests_seen, t.requests_delivered, t.requests_dropped), (4, 3, 1));
    assert_eq!((t.spans_seen, t.spans_delivered, t.spans_dropped), (2, 1, 1));
}

#[test]
fn a_refused_batch_is_dropped_and_reported_in_the_next() {
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", BufferLimits::default(), 0);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, true);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, false);
    buffer.settle(1, Delivery::Refused);
    let seq = buffer.next_batch(1).map(|b| b.seq).expect("batch");
    buffer.settle(seq, Delivery::Refused);
    let next = decode(buffer.next_batch(2).expect("the drop report"));
    assert_eq!(next.seq, 2);
    assert_eq!(next.dropped, Some(DroppedCounters { spans: 1, aggregates: 2, batches: 1 }));
    assert!(next.aggregates.is_empty());
}

#[test]
fn http_statuses_map_to_delivery_outcomes() {
    assert_eq!(Delivery::from_status(Some(200)), Delivery::Delivered);
    assert_eq!(Delivery::from_status(Some(204)), Delivery::Delivered);
    assert_eq!(Delivery::from_status(None), Delivery::Retry);
    assert_eq!(Delivery::from_status(Some(503)), Delivery::Retry);
    assert_eq!(Delivery::from_status(Some(429)), Delivery::Retry);
    assert_eq!(Delivery::from_status(Some(408)), Delivery::Retry);
    assert_eq!(Delivery::from_status(Some(401)), Delivery::Retry, "a token being rotated");
    assert_eq!(Delivery::from_status(Some(403)), Delivery::Retry);
    assert_eq!(Delivery::from_status(Some(400)), Delivery::Refused);
    assert_eq!(Delivery::from_status(Some(413)), Delivery::Refused);
}

#[test]
fn spans_beyond_the_byte_budget_are_dropped_and_counted() {
    // Each test span (named "GET /a") frames to 10 bytes: two fit in 25, the third does not.
    let limits = BufferLimits { max_span_bytes: 25, ..BufferLimits::default() };
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", limits, 0);
    for _ in 0..3 {
        record(&mut buffer, "GET /a", HashStatus::Valid, 1, true);
    }
    assert!(buffer.nearly_full(), "past three quarters of the byte budget");
    let batch = decode(buffer.next_batch(1).expect("batch"));
    assert_eq!(batch.spans.len(), 2);
    assert_eq!(batch.dropped, Some(DroppedCounters { spans: 1, aggregates: 0, batches: 0 }));
}

#[test]
fn the_buffers_keep_their_memory_from_batch_to_batch() {
    let limits = BufferLimits { max_span_bytes: 4_096, ..BufferLimits::default() };
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", limits, 0);
    let (spans, body) = (buffer.spans.capacity(), buffer.spare_body.capacity());
    assert!(spans >= 4_096 && body >= 4_096 + BODY_RESERVE, "{spans} {body}");
    for round in 0..50u64 {
        for _ in 0..300 {
            record(&mut buffer, "GET /a", HashStatus::Valid, 1, true);
        }
        let seq = buffer.next_batch(round).map(|batch| batch.seq).expect("batch");
        buffer.settle(seq, if round % 2 == 0 { Delivery::Delivered } else { Delivery::Refused });
    }
    assert_eq!((buffer.spans.capacity(), buffer.spare_body.capacity()), (spans, body), "no buffer was reallocated");
}

#[test]
fn a_batch_written_into_a_recycled_body_is_resent_unchanged() {
    let mut buffer = TelemetryBuffer::new("svc", "vm", "h", BufferLimits::default(), 0);
    record(&mut buffer, "GET /a", HashStatus::Valid, 1, true);
    let first = buffer.next_batch(1).map(|batch| batch.seq).expect("batch");
    buffer.settle(first, Delivery::Delivered);
    record(&mut buffer, "GET /b", HashStatus::Mismatch, 2, true);
    let second = buffer.next_batch(2).cloned().expect("a batch in the recycled body");
    buffer.settle(second.seq, Delivery::Retry);
    record(&mut buffer, "GET /c", HashStatus::Valid, 3, true);
    assert_eq!(buffer.next_batch(3), Some(&second), "the same seq, the same bytes");
    let decoded = decode(&second);
    assert_eq!((decoded.seq, decoded.aggregates.len(), decoded.spans.len()), (2, 1, 1));
    assert_eq!(decoded.aggregates[0].operation, "GET /b");
}
