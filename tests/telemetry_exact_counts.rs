//! Nothing lost: requests through several worker VMs of the real filter reach the real control
//! plane's counters exactly, split by service, operation, status class and hash status; with the
//! control plane down for several flush intervals, every batch still arrives exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_control_plane::telemetry::TelemetryConfig;
use acgs_e2e::{metrics_text, send_plan, start_sidecar_with_clusters, HASH};
use acgs_wasm_host::Proxy;
use serde_json::json;

const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
const TOKEN: &str = "s3cret-token";
const WORKERS: usize = 3;

fn control_plane(runtime: &tokio::runtime::Runtime, addr: &str) -> RunningServer {
    let config = ServerConfig {
        http_addr: addr.parse().expect("addr"),
        telemetry: TelemetryConfig { token: Some(TOKEN.to_owned()), ..TelemetryConfig::default() },
        ..ServerConfig::loopback(None)
    };
    runtime.block_on(start(config)).expect("control plane starts")
}

fn sidecar(addr: std::net::SocketAddr) -> Proxy {
    let config = json!({
        "operations": ["/v1/policies/{id}"],
        "control_plane": {"cluster": CLUSTER, "authority": "cp", "token": TOKEN, "poll_interval_ms": 60000, "flush_interval_ms": 100, "timeout_ms": 1000}
    });
    let mut clusters = BTreeMap::new();
    clusters.insert(CLUSTER.to_owned(), addr);
    start_sidecar_with_clusters("groqcloud-policy", config.to_string().as_bytes(), WORKERS, clusters)
        .expect("sidecar starts")
}

/// (path, hash header) → count
const PLAN: [(&str, Option<&str>, u64); 4] = [
    ("/v1/policies/7", Some(HASH), 300),
    ("/v1/policies/8", None, 100),
    ("/v1/policies/9", Some("forged"), 50),
    ("/healthz", None, 150),
];

fn requests_total(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|line| line.starts_with("acgs_requests_total{"))
        .filter_map(|line| line.rsplit_once(' ').map(|(labels, value)| (labels.to_owned(), value.parse().unwrap_or(0))))
        .collect()
}

fn expected() -> BTreeMap<String, u64> {
    let series = |operation: &str, code: &str, status: &str| {
        format!("acgs_requests_total{{service=\"groqcloud-policy\",operation=\"{operation}\",code_class=\"{code}\",hash_status=\"{status}\"}}")
    };
    BTreeMap::from([
        (series("GET /v1/policies/{id}", "2xx", "valid"), 300),
        (series("GET /v1/policies/{id}", "4xx", "missing"), 100),
        (series("GET /v1/policies/{id}", "4xx", "mismatch"), 50),
        (series("GET /healthz", "2xx", "exempt"), 150),
    ])
}

/// Gives the workers time to flush until the control plane counts `total` requests.
fn drain(proxy: &mut Proxy, server: &RunningServer, total: u64) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for worker in proxy.workers_mut() {
            worker.run_for(Duration::from_millis(30));
        }
        let counts = requests_total(&metrics_text(server.http_addr));
        if counts.values().sum::<u64>() >= total {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {total} requests counted: {counts:?}",
            counts.values().sum::<u64>()
        );
    }
}

#[test]
fn every_request_is_counted_exactly_once_by_service_operation_status_and_hash_status() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = control_plane(&runtime, "127.0.0.1:0");
    let mut proxy = sidecar(server.http_addr);
    send_plan(&mut proxy, &PLAN);
    let counts = drain(&mut proxy, &server, 600);
    assert_eq!(counts, expected());
    for worker in proxy.workers_mut() {
        worker.run_for(Duration::from_millis(300));
    }
    assert_eq!(requests_total(&metrics_text(server.http_addr)), expected(), "no batch is counted twice");
    let text = metrics_text(server.http_addr);
    assert!(text.contains("acgs_constitutional_hash_mismatch_total{service=\"groqcloud-policy\""), "{text}");
    runtime.block_on(server.shutdown());
}

#[test]
fn batches_held_while_the_control_plane_is_down_arrive_exactly_once_after() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let first = control_plane(&runtime, "127.0.0.1:0");
    let addr = first.http_addr;
    runtime.block_on(first.shutdown());
    let mut proxy = sidecar(addr);
    send_plan(&mut proxy, &PLAN);
    for worker in proxy.workers_mut() {
        worker.run_for(Duration::from_millis(400));
    }
    let server = control_plane(&runtime, &addr.to_string());
    let counts = drain(&mut proxy, &server, 600);
    assert_eq!(counts, expected(), "held batches delivered once, nothing lost");
    runtime.block_on(server.shutdown());
}

#[test]
fn a_sampled_span_names_its_caller_by_mtls_identity_else_by_address_without_the_port() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = control_plane(&runtime, "127.0.0.1:0");
    let mut proxy = sidecar(server.http_addr);
    let principal = "spiffe://cluster.local/ns/default/sa/gateway";
    // An identity longer than the 1 KiB the filter's scratch lends the host comes back in memory
    // of its own, and is cut to the span's 1,024-byte bound like any other value.
    let long_principal = format!("spiffe://cluster.local/ns/default/sa/{}", "s".repeat(3_000));
    let callers = [
        (Some(principal), std::net::SocketAddr::from(([10, 0, 0, 9], 41_000))),
        (None, std::net::SocketAddr::from(([10, 0, 3, 7], 43_000))),
        (None, std::net::SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5_000))),
        (Some(long_principal.as_str()), std::net::SocketAddr::from(([10, 0, 0, 10], 41_001))),
    ];
    for (peer_principal, source_address) in callers {
        let mut request = acgs_e2e::request("POST", "/v1/constitutional/validate", &[("constitutional-hash", HASH)]);
        (request.peer_principal, request.source_address) = (peer_principal.map(str::to_owned), source_address);
        assert_eq!(acgs_e2e::send(&mut proxy, request).response.status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let peers = loop {
        for worker in proxy.workers_mut() {
            worker.run_for(Duration::from_millis(30));
        }
        let store = server.telemetry.store();
        let mut peers: Vec<String> =
            store.read().expect("store").spans().map(|span| span.record.peer.clone()).collect();
        if peers.len() >= callers.len() {
            peers.sort();
            break peers;
        }
        assert!(Instant::now() < deadline, "only {peers:?} arrived");
    };
    assert_eq!(peers, ["10.0.3.7", "::1", principal, &long_principal[..1_024]]);
    runtime.block_on(server.shutdown());
}
