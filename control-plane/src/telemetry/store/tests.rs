use acgs_proto::telemetry::{AggregateEntry, DroppedCounters, HashStatus};

use super::*;

fn entry(service: &str, status: HashStatus, count: u64, source: &str) -> AggregateEntry {
    AggregateEntry {
        service: service.into(),
        operation: "GET /v1/x".into(),
        status_class: if matches!(status, HashStatus::Missing | HashStatus::Mismatch) { 4 } else { 2 },
        hash_status: status as i32,
        count,
        latency_buckets: vec![count],
        latency_sum_micros: count * 20,
        latency_max_micros: 40,
        source: source.into(),
        ..AggregateEntry::default()
    }
}

fn span(n: u8) -> SpanRecord {
    SpanRecord { trace_id: vec![n; 16], span_id: vec![n; 8], name: format!("span {n}"), ..SpanRecord::default() }
}

#[test]
fn batches_add_up_per_service_and_hash_status() {
    let mut store = TelemetryStore::new(StoreLimits::default());
    let batch = |seq, aggregates| TelemetryBatch {
        vm_id: "vm".into(),
        seq,
        service: "core".into(),
        aggregates,
        ..TelemetryBatch::default()
    };
    store.apply(
        batch(1, vec![entry("core", HashStatus::Valid, 5, ""), entry("core", HashStatus::Mismatch, 2, "client-a")]),
        100,
    );
    store.apply(
        batch(2, vec![entry("core", HashStatus::Valid, 3, ""), entry("core", HashStatus::Mismatch, 1, "client-b")]),
        105,
    );
    let counts = store.requests_by_service_and_status();
    assert_eq!(counts.get(&("core".to_owned(), HashStatus::Valid)), Some(&8));
    assert_eq!(counts.get(&("core".to_owned(), HashStatus::Mismatch)), Some(&3));
    assert_eq!(store.mismatches().get(&(Arc::from("core"), Arc::from("client-a"))), Some(&2));
    assert_eq!(store.mismatches().get(&(Arc::from("core"), Arc::from("client-b"))), Some(&1));
    assert_eq!(store.windows().windows().count(), 1, "both in the window starting at 100");
}

#[test]
fn filter_drop_reports_are_summed() {
    let mut store = TelemetryStore::new(StoreLimits::default());
    for seq in 1..=2 {
        let dropped = DroppedCounters { spans: 3, aggregates: 1, batches: 2 };
        store.apply(TelemetryBatch { vm_id: "vm".into(), seq, dropped: Some(dropped), ..TelemetryBatch::default() }, 0);
    }
    assert_eq!(store.filter_drops(), FilterDrops { spans: 6, aggregates: 2, batches: 4 });
}

#[test]
fn the_span_buffer_keeps_the_newest_and_counts_evictions() {
    let limits = StoreLimits { span_buffer: 2, ..StoreLimits::default() };
    let mut store = TelemetryStore::new(limits);
    let outcome = store.apply(
        TelemetryBatch {
            vm_id: "vm".into(),
            seq: 1,
            service: "core".into(),
            spans: vec![span(1), span(2), span(3)],
            ..TelemetryBatch::default()
        },
        0,
    );
    assert_eq!(outcome.spans_evicted, 1);
    let names: Vec<&str> = store.spans().map(|s| s.record.name.as_str()).collect();
    assert_eq!(names, vec!["span 2", "span 3"]);
    assert_eq!(store.spans_received(), 3);
}

#[test]
fn series_beyond_the_limit_are_counted_not_stored() {
    let limits = StoreLimits { max_series: 1, ..StoreLimits::default() };
    let mut store = TelemetryStore::new(limits);
    let outcome = store.apply(
        TelemetryBatch {
            vm_id: "vm".into(),
            seq: 1,
            aggregates: vec![entry("a", HashStatus::Valid, 1, ""), entry("b", HashStatus::Valid, 1, "")],
            ..TelemetryBatch::default()
        },
        0,
    );
    assert_eq!(outcome.series_dropped, 1);
    assert_eq!(store.totals().len(), 1);
}
