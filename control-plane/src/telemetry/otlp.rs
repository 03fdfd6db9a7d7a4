//! OTLP/gRPC export of what the filters report, to a configured collector (an OpenTelemetry
//! Collector, or anything speaking OTLP): every sampled span, with the constitutional attributes
//! and a `service.name` resource per reporting service, and, unless turned off, the request
//! metrics (cumulative `acgs.requests` sums and `acgs.request.duration` histograms) at a fixed
//! interval.
//!
//! Spans wait in a bounded queue; a full queue drops the newest span and counts it
//! (`export_queue_full`). A failed export is retried with exponential backoff up to
//! [`OtlpConfig::max_attempts`] times, then dropped and counted (`export_failed`). The queue
//! bound keeps memory flat while the collector is down or slow; sampling and ingest are unaffected.
//! At shutdown [`Exporter::flush`] exports what is queued and the metrics as they are, and
//! [`Exporter::pending_spans`] says what a shutdown cut short would lose.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acgs_proto::telemetry::{attribute, SpanRecord, LATENCY_BUCKET_BOUNDS_MICROS};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use tokio::sync::{mpsc, oneshot};
use tonic::transport::{Channel, Endpoint};

use super::store::{StoredSpan, TelemetryStore};

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The collector's OTLP/gRPC endpoint, e.g. `http://otel-collector.acgs-system:4317`.
    pub endpoint: String,
    /// Spans waiting for export.
    pub queue_spans: usize,
    /// Spans per export request.
    pub max_batch: usize,
    /// Longest a span waits for a batch to fill.
    pub batch_timeout: Duration,
    /// Export attempts per batch before it is dropped.
    pub max_attempts: u32,
    /// Backoff before the first retry (doubles each time).
    pub initial_backoff: Duration,
    /// Whether the request metrics are exported too. Off where Prometheus scrapes the control
    /// plane's `/metrics` (the shipped Deployment): the same counts would reach Prometheus twice,
    /// and the replicas' cumulative sums, alike in resource, would clash in one exporter.
    pub metrics: bool,
    /// How often the request metrics are exported.
    pub metrics_interval: Duration,
    /// Deadline of one export call.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// Defaults for `endpoint`: 10,000 queued spans, batches of 512 or 1 s, 5 attempts from 200 ms,
    /// metrics exported every 10 s, 5 s per call.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            queue_spans: 10_000,
            max_batch: 512,
            batch_timeout: Duration::from_secs(1),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            metrics: true,
            metrics_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Counts what the exporter drops and delivers.
pub trait ExportCounters: Send + Sync + 'static {
    fn dropped(&self, reason: &'static str, n: u64);
    fn exported_spans(&self, n: u64);
}

/// What the span exporter task receives: a span, or a request to export everything before it
/// now and say so.
#[derive(Debug)]
enum SpanWork {
    /// Boxed: a span record is some 300 bytes, a flush request one pointer.
    Span(Box<StoredSpan>),
    Flush(oneshot::Sender<()>),
}

/// The running exporter: hands spans to its task, and flushes at shutdown.
#[derive(Debug, Clone)]
pub struct Exporter {
    sender: mpsc::Sender<SpanWork>,
    /// Spans accepted by [`Exporter::offer`] and neither delivered nor dropped yet.
    pending: Arc<AtomicU64>,
    /// `None` when the metrics are not exported.
    metrics: Option<Arc<MetricsExporter>>,
}

impl Exporter {
    /// Queues a span; `false` when the queue is full (the span is dropped).
    pub fn offer(&self, span: StoredSpan) -> bool {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let queued = self.sender.try_send(SpanWork::Span(Box::new(span))).is_ok();
        if !queued {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        queued
    }

    /// Exports every span queued so far without waiting for its batch to fill, then the request
    /// metrics as they are now; returns when both calls are done (delivered, or retried and
    /// dropped). The caller bounds the wait (the shutdown grace period).
    pub async fn flush(&self) {
        let (done, exported) = oneshot::channel();
        if self.sender.send(SpanWork::Flush(done)).await.is_ok() {
            let _ = exported.await;
        }
        if let Some(metrics) = &self.metrics {
            metrics.export().await;
        }
    }

    /// Spans queued or being exported: what a shutdown that ends now would lose.
    pub fn pending_spans(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

/// Starts the span export task, and the metrics one if they are exported, on the current tokio
/// runtime.
pub fn start(
    config: OtlpConfig,
    store: Arc<RwLock<TelemetryStore>>,
    counters: Arc<dyn ExportCounters>,
) -> Result<Exporter, tonic::transport::Error> {
    let channel = Endpoint::from_shared(config.endpoint.clone())?
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .connect_lazy();
    let (sender, receiver) = mpsc::channel(config.queue_spans.max(1));
    let pending = Arc::new(AtomicU64::new(0));
    let spans = SpanExporter {
        client: TraceServiceClient::new(channel.clone()),
        config: config.clone(),
        pending: Arc::clone(&pending),
        counters: Arc::clone(&counters),
    };
    tokio::spawn(spans.run(receiver));
    let metrics = config.metrics.then(|| {
        let metrics = Arc::new(MetricsExporter {
            client: MetricsServiceClient::new(channel),
            started: unix_nanos(SystemTime::now()),
            config,
            store,
            counters,
        });
        tokio::spawn(Arc::clone(&metrics).run());
        metrics
    });
    Ok(Exporter { sender, pending, metrics })
}

/// The task exporting spans in batches of `max_batch`, or fewer after `batch_timeout` or when
/// asked to flush.
struct SpanExporter {
    client: TraceServiceClient<Channel>,
    config: OtlpConfig,
    pending: Arc<AtomicU64>,
    counters: Arc<dyn ExportCounters>,
}

impl SpanExporter {
    async fn run(self, mut receiver: mpsc::Receiver<SpanWork>) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        while let Some(first) = receiver.recv().await {
            let mut flushed = Vec::new();
            let mut next = Some(first);
            let deadline = tokio::time::Instant::now() + self.config.batch_timeout;
            while let Some(work) = next.take() {
                match work {
                    SpanWork::Span(span) => batch.push(*span),
                    SpanWork::Flush(done) => flushed.push(done),
                }
                if batch.len() >= self.config.max_batch || !flushed.is_empty() {
                    break;
                }
                if let Ok(more) = tokio::time::timeout_at(deadline, receiver.recv()).await {
                    next = more;
                }
            }
            if !batch.is_empty() {
                self.export(std::mem::take(&mut batch)).await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn export(&self, batch: Vec<StoredSpan>) {
        let request = trace_request(&batch);
        let n = batch.len() as u64;
        drop(batch);
        let delivered = with_retries(&self.config, || {
            let mut client = self.client.clone();
            let request = request.clone();
            async move { client.export(request).await.map(|_| ()) }
        })
        .await;
        if delivered {
            self.counters.exported_spans(n);
        } else {
            self.counters.dropped("export_failed", n);
        }
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Exports the cumulative request metrics every `metrics_interval`, and once more on flush.
struct MetricsExporter {
    client: MetricsServiceClient<Channel>,
    /// Start of the cumulative series (when the exporter started).
    started: u64,
    config: OtlpConfig,
    store: Arc<RwLock<TelemetryStore>>,
    counters: Arc<dyn ExportCounters>,
}

impl std::fmt::Debug for MetricsExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExporter").field("endpoint", &self.config.endpoint).finish_non_exhaustive()
    }
}

impl MetricsExporter {
    async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.config.metrics_interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.export().await;
        }
    }

    async fn export(&self) {
        // The store's std lock is waited for on the blocking pool, not on a runtime worker.
        let (store, started) = (Arc::clone(&self.store), self.started);
        let built = tokio::task::spawn_blocking(move || {
            let store = store.read().ok()?;
            Some(metrics_request(&store, started, unix_nanos(SystemTime::now())))
        })
        .await;
        let Ok(Some(request)) = built else { return };
        if request.resource_metrics.is_empty() {
            return;
        }
        let delivered = with_retries(&self.config, || {
            let mut client = self.client.clone();
            let request = request.clone();
            async move { client.export(request).await.map(|_| ()) }
        })
        .await;
        if !delivered {
            self.counters.dropped("metrics_export_failed", 1);
        }
    }
}

/// Runs `call` until it succeeds or the attempts run out, with doubling backoff.
async fn with_retries<F, Fut>(config: &OtlpConfig, mut call: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), tonic::Status>>,
{
    let mut backoff = config.initial_backoff;
    for attempt in 1..=config.max_attempts.max(1) {
        match call().await {
            Ok(()) => return true,
            Err(status) => {
                tracing::warn!(endpoint = %config.endpoint, attempt, code = ?status.code(), message = status.message(), "OTLP export failed");
                if attempt < config.max_attempts {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
    false
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "acgs-tracing".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

fn service_resource(service: &str) -> Resource {
    Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }
}

/// A string attribute.
pub(crate) fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}

/// The OTLP request for spans, grouped by reporting service.
pub fn trace_request(spans: &[StoredSpan]) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for stored in spans {
        by_service.entry(stored.service.as_ref()).or_default().push(otlp_span(&stored.record));
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(service_resource(service)),
                scope_spans: vec![ScopeSpans { scope: Some(scope()), spans, ..Default::default() }],
                ..Default::default()
            })
            .collect(),
    }
}

/// One span record as an OTLP server span; 5xx responses get an error status.
pub fn otlp_span(record: &SpanRecord) -> Span {
    let mut server_error = false;
    let attributes = record
        .attributes
        .iter()
        .map(|attribute| {
            let value = attribute.value.as_ref().map(|value| match value {
                attribute::Value::StringValue(s) => any_value::Value::StringValue(s.clone()),
                attribute::Value::IntValue(i) => {
                    if attribute.key == "http.response.status_code" && *i >= 500 {
                        server_error = true;
                    }
                    any_value::Value::IntValue(*i)
                }
                attribute::Value::BoolValue(b) => any_value::Value::BoolValue(*b),
                attribute::Value::DoubleValue(d) => any_value::Value::DoubleValue(*d),
            });
            KeyValue { key: attribute.key.clone(), value: Some(AnyValue { value }), ..KeyValue::default() }
        })
        .chain((!record.peer.is_empty()).then(|| string_kv("client.address", &record.peer)))
        .collect();
    Span {
        trace_id: record.trace_id.clone(),
        span_id: record.span_id.clone(),
        parent_span_id: record.parent_span_id.clone(),
        name: record.name.clone(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: record.start_unix_nanos,
        end_time_unix_nano: record.end_unix_nanos,
        attributes,
        status: server_error.then(|| Status { code: status::StatusCode::Error as i32, ..Default::default() }),
        ..Default::default()
    }
}

/// The OTLP request for the cumulative request metrics, one resource per service.
pub fn metrics_request(
    store: &TelemetryStore,
    start_unix_nanos: u64,
    now_unix_nanos: u64,
) -> ExportMetricsServiceRequest {
    let mut by_service: BTreeMap<&str, (Vec<NumberDataPoint>, Vec<HistogramDataPoint>)> = BTreeMap::new();
    let bounds: Vec<f64> = LATENCY_BUCKET_BOUNDS_MICROS.iter().map(|b| *b as f64 / 1e6).collect();
    for (key, histogram) in store.totals() {
        let code_class = if key.code_class == 0 { "none".to_owned() } else { format!("{}xx", key.code_class) };
        let attributes = vec![
            string_kv("acgs.operation", &key.operation),
            string_kv("http.response.status_class", &code_class),
            string_kv("constitutional.hash.status", key.hash_status.as_str()),
        ];
        let (sums, histograms) = by_service.entry(key.service.as_ref()).or_default();
        sums.push(NumberDataPoint {
            attributes: attributes.clone(),
            start_time_unix_nano: start_unix_nanos,
            time_unix_nano: now_unix_nanos,
            value: Some(number_data_point::Value::AsInt(i64::try_from(histogram.count()).unwrap_or(i64::MAX))),
            ..Default::default()
        });
        histograms.push(HistogramDataPoint {
            attributes,
            start_time_unix_nano: start_unix_nanos,
            time_unix_nano: now_unix_nanos,
            count: histogram.count(),
            sum: Some(histogram.sum_micros() as f64 / 1e6),
            bucket_counts: histogram.buckets().to_vec(),
            explicit_bounds: bounds.clone(),
            max: Some(histogram.max_micros() as f64 / 1e6),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: by_service
            .into_iter()
            .map(|(service, (sums, histograms))| ResourceMetrics {
                resource: Some(service_resource(service)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: vec![
                        Metric {
                            name: "acgs.requests".to_owned(),
                            description: "Requests seen by the filters".to_owned(),
                            unit: "{request}".to_owned(),
                            data: Some(metric::Data::Sum(Sum {
                                data_points: sums,
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "acgs.request.duration".to_owned(),
                            description: "Request latency seen by the filters".to_owned(),
                            unit: "s".to_owned(),
                            data: Some(metric::Data::Histogram(Histogram {
                                data_points: histograms,
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
}
