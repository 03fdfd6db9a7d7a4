use crate::analysis::report::{Analysis, LatencyRow};
use crate::analysis::testkit::{findings_of, report, span, steady, SpanExt, T0};

#[test]
fn percentiles_per_operation_and_service() {
    // 99 fast spans at 1 ms and 2 slow ones at 8 ms on one operation; 10 at 0.5 ms on another.
    let mut traces = Vec::new();
    for i in 0..101u64 {
        let took = if i < 99 { 1_000 } else { 8_000 };
        traces.push(vec![span(u128::from(i) + 1, 1, "auth-service", "POST /v1/token").at(T0 + i * 1_000).took(took)]);
    }
    for i in 0..10u64 {
        traces.push(vec![span(u128::from(i) + 500, 1, "auth-service", "GET /v1/keys").at(T0).took(500).status(503)]);
    }
    let report = report(&traces);
    let row = |operation: &str| report.performance.operations.iter().find(|r| r.operation == operation).cloned();
    assert_eq!(
        row("POST /v1/token"),
        Some(LatencyRow {
            service: "auth-service".into(),
            operation: "POST /v1/token".into(),
            count: 101,
            errors: 0,
            rate_rps: 0.0,
            p50_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 8.0,
            max_ms: 8.0,
        })
    );
    assert_eq!(row("GET /v1/keys").map(|r| (r.count, r.errors, r.p99_ms)), Some((10, 10, 0.5)));
    let service = &report.performance.services[0];
    assert_eq!((service.operation.as_str(), service.count, service.errors, service.p50_ms), ("*", 111, 10, 1.0));
    assert_eq!(report.performance.throughput_rps, None, "0.1 s of data has no rate");
    let distribution = &report.performance.distributions[0];
    assert_eq!(distribution.counts.iter().sum::<u64>(), 111);
    assert_eq!((distribution.counts[3], distribution.counts[5], distribution.counts[12]), (10, 99, 2));
}

#[test]
fn high_p99_is_found_per_operation_and_nothing_else() {
    let mut traces = steady("groqcloud-policy", "GET /v1/policies/{id}", 50, T0, 1_000, 1);
    for i in 0..5u64 {
        traces.push(vec![span(1_000 + u128::from(i), 1, "constitutional-core", "POST /v1/validate").took(6_000)]);
    }
    let report = report(&traces);
    assert_eq!(
        findings_of(&report, Analysis::Performance),
        vec![("HighP99Latency".to_owned(), "constitutional-core".to_owned(), Some("POST /v1/validate".to_owned()))]
    );
    assert_eq!(report.findings[0].evidence_trace_ids.len(), 5);
}

#[test]
fn throughput_against_the_target() {
    // 60 s of data: 6 000 spans is 100/s (no finding), 3 000 is 50/s (a finding).
    let busy = steady("constitutional-core", "GET /", 6_001, T0, 10_000, 1);
    let report_busy = report(&busy);
    assert_eq!(findings_of(&report_busy, Analysis::Performance), vec![]);
    let rps = report_busy.performance.throughput_rps.unwrap_or_default();
    assert!((rps - 100.0).abs() < 0.1, "{rps}");
    let quiet = steady("constitutional-core", "GET /", 3_001, T0, 20_000, 1);
    let report_quiet = report(&quiet);
    assert_eq!(
        findings_of(&report_quiet, Analysis::Performance),
        vec![("LowThroughput".to_owned(), "*".to_owned(), None)]
    );
}

#[test]
fn throughput_counts_only_the_windows_with_traffic() {
    // Two bursts ten days apart, each 1 000 spans over 9.99 s inside one 10-second window: 100/s
    // while there was traffic, not 2 000 spans over ten days.
    let window_start = T0 - T0 % 10_000_000;
    let ten_days = 10 * 86_400 * 1_000_000;
    let mut traces = steady("constitutional-core", "GET /", 1_000, window_start, 10_000, 1);
    traces.extend(steady("constitutional-core", "GET /", 1_000, window_start + ten_days, 10_000, 5_000));
    let report = report(&traces);
    let rps = report.performance.throughput_rps.unwrap_or_default();
    assert!((rps - 100.0).abs() < 0.01, "{rps}");
    assert_eq!(findings_of(&report, Analysis::Performance), vec![]);
}
