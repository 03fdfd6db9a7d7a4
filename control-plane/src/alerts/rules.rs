//! The four alert rules of docs/contracts.md, defined once: evaluated here over the control plane's
//! telemetry windows, and rendered as a PrometheusRule over the exported metric names
//! ([`prometheus_rule_yaml`]), so both say the same thing.
//!
//! Semantics over the windows within `range` before now (the control plane's receive time):
//! - `ConstitutionalHashViolation` (critical, per service): mismatched hashes counted > 0;
//! - `ConstitutionalComplianceRate` (warning, per service): compliant / (compliant + missing +
//!   mismatch) < the minimum; services with no such request are not judged;
//! - `HighTraceLatency` (warning, per service): p99 of the merged latency histogram > the maximum;
//! - `LowTraceThroughput` (warning, whole mesh): requests per second < the minimum, once any
//!   request was ever counted (like a Prometheus counter that stays at its last value, a silent
//!   mesh has rate 0); the rate divides by the part of the range that has passed since the first
//!   window with data, so a control plane that just started is not judged on a full range.

use std::collections::BTreeMap;
use std::time::Duration;

use acgs_proto::telemetry::{Compliance, HashStatus};

use crate::telemetry::histogram::LatencyHistogram;
use crate::telemetry::window::WindowStore;

/// One of the four rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    ConstitutionalHashViolation,
    ConstitutionalComplianceRate,
    HighTraceLatency,
    LowTraceThroughput,
}

impl Rule {
    pub const ALL: [Rule; 4] = [
        Rule::ConstitutionalHashViolation,
        Rule::ConstitutionalComplianceRate,
        Rule::HighTraceLatency,
        Rule::LowTraceThroughput,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::ConstitutionalHashViolation => "ConstitutionalHashViolation",
            Rule::ConstitutionalComplianceRate => "ConstitutionalComplianceRate",
            Rule::HighTraceLatency => "HighTraceLatency",
            Rule::LowTraceThroughput => "LowTraceThroughput",
        }
    }

    /// The alert's runbook: its section of docs/alerts.md.
    pub fn runbook_url(self) -> String {
        format!("{RUNBOOKS}#{}", self.name().to_lowercase())
    }

    pub fn severity(self) -> &'static str {
        match self {
            Rule::ConstitutionalHashViolation => "critical",
            _ => "warning",
        }
    }
}

/// Thresholds, evaluation range and `for` durations.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Whether this process evaluates the rules itself (a single process: `serve` alone,
    /// `demo`); off when the deployment runs several replicas.
    pub builtin: bool,
    /// Telemetry looked back over per evaluation.
    pub range: Duration,
    /// How often the rules are evaluated.
    pub eval_interval: Duration,
    /// How long a condition holds before its alert fires (per rule).
    pub for_violation: Duration,
    pub for_others: Duration,
    pub min_compliance: f64,
    pub max_p99_ms: f64,
    pub min_rps: f64,
    /// Resolved alerts stay listed this long.
    pub keep_resolved: Duration,
    /// Firing alerts are sent to Alertmanager again this often (Prometheus' `--rules.alert.resend-delay`
    /// is 1m), each time with `endsAt` four intervals ahead.
    pub resend_interval: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            builtin: true,
            range: Duration::from_secs(300),
            eval_interval: Duration::from_secs(15),
            for_violation: Duration::ZERO,
            for_others: Duration::from_secs(60),
            min_compliance: 0.95,
            max_p99_ms: 5.0,
            min_rps: 100.0,
            keep_resolved: Duration::from_secs(900),
            resend_interval: Duration::from_secs(60),
        }
    }
}

impl AlertConfig {
    pub fn for_duration(&self, rule: Rule) -> Duration {
        if rule == Rule::ConstitutionalHashViolation {
            self.for_violation
        } else {
            self.for_others
        }
    }

    /// The PromQL of `rule` with these thresholds over the exported metrics.
    pub fn expression(&self, rule: Rule) -> String {
        let range = prometheus_duration(self.range);
        match rule {
            Rule::ConstitutionalHashViolation => {
                format!("sum by (service) (increase(acgs_constitutional_hash_mismatch_total[{range}])) > 0")
            }
            Rule::ConstitutionalComplianceRate => format!(
                "sum by (service) (rate(acgs_requests_total{{hash_status=~\"valid|injected\"}}[{range}]))\n  / sum by (service) (rate(acgs_requests_total{{hash_status=~\"valid|injected|missing|mismatch\"}}[{range}]))\n  < {}",
                self.min_compliance
            ),
            Rule::HighTraceLatency => format!(
                "histogram_quantile(0.99, sum by (service, le) (rate(acgs_request_duration_seconds_bucket[{range}]))) > {}",
                self.max_p99_ms / 1_000.0
            ),
            Rule::LowTraceThroughput => format!("sum(rate(acgs_requests_total[{range}])) < {}", self.min_rps),
        }
    }

    /// What the alert means and where to look first, in Prometheus' template language (`$value`
    /// is the expression's value; the pushed alerts fill it in with [`Self::description_for`]).
    fn description(&self, rule: Rule) -> String {
        let range = prometheus_duration(self.range);
        match rule {
            Rule::ConstitutionalHashViolation => format!(
                "{{{{ $value }}}} requests to {{{{ $labels.service }}}} in the last {range} carried a constitutional hash \
                 other than the expected one. The filter rejected them in strict mode; violations by caller name who sent them."
            ),
            Rule::ConstitutionalComplianceRate => format!(
                "{{{{ $value }}}} of the checked requests to {{{{ $labels.service }}}} in the last {range} carried a valid or \
                 injected hash (target {}). Look for callers without the filter or with a stale hash.",
                self.min_compliance
            ),
            Rule::HighTraceLatency => format!(
                "The p99 latency of {{{{ $labels.service }}}} over the last {range} is {{{{ $value }}}} s (target {} s).",
                self.max_p99_ms / 1_000.0
            ),
            Rule::LowTraceThroughput => format!(
                "The mesh handled {{{{ $value }}}} requests/s over the last {range} (target {}): traffic dropped, or \
                 filters stopped reporting.",
                self.min_rps
            ),
        }
    }

    /// The description with the service and the value filled in.
    pub fn description_for(&self, rule: Rule, service: Option<&str>, value: f64) -> String {
        self.description(rule)
            .replace("{{ $labels.service }}", service.unwrap_or("the mesh"))
            .replace("{{ $value }}", &format!("{value}"))
    }

    fn summary(&self, rule: Rule) -> String {
        match rule {
            Rule::ConstitutionalHashViolation => {
                "Requests to {{ $labels.service }} carry a forged constitutional hash".to_owned()
            }
            Rule::ConstitutionalComplianceRate => format!(
                "Constitutional-hash compliance of {{{{ $labels.service }}}} is below {} %",
                self.min_compliance * 100.0
            ),
            Rule::HighTraceLatency => {
                format!("P99 latency of {{{{ $labels.service }}}} is above {} ms", self.max_p99_ms)
            }
            Rule::LowTraceThroughput => format!("Mesh throughput is below {} requests/s", self.min_rps),
        }
    }

    /// The annotation summary with the service filled in.
    pub fn summary_for(&self, rule: Rule, service: Option<&str>) -> String {
        self.summary(rule).replace("{{ $labels.service }}", service.unwrap_or("the mesh"))
    }
}

/// `90s` → `90s`, `300s` → `5m`: Prometheus duration syntax.
pub fn prometheus_duration(duration: Duration) -> String {
    let secs = duration.as_secs().max(1);
    if secs.is_multiple_of(3_600) {
        format!("{}h", secs / 3_600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A `for` duration in Prometheus syntax (`0s` when the alert fires at once).
fn for_text(duration: Duration) -> String {
    if duration.is_zero() {
        "0s".to_owned()
    } else {
        prometheus_duration(duration)
    }
}

/// A rule whose condition holds now, with the labels and value it holds for.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub rule: Rule,
    pub service: Option<String>,
    pub value: f64,
}

#[derive(Debug, Default)]
struct ServiceTotals {
    compliant: u64,
    violations: u64,
    mismatches: u64,
    latency: LatencyHistogram,
}

/// The conditions that hold at `now_secs` over `windows`; `ever_counted` says whether any
/// request was ever counted.
pub fn evaluate(windows: &WindowStore, now_secs: f64, ever_counted: bool, config: &AlertConfig) -> Vec<Active> {
    let since = (now_secs - config.range.as_secs_f64()).max(0.0);
    let mut services: BTreeMap<&str, ServiceTotals> = BTreeMap::new();
    let mut total = 0u64;
    let mut first_start: Option<u64> = None;
    for window in windows.since(since as u64) {
        for (key, histogram) in &window.series {
            if histogram.count() == 0 {
                continue;
            }
            first_start = Some(first_start.map_or(window.start_unix_secs, |f| f.min(window.start_unix_secs)));
            total += histogram.count();
            let totals = services.entry(&key.service).or_default();
            match key.hash_status.compliance() {
                Compliance::Compliant => totals.compliant += histogram.count(),
                Compliance::NonCompliant => totals.violations += histogram.count(),
                Compliance::Exempt => {}
            }
            if key.hash_status == HashStatus::Mismatch {
                totals.mismatches += histogram.count();
            }
            totals.latency.merge(histogram);
        }
    }
    let mut active = Vec::new();
    for (service, totals) in &services {
        let service = Some((*service).to_owned());
        if totals.mismatches > 0 {
            active.push(Active {
                rule: Rule::ConstitutionalHashViolation,
                service: service.clone(),
                value: totals.mismatches as f64,
            });
        }
        let judged = totals.compliant + totals.violations;
        if judged > 0 {
            let ratio = totals.compliant as f64 / judged as f64;
            if ratio < config.min_compliance {
                active.push(Active {
                    rule: Rule::ConstitutionalComplianceRate,
                    service: service.clone(),
                    value: ratio,
                });
            }
        }
        if let Some(p99_micros) = totals.latency.quantile_micros(0.99) {
            if p99_micros / 1_000.0 > config.max_p99_ms {
                active.push(Active { rule: Rule::HighTraceLatency, service, value: p99_micros / 1_000.0 });
            }
        }
    }
    if ever_counted {
        let width = windows.width().as_secs_f64();
        let covered = first_start.map_or(config.range.as_secs_f64(), |first| now_secs - first as f64);
        let covered = covered.clamp(width, config.range.as_secs_f64().max(width));
        let rps = total as f64 / covered;
        if rps < config.min_rps {
            active.push(Active { rule: Rule::LowTraceThroughput, service: None, value: rps });
        }
    }
    active
}

/// The PrometheusRule (monitoring.coreos.com/v1) with the four alerts over the exported metrics.
/// Where the runbooks are published: docs/alerts.md of the project's repository (a kustomize patch
/// of the PrometheusRule's annotations points them at an internal copy).
pub const RUNBOOKS: &str = "https://github.com/acgs/acgs-tracing/blob/main/docs/alerts.md";

pub fn prometheus_rule_yaml(config: &AlertConfig, namespace: &str) -> String {
    let mut rules = String::new();
    for rule in Rule::ALL {
        let expr: String = config.expression(rule).lines().map(|line| format!("\n            {line}")).collect();
        rules.push_str(&format!(
            "        - alert: {name}\n          expr: >-{expr}\n          for: {for_}\n          labels:\n            severity: {severity}\n          annotations:\n            summary: \"{summary}\"\n            description: \"{description}\"\n            runbook_url: {runbook}\n",
            name = rule.name(),
            for_ = for_text(config.for_duration(rule)),
            severity = rule.severity(),
            summary = config.summary(rule).replace('"', "\\\""),
            description = config.description(rule).replace('"', "\\\""),
            runbook = rule.runbook_url(),
        ));
    }
    format!(
        "# The four ACGS alerts over the control plane's metrics (generated from\n# control-plane/src/alerts/rules.rs with the default thresholds; a test fails when this file differs).\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: acgs-tracing-alerts\n  namespace: {namespace}\n  labels:\n    app.kubernetes.io/name: acgs-tracing\n    app.kubernetes.io/part-of: acgs\nspec:\n  groups:\n    - name: acgs-constitutional-tracing\n      rules:\n{rules}"
    )
}

#[cfg(test)]
mod tests;
