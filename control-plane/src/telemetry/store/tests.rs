use acgs_proto::telemetry::{AggregateEntry, DroppedCounters, HashStatus, TelemetryBatch};

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
fn entries_of_alternating_services_and_operations_are_each_counted_under_their_own_names() {
    let mut store = TelemetryStore::new(StoreLimits::default());
    let entry_for = |service: &str, operation: &str, count| AggregateEntry {
        operation: operation.into(),
        ..entry(service, HashStatus::Valid, count, "")
    };
    let aggregates = vec![
        entry_for("core", "GET /a", 1),
        entry_for("core", "GET /a", 2),
        entry_for("policy", "GET /a", 4),
        entry_for("core", "GET /b", 8),
        entry_for("policy", "GET /b", 16),
        entry_for("core", "GET /a", 32),
    ];
    store.apply(TelemetryBatch { vm_id: "vm".into(), seq: 1, aggregates, ..TelemetryBatch::default() }, 100);
    let totals: std::collections::BTreeMap<(String, String), u64> = store
        .totals()
        .iter()
        .map(|(key, histogram)| ((key.service.to_string(), key.operation.to_string()), histogram.count()))
        .collect();
    let expected =
        [(("core", "GET /a"), 35), (("core", "GET /b"), 8), (("policy", "GET /a"), 4), (("policy", "GET /b"), 16)]
            .map(|((service, operation), count)| ((service.to_owned(), operation.to_owned()), count));
    assert_eq!(totals, std::collections::BTreeMap::from(expected));
    assert_eq!(store.interned_names(), 5, "each name once (and the batch's own service, empty here)");
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

fn batch_of(aggregates: Vec<AggregateEntry>, spans: Vec<SpanRecord>) -> TelemetryBatch {
    TelemetryBatch {
        vm_id: "vm".into(),
        seq: 1,
        service: "core".into(),
        aggregates,
        spans,
        ..TelemetryBatch::default()
    }
}

#[test]
fn the_span_buffer_is_bounded_by_bytes_too() {
    let size = span_heap_bytes(&span(1));
    let limits = StoreLimits { span_buffer_bytes: 3 * size, ..StoreLimits::default() };
    let mut store = TelemetryStore::new(limits);
    let outcome = store.apply(batch_of(vec![], (1..=5).map(span).collect()), 0);
    assert_eq!(outcome.spans_evicted, 2);
    let names: Vec<&str> = store.spans().map(|s| s.record.name.as_str()).collect();
    assert_eq!(names, ["span 3", "span 4", "span 5"]);
    assert_eq!(store.span_bytes(), 3 * size);
}

#[test]
fn mismatch_series_beyond_their_limit_are_counted_not_stored() {
    let limits = StoreLimits { max_mismatch_series: 2, ..StoreLimits::default() };
    let mut store = TelemetryStore::new(limits);
    let mismatch = |source| entry("core", HashStatus::Mismatch, 1, source);
    let outcome =
        store.apply(batch_of(vec![mismatch("10.0.0.1"), mismatch("10.0.0.2"), mismatch("10.0.0.3")], vec![]), 0);
    assert_eq!(outcome.series_dropped, 1);
    let again = store.apply(batch_of(vec![mismatch("10.0.0.1")], vec![]), 0);
    assert_eq!(again.series_dropped, 0, "a kept series keeps counting");
    let mut sources: Vec<(&str, u64)> = store.mismatches().iter().map(|((_, s), n)| (s.as_ref(), *n)).collect();
    sources.sort();
    assert_eq!(sources, [("10.0.0.1", 2), ("10.0.0.2", 1)]);
}

#[test]
fn names_of_refused_series_are_freed() {
    let limits = StoreLimits { max_series: 10, ..StoreLimits::default() };
    let mut store = TelemetryStore::new(limits);
    for round in 0..50 {
        let aggregates = (0..100)
            .map(|i| AggregateEntry {
                operation: format!("GET /{round}/{i}"),
                ..entry("core", HashStatus::Valid, 1, "")
            })
            .collect();
        store.apply(batch_of(aggregates, vec![]), 0);
    }
    assert_eq!(store.totals().len(), 10);
    // 5,000 distinct names were seen; only the kept series' names (and those since the last
    // sweep) stay interned.
    assert!(store.interned_names() < 2 * FIRST_SWEEP, "{} names interned", store.interned_names());
}

/// The bytes the store's families take on `/metrics`, encoded as a scrape does.
fn exposition_bytes(store: TelemetryStore) -> usize {
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Arc::new(std::sync::RwLock::new(store));
    registry.register_collector(Box::new(crate::telemetry::exposition::TelemetryCollector::new(store)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text.len()
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 24, ..Default::default() })]

    /// Whatever accepted batches arrive (label values already cut to their bound, as ingest
    /// does), `/metrics` stays under the store's byte bound and the estimate is never below it.
    #[test]
    fn metrics_stay_under_their_byte_bound(
        batches in proptest::collection::vec(
            proptest::collection::vec(("[a-z]{1,128}", "[a-z/]{1,128}", "[0-9.]{1,128}", 0usize..5), 1..60),
            1..25,
        ),
    ) {
        let limits = StoreLimits { metrics_bytes: 256 * 1024, ..StoreLimits::default() };
        let mut store = TelemetryStore::new(limits.clone());
        for entries in batches {
            let aggregates = entries
                .into_iter()
                .map(|(service, operation, source, status)| AggregateEntry {
                    operation,
                    ..entry(&service, HashStatus::ALL[status], 1, &source)
                })
                .collect();
            store.apply(batch_of(aggregates, vec![]), crate::telemetry::unix_now_secs());
        }
        let estimate = store.metrics_bytes();
        let actual = exposition_bytes(store);
        proptest::prop_assert!(estimate <= limits.metrics_bytes);
        // Family headers (HELP/TYPE lines, `# EOF`) are outside the per-series estimate.
        proptest::prop_assert!(actual <= estimate + 1024, "{actual} bytes on /metrics, {estimate} estimated");
    }
}
