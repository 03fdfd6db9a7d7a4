//! The analysis report: what `analyze --format json` prints, what `GET /api/v1/analysis` serves,
//! and what the terminal tables and the HTML page render. One serde model in both directions, so
//! `analyze --from <control plane>` renders exactly what the control plane computed.

use serde::{Deserialize, Serialize};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Which analysis raised a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    Compliance,
    Performance,
    Security,
    Dependency,
    Anomaly,
}

/// One problem found, with the traces that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub analysis: Analysis,
    /// Stable name of what was found (e.g. `HighP99Latency`), for scripts.
    pub rule: String,
    pub severity: Severity,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub message: String,
    /// Up to five trace ids that show the problem.
    pub evidence_trace_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Where the data came from (file, URL).
    pub source: String,
    pub traces_analyzed: u64,
    pub spans_analyzed: u64,
    pub total_issues: u64,
    pub critical: u64,
    pub warning: u64,
    /// Compliant / (compliant + violations) over spans with a hash status; `null` without any.
    pub compliance_rate: Option<f64>,
    /// First span start and last span end, microseconds since the Unix epoch.
    pub first_span_micros: Option<u64>,
    pub last_span_micros: Option<u64>,
}

/// Per-service hash statuses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCompliance {
    pub service: String,
    pub spans: u64,
    pub valid: u64,
    pub injected: u64,
    pub missing: u64,
    pub mismatch: u64,
    pub exempt: u64,
    /// Spans without any hash information (no filter on that hop).
    pub untracked: u64,
    pub compliance_rate: Option<f64>,
}

/// Violations of one kind from one caller to one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerViolations {
    pub caller: String,
    pub service: String,
    /// `missing` or `mismatch`.
    pub kind: String,
    pub count: u64,
}

/// Compliance in one time slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompliancePoint {
    pub start_unix_secs: u64,
    pub compliant: u64,
    pub violations: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplianceSection {
    pub overall_rate: Option<f64>,
    pub compliant: u64,
    pub missing: u64,
    pub mismatch: u64,
    /// Spans on neither side of the rate: client and internal spans, spans behind a checked
    /// hop, and the services declared out of scope.
    #[serde(default)]
    pub untracked: u64,
    pub services: Vec<ServiceCompliance>,
    pub violations_by_caller: Vec<CallerViolations>,
    /// Slices of `timeline_slice_secs` seconds that had spans with a hash status.
    pub timeline: Vec<CompliancePoint>,
    #[serde(default)]
    pub timeline_slice_secs: u64,
    /// The rate under which compliance is a finding.
    #[serde(default)]
    pub target_rate: Option<f64>,
}

/// Latency and volume of one service and operation (`operation` = `*` for the whole service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    pub service: String,
    pub operation: String,
    pub count: u64,
    pub errors: u64,
    pub rate_rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A latency histogram for charts: counts per bucket with upper bounds in milliseconds
/// (the last bucket is unbounded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyDistribution {
    pub service: String,
    pub bucket_upper_ms: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceSection {
    pub p99_target_ms: f64,
    pub throughput_target_rps: f64,
    /// Spans per second over the data's time range; `null` when the data covers less than the
    /// minimum span of time a rate needs.
    pub throughput_rps: Option<f64>,
    pub services: Vec<LatencyRow>,
    pub operations: Vec<LatencyRow>,
    pub distributions: Vec<LatencyDistribution>,
}

/// 401/403 answers one caller got from one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthFailures {
    pub caller: String,
    pub service: String,
    pub unauthorized_401: u64,
    pub forbidden_403: u64,
}

/// Spans of one service carrying a sensitive attribute (the value is never reported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitiveAttribute {
    pub service: String,
    pub key: String,
    /// Why it counts as sensitive: `key name`, `credential value` (bearer or basic), `JWT`,
    /// `private key`, `cloud API key`, `password in URL`, `secret in URL query`.
    pub reason: String,
    pub spans: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecuritySection {
    pub auth_failures: Vec<AuthFailures>,
    /// Forged (mismatched) hashes per caller.
    pub forged_hashes: Vec<CallerViolations>,
    pub sensitive_attributes: Vec<SensitiveAttribute>,
}

/// One edge of the service graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyEdge {
    pub from: String,
    pub to: String,
    /// The callee is outside the traced mesh (an external API).
    pub external: bool,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DependencySection {
    pub edges: Vec<DependencyEdge>,
}

/// One series' deviation from its own baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub service: String,
    pub operation: String,
    /// `latency` (mean, milliseconds) or `error_rate` (fraction).
    pub metric: String,
    pub interval_start_unix_secs: u64,
    pub value: f64,
    pub baseline: f64,
    pub score: f64,
    /// Intervals of this series that deviated.
    pub anomalous_intervals: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnomalySection {
    pub interval_secs: u64,
    pub baseline_secs: u64,
    pub anomalies: Vec<Anomaly>,
}

/// What was wrong with the input, and how it was handled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataQuality {
    /// Input that could not be read (the report covers what came before or around it).
    pub input_errors: Vec<String>,
    /// Spans whose parent is not in the trace: analysed as roots.
    pub orphan_spans: u64,
    /// Repeated (trace id, span id): only the first is analysed.
    pub duplicate_spans: u64,
    /// Children that start before their parent: analysed as recorded.
    pub clock_skew_spans: u64,
    /// Spans naming themselves as parent: analysed as roots.
    pub self_parent_spans: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub compliance: ComplianceSection,
    pub performance: PerformanceSection,
    pub security: SecuritySection,
    pub dependencies: DependencySection,
    pub anomalies: AnomalySection,
    pub data_quality: DataQuality,
}

/// Up to five distinct trace ids kept as evidence.
#[derive(Debug, Clone, Default)]
pub struct Evidence(Vec<std::sync::Arc<str>>);

impl Evidence {
    pub const LIMIT: usize = 5;

    pub fn add(&mut self, trace_id: &std::sync::Arc<str>) {
        if self.0.len() < Self::LIMIT && !self.0.iter().any(|t| t == trace_id) {
            self.0.push(std::sync::Arc::clone(trace_id));
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.0.iter().map(|t| t.to_string()).collect()
    }
}

/// Rounds to a microsecond, in milliseconds.
pub fn millis(micros: f64) -> f64 {
    (micros).round() / 1_000.0
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
