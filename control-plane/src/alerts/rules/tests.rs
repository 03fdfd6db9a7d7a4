use std::sync::Arc;
use std::time::Duration;

use acgs_proto::telemetry::HashStatus;

use super::{evaluate, Active, AlertConfig, Rule};
use crate::telemetry::histogram::LatencyHistogram;
use crate::telemetry::window::{SeriesKey, WindowStore};

const NOW: f64 = 1_000_100.0;

fn key(service: &str, hash_status: HashStatus) -> SeriesKey {
    SeriesKey { service: Arc::from(service), operation: Arc::from("GET /"), code_class: 2, hash_status }
}

fn latencies(n: u64, micros: u64) -> LatencyHistogram {
    let mut histogram = LatencyHistogram::default();
    for _ in 0..n {
        histogram.observe_micros(micros);
    }
    histogram
}

/// 60 s of windows (10 s wide) ending at NOW, `per_window` of `service`/`status` each.
fn store_with(series: &[(&str, HashStatus, u64, u64)]) -> WindowStore {
    let mut store = WindowStore::new(Duration::from_secs(10), 100, 1_000, 100_000);
    for window in 0..6 {
        let at = NOW as u64 - 60 + window * 10;
        for (service, status, per_window, micros) in series {
            let _ = store.add(at, key(service, *status), &latencies(*per_window, *micros));
        }
    }
    store
}

fn config() -> AlertConfig {
    AlertConfig { range: Duration::from_secs(60), ..AlertConfig::default() }
}

fn rules_of(active: &[Active]) -> Vec<(Rule, Option<&str>)> {
    active.iter().map(|a| (a.rule, a.service.as_deref())).collect()
}

#[test]
fn a_healthy_mesh_raises_nothing() {
    let store = store_with(&[("core", HashStatus::Valid, 1_000, 900), ("health", HashStatus::Exempt, 500, 100)]);
    assert_eq!(evaluate(&store, NOW, true, &config()), vec![]);
}

#[test]
fn each_condition_raises_exactly_its_alert() {
    let store = store_with(&[
        ("core", HashStatus::Valid, 1_000, 900),
        ("policy", HashStatus::Valid, 900, 900),
        ("policy", HashStatus::Mismatch, 100, 900),
        ("auth", HashStatus::Valid, 200, 8_000),
    ]);
    let active = evaluate(&store, NOW, true, &config());
    assert_eq!(
        rules_of(&active),
        vec![
            (Rule::HighTraceLatency, Some("auth")),
            (Rule::ConstitutionalHashViolation, Some("policy")),
            (Rule::ConstitutionalComplianceRate, Some("policy")),
        ]
    );
    assert_eq!(active[1].value, 600.0);
    assert_eq!(active[2].value, 0.9);
}

#[test]
fn throughput_below_the_minimum_and_a_silent_mesh() {
    // 500 requests per 10 s window over 60 s = 50/s.
    let store = store_with(&[("core", HashStatus::Valid, 500, 900)]);
    let active = evaluate(&store, NOW, true, &config());
    assert_eq!(rules_of(&active), vec![(Rule::LowTraceThroughput, None)]);
    assert!((active[0].value - 3_000.0 / 60.0).abs() < 1e-9, "{}", active[0].value);
    let silent = WindowStore::new(Duration::from_secs(10), 100, 1_000, 100_000);
    assert_eq!(rules_of(&evaluate(&silent, NOW, true, &config())), vec![(Rule::LowTraceThroughput, None)]);
    assert_eq!(evaluate(&silent, NOW, false, &config()), vec![], "nothing ever counted: not judged");
}

#[test]
fn a_control_plane_that_just_started_is_judged_on_the_time_it_has_seen() {
    let mut store = WindowStore::new(Duration::from_secs(10), 100, 1_000, 100_000);
    let _ = store.add(NOW as u64 - 5, key("core", HashStatus::Valid), &latencies(1_500, 900));
    assert_eq!(evaluate(&store, NOW, true, &config()), vec![], "1 500 requests in the first 10 s is 150/s");
}

#[test]
fn the_prometheus_rule_names_the_exported_metrics() {
    let yaml = super::prometheus_rule_yaml(&AlertConfig::default(), "acgs-system");
    for needle in [
        "alert: ConstitutionalHashViolation",
        "increase(acgs_constitutional_hash_mismatch_total[5m])) > 0",
        "histogram_quantile(0.99, sum by (service, le) (rate(acgs_request_duration_seconds_bucket[5m]))) > 0.005",
        "sum(rate(acgs_requests_total[5m])) < 100",
        "for: 0s",
        "for: 1m",
        "runbook_url: https://github.com/acgs/acgs-tracing/blob/main/docs/alerts.md#hightracelatency",
    ] {
        assert!(yaml.contains(needle), "{needle} missing in\n{yaml}");
    }
}

#[test]
fn pushed_descriptions_fill_in_the_service_and_the_value() {
    let config = AlertConfig::default();
    assert_eq!(
        config.description_for(Rule::HighTraceLatency, Some("auth-service"), 0.0093),
        "The p99 latency of auth-service over the last 5m is 0.0093 s (target 0.005 s)."
    );
    assert_eq!(
        config.description_for(Rule::LowTraceThroughput, None, 55.75),
        "The mesh handled 55.75 requests/s over the last 5m (target 100): traffic dropped, or filters stopped reporting."
    );
    assert_eq!(
        Rule::ConstitutionalComplianceRate.runbook_url(),
        "https://github.com/acgs/acgs-tracing/blob/main/docs/alerts.md#constitutionalcompliancerate"
    );
}
