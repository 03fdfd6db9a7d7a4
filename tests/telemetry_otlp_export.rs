//! OTLP export, against an OTLP/gRPC receiver built from the official protos on loopback: from
//! filters whose Envoy has no tracer, the spans that reach it are exactly the sampled requests,
//! with `service.name` resources and the constitutional attributes; from filters whose Envoy
//! records the hops, none (one span per hop); a filter buffer overflow while the control plane is down is counted
//! so that delivered + dropped = sent; a collector that is down leaves ingest and sampling
//! serving and counts its drops; a stalled one overflows the bounded export queue, counted so that
//! delivered + dropped = sent; shutdown exports what is queued and the last request metrics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_control_plane::telemetry::otlp::OtlpConfig;
use acgs_control_plane::telemetry::TelemetryConfig;
use acgs_e2e::{metric_sum, request, start_sidecar_with_clusters, HASH};
use acgs_wasm_host::{Headers, HttpResponse, Proxy};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";

/// What the receiver got: (service.name, span) pairs, and (metric name, sum of its integer data
/// points) per metric of each export. Until `stalled` is released, every call waits.
#[derive(Debug, Clone)]
struct Received {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    metrics: Arc<Mutex<Vec<(String, i64)>>>,
    stalled: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Received {
    fn default() -> Self {
        Self {
            spans: Arc::default(),
            metrics: Arc::default(),
            stalled: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

impl Received {
    /// Waits while the receiver is stalled. A call that came in while it was stalled then fails
    /// (a stuck collector loses what it held), so a call the exporter gave up on and counted as
    /// dropped never arrives after all.
    async fn unless_stalled(&self) -> Result<(), tonic::Status> {
        let arrived_stalled = *self.stalled.borrow();
        let _ = self.stalled.subscribe().wait_for(|stalled| !*stalled).await;
        if arrived_stalled {
            return Err(tonic::Status::unavailable("the collector was stalled"));
        }
        Ok(())
    }

    fn metric_names(&self) -> Vec<String> {
        self.metrics.lock().expect("lock").iter().map(|(name, _)| name.clone()).collect()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.unless_stalled().await?;
        let mut spans = self.spans.lock().expect("lock");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::StringValue(name)) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.unless_stalled().await?;
        let mut metrics = self.metrics.lock().expect("lock");
        for resource in request.into_inner().resource_metrics {
            for scope in resource.scope_metrics {
                metrics.extend(scope.metrics.into_iter().map(|metric| {
                    let sum = match &metric.data {
                        Some(metric::Data::Sum(sum)) => sum
                            .data_points
                            .iter()
                            .map(|point| match point.value {
                                Some(number_data_point::Value::AsInt(n)) => n,
                                _ => 0,
                            })
                            .sum(),
                        _ => 0,
                    };
                    (metric.name, sum)
                }));
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn receiver(runtime: &tokio::runtime::Runtime) -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (traces, metrics) = (received.clone(), received.clone());
    runtime.spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(traces))
            .add_service(MetricsServiceServer::new(metrics))
            .serve_with_incoming(incoming)
            .await;
    });
    (addr, received)
}

fn export_to(endpoint: SocketAddr) -> OtlpConfig {
    OtlpConfig {
        batch_timeout: Duration::from_millis(50),
        metrics_interval: Duration::from_millis(200),
        initial_backoff: Duration::from_millis(20),
        max_attempts: 2,
        timeout: Duration::from_millis(500),
        ..OtlpConfig::new(format!("http://{endpoint}"))
    }
}

fn control_plane(runtime: &tokio::runtime::Runtime, export: OtlpConfig, addr: &str) -> RunningServer {
    let config = ServerConfig {
        http_addr: addr.parse().expect("addr"),
        telemetry: TelemetryConfig { export: Some(export), ..TelemetryConfig::default() },
        ..ServerConfig::loopback(None)
    };
    runtime.block_on(start(config)).expect("control plane starts")
}

/// A sidecar whose filter says its Envoy has no tracer (`tracer: none`): its span records are
/// the hops' spans.
fn sidecar(workload: &str, addr: SocketAddr, rate: f64, workers: usize) -> Proxy {
    sidecar_with_tracer(workload, addr, rate, workers, "none")
}

fn sidecar_with_tracer(workload: &str, addr: SocketAddr, rate: f64, workers: usize, tracer: &str) -> Proxy {
    let config = json!({
        "tracer": tracer,
        "operations": ["/v1/policies/{id}"],
        "control_plane": {"cluster": CLUSTER, "authority": "cp", "poll_interval_ms": 60000, "flush_interval_ms": 100, "timeout_ms": 1000},
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": rate}}
    });
    let mut clusters = BTreeMap::new();
    clusters.insert(CLUSTER.to_owned(), addr);
    start_sidecar_with_clusters(workload, config.to_string().as_bytes(), workers, clusters).expect("sidecar starts")
}

fn ok(_: &Headers, _: &[u8]) -> HttpResponse {
    HttpResponse { status: 200, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() }
}

/// Sends `count` requests; returns how many the filter sampled (violations always are).
fn send(proxy: &mut Proxy, count: usize, path: &str, hash: Option<&str>) -> usize {
    let workers = proxy.workers_mut().len();
    let mut sampled = 0;
    for n in 0..count {
        let headers: Vec<(&str, &str)> = hash.map(|h| vec![("constitutional-hash", h)]).unwrap_or_default();
        let outcome = proxy.workers_mut()[n % workers].handle(request("GET", path, &headers), &mut ok);
        sampled += match &outcome.forwarded {
            Some(forwarded) => usize::from(forwarded.get_str("x-acgs-sampling-decision") == Some("keep")),
            None => 1,
        };
    }
    sampled
}

fn run_until(proxy: &mut Proxy, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        for worker in proxy.workers_mut() {
            worker.run_for(Duration::from_millis(20));
        }
    }
}

#[test]
fn exactly_the_sampled_requests_reach_the_collector_with_their_attributes() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    let server = control_plane(&runtime, export_to(otlp), "127.0.0.1:0");
    let mut groq = sidecar("groqcloud-policy", server.http_addr, 0.3, 3);
    let mut sampled = send(&mut groq, 400, "/v1/policies/7", Some(HASH));
    sampled += send(&mut groq, 40, "/v1/policies/7", Some("forged"));
    let mut core = sidecar("constitutional-core", server.http_addr, 0.0, 2);
    sampled += send(&mut core, 60, "/v1/constitutional/validate", Some(HASH));
    assert!(sampled > 140 && sampled < 400, "{sampled}: the 0.3 rate keeps part of the valid requests");

    let count = || received.spans.lock().expect("lock").len();
    run_until(&mut groq, || {
        for worker in core.workers_mut() {
            worker.run_for(Duration::from_millis(5));
        }
        count() >= sampled
    });
    run_until(&mut groq, || received.metric_names().iter().any(|name| name.starts_with("acgs.")));
    assert_eq!(metric_sum(server.http_addr, "acgs_telemetry_dropped_total{"), 0, "nothing dropped");
    // Shutdown exports whatever is still queued: after it, nothing more can arrive.
    runtime.block_on(server.shutdown());
    assert_eq!(count(), sampled, "exactly the sampled requests");
    let spans = received.spans.lock().expect("lock").clone();
    let by_service = |name: &str| spans.iter().filter(|(service, _)| service == name).count();
    assert_eq!(by_service("constitutional-core"), 60, "constitutional operations: all of them");
    assert_eq!(by_service("groqcloud-policy"), sampled - 60);
    let forged = spans
        .iter()
        .filter(|(_, span)| span.attributes.iter().any(|a| a.key == "constitutional.hash.status" && matches!(a.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s == "mismatch")))
        .count();
    assert_eq!(forged, 40, "every forged request is traced");
    let (_, one) = &spans[0];
    assert_eq!(one.trace_id.len(), 16);
    for key in [
        "constitutional.hash",
        "constitutional.compliant",
        "acgs.category",
        "acgs.operation",
        "http.request.method",
        "url.path",
    ] {
        assert!(one.attributes.iter().any(|a| a.key == key), "{key} on {:?}", one.attributes);
    }
}

#[test]
fn where_envoy_records_the_hop_the_filters_span_records_are_not_exported_again() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    let server = control_plane(&runtime, export_to(otlp), "127.0.0.1:0");
    let mut meshed = sidecar_with_tracer("auth-service", server.http_addr, 1.0, 1, "envoy");
    assert_eq!(send(&mut meshed, 50, "/v1/auth/token", Some(HASH)), 50, "all kept at rate 1");
    let counted = || metric_sum(server.http_addr, "acgs_requests_total{service=\"auth-service\"");
    run_until(&mut meshed, || counted() == 50);
    // Spans leave in the order their batches arrived: once the later sidecar's spans are all at
    // the receiver, any of the first sidecar's would be too.
    let mut standalone = sidecar("groqcloud-policy", server.http_addr, 1.0, 1);
    assert_eq!(send(&mut standalone, 10, "/v1/policies/7", Some(HASH)), 10);
    let count = || received.spans.lock().expect("lock").len();
    run_until(&mut standalone, || count() >= 10);
    let services: Vec<String> =
        received.spans.lock().expect("lock").iter().map(|(service, _)| service.clone()).collect();
    assert_eq!(services, vec!["groqcloud-policy".to_owned(); 10], "no second span for the hops Envoy recorded");
    runtime.block_on(server.shutdown());
}

#[test]
fn a_filter_buffer_overflow_is_counted_so_delivered_plus_dropped_equals_sent() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    let (away, addr) = refusing_port();
    let mut core = sidecar("constitutional-core", addr, 1.0, 1);
    let sent = send(&mut core, 2_600, "/v1/constitutional/validate", Some(HASH));
    assert_eq!(sent, 2_600, "constitutional operations are all sampled");
    drop(away);
    let server = control_plane(&runtime, export_to(otlp), &addr.to_string());
    let delivered = || received.spans.lock().expect("lock").len() as u64;
    let dropped = || metric_sum(server.http_addr, "acgs_telemetry_dropped_total{reason=\"filter_spans\"}");
    run_until(&mut core, || delivered() + dropped() >= 2_600);
    let dropped = dropped();
    assert_eq!(metric_sum(server.http_addr, "acgs_requests_total{"), 2_600, "the request counts themselves are exact");
    runtime.block_on(server.shutdown());
    assert_eq!(delivered() + dropped, 2_600);
    assert_eq!(dropped, 2_600 - 2_048, "the filter keeps 2,048 spans while the control plane is away");
}

#[test]
fn a_collector_that_is_down_leaves_ingest_and_sampling_serving_and_counts_its_drops() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (_down, closed) = refusing_port();
    let server = control_plane(&runtime, export_to(closed), "127.0.0.1:0");
    let mut core = sidecar("constitutional-core", server.http_addr, 1.0, 1);
    send(&mut core, 100, "/v1/constitutional/validate", Some(HASH));
    run_until(&mut core, || metric_sum(server.http_addr, "acgs_requests_total{") == 100);
    run_until(&mut core, || metric_sum(server.http_addr, "acgs_telemetry_dropped_total{") >= 100);
    let mut response = ureq::get(&format!("http://{}/api/sampling?service=constitutional-core", server.http_addr))
        .call()
        .expect("sampling");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.body_mut().read_to_string().expect("body").contains("PROBABILISTIC"));
    runtime.block_on(server.shutdown());
}

/// A loopback port bound but not listening: connections to it are refused for as long as the
/// socket lives, and no other test can take the port meanwhile.
fn refusing_port() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = socket.local_addr().expect("addr");
    (socket, addr)
}

#[test]
fn shutdown_exports_every_queued_span_and_the_request_metrics_as_they_are() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    // Nothing leaves on its own during the test: batches would wait a minute to fill, metrics
    // an hour for their first export. Only the shutdown's flush can deliver them.
    let export = OtlpConfig {
        batch_timeout: Duration::from_secs(60),
        metrics_interval: Duration::from_secs(3_600),
        ..export_to(otlp)
    };
    let server = control_plane(&runtime, export, "127.0.0.1:0");
    let mut core = sidecar("constitutional-core", server.http_addr, 1.0, 1);
    assert_eq!(send(&mut core, 37, "/v1/constitutional/validate", Some(HASH)), 37);
    run_until(&mut core, || metric_sum(server.http_addr, "acgs_requests_total{") == 37);
    assert_eq!(received.spans.lock().expect("lock").len(), 0, "still queued");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await })
        .expect("flushed");
    assert_eq!(received.spans.lock().expect("lock").len(), 37, "every queued span exported at shutdown");
    let metrics = received.metrics.lock().expect("lock").clone();
    assert_eq!(
        metrics.iter().filter(|(name, _)| name == "acgs.requests").map(|(_, sum)| *sum).collect::<Vec<_>>(),
        vec![37],
        "one last export of the request counts, exact: {metrics:?}"
    );
}

#[test]
fn with_metrics_export_off_only_the_spans_reach_the_collector() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    // As the shipped Deployment runs (ACGS_OTLP_METRICS=off): Prometheus scrapes the counts.
    let export = OtlpConfig { metrics: false, ..export_to(otlp) };
    let server = control_plane(&runtime, export, "127.0.0.1:0");
    let mut core = sidecar("constitutional-core", server.http_addr, 1.0, 1);
    assert_eq!(send(&mut core, 12, "/v1/constitutional/validate", Some(HASH)), 12);
    run_until(&mut core, || received.spans.lock().expect("lock").len() == 12);
    assert_eq!(metric_sum(server.http_addr, "acgs_requests_total{"), 12, "counted for the scrape");
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await })
        .expect("flushed");
    assert_eq!(received.spans.lock().expect("lock").len(), 12);
    assert_eq!(*received.metrics.lock().expect("lock"), Vec::new(), "no metrics export, not even at shutdown");
}

#[test]
fn a_stalled_collector_holds_the_export_queue_to_its_bound_and_delivered_plus_dropped_equals_sent() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (otlp, received) = receiver(&runtime);
    received.stalled.send_replace(true);
    let export = OtlpConfig {
        queue_spans: 20,
        max_batch: 10,
        max_attempts: 1,
        timeout: Duration::from_millis(300),
        metrics_interval: Duration::from_secs(3_600),
        ..export_to(otlp)
    };
    let server = control_plane(&runtime, export, "127.0.0.1:0");
    let mut core = sidecar("constitutional-core", server.http_addr, 1.0, 1);
    assert_eq!(send(&mut core, 400, "/v1/constitutional/validate", Some(HASH)), 400);
    let dropped =
        |reason: &str| metric_sum(server.http_addr, &format!("acgs_telemetry_dropped_total{{reason=\"{reason}\"}}"));
    run_until(&mut core, || metric_sum(server.http_addr, "acgs_requests_total{") == 400);
    run_until(&mut core, || dropped("export_failed") > 0);
    received.stalled.send_replace(false);
    let delivered = || received.spans.lock().expect("lock").len() as u64;
    let exported = || metric_sum(server.http_addr, "acgs_telemetry_exported_spans_total");
    let accounted = || exported() + dropped("export_failed") + dropped("export_queue_full");
    run_until(&mut core, || accounted() == 400);
    let (queue_full, failed) = (dropped("export_queue_full"), dropped("export_failed"));
    runtime.block_on(server.shutdown());
    assert!(queue_full > 0, "400 spans against a stalled collector overflow a queue of 20");
    assert_eq!(delivered(), 400 - queue_full - failed, "delivered + dropped = sent");
}
