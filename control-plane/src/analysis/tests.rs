use acgs_proto::telemetry::HashStatus;

use super::report::Report;
use super::testkit::{report, report_with, span, SpanExt, T0};
use super::{workload_of, AnalysisOptions};

#[test]
fn empty_input_gives_an_empty_report() {
    let report = report(&[]);
    assert_eq!(
        report,
        Report { summary: super::report::Summary { source: "test".into(), ..Default::default() }, ..empty_sections() }
    );
}

fn empty_sections() -> Report {
    let mut report = Report::default();
    report.performance.p99_target_ms = 5.0;
    report.performance.throughput_target_rps = 100.0;
    report.anomalies.interval_secs = 10;
    report.anomalies.baseline_secs = 300;
    report.compliance.target_rate = Some(0.95);
    report
}

#[test]
fn filters_select_service_operation_and_time() {
    let traces = vec![
        vec![span(1, 1, "a", "GET /x"), span(1, 2, "b", "GET /y").parent(1).hash(Some(HashStatus::Missing))],
        vec![span(2, 1, "b", "GET /x").at(T0 - 60_000_000)],
        vec![span(3, 1, "b", "GET /y").at(T0 + 1)],
    ];
    let only_b = report_with(&traces, AnalysisOptions { service: Some("b".into()), ..AnalysisOptions::default() });
    assert_eq!((only_b.summary.traces_analyzed, only_b.summary.spans_analyzed), (3, 3));
    assert_eq!(
        only_b.compliance.violations_by_caller[0].caller, "a",
        "the parent outside the filter still names the caller"
    );
    let recent = report_with(
        &traces,
        AnalysisOptions {
            service: Some("b".into()),
            since_micros: Some(T0),
            operation: Some("GET /y".into()),
            ..AnalysisOptions::default()
        },
    );
    assert_eq!((recent.summary.traces_analyzed, recent.summary.spans_analyzed), (2, 2));
}

#[test]
fn callers_are_named_by_workload() {
    assert_eq!(workload_of("spiffe://cluster.local/ns/acgs/sa/core"), "core.acgs");
    assert_eq!(workload_of("10.0.0.7:4431"), "10.0.0.7");
    assert_eq!(workload_of("[::1]:80"), "::1");
    assert_eq!(workload_of("gateway"), "gateway");
}

#[test]
fn the_report_round_trips_through_json() {
    let traces = vec![vec![span(1, 1, "a", "GET /x").hash(Some(HashStatus::Mismatch)).peer("10.0.0.1:1")]];
    let report = report(&traces);
    let json = serde_json::to_string(&report).unwrap_or_default();
    let back: Report = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(back, report);
    assert_eq!(back.summary.total_issues, 3);
}
