use acgs_proto::telemetry::{AggregateEntry, SpanRecord, TelemetryBatch};

use super::*;

fn entry() -> AggregateEntry {
    AggregateEntry {
        service: "constitutional-core".into(),
        operation: "GET /x".into(),
        status_class: 2,
        hash_status: HashStatus::Valid as i32,
        count: 3,
        latency_buckets: vec![1, 2],
        ..AggregateEntry::default()
    }
}

fn span() -> SpanRecord {
    SpanRecord {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: Vec::new(),
        name: "GET /x".into(),
        start_unix_nanos: 10,
        end_unix_nanos: 20,
        ..SpanRecord::default()
    }
}

fn batch() -> TelemetryBatch {
    TelemetryBatch {
        vm_id: "vm-1".into(),
        seq: 1,
        aggregates: vec![entry()],
        spans: vec![span()],
        ..TelemetryBatch::default()
    }
}

fn error_of(batch: TelemetryBatch) -> String {
    validate(&batch.into()).expect_err("invalid").to_string()
}

#[test]
fn a_well_formed_batch_passes_and_counts_its_records() {
    let received = ReceivedBatch::from(batch());
    assert_eq!(validate(&received), Ok(()));
    assert_eq!(received.record_count(), 2);
}

#[test]
fn each_malformed_field_is_named() {
    assert_eq!(error_of(TelemetryBatch { vm_id: String::new(), ..batch() }), "vm_id: must not be empty");
    assert_eq!(error_of(TelemetryBatch { seq: 0, ..batch() }), "seq: must be at least 1");
    let mut b = batch();
    b.aggregates.push(AggregateEntry { hash_status: 42, ..entry() });
    assert_eq!(error_of(b), "aggregates[1].hash_status: unknown hash status 42");
    let mut b = batch();
    b.aggregates[0].hash_status = HashStatus::Unspecified as i32;
    assert_eq!(error_of(b), "aggregates[0].hash_status: unknown hash status 0");
    let mut b = batch();
    b.aggregates[0].status_class = 6;
    assert_eq!(error_of(b), "aggregates[0].status_class: 6 is not a status class (0-5)");
    let mut b = batch();
    b.aggregates[0].count = 4;
    assert_eq!(error_of(b), "aggregates[0].count: 4 but the latency buckets hold 3");
    let mut b = batch();
    b.aggregates[0].latency_buckets = vec![0; LATENCY_BUCKETS + 1];
    assert_eq!(
        error_of(b),
        format!("aggregates[0].latency_buckets: {} buckets, at most {LATENCY_BUCKETS}", LATENCY_BUCKETS + 1)
    );
    let mut b = batch();
    b.aggregates[0].latency_buckets = vec![u64::MAX, 1];
    assert_eq!(error_of(b), "aggregates[0].count: 3 but the latency buckets hold more");
    let mut b = batch();
    b.spans[0].trace_id = vec![0; 16];
    assert_eq!(error_of(b), "spans[0].trace_id: must be 16 bytes, not all zero");
    let mut b = batch();
    b.spans[0].span_id = vec![1; 7];
    assert_eq!(error_of(b), "spans[0].span_id: must be 8 bytes, not all zero");
    let mut b = batch();
    b.spans[0].parent_span_id = vec![1; 3];
    assert_eq!(error_of(b), "spans[0].parent_span_id: must be empty or 8 bytes");
    let mut b = batch();
    b.spans[0].end_unix_nanos = 5;
    assert_eq!(error_of(b), "spans[0].end_unix_nanos: is before start_unix_nanos");
    let mut b = batch();
    b.spans[0].hash_status = 9;
    assert_eq!(error_of(b), "spans[0].hash_status: unknown hash status 9");
    let mut b = batch();
    b.spans[0].hash_status = HashStatus::Injected as i32;
    assert_eq!(validate(&b.into()), Ok(()), "a span's typed status may be any known one");
}

#[test]
fn wire_hash_statuses_map_to_their_statuses() {
    for status in HashStatus::ALL {
        assert_eq!(hash_status(status as i32), Some(status));
    }
    assert_eq!(hash_status(HashStatus::Unspecified as i32), None);
    assert_eq!(hash_status(-1), None);
}
