//! Anomalies: each (service, operation) compared with its own recent past.
//!
//! Spans are grouped into fixed intervals (`interval`, by start time). An interval with at least
//! [`MIN_REQUESTS`] spans is compared with the intervals of the same series in the `baseline`
//! window before it (at least [`MIN_BASELINE_INTERVALS`] of them with data):
//!
//! - **latency**: the interval's mean duration against the baseline intervals' means, as a
//!   robust z-score `(x − median) / (1.4826 · MAD)`. Median and MAD (median absolute deviation)
//!   rather than mean and standard deviation, because the baseline itself may hold earlier
//!   spikes and a single outlier must not widen the band it is judged by; the mean (not a
//!   percentile) of the interval, because a spike in a few requests is what should show. The
//!   scale has a floor of 10 % of the median (and 10 µs) so a perfectly flat baseline does not
//!   make every jitter infinite. Anomalous when the score is above [`Z_THRESHOLD`] and the mean
//!   is at least 1.5 × the baseline median.
//! - **error rate**: the interval's error fraction against the pooled baseline fraction p₀, as a
//!   binomial z-score `(p − p₀) / √(p₀(1 − p₀)/n)` (p₀ floored at 1 %). Anomalous when above
//!   [`Z_THRESHOLD`] and at least 10 percentage points higher.
//!
//! One finding (`LatencyAnomaly` / `ErrorRateAnomaly`, warning) per series and metric, for its
//! worst interval, with the count of anomalous intervals and the slowest / failed traces.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::report::{Analysis, Anomaly, AnomalySection, Evidence, Finding, Severity};
use super::SpanContext;

/// Spans an interval needs to be judged.
pub const MIN_REQUESTS: u64 = 5;
/// Baseline intervals with data a judgement needs.
pub const MIN_BASELINE_INTERVALS: usize = 3;
/// Score above which an interval is anomalous.
pub const Z_THRESHOLD: f64 = 3.5;

/// How intervals and baselines are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnomalyOptions {
    pub interval_secs: u64,
    pub baseline_secs: u64,
}

impl Default for AnomalyOptions {
    fn default() -> Self {
        Self { interval_secs: 10, baseline_secs: 300 }
    }
}

#[derive(Debug, Default)]
struct Interval {
    count: u64,
    errors: u64,
    sum_micros: u64,
    slowest: Option<(u64, Arc<str>)>,
    failed: Evidence,
}

impl Interval {
    fn mean_micros(&self) -> f64 {
        self.sum_micros as f64 / self.count.max(1) as f64
    }

    fn error_rate(&self) -> f64 {
        self.errors as f64 / self.count.max(1) as f64
    }
}

/// Accumulates per-interval statistics per series.
#[derive(Debug)]
pub struct AnomalyAnalysis {
    options: AnomalyOptions,
    series: HashMap<(Arc<str>, Arc<str>), BTreeMap<u64, Interval>>,
}

/// One deviating interval.
#[derive(Debug)]
struct Deviation {
    start: u64,
    value: f64,
    baseline: f64,
    score: f64,
}

impl AnomalyAnalysis {
    pub fn new(options: AnomalyOptions) -> Self {
        let options = AnomalyOptions {
            interval_secs: options.interval_secs.max(1),
            baseline_secs: options.baseline_secs.max(options.interval_secs.max(1)),
        };
        Self { options, series: HashMap::new() }
    }

    pub fn observe(&mut self, context: &SpanContext<'_>) {
        let span = context.span;
        let interval = span.start_micros / 1_000_000 / self.options.interval_secs;
        let key = (Arc::clone(&span.service), Arc::clone(&span.operation));
        let entry = self.series.entry(key).or_default().entry(interval).or_default();
        entry.count += 1;
        entry.sum_micros = entry.sum_micros.saturating_add(span.duration_micros);
        if span.error {
            entry.errors += 1;
            entry.failed.add(&span.trace_id);
        }
        if entry.slowest.as_ref().is_none_or(|(slowest, _)| span.duration_micros > *slowest) {
            entry.slowest = Some((span.duration_micros, Arc::clone(&span.trace_id)));
        }
    }

    pub fn finish(self) -> (AnomalySection, Vec<Finding>) {
        let mut anomalies = Vec::new();
        let mut findings = Vec::new();
        let baseline_intervals = self.options.baseline_secs / self.options.interval_secs;
        let mut series: Vec<_> = self.series.into_iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for ((service, operation), intervals) in &series {
            let mut latency = Vec::new();
            let mut errors = Vec::new();
            let mut latency_evidence = Evidence::default();
            let mut error_evidence = Evidence::default();
            for (index, interval) in intervals {
                if interval.count < MIN_REQUESTS {
                    continue;
                }
                let baseline: Vec<&Interval> =
                    intervals.range(index.saturating_sub(baseline_intervals)..*index).map(|(_, i)| i).collect();
                if baseline.len() < MIN_BASELINE_INTERVALS {
                    continue;
                }
                let start = index * self.options.interval_secs;
                if let Some(deviation) = latency_deviation(interval, &baseline, start) {
                    if let Some((_, trace)) = &interval.slowest {
                        latency_evidence.add(trace);
                    }
                    latency.push(deviation);
                }
                if let Some(deviation) = error_deviation(interval, &baseline, start) {
                    for id in interval.failed.ids() {
                        error_evidence.add(&Arc::from(id));
                    }
                    errors.push(deviation);
                }
            }
            for (metric, rule, deviations, evidence) in [
                ("latency", "LatencyAnomaly", latency, latency_evidence),
                ("error_rate", "ErrorRateAnomaly", errors, error_evidence),
            ] {
                let Some(worst) = deviations.iter().max_by(|a, b| a.score.total_cmp(&b.score)) else { continue };
                let (value, baseline) = if metric == "latency" {
                    (worst.value / 1_000.0, worst.baseline / 1_000.0)
                } else {
                    (worst.value, worst.baseline)
                };
                let described = if metric == "latency" {
                    format!("mean latency {value:.3} ms against a baseline median of {baseline:.3} ms")
                } else {
                    format!("error rate {:.1} % against a baseline of {:.1} %", value * 100.0, baseline * 100.0)
                };
                findings.push(Finding {
                    analysis: Analysis::Anomaly,
                    rule: rule.to_owned(),
                    severity: Severity::Warning,
                    service: service.to_string(),
                    operation: Some(operation.to_string()),
                    message: format!(
                        "{described} in the {} s from {} (score {:.1}; {} anomalous intervals)",
                        self.options.interval_secs,
                        super::render::utc(worst.start),
                        worst.score,
                        deviations.len()
                    ),
                    evidence_trace_ids: evidence.ids(),
                });
                anomalies.push(Anomaly {
                    service: service.to_string(),
                    operation: operation.to_string(),
                    metric: metric.to_owned(),
                    interval_start_unix_secs: worst.start,
                    value,
                    baseline,
                    score: (worst.score * 100.0).round() / 100.0,
                    anomalous_intervals: deviations.len() as u64,
                });
            }
        }
        let section = AnomalySection {
            interval_secs: self.options.interval_secs,
            baseline_secs: self.options.baseline_secs,
            anomalies,
        };
        (section, findings)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn latency_deviation(interval: &Interval, baseline: &[&Interval], start: u64) -> Option<Deviation> {
    let mut means: Vec<f64> = baseline.iter().map(|i| i.mean_micros()).collect();
    let center = median(&mut means);
    let mut deviations: Vec<f64> = means.iter().map(|m| (m - center).abs()).collect();
    let mad = median(&mut deviations);
    let scale = (1.4826 * mad).max(0.1 * center).max(10.0);
    let value = interval.mean_micros();
    let score = (value - center) / scale;
    (score > Z_THRESHOLD && value >= 1.5 * center).then_some(Deviation { start, value, baseline: center, score })
}

fn error_deviation(interval: &Interval, baseline: &[&Interval], start: u64) -> Option<Deviation> {
    let (errors, count) = baseline.iter().fold((0, 0), |(e, c), i| (e + i.errors, c + i.count));
    let expected = errors as f64 / count.max(1) as f64;
    let floored = expected.max(0.01);
    let value = interval.error_rate();
    let score = (value - expected) / (floored * (1.0 - floored) / interval.count as f64).sqrt();
    (score > Z_THRESHOLD && value - expected >= 0.1).then_some(Deviation { start, value, baseline: expected, score })
}

#[cfg(test)]
mod tests;
