//! Everything the control plane knows from the filters' telemetry: cumulative request series
//! (what `/metrics` exports), the same in time windows (what alerts and analysis read), hash
//! mismatches by caller, what the filters reported dropping, and a bounded buffer of the most
//! recent sampled spans. Batches arrive validated ([`super::batch::validate`]); applying one never
//! fails, what exceeds a bound is counted in [`ApplyOutcome`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use acgs_proto::telemetry::{HashStatus, SpanRecord, TelemetryBatch};

use super::batch;
use super::histogram::LatencyHistogram;
use super::window::{SeriesKey, WindowStore};

/// Bounds of the store.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Width of one aggregation window.
    pub window: Duration,
    /// Windows kept.
    pub retain_windows: usize,
    /// Series per window and in the cumulative totals.
    pub max_series: usize,
    /// Sampled spans kept for analysis (oldest dropped first).
    pub span_buffer: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self { window: Duration::from_secs(10), retain_windows: 360, max_series: 50_000, span_buffer: 100_000 }
    }
}

/// A sampled span with the service that reported it.
#[derive(Debug, Clone)]
pub struct StoredSpan {
    pub service: Arc<str>,
    pub record: SpanRecord,
}

/// What applying one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Aggregate entries refused because a series limit was reached.
    pub series_dropped: u64,
    /// Older spans pushed out of the span buffer to make room.
    pub spans_evicted: u64,
}

/// Drop counters the filters reported, summed over all VMs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterDrops {
    pub spans: u64,
    pub aggregates: u64,
    pub batches: u64,
}

/// The telemetry collected so far.
#[derive(Debug)]
pub struct TelemetryStore {
    limits: StoreLimits,
    names: HashSet<Arc<str>>,
    totals: HashMap<SeriesKey, LatencyHistogram>,
    windows: WindowStore,
    mismatches: HashMap<(Arc<str>, Arc<str>), u64>,
    filter_drops: FilterDrops,
    spans: VecDeque<StoredSpan>,
    spans_received: u64,
}

impl TelemetryStore {
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            windows: WindowStore::new(limits.window, limits.retain_windows, limits.max_series),
            limits,
            names: HashSet::new(),
            totals: HashMap::new(),
            mismatches: HashMap::new(),
            filter_drops: FilterDrops::default(),
            spans: VecDeque::new(),
            spans_received: 0,
        }
    }

    /// Applies a validated batch received at `received_unix_secs`.
    pub fn apply(&mut self, batch: TelemetryBatch, received_unix_secs: u64) -> ApplyOutcome {
        let mut outcome = ApplyOutcome::default();
        for entry in &batch.aggregates {
            let Some(hash_status) = batch::hash_status(entry.hash_status) else { continue };
            let mut histogram = LatencyHistogram::default();
            if histogram.merge_wire(&entry.latency_buckets, entry.latency_sum_micros, entry.latency_max_micros).is_err()
            {
                continue;
            }
            let service = self.intern(&entry.service);
            let key = SeriesKey {
                service: Arc::clone(&service),
                operation: self.intern(&entry.operation),
                code_class: u8::try_from(entry.status_class).unwrap_or(0),
                hash_status,
            };
            if hash_status == HashStatus::Mismatch {
                let source = self.intern(if entry.source.is_empty() { "unknown" } else { &entry.source });
                *self.mismatches.entry((service, source)).or_default() += entry.count;
            }
            let total_full = !self.totals.contains_key(&key) && self.totals.len() >= self.limits.max_series;
            if total_full || self.windows.add(received_unix_secs, key.clone(), &histogram).is_err() {
                outcome.series_dropped += 1;
                continue;
            }
            self.totals.entry(key).or_default().merge(&histogram);
        }
        if let Some(dropped) = &batch.dropped {
            self.filter_drops.spans += dropped.spans;
            self.filter_drops.aggregates += dropped.aggregates;
            self.filter_drops.batches += dropped.batches;
        }
        let service = self.intern(&batch.service);
        for record in batch.spans {
            self.spans_received += 1;
            if self.spans.len() >= self.limits.span_buffer {
                self.spans.pop_front();
                outcome.spans_evicted += 1;
            }
            self.spans.push_back(StoredSpan { service: Arc::clone(&service), record });
        }
        outcome
    }

    /// Cumulative series since start.
    pub fn totals(&self) -> &HashMap<SeriesKey, LatencyHistogram> {
        &self.totals
    }

    /// The windowed series.
    pub fn windows(&self) -> &WindowStore {
        &self.windows
    }

    /// Hash mismatches by (service, calling source).
    pub fn mismatches(&self) -> &HashMap<(Arc<str>, Arc<str>), u64> {
        &self.mismatches
    }

    /// What the filters reported dropping.
    pub fn filter_drops(&self) -> FilterDrops {
        self.filter_drops
    }

    /// The most recent sampled spans, oldest first.
    pub fn spans(&self) -> impl Iterator<Item = &StoredSpan> {
        self.spans.iter()
    }

    /// Sampled span records received in total (including those since evicted).
    pub fn spans_received(&self) -> u64 {
        self.spans_received
    }

    /// Total requests counted per (service, hash status).
    pub fn requests_by_service_and_status(&self) -> std::collections::BTreeMap<(String, HashStatus), u64> {
        let mut out = std::collections::BTreeMap::new();
        for (key, histogram) in &self.totals {
            *out.entry((key.service.to_string(), key.hash_status)).or_default() += histogram.count();
        }
        out
    }

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(existing) = self.names.get(name) {
            return Arc::clone(existing);
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&name));
        name
    }
}

#[cfg(test)]
mod tests;
