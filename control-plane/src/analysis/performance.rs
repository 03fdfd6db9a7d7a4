//! Performance: count, errors, rate and p50/p95/p99/max latency per service and per
//! (service, operation); latency distributions per service for charts; throughput of the whole
//! data set against the target.
//!
//! Rates divide by the time the data covers: first span start to last span end, but no more than
//! the 10-second windows in which spans started (a gap without traffic between two bursts does not
//! dilute the rate). A data set covering less than [`MIN_RATE_WINDOW_MICROS`] has no meaningful rate: throughput is then
//! `null` and raises no finding. Rates over sampled traces count sampled spans; with sampling
//! below 1 the request rate is higher (the control plane's `acgs_requests_total` counts every
//! request).
//!
//! Findings: `HighP99Latency` (warning) per (service, operation) whose p99 is above the target;
//! `LowThroughput` (warning) when the spans per second of the whole data set are below the target.

use std::collections::HashMap;
use std::sync::Arc;

use acgs_proto::telemetry::LATENCY_BUCKET_BOUNDS_MICROS;

use super::latency::Latencies;
use super::report::{
    millis, Analysis, Evidence, Finding, LatencyDistribution, LatencyRow, PerformanceSection, Severity,
};
use super::SpanContext;

/// Shortest span of time a throughput is computed over.
pub const MIN_RATE_WINDOW_MICROS: u64 = 10_000_000;

#[derive(Debug, Default)]
struct Series {
    latencies: Latencies,
    errors: u64,
    /// The slowest spans' traces.
    slowest: Vec<(u64, Arc<str>)>,
}

impl Series {
    fn observe(&mut self, micros: u64, error: bool, trace_id: &Arc<str>) {
        self.latencies.record_micros(micros);
        self.errors += u64::from(error);
        if self.slowest.len() < Evidence::LIMIT {
            self.slowest.push((micros, Arc::clone(trace_id)));
            self.slowest.sort_by_key(|(m, _)| std::cmp::Reverse(*m));
        } else if self.slowest.last().is_some_and(|(slowest, _)| micros > *slowest) {
            self.slowest.pop();
            let at = self.slowest.partition_point(|(m, _)| *m >= micros);
            self.slowest.insert(at, (micros, Arc::clone(trace_id)));
        }
    }

    fn row(&self, service: &str, operation: &str, window_secs: Option<f64>) -> LatencyRow {
        let latencies = &self.latencies;
        LatencyRow {
            service: service.to_owned(),
            operation: operation.to_owned(),
            count: latencies.count(),
            errors: self.errors,
            rate_rps: window_secs.map_or(0.0, |secs| latencies.count() as f64 / secs),
            p50_ms: millis(latencies.quantile_micros(0.5) as f64),
            p95_ms: millis(latencies.quantile_micros(0.95) as f64),
            p99_ms: millis(latencies.quantile_micros(0.99) as f64),
            max_ms: millis(latencies.max_micros() as f64),
        }
    }
}

/// Accumulates latency per service and operation.
#[derive(Debug, Default)]
pub struct PerformanceAnalysis {
    operations: HashMap<(Arc<str>, Arc<str>), Series>,
    services: HashMap<Arc<str>, Series>,
}

/// The targets performance is judged against.
#[derive(Debug, Clone, Copy)]
pub struct PerformanceTargets {
    pub p99_ms: f64,
    pub throughput_rps: f64,
}

impl PerformanceAnalysis {
    pub fn observe(&mut self, context: &SpanContext<'_>) {
        let span = context.span;
        let key = (Arc::clone(&span.service), Arc::clone(&span.operation));
        self.operations.entry(key).or_default().observe(span.duration_micros, span.error, &span.trace_id);
        let service = match self.services.get_mut(&span.service) {
            Some(series) => series,
            None => self.services.entry(Arc::clone(&span.service)).or_default(),
        };
        service.observe(span.duration_micros, span.error, &span.trace_id);
    }

    /// The section and findings; `covered_micros` is the time the data covers.
    pub fn finish(self, targets: PerformanceTargets, covered_micros: u64) -> (PerformanceSection, Vec<Finding>) {
        let window_secs = (covered_micros >= MIN_RATE_WINDOW_MICROS).then(|| covered_micros as f64 / 1e6);
        let mut findings = Vec::new();
        let mut operations: Vec<_> = self.operations.into_iter().collect();
        operations.sort_by(|a, b| a.0.cmp(&b.0));
        let mut operation_rows = Vec::new();
        for ((service, operation), series) in &operations {
            let row = series.row(service, operation, window_secs);
            if row.p99_ms > targets.p99_ms {
                findings.push(Finding {
                    analysis: Analysis::Performance,
                    rule: "HighP99Latency".to_owned(),
                    severity: Severity::Warning,
                    service: service.to_string(),
                    operation: Some(operation.to_string()),
                    message: format!(
                        "p99 latency {:.3} ms over {} spans is above the {} ms target (max {:.3} ms)",
                        row.p99_ms, row.count, targets.p99_ms, row.max_ms
                    ),
                    evidence_trace_ids: series.slowest.iter().map(|(_, t)| t.to_string()).collect(),
                });
            }
            operation_rows.push(row);
        }
        let mut services: Vec<_> = self.services.into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        let total: u64 = services.iter().map(|(_, s)| s.latencies.count()).sum();
        let throughput = window_secs.map(|secs| total as f64 / secs);
        if let Some(rps) = throughput.filter(|rps| *rps < targets.throughput_rps) {
            findings.push(Finding {
                analysis: Analysis::Performance,
                rule: "LowThroughput".to_owned(),
                severity: Severity::Warning,
                service: "*".to_owned(),
                operation: None,
                message: format!(
                    "{rps:.1} spans/s over the data's time range, below the {} RPS target",
                    targets.throughput_rps
                ),
                evidence_trace_ids: Vec::new(),
            });
        }
        let section = PerformanceSection {
            p99_target_ms: targets.p99_ms,
            throughput_target_rps: targets.throughput_rps,
            throughput_rps: throughput,
            services: services.iter().map(|(service, series)| series.row(service, "*", window_secs)).collect(),
            operations: operation_rows,
            distributions: services
                .iter()
                .map(|(service, series)| LatencyDistribution {
                    service: service.to_string(),
                    bucket_upper_ms: LATENCY_BUCKET_BOUNDS_MICROS.iter().map(|b| *b as f64 / 1_000.0).collect(),
                    counts: series.latencies.bucket_counts(&LATENCY_BUCKET_BOUNDS_MICROS),
                })
                .collect(),
        };
        (section, findings)
    }
}

#[cfg(test)]
mod tests;
