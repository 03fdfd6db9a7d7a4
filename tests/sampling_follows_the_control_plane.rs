//! DESIGN.md filter step 6 end to end: the real control plane on loopback serves a strategies
//! file, the real filter .wasm in a sidecar with several worker VMs polls it, and an edit of the
//! file changes what every worker samples; a bad file, a deleted file and a stopped control plane
//! leave the last good strategy in force and traffic untouched.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::{sampled_fractions, start_sidecar_with_clusters, wait_for_sampled_fraction};
use acgs_wasm_host::Proxy;
use serde_json::json;

const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
const WORKERS: usize = 3;
const POLL_MS: u64 = 200;
/// A functional deadline (several poll intervals), not a performance assertion.
const DEADLINE: Duration = Duration::from_secs(10);

fn strategies(rate: f64) -> String {
    json!({
        "default_strategy": {"type": "probabilistic", "param": 1.0},
        "service_strategies": [{"service": "groqcloud-policy", "type": "probabilistic", "param": rate}]
    })
    .to_string()
}

/// Replaces the file atomically (write + rename), as editors and ConfigMap updates do.
fn write_atomically(path: &Path, contents: &str) {
    let staging = path.with_extension("tmp");
    std::fs::write(&staging, contents).expect("write");
    std::fs::rename(&staging, path).expect("rename");
}

fn wait_until(proxy: &mut Proxy, expected: f64) -> Duration {
    wait_for_sampled_fraction(proxy, expected, DEADLINE)
}

fn sidecar(control_plane: &RunningServer) -> Proxy {
    let config = json!({
        "control_plane": {"cluster": CLUSTER, "authority": "acgs-control-plane.acgs-system:5778", "poll_interval_ms": POLL_MS, "timeout_ms": 500},
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}}
    });
    let mut clusters = BTreeMap::new();
    clusters.insert(CLUSTER.to_owned(), control_plane.http_addr);
    start_sidecar_with_clusters("groqcloud-policy", config.to_string().as_bytes(), WORKERS, clusters)
        .expect("sidecar starts")
}

#[test]
fn an_edited_strategy_reaches_every_worker_and_bad_news_changes_nothing() {
    let dir = tempdir();
    let file = dir.join("strategies.json");
    std::fs::write(&file, strategies(0.0)).expect("write");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(start(ServerConfig::loopback(Some(file.clone())))).expect("control plane starts");
    let mut proxy = sidecar(&server);

    wait_until(&mut proxy, 0.0);
    write_atomically(&file, &strategies(1.0));
    wait_until(&mut proxy, 1.0);

    std::fs::write(
        &file,
        "{\"service_strategies\": [{\"service\": \"groqcloud-policy\", \"type\": \"probabilistic\", \"param\": 7}]}",
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(3 * POLL_MS));
    assert_eq!(sampled_fractions(&mut proxy), vec![1.0; WORKERS], "an invalid file changes nothing");
    std::fs::remove_file(&file).expect("remove");
    std::thread::sleep(Duration::from_millis(3 * POLL_MS));
    assert_eq!(sampled_fractions(&mut proxy), vec![1.0; WORKERS], "a deleted file changes nothing");

    write_atomically(&file, &strategies(0.0));
    wait_until(&mut proxy, 0.0);

    runtime.block_on(server.shutdown());
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(POLL_MS));
        assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "the control plane down keeps the last strategy");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-e2e-sampling-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A control plane that answers every poll badly: garbage, 5xx, an out-of-range strategy, or
/// nothing before the filter's timeout. Returns its address and a counter of polls seen.
fn misbehaving_control_plane() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&polls);
    std::thread::spawn(move || {
        let answers: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n<html>oops</ht",
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 65\r\n\r\n{\"strategyType\":\"PROBABILISTIC\",\"probabilisticSampling\":{\"samplingRate\":7}}",
            b"",
        ];
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let answer = answers[n % answers.len()];
            if answer.is_empty() {
                std::thread::sleep(Duration::from_millis(800));
            } else {
                let _ = stream.write_all(answer);
            }
        }
    });
    (addr, polls)
}

#[test]
fn a_misbehaving_control_plane_leaves_the_fallback_strategy_and_traffic_alone() {
    let (addr, polls) = misbehaving_control_plane();
    let config = json!({
        "control_plane": {"cluster": CLUSTER, "authority": "cp", "poll_interval_ms": 100, "timeout_ms": 300},
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.0}}
    });
    let mut clusters = BTreeMap::new();
    clusters.insert(CLUSTER.to_owned(), addr);
    let mut proxy = start_sidecar_with_clusters("groqcloud-policy", config.to_string().as_bytes(), WORKERS, clusters)
        .expect("sidecar starts");
    let started = Instant::now();
    while polls.load(std::sync::atomic::Ordering::SeqCst) < 8 {
        assert!(started.elapsed() < DEADLINE, "the filter kept polling with backoff");
        assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "bad answers change nothing");
        for worker in proxy.workers_mut() {
            worker.run_for(Duration::from_millis(50));
        }
    }
    assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS]);
    assert!(proxy.workers_mut().iter().all(|w| !w.is_failed()), "no VM trapped");
}
