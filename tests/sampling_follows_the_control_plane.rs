//! filter step 6 of docs/contracts.md end to end: the real control plane on loopback serves a strategies
//! file, the real filter .wasm in a sidecar with several worker VMs polls it, and an edit of the
//! file changes what every worker samples; a bad file, a deleted file and a stopped control plane
//! leave the last good strategy in force and traffic untouched. Against a scripted stand-in: after
//! a good strategy (not the fallback), a slow, 5xx, garbage, short, out-of-range or absent answer
//! keeps it; later polls name its ETag and a 304 keeps it; one VM per process polls.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::{metric_sum, sampled_fractions, start_sidecar_with_clusters, wait_for_sampled_fraction};
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

    // The fallback is 1.0: the bad news below must keep 0.0, not fall back.
    wait_until(&mut proxy, 0.0);
    write_atomically(&file, &strategies(1.0));
    wait_until(&mut proxy, 1.0);
    write_atomically(&file, &strategies(0.0));
    wait_until(&mut proxy, 0.0);

    let refused = "acgs_strategy_reloads_total{source=\"file\",result=\"failure\"}";
    std::fs::write(
        &file,
        "{\"service_strategies\": [{\"service\": \"groqcloud-policy\", \"type\": \"probabilistic\", \"param\": 7}]}",
    )
    .expect("write");
    polled_twice_after(&mut proxy, &server, refused, 1);
    assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "an invalid file changes nothing");
    std::fs::remove_file(&file).expect("remove");
    polled_twice_after(&mut proxy, &server, refused, 2);
    assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "a deleted file changes nothing");

    write_atomically(&file, &strategies(1.0));
    wait_until(&mut proxy, 1.0);
    write_atomically(&file, &strategies(0.0));
    wait_until(&mut proxy, 0.0);

    runtime.block_on(server.shutdown());
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(POLL_MS));
        assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "the control plane down keeps the last strategy");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until the control plane has refused `refusals` files, then until the sidecar has polled
/// it twice more (so the workers have seen whatever it serves since).
fn polled_twice_after(proxy: &mut Proxy, server: &RunningServer, refused: &str, refusals: u64) {
    let polls = "acgs_sampling_requests_total{service=\"groqcloud-policy\"}";
    let started = Instant::now();
    while metric_sum(server.http_addr, refused) < refusals {
        assert!(started.elapsed() < DEADLINE, "the control plane never refused the file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = metric_sum(server.http_addr, polls);
    while metric_sum(server.http_addr, polls) < before + 2 {
        assert!(started.elapsed() < DEADLINE, "the sidecar stopped polling");
        for worker in proxy.workers_mut() {
            worker.run_for(Duration::from_millis(20));
        }
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-e2e-sampling-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// How the scripted control plane answers a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 200 with the strategy (rate 0, ETag `"v1"`), or 304 when the poll names that ETag.
    Good,
    /// Nothing until well after the filter's timeout.
    Slow,
    ServerError,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 declaring more bytes than it sends, then the connection closes.
    WrongLength,
    /// 200 with a well-formed strategy whose rate is out of range.
    OutOfRange,
    /// The connection is closed at once, with no answer.
    Down,
}

const GOOD_BODY: &str = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0}}"#;

/// A control plane stand-in on loopback whose answer to strategy polls the test sets, recording
/// each poll's request head (lower-cased) with the answer it got; telemetry is taken with a 200.
struct ScriptedControlPlane {
    addr: std::net::SocketAddr,
    answer: std::sync::Arc<std::sync::Mutex<Answer>>,
    polls: std::sync::Arc<std::sync::Mutex<Vec<(Answer, String)>>>,
}

impl ScriptedControlPlane {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = std::sync::Arc::new(std::sync::Mutex::new(Answer::Good));
        let polls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (current, seen) = (std::sync::Arc::clone(&answer), std::sync::Arc::clone(&polls));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (current, seen) = (std::sync::Arc::clone(&current), std::sync::Arc::clone(&seen));
                std::thread::spawn(move || Self::serve(stream, &current, &seen));
            }
        });
        Self { addr, answer, polls }
    }

    fn serve(
        mut stream: std::net::TcpStream,
        current: &std::sync::Mutex<Answer>,
        seen: &std::sync::Mutex<Vec<(Answer, String)>>,
    ) {
        use std::io::{Read, Write};
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        if head.starts_with("post /v1/telemetry ") {
            // The filter's telemetry goes to the same cluster: taken, not recorded as a poll.
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let _ = stream.read_exact(&mut vec![0; length]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            return;
        }
        let answer = *current.lock().expect("answer");
        seen.lock().expect("polls").push((answer, head.clone()));
        let reply = match answer {
            Answer::Good if head.contains("if-none-match: \"v1\"\r\n") => {
                "HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            Answer::Good => format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: \"v1\"\r\ncontent-length: {}\r\n\r\n{GOOD_BODY}",
                GOOD_BODY.len()
            ),
            Answer::Slow => {
                std::thread::sleep(Duration::from_millis(1_500));
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{GOOD_BODY}", GOOD_BODY.len())
            }
            Answer::ServerError => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_owned(),
            Answer::Garbage => "HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n<html>oops</ht".to_owned(),
            Answer::WrongLength => format!("HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{GOOD_BODY}"),
            Answer::OutOfRange => {
                let body = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":7}}"#;
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            }
            Answer::Down => return,
        };
        let _ = stream.write_all(reply.as_bytes());
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().expect("answer") = answer;
    }

    fn polls(&self) -> Vec<(Answer, String)> {
        self.polls.lock().expect("polls").clone()
    }

    fn polls_answered(&self, answer: Answer) -> usize {
        self.polls().iter().filter(|(given, _)| *given == answer).count()
    }
}

fn run_workers(proxy: &mut Proxy, each: Duration) {
    for worker in proxy.workers_mut() {
        worker.run_for(each);
    }
}

#[test]
fn after_a_good_strategy_every_kind_of_bad_answer_keeps_it_and_polls_are_conditional_and_shared() {
    const INTERVAL_MS: u64 = 100;
    let control_plane = ScriptedControlPlane::start();
    // The fallback (1.0) differs from what the control plane serves (0): keeping the last good
    // strategy and falling back are told apart.
    let config = json!({
        "control_plane": {"cluster": CLUSTER, "authority": "cp", "poll_interval_ms": INTERVAL_MS, "timeout_ms": 300},
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}}
    });
    let mut clusters = BTreeMap::new();
    clusters.insert(CLUSTER.to_owned(), control_plane.addr);
    let mut proxy = start_sidecar_with_clusters("groqcloud-policy", config.to_string().as_bytes(), WORKERS, clusters)
        .expect("sidecar starts");
    wait_until(&mut proxy, 0.0);

    // One VM per process polls (the shared-data lease), each poll names the ETag it has.
    let (before, started) = (control_plane.polls().len(), Instant::now());
    while started.elapsed() < Duration::from_millis(20 * INTERVAL_MS) {
        run_workers(&mut proxy, Duration::from_millis(10));
    }
    let intervals = (started.elapsed().as_millis() / u128::from(INTERVAL_MS)) as usize;
    let polled = control_plane.polls().len() - before;
    // One poller polls at most once per interval (ticks may stretch it); a poller per worker
    // would poll up to WORKERS times as often.
    assert!(
        (2..=intervals + 2).contains(&polled),
        "{polled} polls in {intervals} intervals from {WORKERS} workers: one poller per process"
    );
    let polls = control_plane.polls();
    assert!(polls[0].1.starts_with("get /api/sampling?service=groqcloud-policy http/1.1\r\n"), "{}", polls[0].1);
    assert!(!polls[0].1.contains("if-none-match"), "the first poll has no ETag to name");
    assert!(
        polls[1..].iter().all(|(_, head)| head.contains("if-none-match: \"v1\"\r\n")),
        "every later poll is conditional (answered 304): {polls:?}"
    );

    for bad in
        [Answer::Slow, Answer::ServerError, Answer::Garbage, Answer::WrongLength, Answer::OutOfRange, Answer::Down]
    {
        control_plane.set(bad);
        let started = Instant::now();
        while control_plane.polls_answered(bad) < 2 {
            assert!(started.elapsed() < DEADLINE, "the filter stopped polling after {bad:?}");
            assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "{bad:?} keeps the last good strategy");
            run_workers(&mut proxy, Duration::from_millis(20));
        }
        assert_eq!(sampled_fractions(&mut proxy), vec![0.0; WORKERS], "{bad:?} keeps the last good strategy");
    }
    assert!(proxy.workers_mut().iter().all(|w| !w.is_failed()), "no VM trapped");
}
