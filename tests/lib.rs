//! Shared helpers for the end-to-end tests: a sidecar running the real filter .wasm in the
//! embedded host, and requests/responses built the way Envoy hands them to the filter.

pub mod faulty_link;
pub mod kube_api;
pub mod schemas;
pub mod sdk_app;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use acgs_wasm_host::{
    Cluster, FilterModule, Headers, HostError, HttpRequest, HttpResponse, NodeInfo, PluginConfig, Proxy, ProxyConfig,
    StreamOutcome, TracingConfig,
};

/// The default constitutional hash.
pub const HASH: &str = "cdd01ef066bc6cf2";

/// The real filter, compiled once per test process.
pub fn filter_module() -> FilterModule {
    static MODULE: std::sync::OnceLock<FilterModule> = std::sync::OnceLock::new();
    compiled_once(&MODULE, acgs_filter_artifacts::FILTER_WASM)
}

/// A no-op filter built with the same SDK: an Envoy that runs no ACGS filter (a gateway, an
/// outbound listener, a workload that did not opt in).
pub fn noop_module() -> FilterModule {
    static MODULE: std::sync::OnceLock<FilterModule> = std::sync::OnceLock::new();
    compiled_once(&MODULE, acgs_filter_artifacts::NOOP_FILTER_WASM)
}

fn compiled_once(cell: &std::sync::OnceLock<FilterModule>, wasm: &[u8]) -> FilterModule {
    cell.get_or_init(|| FilterModule::from_bytes(wasm).expect("the .wasm compiles")).clone()
}

/// Starts a sidecar for `workload` running the real filter with `config` on `workers` VMs.
pub fn start_sidecar(workload: &str, config: &serde_json::Value, workers: usize) -> Result<Proxy, HostError> {
    start_sidecar_raw(workload, config.to_string().as_bytes(), workers)
}

/// Starts a sidecar whose plugin configuration is the given raw bytes.
pub fn start_sidecar_raw(workload: &str, configuration: &[u8], workers: usize) -> Result<Proxy, HostError> {
    start_sidecar_with_clusters(workload, configuration, workers, BTreeMap::<String, Cluster>::new())
}

/// Starts a sidecar that can reach the given clusters (name → loopback address).
pub fn start_sidecar_with_clusters(
    workload: &str,
    configuration: &[u8],
    workers: usize,
    clusters: BTreeMap<String, impl Into<Cluster>>,
) -> Result<Proxy, HostError> {
    start_sidecar_traced(workload, configuration, workers, clusters, None)
}

/// Starts a sidecar whose Envoy traces with `tracing` (its spans: [`Proxy::take_spans`]).
pub fn start_sidecar_traced(
    workload: &str,
    configuration: &[u8],
    workers: usize,
    clusters: BTreeMap<String, impl Into<Cluster>>,
    tracing: Option<TracingConfig>,
) -> Result<Proxy, HostError> {
    start_proxy(&filter_module(), workload, configuration, workers, clusters, tracing)
}

/// Starts an Envoy for `workload` running `module` (ours or [`noop_module`]).
pub fn start_proxy(
    module: &FilterModule,
    workload: &str,
    configuration: &[u8],
    workers: usize,
    clusters: BTreeMap<String, impl Into<Cluster>>,
    tracing: Option<TracingConfig>,
) -> Result<Proxy, HostError> {
    let mut metadata = BTreeMap::new();
    metadata.insert("WORKLOAD_NAME".to_owned(), workload.to_owned());
    metadata.insert("NAMESPACE".to_owned(), "default".to_owned());
    let plugin = PluginConfig {
        name: "acgs-system.acgs-constitutional-header".to_owned(),
        configuration: configuration.to_vec(),
        ..PluginConfig::default()
    };
    let proxy = ProxyConfig {
        workers,
        node: NodeInfo { id: format!("sidecar~10.0.0.1~{workload}"), cluster: workload.to_owned(), metadata },
        clusters: clusters.into_iter().map(|(name, cluster)| (name, cluster.into())).collect(),
        tracing,
        ..ProxyConfig::default()
    };
    Proxy::start(module, plugin, proxy)
}

/// A request as Envoy presents it: pseudo-headers first, then `extra` headers.
pub fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> HttpRequest {
    let mut headers = Headers::new();
    headers.push(":method", method);
    headers.push(":path", path);
    headers.push(":authority", "svc.default.svc.cluster.local");
    headers.push(":scheme", "http");
    for (name, value) in extra {
        headers.push(name, value);
    }
    HttpRequest {
        headers,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

/// A plain 200 from the upstream service.
pub fn ok_response() -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "text/plain");
    HttpResponse { status: 200, headers, body: b"ok".to_vec(), trailers: Headers::new() }
}

/// Sends `request` through the first worker of `proxy` to an upstream answering 200.
pub fn send(proxy: &mut Proxy, request: HttpRequest) -> StreamOutcome {
    let worker = &mut proxy.workers_mut()[0];
    let mut upstream = |_: &Headers, _: &[u8]| ok_response();
    worker.handle(request, &mut upstream)
}

/// The parts of a W3C traceparent: (trace id hex, parent id hex, flags).
pub fn traceparent_parts(value: &[u8]) -> (String, String, String) {
    let text = std::str::from_utf8(value).expect("traceparent is ASCII");
    let parts: Vec<&str> = text.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {text:?} has four fields");
    assert_eq!(parts[0], "00", "version of {text:?}");
    (parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned())
}

/// Envoy's `random_sampling` coin for a request id at `rate` (whole hundredths of a percent):
/// its first 8 hex digits modulo 10,000 below rate × 10,000 (`conn_manager_utility.cc`
/// `mutateTracingRequestHeader`), which the filter's entry decision follows.
pub fn envoy_coin(request_id: &str, rate: f64) -> bool {
    let draw = u64::from_str_radix(&request_id[..8], 16).expect("hex request id");
    ((draw % 10_000) as f64) < rate * 10_000.0
}

/// The sum of the samples on `/metrics` of the control plane at `addr` whose line starts with
/// `prefix` (a metric name with the start of its labels).
pub fn metric_sum(addr: SocketAddr, prefix: &str) -> u64 {
    metrics_text(addr)
        .lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The control plane's `/metrics` page.
pub fn metrics_text(addr: SocketAddr) -> String {
    let mut response = ureq::get(&format!("http://{addr}/metrics")).call().expect("GET /metrics");
    response.body_mut().read_to_string().expect("metrics text")
}

/// Sends `GET path` requests, `count` of each (path, hash header) row of `plan`, spreading them
/// over the proxy's workers in turn; the upstream answers 200.
pub fn send_plan(proxy: &mut Proxy, plan: &[(&str, Option<&str>, u64)]) {
    let workers = proxy.workers_mut().len();
    let mut n = 0usize;
    for (path, hash, count) in plan {
        for _ in 0..*count {
            let headers: Vec<(&str, &str)> = hash.map(|h| vec![("constitutional-hash", h)]).unwrap_or_default();
            let worker = &mut proxy.workers_mut()[n % workers];
            let mut upstream = |_: &Headers, _: &[u8]| ok_response();
            worker.handle(request("GET", path, &headers), &mut upstream);
            n += 1;
        }
    }
}

/// The fraction of 40 fresh requests (with the hash, no traceparent) each worker samples.
pub fn sampled_fractions(proxy: &mut Proxy) -> Vec<f64> {
    let mut fractions = Vec::new();
    for worker in proxy.workers_mut() {
        worker.run_for(std::time::Duration::from_millis(5));
        let mut sampled = 0;
        for _ in 0..40 {
            let mut upstream = |_: &Headers, _: &[u8]| HttpResponse {
                status: 200,
                headers: Headers::new(),
                body: Vec::new(),
                trailers: Headers::new(),
            };
            let outcome =
                worker.handle(request("GET", "/v1/policies/7", &[("constitutional-hash", HASH)]), &mut upstream);
            assert_eq!(outcome.response.status, 200, "traffic is never affected");
            let forwarded = outcome.forwarded.expect("forwarded");
            sampled += usize::from(forwarded.get_str("x-acgs-sampling-decision") == Some("keep"));
        }
        fractions.push(sampled as f64 / 40.0);
    }
    fractions
}

/// Waits until every worker samples exactly `expected` of its requests; returns how long it took.
/// `deadline` is a functional bound (several poll intervals), not a performance assertion.
pub fn wait_for_sampled_fraction(
    proxy: &mut Proxy,
    expected: f64,
    deadline: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let fractions = sampled_fractions(proxy);
        if fractions.iter().all(|f| *f == expected) {
            return started.elapsed();
        }
        assert!(started.elapsed() < deadline, "workers still sample {fractions:?}, expected {expected}");
    }
}

/// Polls `condition` until it holds, panicking with `what` (and the last state `condition`
/// describes) after `timeout`. For state another process or task owns, which sends no event to
/// wait on (an SDK's sampler, a scraped counter): the pause between checks only spaces the polls,
/// and `timeout` is a functional bound, not a performance assertion.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut condition: impl FnMut() -> Result<(), String>) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = match condition() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(std::time::Instant::now() < deadline, "{what} within {timeout:?}; last: {last}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
