//! What the demo checks: each request's outcome against what the client sent, counted per
//! service; the summary table; the checks of the filters' sampling decisions and of what the
//! Collector kept against the strategies.

use std::collections::BTreeMap;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use acgs_proto::telemetry::HashStatus;
use acgs_wasm_host::StreamOutcome;

use super::pipeline::Counts;
use super::{fraction, percent, CHANGED_RATE, CHANGED_SERVICE};
use crate::mesh::seed::SEED_SERVICES;
use crate::mesh::traffic::HashPresented;

/// What one service's sidecar decided, counted.
#[derive(Debug, Default, Clone)]
pub struct ServiceTally {
    requests: u64,
    by_hash_status: BTreeMap<HashStatus, u64>,
    rejected: u64,
    forwarded: u64,
    sampled: u64,
    /// Requests whose outcome did not match what the client sent (should stay 0).
    wrong_decisions: u64,
}

/// Sampling of requests the filter decided itself (no incoming traceparent), before and after
/// the mid-run strategy change.
#[derive(Debug, Default, Clone, Copy)]
pub struct PhaseSampling {
    pub decided: u64,
    pub sampled: u64,
}

/// Whether the filter tagged the forwarded request `keep` (`x-acgs-sampling-decision`).
pub fn decided_keep(outcome: &StreamOutcome) -> bool {
    outcome.forwarded.as_ref().and_then(|f| f.get_str("x-acgs-sampling-decision")) == Some("keep")
}

/// Each seed service's strategy as the demo runs it.
pub fn strategies() -> Vec<String> {
    SEED_SERVICES
        .iter()
        .map(|service| {
            if service.name == CHANGED_SERVICE {
                format!("probabilistic {} → {CHANGED_RATE}", service.sampling_rate)
            } else {
                format!("probabilistic {}", service.sampling_rate)
            }
        })
        .collect()
}

pub fn tally(tally: &mut ServiceTally, presented: HashPresented, outcome: &StreamOutcome) {
    tally.requests += 1;
    // The filter's label: the forwarded request's header, or the 403 body's `status`.
    let hash_status: Option<HashStatus> = match &outcome.forwarded {
        Some(forwarded) => {
            tally.forwarded += 1;
            tally.sampled += u64::from(decided_keep(outcome));
            forwarded.get_str("x-acgs-hash-status").and_then(|label| label.parse().ok())
        }
        None => {
            tally.rejected += 1;
            serde_json::from_slice::<serde_json::Value>(&outcome.response.body)
                .ok()
                .and_then(|body| body.get("status")?.as_str()?.parse().ok())
        }
    };
    let expected = match presented {
        HashPresented::Valid => (HashStatus::Valid, 200),
        HashPresented::Missing => (HashStatus::Missing, 403),
        HashPresented::Forged => (HashStatus::Mismatch, 403),
        HashPresented::Probe => (HashStatus::Exempt, 200),
    };
    if (hash_status, outcome.response.status) != (Some(expected.0), expected.1) {
        tally.wrong_decisions += 1;
    }
    if let Some(status) = hash_status {
        *tally.by_hash_status.entry(status).or_default() += 1;
    }
}

pub fn print_summary(tallies: &[ServiceTally]) {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "service",
        "requests",
        "valid",
        "missing",
        "mismatch",
        "exempt",
        "403",
        "forwarded",
        "filter: keep",
    ]);
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let count = |status: HashStatus| tally.by_hash_status.get(&status).copied().unwrap_or(0).to_string();
        table.add_row([
            service.name.to_owned(),
            tally.requests.to_string(),
            count(HashStatus::Valid),
            count(HashStatus::Missing),
            count(HashStatus::Mismatch),
            count(HashStatus::Exempt),
            tally.rejected.to_string(),
            tally.forwarded.to_string(),
            format!("{} ({:.1} %)", tally.sampled, percent(tally.sampled, tally.forwarded)),
        ]);
    }
    println!("{table}");
}

/// The checks of the filters' decisions and of the pipeline: (passed, what was checked).
pub fn checks(tallies: &[ServiceTally], phases: &[PhaseSampling; 2], pipeline: &[Counts]) -> Vec<(bool, String)> {
    let mut checks = Vec::new();
    let wrong: u64 = tallies.iter().map(|t| t.wrong_decisions).sum();
    checks.push((
        wrong == 0,
        format!("strict mode: every missing/forged hash got 403, every other request was forwarded ({wrong} wrong)"),
    ));
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let observed = fraction(tally.sampled, tally.forwarded);
        let ok = if service.name == "constitutional-core" {
            tally.sampled == tally.forwarded
        } else if service.sampling_rate < 1.0 && service.name != CHANGED_SERVICE {
            within_binomial(observed, service.sampling_rate, tally.forwarded)
        } else {
            continue;
        };
        checks.push((
            ok,
            format!(
                "{}: {:.2} % of forwarded requests kept (strategy {} %)",
                service.name,
                observed * 100.0,
                service.sampling_rate * 100.0
            ),
        ));
    }
    for (phase, (rate, when)) in phases.iter().zip([(1.0, "before"), (CHANGED_RATE, "after")]) {
        let observed = fraction(phase.sampled, phase.decided);
        checks.push((
            within_binomial(observed, rate, phase.decided),
            format!(
                "{CHANGED_SERVICE} {when} the change: {:.1} % of {} forwarded requests kept (strategy {} %)",
                observed * 100.0,
                phase.decided,
                rate * 100.0
            ),
        ));
    }
    for ((service, tally), counts) in SEED_SERVICES.iter().zip(tallies).zip(pipeline) {
        checks.push((
            counts.recorded == tally.requests,
            format!("{}: Envoy recorded {} of {} requests", service.name, counts.recorded, tally.requests),
        ));
        checks.push((
            counts.kept == counts.decided_keep,
            format!(
                "{}: the Collector kept exactly the {} hops the filter decided to keep ({} kept)",
                service.name, counts.decided_keep, counts.kept
            ),
        ));
    }
    let core = SEED_SERVICES.iter().position(|s| s.name == "constitutional-core").and_then(|i| pipeline.get(i));
    if let Some(core) = core {
        checks.push((
            core.kept_constitutional == core.recorded,
            format!("constitutional-core: all {} traces kept for the 30-day storage", core.kept_constitutional),
        ));
    }
    checks
}

/// Whether `observed` is within 4.5 standard deviations of a binomial(n, p) proportion.
fn within_binomial(observed: f64, p: f64, n: u64) -> bool {
    if n == 0 {
        return false;
    }
    let sigma = (p * (1.0 - p) / n as f64).sqrt();
    (observed - p).abs() <= 4.5 * sigma + f64::EPSILON
}
