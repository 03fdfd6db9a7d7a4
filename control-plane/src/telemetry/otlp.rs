//! OTLP/gRPC export of what the filters report, to a configured collector (an OpenTelemetry
//! Collector, or anything speaking OTLP): every sampled span, with the constitutional attributes
//! and a `service.name` resource per reporting service, and the request metrics (cumulative
//! `acgs.requests` sums and `acgs.request.duration` histograms) at a fixed interval.
//!
//! Spans wait in a bounded queue; a full queue drops the newest span and counts it
//! (`export_queue_full`). A failed export is retried with exponential backoff up to
//! [`OtlpConfig::max_attempts`] times, then dropped and counted (`export_failed`). The queue
//! bound keeps memory flat while the collector is down or slow; sampling and ingest are unaffected.

use std::collections::BTreeMap;
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
use tokio::sync::mpsc;
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
    /// How often the request metrics are exported.
    pub metrics_interval: Duration,
    /// Deadline of one export call.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// Defaults for `endpoint`: 10,000 queued spans, batches of 512 or 1 s, 5 attempts from 200 ms,
    /// metrics every 10 s, 5 s per call.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            queue_spans: 10_000,
            max_batch: 512,
            batch_timeout: Duration::from_secs(1),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
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

/// Hands spans to the exporter task.
#[derive(Debug, Clone)]
pub struct SpanExportQueue {
    sender: mpsc::Sender<StoredSpan>,
}

impl SpanExportQueue {
    /// Queues a span; `false` when the queue is full (the span is dropped).
    pub fn offer(&self, span: StoredSpan) -> bool {
        self.sender.try_send(span).is_ok()
    }
}

/// Starts the span and metrics export tasks on the current tokio runtime.
pub fn start(
    config: OtlpConfig,
    store: Arc<RwLock<TelemetryStore>>,
    counters: Arc<dyn ExportCounters>,
) -> Result<SpanExportQueue, tonic::transport::Error> {
    let channel = Endpoint::from_shared(config.endpoint.clone())?
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .connect_lazy();
    let (sender, receiver) = mpsc::channel(config.queue_spans.max(1));
    tokio::spawn(export_spans(config.clone(), channel.clone(), receiver, Arc::clone(&counters)));
    tokio::spawn(export_metrics(config, channel, store, counters));
    Ok(SpanExportQueue { sender })
}

async fn export_spans(
    config: OtlpConfig,
    channel: Channel,
    mut receiver: mpsc::Receiver<StoredSpan>,
    counters: Arc<dyn ExportCounters>,
) {
    let client = TraceServiceClient::new(channel);
    let mut batch = Vec::with_capacity(config.max_batch);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.batch_timeout;
        while batch.len() < config.max_batch {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) | Err(_) => break,
            }
        }
        let request = trace_request(&batch);
        let n = batch.len() as u64;
        batch.clear();
        let delivered = with_retries(&config, || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.export(request).await.map(|_| ()) }
        })
        .await;
        if delivered {
            counters.exported_spans(n);
        } else {
            counters.dropped("export_failed", n);
        }
    }
}

async fn export_metrics(
    config: OtlpConfig,
    channel: Channel,
    store: Arc<RwLock<TelemetryStore>>,
    counters: Arc<dyn ExportCounters>,
) {
    let client = MetricsServiceClient::new(channel);
    let started = unix_nanos(SystemTime::now());
    let mut ticker = tokio::time::interval(config.metrics_interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let request = match store.read() {
            Ok(store) => metrics_request(&store, started, unix_nanos(SystemTime::now())),
            Err(_) => continue,
        };
        if request.resource_metrics.is_empty() {
            continue;
        }
        let delivered = with_retries(&config, || {
            let mut client = client.clone();
            let request = request.clone();
            async move { client.export(request).await.map(|_| ()) }
        })
        .await;
        if !delivered {
            counters.dropped("metrics_export_failed", 1);
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
