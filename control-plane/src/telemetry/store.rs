//! Everything the control plane knows from the filters' telemetry: cumulative request series
//! (what `/metrics` exports), the same in time windows (what alerts and analysis read), hash
//! mismatches by caller, what the filters reported dropping, and a bounded buffer of the most
//! recent sampled spans. Batches arrive validated ([`super::batch::validate`]) and cut to the byte
//! bounds ([`super::bounds`]); applying one never fails, what exceeds a bound is counted in
//! [`ApplyOutcome`].
//!
//! Bounds: series by count ([`StoreLimits::max_series`], [`StoreLimits::max_mismatch_series`])
//! and by the bytes they take on `/metrics` ([`StoreLimits::metrics_bytes`], an upper estimate
//! of each new series' exposition lines), the windows' history by its series over all windows
//! ([`StoreLimits::window_history_series`]), the span buffer by count and by heap bytes. Interned
//! names no series or span uses any more are freed. Together these bound the store's heap
//! ([`StoreLimits::heap_bound`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use foldhash::{HashMap, HashSet};

use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{Attribute, HashStatus, SpanRecord};

use super::batch;
use super::histogram::LatencyHistogram;
use super::received::{Label, ReceivedBatch};
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
    /// Series over all retained windows: beyond it the oldest windows are pushed out.
    pub window_history_series: usize,
    /// Hash-mismatch series (service, calling source).
    pub max_mismatch_series: usize,
    /// Upper bound of the bytes the store's series take on `/metrics`.
    pub metrics_bytes: usize,
    /// Sampled spans kept for analysis (oldest dropped first).
    pub span_buffer: usize,
    /// Heap bytes of the sampled spans kept (estimated per allocation, see [`span_heap_bytes`]).
    pub span_buffer_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            retain_windows: 360,
            max_series: 50_000,
            window_history_series: 200_000,
            max_mismatch_series: 10_000,
            metrics_bytes: 32 * 1024 * 1024,
            span_buffer: 100_000,
            span_buffer_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Heap per series of the totals, at most: the hash table's entry with its slack (a table holds
/// as few as 7/16 of its slots after growing), the (service, operation) pair, and both names at
/// the 128-byte label bound, twice over (unused names are swept once they have doubled).
const TOTALS_SERIES_HEAP_BYTES: usize = 1_536;
/// Heap per series of a window, at most: the table entry (key and histogram) with its slack.
const WINDOW_SERIES_HEAP_BYTES: usize = 640;
/// Heap per hash-mismatch series, at most: the table entry and the caller's name.
const MISMATCH_SERIES_HEAP_BYTES: usize = 512;
/// Heap per span slot beyond the span's own estimate: the ring's slack and the reporting
/// service's name.
const SPAN_SLOT_HEAP_BYTES: usize = std::mem::size_of::<StoredSpan>() + 400;
/// The fixed part: the window ring, the tables' empty shells.
const FIXED_HEAP_BYTES: usize = 64 * 1024;

impl StoreLimits {
    /// Upper bound of the heap a store with these limits holds, whatever it is fed (a property
    /// test measures the heap against it). About 330 MB with the defaults; a mesh's real series
    /// take a small part of it (`bench soak`).
    pub fn heap_bound(&self) -> usize {
        self.span_buffer_bytes
            + self.span_buffer * SPAN_SLOT_HEAP_BYTES
            + self.max_series * TOTALS_SERIES_HEAP_BYTES
            + self.window_history_series * WINDOW_SERIES_HEAP_BYTES
            + self.max_mismatch_series * MISMATCH_SERIES_HEAP_BYTES
            + FIXED_HEAP_BYTES
    }
}

/// Upper estimate of the exposition bytes of one `acgs_requests_total` series (metric name, four
/// labels, a 20-digit value), plus its service's `acgs_constitutional_compliance_ratio` line in
/// case it is the service's first.
fn request_series_bytes(service: &str, operation: &str) -> usize {
    120 + service.len() + operation.len() + 80 + service.len()
}

/// Upper estimate of the exposition bytes of one `acgs_request_duration_seconds` histogram: a
/// bucket line per bound and `+Inf`, then `_sum` and `_count`.
fn duration_histogram_bytes(service: &str, operation: &str) -> usize {
    (acgs_proto::telemetry::LATENCY_BUCKETS + 2) * (110 + service.len() + operation.len())
}

/// The heap one stored span takes, estimated: the record, and each of its allocations (ids,
/// name, peer, the attribute list, keys and string values) rounded up as the allocator does,
/// with its per-allocation overhead. About 1.5 KB for a span as the filter sends it.
fn span_heap_bytes(record: &SpanRecord) -> usize {
    fn allocation(len: usize) -> usize {
        if len == 0 {
            0
        } else {
            len.next_multiple_of(16) + 16
        }
    }
    let attributes: usize = record
        .attributes
        .iter()
        .map(|attribute| {
            let value = match &attribute.value {
                Some(Value::StringValue(text)) => allocation(text.len()),
                _ => 0,
            };
            allocation(attribute.key.len()) + value
        })
        .sum();
    std::mem::size_of::<StoredSpan>()
        + [&record.trace_id, &record.span_id, &record.parent_span_id]
            .iter()
            .map(|id| allocation(id.len()))
            .sum::<usize>()
        + allocation(record.name.len())
        + allocation(record.peer.len())
        + allocation(record.attributes.len() * std::mem::size_of::<Attribute>())
        + attributes
}

/// Upper estimate of the exposition bytes of one `acgs_constitutional_hash_mismatch_total` series.
fn mismatch_series_bytes(service: &str, source: &str) -> usize {
    110 + service.len() + source.len()
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
    /// Series of older windows pushed out by the window history budget to make room.
    pub window_series_evicted: u64,
}

impl std::ops::AddAssign for ApplyOutcome {
    fn add_assign(&mut self, other: Self) {
        self.series_dropped += other.series_dropped;
        self.spans_evicted += other.spans_evicted;
        self.window_series_evicted += other.window_series_evicted;
    }
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
    /// Interned names are swept when there are this many.
    names_sweep_at: usize,
    totals: HashMap<SeriesKey, LatencyHistogram>,
    /// The (service, operation) pairs of `totals`: one duration histogram each on `/metrics`.
    operations: HashSet<(Arc<str>, Arc<str>)>,
    /// Upper estimate of the bytes the series take on `/metrics`.
    metrics_bytes: usize,
    windows: WindowStore,
    mismatches: HashMap<(Arc<str>, Arc<str>), u64>,
    filter_drops: FilterDrops,
    spans: VecDeque<StoredSpan>,
    span_bytes: usize,
    spans_received: u64,
}

/// Interned names are first swept at this many.
const FIRST_SWEEP: usize = 1024;

impl TelemetryStore {
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            windows: WindowStore::new(
                limits.window,
                limits.retain_windows,
                limits.max_series,
                limits.window_history_series,
            ),
            limits,
            names: HashSet::default(),
            names_sweep_at: FIRST_SWEEP,
            totals: HashMap::default(),
            operations: HashSet::default(),
            metrics_bytes: 0,
            mismatches: HashMap::default(),
            filter_drops: FilterDrops::default(),
            spans: VecDeque::new(),
            span_bytes: 0,
            spans_received: 0,
        }
    }

    /// Applies a validated batch received at `received_unix_secs`.
    pub fn apply(&mut self, batch: impl Into<ReceivedBatch>, received_unix_secs: u64) -> ApplyOutcome {
        let received = batch.into();
        let mut outcome = ApplyOutcome::default();
        // A batch comes from one VM: its entries share a service, and neighbours often an
        // operation, so the last interned names are compared before a name is hashed.
        let (mut last_service, mut last_operation): (Option<Arc<str>>, Option<Arc<str>>) = (None, None);
        for entry in received.aggregates() {
            let Some(hash_status) = batch::hash_status(entry.hash_status) else { continue };
            let mut histogram = LatencyHistogram::default();
            if histogram.merge_wire(entry.latency_buckets, entry.latency_sum_micros, entry.latency_max_micros).is_err()
            {
                continue;
            }
            let service = self.intern_after(&mut last_service, entry.service);
            let key = SeriesKey {
                service: Arc::clone(&service),
                operation: self.intern_after(&mut last_operation, entry.operation),
                code_class: u8::try_from(entry.status_class).unwrap_or(0),
                hash_status,
            };
            if hash_status == HashStatus::Mismatch {
                let source = self.intern(if entry.source.is_empty() { "unknown" } else { entry.source.as_str() });
                if !self.count_mismatch(service, source, entry.count) {
                    outcome.series_dropped += 1;
                }
            }
            // A known series (the common case): one lookup of the totals.
            if let Some(total) = self.totals.get_mut(&key) {
                match self.windows.add(received_unix_secs, key, &histogram) {
                    Ok(added) => {
                        outcome.window_series_evicted += added.history_evicted as u64;
                        total.merge(&histogram);
                    }
                    Err(_) => outcome.series_dropped += 1,
                }
                continue;
            }
            let added = if self.admits_new(&key) {
                self.windows.add(received_unix_secs, key.clone(), &histogram).ok()
            } else {
                None
            };
            let Some(added) = added else {
                outcome.series_dropped += 1;
                continue;
            };
            outcome.window_series_evicted += added.history_evicted as u64;
            self.metrics_bytes += self.new_series_bytes(&key);
            self.operations.insert((Arc::clone(&key.service), Arc::clone(&key.operation)));
            self.totals.entry(key).or_default().merge(&histogram);
        }
        let batch = received.batch;
        if let Some(dropped) = &batch.dropped {
            self.filter_drops.spans += dropped.spans;
            self.filter_drops.aggregates += dropped.aggregates;
            self.filter_drops.batches += dropped.batches;
        }
        let service = self.intern(&batch.service);
        for record in batch.spans {
            self.spans_received += 1;
            let bytes = span_heap_bytes(&record);
            while !self.spans.is_empty()
                && (self.spans.len() >= self.limits.span_buffer
                    || self.span_bytes + bytes > self.limits.span_buffer_bytes)
            {
                if let Some(oldest) = self.spans.pop_front() {
                    self.span_bytes -= span_heap_bytes(&oldest.record);
                }
                outcome.spans_evicted += 1;
            }
            self.span_bytes += bytes;
            self.spans.push_back(StoredSpan { service: Arc::clone(&service), record });
        }
        self.sweep_names();
        outcome
    }

    /// Whether a series not in the totals yet may be added to them.
    fn admits_new(&self, key: &SeriesKey) -> bool {
        self.totals.len() < self.limits.max_series
            && self.metrics_bytes + self.new_series_bytes(key) <= self.limits.metrics_bytes
    }

    /// What a series not yet in the totals adds to `/metrics`.
    fn new_series_bytes(&self, key: &SeriesKey) -> usize {
        let histogram = if self.operations.contains(&(Arc::clone(&key.service), Arc::clone(&key.operation))) {
            0
        } else {
            duration_histogram_bytes(&key.service, &key.operation)
        };
        request_series_bytes(&key.service, &key.operation) + histogram
    }

    /// Counts mismatches by caller; whether the series is (now) kept.
    fn count_mismatch(&mut self, service: Arc<str>, source: Arc<str>, count: u64) -> bool {
        if let Some(total) = self.mismatches.get_mut(&(Arc::clone(&service), Arc::clone(&source))) {
            *total += count;
            return true;
        }
        let bytes = mismatch_series_bytes(&service, &source);
        if self.mismatches.len() >= self.limits.max_mismatch_series
            || self.metrics_bytes + bytes > self.limits.metrics_bytes
        {
            return false;
        }
        self.metrics_bytes += bytes;
        self.mismatches.insert((service, source), count);
        true
    }

    /// Frees interned names nothing uses any more (series refused, windows expired, spans
    /// evicted), once their number has doubled since the last sweep.
    fn sweep_names(&mut self) {
        if self.names.len() < self.names_sweep_at {
            return;
        }
        self.names.retain(|name| Arc::strong_count(name) > 1);
        self.names_sweep_at = (self.names.len() * 2).max(FIRST_SWEEP);
    }

    /// Interned names held.
    pub fn interned_names(&self) -> usize {
        self.names.len()
    }

    /// Upper estimate of the bytes the series take on `/metrics`.
    pub fn metrics_bytes(&self) -> usize {
        self.metrics_bytes
    }

    /// Heap bytes of the sampled spans kept (estimated).
    pub fn span_bytes(&self) -> usize {
        self.span_bytes
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

    /// [`Self::intern`], unless `name` is the one interned `last` (then no hashing); `last`
    /// becomes `name`'s.
    fn intern_after(&mut self, last: &mut Option<Arc<str>>, name: Label<'_>) -> Arc<str> {
        match last {
            Some(previous) if previous.as_bytes() == name.as_bytes() => Arc::clone(previous),
            _ => {
                let interned = self.intern(name.as_str());
                *last = Some(Arc::clone(&interned));
                interned
            }
        }
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
