//! Telemetry from the filters: ingest (`POST /v1/telemetry`), the store of aggregates, windows and
//! sampled spans, and its Prometheus exposition. [`Telemetry::start`] spawns the task that applies
//! admitted batches to the store; the HTTP handler authenticates, decodes (the aggregate entries
//! read in place: [`received`]), validates, prepares (span facts, byte bounds) and admits (exactly
//! once per (vm_id, seq)), so the store's thread only applies, and a slow consumer shows up as
//! 503s the filters retry, never as unbounded memory. Span records go to the OTLP export only from
//! filters whose Envoy has no tracer (`span_source` FILTER, or unset by older filters): where Envoy
//! records the hop, exporting the filter's record too would put two spans per hop in the trace
//! (docs/mesh.md).

pub mod batch;
pub mod bounds;
pub mod dedupe;
pub mod exposition;
pub mod histogram;
mod ingest;
pub mod otlp;
pub mod received;
pub mod span_facts;
pub mod store;
pub mod window;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use acgs_proto::telemetry::SpanSource;
use axum::http::HeaderValue;
use axum::routing::post;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::drain::Drain;
pub use ingest::PROTOBUF;
use received::ReceivedBatch;
use store::{StoreLimits, TelemetryStore};

/// What happens to an admitted batch before anything reads it (on the request's worker): the span
/// records' typed facts become their attributes, then everything is cut to the byte bounds.
pub fn prepare(received: &mut ReceivedBatch) -> bounds::Cuts {
    span_facts::expand_batch(&mut received.batch);
    bounds::cut_batch(received)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How ingest behaves.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Bearer token the filters must present; `None` accepts any sender.
    pub token: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Admitted batches waiting for the store; beyond it ingest answers 503.
    pub queue_batches: usize,
    /// Request-body bytes of the admitted batches waiting for the store (at least
    /// `max_body_bytes`); beyond it ingest answers 503.
    pub queue_bytes: usize,
    /// Filter VMs whose (vm_id, seq) history is kept.
    pub max_vms: usize,
    /// Bounds of the store.
    pub limits: StoreLimits,
    /// OTLP export of spans and metrics; off when `None`.
    pub export: Option<otlp::OtlpConfig>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            token: None,
            max_body_bytes: 4 * 1024 * 1024,
            queue_batches: 1_024,
            queue_bytes: 64 * 1024 * 1024,
            max_vms: 100_000,
            limits: StoreLimits::default(),
            export: None,
        }
    }
}

/// Outcome label of `acgs_telemetry_batches_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchResult {
    Accepted,
    Duplicate,
    Unauthorized,
    UnsupportedMediaType,
    TooLarge,
    Malformed,
    Invalid,
    Overloaded,
    /// Refused because the replica is stopping (docs/scale-out.md).
    Draining,
}

impl BatchResult {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchResult::Accepted => "accepted",
            BatchResult::Duplicate => "duplicate",
            BatchResult::Unauthorized => "unauthorized",
            BatchResult::UnsupportedMediaType => "unsupported_media_type",
            BatchResult::TooLarge => "too_large",
            BatchResult::Malformed => "malformed",
            BatchResult::Invalid => "invalid",
            BatchResult::Overloaded => "overloaded",
            BatchResult::Draining => "draining",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WhatLabel {
    what: &'static str,
}

/// State shared by the handler and the consumer.
#[derive(Debug)]
struct TelemetryShared {
    config: TelemetryConfig,
    tracker: Mutex<dedupe::SeqTracker>,
    queue: mpsc::Sender<StoreWork>,
    /// Permits for the request-body bytes of the queued batches.
    queue_budget: Arc<tokio::sync::Semaphore>,
    store: Arc<RwLock<TelemetryStore>>,
    batches: Family<ResultLabel, Counter>,
    dropped: Family<ReasonLabel, Counter>,
    truncated: Family<WhatLabel, Counter>,
    records: Counter,
    exported_spans: Counter,
    export: std::sync::OnceLock<otlp::Exporter>,
    drain: Drain,
}

impl TelemetryShared {
    fn authorized(&self, header: Option<&HeaderValue>) -> bool {
        let Some(expected) = &self.config.token else { return true };
        let Some(presented) = header.and_then(|v| v.to_str().ok()) else { return false };
        let Some((scheme, token)) = presented.split_once(' ') else { return false };
        scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(token.trim().as_bytes(), expected.as_bytes())
    }

    fn count_batch(&self, result: BatchResult) {
        self.batches.get_or_create(&ResultLabel { result: result.as_str() }).inc();
    }

    /// Counts dropped records; the first drop for each reason is logged (then only counted).
    fn count_dropped(&self, reason: &'static str, n: u64) {
        if n > 0 {
            let counter = self.dropped.get_or_create(&ReasonLabel { reason });
            if counter.inc_by(n) == 0 {
                tracing::warn!(
                    reason,
                    n,
                    "telemetry dropped (counted in acgs_telemetry_dropped_total, logged once per reason)"
                );
            }
        }
    }

    /// Counts what was cut to the byte bounds; the first cut of each kind is logged.
    fn count_cuts(&self, cuts: bounds::Cuts) {
        for (what, n, bound) in
            [("label", cuts.labels, bounds::MAX_LABEL_BYTES), ("span", cuts.spans, bounds::MAX_SPAN_BYTES)]
        {
            if n > 0 && self.truncated.get_or_create(&WhatLabel { what }).inc_by(n) == 0 {
                tracing::warn!(
                    what,
                    n,
                    bound,
                    "telemetry cut to its byte bound (counted in acgs_telemetry_truncated_total, logged once per kind)"
                );
            }
        }
    }
}

impl otlp::ExportCounters for TelemetryShared {
    fn dropped(&self, reason: &'static str, n: u64) {
        self.count_dropped(reason, n);
    }

    fn exported_spans(&self, n: u64) {
        self.exported_spans.inc_by(n);
    }
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b.iter().cycle()) {
        diff |= x ^ y;
    }
    diff == 0 && !b.is_empty()
}

/// The running telemetry pipeline (cheap to clone).
#[derive(Debug, Clone)]
pub struct Telemetry {
    shared: Arc<TelemetryShared>,
}

impl Telemetry {
    /// Starts the store's consumer thread and, when configured, the OTLP exporter (on the
    /// current tokio runtime); fails only on an unusable export endpoint.
    /// Starts the store's thread (and the OTLP export); ingest refuses batches once `drain` has begun.
    pub fn start(config: TelemetryConfig, drain: Drain) -> Result<Self, tonic::transport::Error> {
        let (queue, receiver) = mpsc::channel(config.queue_batches.max(1));
        let queue_budget = Arc::new(tokio::sync::Semaphore::new(
            config.queue_bytes.max(config.max_body_bytes).min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        let store = Arc::new(RwLock::new(TelemetryStore::new(config.limits.clone())));
        let shared = Arc::new(TelemetryShared {
            tracker: Mutex::new(dedupe::SeqTracker::new(config.max_vms)),
            config,
            queue,
            queue_budget,
            store,
            batches: Family::default(),
            dropped: Family::default(),
            truncated: Family::default(),
            records: Counter::default(),
            exported_spans: Counter::default(),
            export: std::sync::OnceLock::new(),
            drain,
        });
        if let Some(export) = shared.config.export.clone() {
            let counters: Arc<dyn otlp::ExportCounters> = Arc::clone(&shared) as Arc<dyn otlp::ExportCounters>;
            let exporter = otlp::start(export, Arc::clone(&shared.store), counters)?;
            let _ = shared.export.set(exporter);
        }
        let consumer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("acgs-telemetry-store".to_owned())
            .spawn(move || consume(&consumer, receiver))
            .expect("the OS starts the telemetry store's thread");
        Ok(Self { shared })
    }

    /// `POST /v1/telemetry`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/telemetry", post(ingest::post_telemetry))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(Arc::clone(&self.shared))
    }

    /// Registers the telemetry families.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "acgs_telemetry_batches",
            "Telemetry batches received from the filters, by result",
            self.shared.batches.clone(),
        );
        registry.register(
            "acgs_telemetry_dropped",
            "Telemetry records dropped, by reason (filter_* as reported by the filters)",
            self.shared.dropped.clone(),
        );
        registry.register(
            "acgs_telemetry_truncated",
            "Label values (what=label) and span records (what=span) cut to their byte bounds",
            self.shared.truncated.clone(),
        );
        registry.register(
            "acgs_telemetry_exported_spans",
            "Sampled spans delivered to the OTLP collector",
            self.shared.exported_spans.clone(),
        );
        registry.register(
            "acgs_telemetry_records",
            "Aggregate entries and span records admitted",
            self.shared.records.clone(),
        );
        registry.register_collector(Box::new(exposition::TelemetryCollector::new(Arc::clone(&self.shared.store))));
    }

    /// The store the consumer fills.
    pub fn store(&self) -> Arc<RwLock<TelemetryStore>> {
        Arc::clone(&self.shared.store)
    }

    /// Returns once every batch admitted so far is in the store.
    pub async fn apply_admitted(&self) {
        let (done, applied) = tokio::sync::oneshot::channel();
        if self.shared.queue.send(StoreWork::Flush(done)).await.is_ok() {
            let _ = applied.await;
        }
    }

    /// For shutdown, once ingest has stopped: applies every admitted batch to the store, then
    /// exports every queued span and the request metrics as they are now. The caller bounds the
    /// wait; [`Telemetry::unexported_spans`] then says what did not make it.
    pub async fn flush(&self) {
        self.apply_admitted().await;
        if let Some(exporter) = self.shared.export.get() {
            exporter.flush().await;
        }
    }

    /// Sampled spans queued for the OTLP export and not delivered or dropped yet.
    pub fn unexported_spans(&self) -> u64 {
        self.shared.export.get().map_or(0, otlp::Exporter::pending_spans)
    }
}

/// What the store's thread receives: a batch to apply, or a request to say when everything
/// before it is applied.
#[derive(Debug)]
enum StoreWork {
    Apply(Box<Admitted>),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// A batch admitted for the store, holding its share of the queue's byte budget until applied.
#[derive(Debug)]
struct Admitted {
    batch: ReceivedBatch,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

/// Applies admitted batches to the store, a burst at a time under one lock, on a thread of its
/// own: waiting for the lock (a `/metrics` render, an analysis) never stalls a request's worker.
fn consume(shared: &TelemetryShared, mut receiver: mpsc::Receiver<StoreWork>) {
    let mut burst = Vec::with_capacity(64);
    while receiver.blocking_recv_many(&mut burst, 64) > 0 {
        let now = unix_now_secs();
        let mut applied = store::ApplyOutcome::default();
        let mut filter_drops = (0, 0, 0);
        let mut export_full = 0;
        let mut flushed = Vec::new();
        if let Ok(mut store) = shared.store.write() {
            for work in burst.drain(..) {
                let received = match work {
                    StoreWork::Apply(admitted) => admitted.batch,
                    StoreWork::Flush(done) => {
                        flushed.push(done);
                        continue;
                    }
                };
                let batch = &received.batch;
                if let Some(d) = &batch.dropped {
                    filter_drops.0 += d.spans;
                    filter_drops.1 += d.aggregates;
                    filter_drops.2 += d.batches;
                }
                // A hop Envoy's tracer records already has its span: the filter's record of it
                // feeds metrics and analysis only, never a second span in the trace.
                let recorded_by_envoy = batch.span_source == SpanSource::Envoy as i32;
                if let (Some(export), false) = (shared.export.get(), recorded_by_envoy) {
                    let service: Arc<str> = Arc::from(batch.service.as_str());
                    for record in &batch.spans {
                        let span = store::StoredSpan { service: Arc::clone(&service), record: record.clone() };
                        if !export.offer(span) {
                            export_full += 1;
                        }
                    }
                }
                applied += store.apply(received, now);
            }
        }
        burst.clear();
        shared.count_dropped("export_queue_full", export_full);
        shared.count_dropped("series_limit", applied.series_dropped);
        shared.count_dropped("span_buffer", applied.spans_evicted);
        shared.count_dropped("window_history", applied.window_series_evicted);
        shared.count_dropped("filter_spans", filter_drops.0);
        shared.count_dropped("filter_aggregates", filter_drops.1);
        shared.count_dropped("filter_batches", filter_drops.2);
        for done in flushed {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests;
