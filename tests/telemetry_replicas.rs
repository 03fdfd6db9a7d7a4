//! Two control-plane replicas behind one Envoy cluster add up to exactly what was sent. The
//! real filter in the embedded host reaches the replicas as Envoy reaches them: its telemetry
//! `:authority` is `<vm_id>.<authority>`, Envoy hashes a Wasm callout on `:authority`, and the
//! control plane's cluster balances by consistent hash (the DestinationRule of
//! deploy/base/control-plane). So a batch whose answer was lost is retried to the replica that
//! already has it, which counts it once; a batch cut off by a replica dying mid-batch is
//! retried to the replica that takes over the VM, which counts it once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::faulty_link::{Fault, FaultyLink};
use acgs_e2e::{metric_sum, send_plan, start_sidecar_with_clusters, HASH};
use acgs_wasm_host::{Cluster, LoadBalancing, Proxy};
use serde_json::json;

const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
const WORKLOADS: [&str; 4] = ["constitutional-core", "groqcloud-policy", "auth-service", "audit-log"];
const WORKERS: usize = 4;
const COUNTED: &str = "acgs_requests_total{";

/// Per sidecar: (path, hash header) → count; 60 requests.
const PLAN: [(&str, Option<&str>, u64); 3] =
    [("/v1/items/7", Some(HASH), 40), ("/v1/items/8", None, 10), ("/v1/items/9", Some("forged"), 10)];
const PER_SIDECAR: u64 = 60;

struct Replica {
    server: RunningServer,
    link: FaultyLink,
}

fn replica(runtime: &tokio::runtime::Runtime) -> Replica {
    let config = ServerConfig { http_addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..ServerConfig::loopback(None) };
    let server = runtime.block_on(start(config)).expect("control plane starts");
    let link = FaultyLink::start(server.http_addr).expect("link starts");
    Replica { server, link }
}

/// One sidecar per workload, each VM posting telemetry through `cluster`.
fn sidecars(cluster: &Cluster) -> Vec<Proxy> {
    let config = json!({
        "operations": ["/v1/items/{id}"],
        "control_plane": {"cluster": CLUSTER, "authority": "acgs-control-plane.acgs-system.svc.cluster.local:5778",
                          "poll_interval_ms": 600000, "flush_interval_ms": 50, "timeout_ms": 2000}
    });
    WORKLOADS
        .iter()
        .map(|workload| {
            let clusters = BTreeMap::from([(CLUSTER.to_owned(), cluster.clone())]);
            start_sidecar_with_clusters(workload, config.to_string().as_bytes(), WORKERS, clusters)
                .expect("sidecar starts")
        })
        .collect()
}

fn send_to_all(sidecars: &mut [Proxy]) {
    for proxy in sidecars.iter_mut() {
        send_plan(proxy, &PLAN);
    }
}

/// Runs every VM until `done` holds (and panics naming `what` after 20 s).
fn run_until(sidecars: &mut [Proxy], what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        for proxy in sidecars.iter_mut() {
            for worker in proxy.workers_mut() {
                worker.run_for(Duration::from_millis(10));
            }
        }
    }
}

/// Runs every VM for `period` more (long enough for several flushes).
fn run_for(sidecars: &mut [Proxy], period: Duration) {
    let until = Instant::now() + period;
    run_until(sidecars, "the period passed", || Instant::now() >= until);
}

/// Two replicas behind a consistent-hash cluster, the sidecars, and a first round of requests
/// counted by both together: (A, B, the cluster, the sidecars, requests in the round).
fn first_round_counted(runtime: &tokio::runtime::Runtime) -> (Replica, Replica, Cluster, Vec<Proxy>, u64) {
    let (a, b) = (replica(runtime), replica(runtime));
    let cluster = Cluster::new(vec![a.link.addr, b.link.addr], LoadBalancing::ConsistentHash);
    let mut sidecars = sidecars(&cluster);
    send_to_all(&mut sidecars);
    let first = PER_SIDECAR * WORKLOADS.len() as u64;
    let total = || metric_sum(a.server.http_addr, COUNTED) + metric_sum(b.server.http_addr, COUNTED);
    run_until(&mut sidecars, "the first round is counted", || total() >= first);
    (a, b, cluster, sidecars, first)
}

/// A is gone and Kubernetes removes its endpoint: B takes over A's VMs; A's last scrape plus B's
/// count must be exactly `sent`.
fn hand_over(
    runtime: &tokio::runtime::Runtime,
    sidecars: &mut [Proxy],
    cluster: &Cluster,
    a: Replica,
    b: Replica,
    last_scrape_of_a: u64,
    sent: u64,
) {
    runtime.block_on(a.server.shutdown());
    cluster.set_endpoints(vec![b.link.addr]);
    run_until(sidecars, "B took over A's VMs", || last_scrape_of_a + metric_sum(b.server.http_addr, COUNTED) >= sent);
    run_for(sidecars, Duration::from_millis(500));
    let on_b = metric_sum(b.server.http_addr, COUNTED);
    assert_eq!(
        last_scrape_of_a + on_b,
        sent,
        "A's last scrape {last_scrape_of_a} + B {on_b}: nothing lost, nothing twice"
    );
    runtime.block_on(b.server.shutdown());
}

#[test]
fn batches_whose_answer_was_lost_are_retried_to_the_same_replica_and_counted_once() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (replica(&runtime), replica(&runtime));
    let cluster = Cluster::new(vec![a.link.addr, b.link.addr], LoadBalancing::ConsistentHash);
    let mut sidecars = sidecars(&cluster);
    a.link.arm(Fault::LoseAnswer, 3);
    b.link.arm(Fault::LoseAnswer, 3);
    send_to_all(&mut sidecars);
    let sent = PER_SIDECAR * WORKLOADS.len() as u64;
    let total = || metric_sum(a.server.http_addr, COUNTED) + metric_sum(b.server.http_addr, COUNTED);
    run_until(&mut sidecars, "both replicas together counted every request", || total() >= sent);
    run_for(&mut sidecars, Duration::from_millis(500));

    assert_eq!(a.link.faults_done() + b.link.faults_done(), 6, "six answers were lost on the way back");
    let (on_a, on_b) = (metric_sum(a.server.http_addr, COUNTED), metric_sum(b.server.http_addr, COUNTED));
    assert_eq!(on_a + on_b, sent, "A counted {on_a}, B counted {on_b}: each request once in the sum");
    assert!(on_a > 0 && on_b > 0, "the VMs spread over both replicas: A {on_a}, B {on_b}");
    let duplicates = metric_sum(a.server.http_addr, "acgs_telemetry_batches_total{result=\"duplicate\"")
        + metric_sum(b.server.http_addr, "acgs_telemetry_batches_total{result=\"duplicate\"");
    // At least the six (a retry after a slow answer on a loaded machine adds one more).
    assert!(duplicates >= 6, "each retried batch reached the replica that already had it: {duplicates}");
    runtime.block_on(async {
        a.server.shutdown().await;
        b.server.shutdown().await;
    });
}

#[test]
fn a_batch_cut_off_by_a_dying_replica_is_counted_once_by_the_replica_that_takes_over() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b, cluster, mut sidecars, first) = first_round_counted(&runtime);
    assert!(metric_sum(a.server.http_addr, COUNTED) > 0, "replica A owns some VMs");

    // A starts dying: every post to it is cut mid-body from now on.
    a.link.arm(Fault::CutMidBody, u64::MAX);
    send_to_all(&mut sidecars);
    run_until(&mut sidecars, "a batch to A was cut mid-body", || a.link.faults_done() >= 1);
    // Prometheus' last scrape of A, then A is gone and Kubernetes removes its endpoint.
    let last_scrape_of_a = metric_sum(a.server.http_addr, COUNTED);
    hand_over(&runtime, &mut sidecars, &cluster, a, b, last_scrape_of_a, 2 * first);
}

#[test]
fn a_draining_replica_hands_its_vms_over_and_its_last_scrape_has_everything_it_counted() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b, cluster, mut sidecars, first) = first_round_counted(&runtime);

    // SIGTERM to A, as `serve` handles it: refuse telemetry, apply what was admitted, wait for a scrape.
    a.server.drain.begin();
    let last_scrape = runtime.spawn({
        let (drain, telemetry) = (a.server.drain.clone(), a.server.telemetry.clone());
        async move {
            telemetry.apply_admitted().await;
            drain.wait_for_next_scrape().await;
        }
    });
    send_to_all(&mut sidecars);
    let refused = "acgs_telemetry_batches_total{result=\"draining\"";
    run_until(&mut sidecars, "A refused a batch while draining", || metric_sum(a.server.http_addr, refused) >= 1);
    let readyz = ureq::get(&format!("http://{}/readyz", a.server.http_addr))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map(|r| r.status().as_u16());
    assert_eq!(readyz.ok(), Some(503), "A reports not ready while draining");

    // Prometheus scrapes A once more (metric_sum reads /metrics): that ends A's wait.
    let last_scrape_of_a = metric_sum(a.server.http_addr, COUNTED);
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), last_scrape).await })
        .expect("the scrape ended the wait")
        .expect("task");
    hand_over(&runtime, &mut sidecars, &cluster, a, b, last_scrape_of_a, 2 * first);
}
