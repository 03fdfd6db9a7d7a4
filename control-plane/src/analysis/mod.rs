//! Trace analysis: what operators ask the trace data. Every source (the control plane's
//! collected spans, a Jaeger query API, a Jaeger JSON export, an OTLP/JSON file) becomes traces of
//! [`model::Span`]s; the [`Analyzer`] takes them one trace at a time (so memory follows the traces
//! in flight and the per-series statistics, not the size of the input) and feeds five analyses:
//! [`compliance`], [`performance`], [`security`], [`dependency`], [`anomaly`]. The result is one
//! [`report::Report`], rendered as terminal tables, JSON or an HTML page ([`render`]).
//!
//! Input handling: a span's parent is looked up in its own trace only (so parent cycles cannot
//! loop); a missing parent makes the span an orphan analysed as a root; a repeated span id is
//! analysed once (first occurrence); a child starting before its parent (clock skew) is analysed
//! as recorded. Each is counted in [`report::DataQuality`].

pub mod anomaly;
pub mod compliance;
pub mod dependency;
pub mod endpoint;
pub mod latency;
pub mod model;
pub mod performance;
pub mod render;
pub mod report;
pub mod security;
pub mod source;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anomaly::{AnomalyAnalysis, AnomalyOptions};
use compliance::ComplianceAnalysis;
use dependency::DependencyAnalysis;
use model::Span;
use performance::{PerformanceAnalysis, PerformanceTargets};
use report::{DataQuality, Report, Severity, Summary};
use security::SecurityAnalysis;

/// The windows rates are computed over: the control plane's telemetry windows are 10 seconds too.
const ACTIVE_WINDOW_MICROS: u64 = 10_000_000;

/// What to analyse and what to judge it against.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Only spans of this service.
    pub service: Option<String>,
    /// Only spans of this operation.
    pub operation: Option<String>,
    /// Only spans starting at or after this time (microseconds since the Unix epoch).
    pub since_micros: Option<u64>,
    pub p99_target_ms: f64,
    pub throughput_target_rps: f64,
    pub compliance_target: f64,
    /// 401/403s from one caller to one service that make a finding.
    pub auth_failure_threshold: u64,
    /// Services out of the hash check's scope: their unchecked server spans are not violations.
    pub untracked_services: Vec<String>,
    pub anomaly: AnomalyOptions,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            service: None,
            operation: None,
            since_micros: None,
            p99_target_ms: 5.0,
            throughput_target_rps: 100.0,
            compliance_target: 0.95,
            auth_failure_threshold: 5,
            untracked_services: Vec::new(),
            anomaly: AnomalyOptions::default(),
        }
    }
}

/// One span with what its trace says about it.
#[derive(Debug)]
pub struct SpanContext<'a> {
    pub span: &'a Span,
    /// The parent span, when it is in the trace.
    pub parent: Option<&'a Span>,
    /// Who called: the parent's service when it is another service, else the recorded peer,
    /// else the parent's service, else `unknown`.
    pub caller: Arc<str>,
    /// Whether another span of the trace names this one as parent.
    pub has_children: bool,
}

/// Takes traces one at a time and produces the report.
#[derive(Debug)]
pub struct Analyzer {
    options: AnalysisOptions,
    compliance: ComplianceAnalysis,
    performance: PerformanceAnalysis,
    security: SecurityAnalysis,
    dependency: DependencyAnalysis,
    anomaly: AnomalyAnalysis,
    quality: DataQuality,
    traces: u64,
    spans: u64,
    first_micros: Option<u64>,
    last_micros: Option<u64>,
    /// The 10-second windows in which a span started: rates divide by the time that had
    /// traffic, not by the gaps between bursts (two traces ten days apart are not 0.0 spans/s).
    active_windows: HashSet<u64>,
    callers: HashMap<Arc<str>, Arc<str>>,
    unknown: Arc<str>,
    index: HashMap<u64, usize>,
    duplicate: Vec<bool>,
    parents: HashSet<u64>,
}

impl Analyzer {
    pub fn new(options: AnalysisOptions) -> Self {
        Self {
            anomaly: AnomalyAnalysis::new(options.anomaly),
            compliance: ComplianceAnalysis::new(&options.untracked_services),
            options,
            performance: PerformanceAnalysis::default(),
            security: SecurityAnalysis::default(),
            dependency: DependencyAnalysis::default(),
            quality: DataQuality::default(),
            traces: 0,
            spans: 0,
            first_micros: None,
            last_micros: None,
            active_windows: HashSet::new(),
            callers: HashMap::new(),
            unknown: Arc::from("unknown"),
            index: HashMap::new(),
            duplicate: Vec::new(),
            parents: HashSet::new(),
        }
    }

    /// Records input that could not be read; the report still covers the rest.
    pub fn input_error(&mut self, error: impl std::fmt::Display) {
        self.quality.input_errors.push(error.to_string());
    }

    /// Analyses the spans of one trace.
    pub fn add_trace(&mut self, trace: &[Span]) {
        self.index.clear();
        self.parents.clear();
        self.duplicate.clear();
        for (position, span) in trace.iter().enumerate() {
            let repeated = self.index.contains_key(&span.span_id);
            if repeated {
                self.quality.duplicate_spans += 1;
            } else {
                self.index.insert(span.span_id, position);
                if let Some(parent) = span.parent_span_id {
                    self.parents.insert(parent);
                }
            }
            self.duplicate.push(repeated);
        }
        let mut analysed = false;
        for (position, span) in trace.iter().enumerate() {
            if self.duplicate[position] || !self.selected(span) {
                continue;
            }
            let parent = match span.parent_span_id {
                None => None,
                Some(id) if id == span.span_id => {
                    self.quality.self_parent_spans += 1;
                    None
                }
                Some(id) => match self.index.get(&id) {
                    Some(&at) => Some(&trace[at]),
                    None => {
                        self.quality.orphan_spans += 1;
                        None
                    }
                },
            };
            if parent.is_some_and(|p| span.start_micros < p.start_micros) {
                self.quality.clock_skew_spans += 1;
            }
            let caller = self.caller_of(span, parent);
            let context = SpanContext { span, parent, caller, has_children: self.parents.contains(&span.span_id) };
            self.compliance.observe(&context);
            self.performance.observe(&context);
            self.security.observe(&context);
            self.dependency.observe(&context);
            self.anomaly.observe(&context);
            self.spans += 1;
            analysed = true;
            let end = span.start_micros.saturating_add(span.duration_micros);
            self.first_micros = Some(self.first_micros.map_or(span.start_micros, |f| f.min(span.start_micros)));
            self.last_micros = Some(self.last_micros.map_or(end, |l| l.max(end)));
            self.active_windows.insert(span.start_micros / ACTIVE_WINDOW_MICROS);
        }
        self.traces += u64::from(analysed);
    }

    fn selected(&self, span: &Span) -> bool {
        self.options.service.as_deref().is_none_or(|s| s == span.service.as_ref())
            && self.options.operation.as_deref().is_none_or(|o| o == span.operation.as_ref())
            && self.options.since_micros.is_none_or(|since| span.start_micros >= since)
    }

    fn caller_of(&mut self, span: &Span, parent: Option<&Span>) -> Arc<str> {
        if let Some(parent) = parent.filter(|p| p.service != span.service) {
            return Arc::clone(&parent.service);
        }
        if let Some(peer) = &span.peer {
            if let Some(name) = self.callers.get(peer) {
                return Arc::clone(name);
            }
            let name: Arc<str> = Arc::from(workload_of(peer));
            if self.callers.len() < 100_000 {
                self.callers.insert(Arc::clone(peer), Arc::clone(&name));
            }
            return name;
        }
        parent.map_or_else(|| Arc::clone(&self.unknown), |p| Arc::clone(&p.service))
    }

    /// The report, `source` naming where the data came from.
    pub fn finish(self, source: &str) -> Report {
        // The data's time range, without the windows of it that had no traffic.
        let range = match (self.first_micros, self.last_micros) {
            (Some(first), Some(last)) => last.saturating_sub(first),
            _ => 0,
        };
        let active = (self.active_windows.len() as u64).saturating_mul(ACTIVE_WINDOW_MICROS);
        let covered = range.min(active);
        let (compliance, mut findings) = self.compliance.finish(self.options.compliance_target);
        let targets = PerformanceTargets {
            p99_ms: self.options.p99_target_ms,
            throughput_rps: self.options.throughput_target_rps,
        };
        let (performance, more) = self.performance.finish(targets, covered);
        findings.extend(more);
        let (security, more) = self.security.finish(self.options.auth_failure_threshold);
        findings.extend(more);
        let dependencies = self.dependency.finish();
        let (anomalies, more) = self.anomaly.finish();
        findings.extend(more);
        findings.sort_by_key(|a| a.severity);
        let count = |severity| findings.iter().filter(|f| f.severity == severity).count() as u64;
        let summary = Summary {
            source: source.to_owned(),
            traces_analyzed: self.traces,
            spans_analyzed: self.spans,
            total_issues: findings.len() as u64,
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            compliance_rate: compliance.overall_rate,
            first_span_micros: self.first_micros,
            last_span_micros: self.last_micros,
        };
        Report {
            summary,
            findings,
            compliance,
            performance,
            security,
            dependencies,
            anomalies,
            data_quality: self.quality,
        }
    }
}

/// A readable caller name: `sa.namespace` for a SPIFFE identity
/// (`spiffe://td/ns/NS/sa/SA`), the address without its port for `ip:port`, else as given.
pub fn workload_of(peer: &str) -> String {
    if let Some(path) = peer.strip_prefix("spiffe://") {
        let parts: Vec<&str> = path.split('/').collect();
        if let [_, "ns", namespace, "sa", account] = parts.as_slice() {
            return format!("{account}.{namespace}");
        }
        return peer.to_owned();
    }
    match peer.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

/// Analyses already grouped traces.
pub fn analyze_traces<'a>(
    traces: impl IntoIterator<Item = &'a [Span]>,
    options: AnalysisOptions,
    source: &str,
) -> Report {
    let mut analyzer = Analyzer::new(options);
    for trace in traces {
        analyzer.add_trace(trace);
    }
    analyzer.finish(source)
}

#[cfg(test)]
pub mod testkit;
#[cfg(test)]
mod tests;
