use crate::analysis::model::Span;
use crate::analysis::report::Analysis;
use crate::analysis::testkit::{findings_of, report, report_with, span, SpanExt, T0};
use crate::analysis::AnalysisOptions;

use super::AnomalyOptions;

/// 10 spans per 10 s interval for `intervals` intervals, latency from `latency(interval, i)`,
/// failing (HTTP 500) when `fails(interval, i)`.
fn series(
    service: &str,
    intervals: u64,
    latency: impl Fn(u64, u64) -> u64,
    fails: impl Fn(u64, u64) -> bool,
    first_trace: u128,
) -> Vec<Vec<Span>> {
    let mut traces = Vec::new();
    for interval in 0..intervals {
        for i in 0..10 {
            let trace = first_trace + u128::from(interval * 10 + i);
            let status = if fails(interval, i) { 500 } else { 200 };
            traces.push(vec![span(trace, 1, service, "GET /v1/x")
                .at(T0 + interval * 10_000_000 + i * 1_000_000)
                .took(latency(interval, i))
                .status(status)]);
        }
    }
    traces
}

fn jitter(i: u64) -> u64 {
    1_000 + (i % 5) * 20
}

#[test]
fn finds_the_planted_latency_spike_and_error_burst_and_nothing_else() {
    let mut traces = series("constitutional-core", 16, |n, i| if n == 12 { 8_000 } else { jitter(i) }, |_, _| false, 1);
    traces.extend(series("auth-service", 16, |_, i| jitter(i), |n, i| n == 9 && i < 5, 10_000));
    traces.extend(series("groqcloud-policy", 16, |_, i| jitter(i), |_, i| i == 3, 20_000));
    let report = report(&traces);
    assert_eq!(
        findings_of(&report, Analysis::Anomaly),
        vec![
            ("ErrorRateAnomaly".to_owned(), "auth-service".to_owned(), Some("GET /v1/x".to_owned())),
            ("LatencyAnomaly".to_owned(), "constitutional-core".to_owned(), Some("GET /v1/x".to_owned())),
        ]
    );
    let anomalies: Vec<(&str, &str, u64, f64, u64)> = report
        .anomalies
        .anomalies
        .iter()
        .map(|a| (a.service.as_str(), a.metric.as_str(), a.interval_start_unix_secs, a.value, a.anomalous_intervals))
        .collect();
    assert_eq!(
        anomalies,
        vec![
            ("auth-service", "error_rate", T0 / 1_000_000 + 90, 0.5, 1),
            ("constitutional-core", "latency", T0 / 1_000_000 + 120, 8.0, 1),
        ]
    );
    let latency = &report.anomalies.anomalies[1];
    assert_eq!(latency.baseline, 1.04);
    assert_eq!(
        report.findings.iter().find(|f| f.rule == "LatencyAnomaly").map(|f| f.evidence_trace_ids.len()),
        Some(1)
    );
}

#[test]
fn the_baseline_window_is_configurable() {
    // A level shift from 1 ms to 3 ms at interval 10. Against the 30 s before it, two intervals
    // stand out (then the baseline has moved); against the 300 s before it, all ten do.
    let traces = series("constitutional-core", 20, |n, _| if n < 10 { 1_000 } else { 3_000 }, |_, _| false, 1);
    let with = |baseline_secs| AnalysisOptions {
        anomaly: AnomalyOptions { interval_secs: 10, baseline_secs },
        ..AnalysisOptions::default()
    };
    let intervals = |baseline_secs| {
        report_with(&traces, with(baseline_secs))
            .anomalies
            .anomalies
            .iter()
            .map(|a| a.anomalous_intervals)
            .collect::<Vec<_>>()
    };
    assert_eq!(intervals(30), vec![2]);
    assert_eq!(intervals(300), vec![10]);
}

#[test]
fn too_little_history_is_not_judged() {
    let traces = series("constitutional-core", 3, |n, _| if n == 2 { 50_000 } else { 1_000 }, |_, _| false, 1);
    assert_eq!(findings_of(&report(&traces), Analysis::Anomaly), vec![]);
}
