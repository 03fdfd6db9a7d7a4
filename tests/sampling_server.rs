//! The control plane's sampling service on loopback, called by real HTTP and gRPC clients: the
//! Jaeger endpoints and their errors, ETag / If-None-Match, gRPC with the same content, health and
//! readiness, and the strategies file's hot reload with every kind of bad file (the last good set
//! keeps being served and `/metrics` counts each result).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use acgs_proto::jaeger::api_v2::{SamplingStrategyParameters, SamplingStrategyType};
use serde_json::json;

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    dir: PathBuf,
    file: PathBuf,
}

impl Harness {
    fn new(initial: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("acgs-sampling-server-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("strategies.json");
        std::fs::write(&file, initial).expect("write");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config = ServerConfig {
            grpc_addr: Some("127.0.0.1:0".parse().expect("addr")),
            ..ServerConfig::loopback(Some(file.clone()))
        };
        let server = runtime.block_on(start(config)).expect("control plane starts");
        Self { runtime, server: Some(server), dir, file }
    }

    fn http(&self) -> SocketAddr {
        self.server.as_ref().expect("running").http_addr
    }

    fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut request = ureq::get(&format!("http://{}{}", self.http(), path_and_query))
            .config()
            .http_status_as_error(false)
            .build();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.call().expect("HTTP call");
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default(), etag)
    }

    fn strategy(&self, service: &str) -> String {
        let (status, body, _) = self.get(&format!("/api/sampling?service={service}"), &[]);
        assert_eq!(status, 200, "{body}");
        body
    }

    fn metric(&self, line_prefix: &str) -> u64 {
        acgs_e2e::metric_sum(self.http(), line_prefix)
    }

    fn replace_file(&self, contents: &[u8]) {
        let staging = self.dir.join("staging");
        std::fs::write(&staging, contents).expect("write");
        std::fs::rename(&staging, &self.file).expect("rename");
    }

    /// Waits until the served body for `service` satisfies `done` (a functional deadline).
    fn wait_for(&self, service: &str, done: impl Fn(&str) -> bool) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body, _) = self.get(&format!("/api/sampling?service={service}"), &[]);
            if status == 200 && done(&body) {
                return started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never served, last answer {status}: {body}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the counter reaches `value`.
    fn wait_for_metric(&self, prefix: &str, value: u64) {
        let started = Instant::now();
        while self.metric(prefix) < value {
            assert!(started.elapsed() < Duration::from_secs(10), "{prefix} stays at {}", self.metric(prefix));
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Harness {
    /// Asserts that each counter is at its value and stays there for four of the watcher's poll
    /// periods: the absence of a reload loop (which reloaded ~48 times a second) cannot be waited
    /// for, only watched for a while; any change fails at once.
    fn stays_at(&self, counters: &[(&str, u64)], why: &str) {
        let window = acgs_control_plane::sampling::watch::POLL * 4;
        let started = Instant::now();
        while started.elapsed() < window {
            let now: Vec<(&str, u64)> = counters.iter().map(|(name, _)| (*name, self.metric(name))).collect();
            assert_eq!(now, counters, "{why} (after {:?})", started.elapsed());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn file_with(rate: f64) -> String {
    json!({
        "default_strategy": {"type": "probabilistic", "param": 0.5},
        "service_strategies": [
            {"service": "health-check", "type": "probabilistic", "param": rate},
            {"service": "auth-service", "type": "ratelimiting", "param": 20}
        ]
    })
    .to_string()
}

const HEALTH_01: &str = r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.01}}"#;

#[test]
fn both_jaeger_paths_serve_the_same_json_and_unknown_services_get_the_default() {
    let harness = Harness::new(&file_with(0.01));
    assert_eq!(harness.strategy("health-check"), HEALTH_01);
    let (status, legacy, _) = harness.get("/sampling?service=health-check", &[]);
    assert_eq!((status, legacy.as_str()), (200, HEALTH_01));
    assert_eq!(
        harness.strategy("auth-service"),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":20}}"#
    );
    assert_eq!(
        harness.strategy("someone%20else"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
    assert_eq!(harness.metric("acgs_sampling_requests_total{service=\"health-check\"}"), 2);
    assert_eq!(
        harness.metric("acgs_sampling_requests_total{service=\"_default\"}"),
        1,
        "unknown services share one label"
    );
}

#[test]
fn bad_queries_get_400_with_a_clear_message() {
    let harness = Harness::new(&file_with(0.01));
    let long = format!("/api/sampling?service={}", "a".repeat(600));
    for (query, message) in [
        ("/api/sampling", "'service' parameter must be provided once"),
        ("/api/sampling?service=", "'service' parameter must not be empty"),
        ("/api/sampling?service=a&service=b", "'service' parameter must be provided once"),
        ("/sampling?servic=a", "'service' parameter must be provided once"),
        (long.as_str(), "'service' parameter is 600 bytes, longer than 512"),
    ] {
        let (status, body, _) = harness.get(query, &[]);
        assert_eq!((status, body.trim()), (400, message), "{query}");
    }
    for hostile in [
        "/api/sampling?service=%ff%fe",
        "/api/sampling?service=%",
        "/api/sampling?service=a%00b&x=%zz",
        "/api/sampling?=&&&service=x=y",
    ] {
        let (status, body, _) = harness.get(hostile, &[]);
        assert_eq!(status, 200, "{hostile}: served the default: {body}");
    }
}

#[test]
fn etag_and_if_none_match_answer_304_until_the_strategy_changes() {
    let harness = Harness::new(&file_with(0.01));
    let (_, _, etag) = harness.get("/api/sampling?service=health-check", &[]);
    let etag = etag.expect("an ETag");
    let (status, body, again) = harness.get("/api/sampling?service=health-check", &[("if-none-match", &etag)]);
    assert_eq!((status, body.as_str(), again.as_deref()), (304, "", Some(etag.as_str())));
    let (status, _, _) =
        harness.get("/api/sampling?service=health-check", &[("if-none-match", "\"other\", W/".to_owned().as_str())]);
    assert_eq!(status, 200);
    harness.replace_file(file_with(0.02).as_bytes());
    harness.wait_for("health-check", |body| body.contains("0.02"));
    let (status, _, fresh) = harness.get("/api/sampling?service=health-check", &[("if-none-match", &etag)]);
    assert_eq!(status, 200, "a changed strategy is sent again");
    assert_ne!(fresh, Some(etag));
}

#[test]
fn grpc_serves_the_same_strategies() {
    let harness = Harness::new(&file_with(0.01));
    let grpc = harness.server.as_ref().and_then(|s| s.grpc_addr).expect("gRPC listening");
    let (health, auth, empty, long) = harness.runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let client = SamplingManagerClient::new(channel);
        let ask = |service: &str| {
            let request = SamplingStrategyParameters { service_name: service.to_owned() };
            let mut client = client.clone();
            async move { client.get_sampling_strategy(request).await }
        };
        let health = ask("health-check").await.expect("served").into_inner();
        let auth = ask("auth-service").await.expect("served").into_inner();
        let empty = ask("").await.expect_err("refused");
        let long = ask(&"a".repeat(3 * 1024 * 1024)).await.expect_err("refused as over HTTP");
        (health, auth, empty, long)
    });
    assert_eq!(health.strategy_type, SamplingStrategyType::Probabilistic as i32);
    assert_eq!(health.probabilistic_sampling.map(|p| p.sampling_rate), Some(0.01));
    assert_eq!(auth.strategy_type, SamplingStrategyType::RateLimiting as i32);
    assert_eq!(auth.rate_limiting_sampling.map(|r| r.max_traces_per_second), Some(20));
    assert_eq!((empty.code(), empty.message()), (tonic::Code::InvalidArgument, "serviceName must not be empty"));
    assert_eq!(
        (long.code(), long.message()),
        (tonic::Code::InvalidArgument, "serviceName is 3145728 bytes, longer than 512"),
        "the same cap as HTTP's"
    );
    assert_eq!(
        harness.metric("acgs_sampling_requests_total{service=\"_default\"}"),
        0,
        "a refused name is not counted"
    );
}

#[test]
fn an_edit_is_served_promptly_and_bad_files_keep_the_last_good_set() {
    let harness = Harness::new(&file_with(0.01));
    let ok = "acgs_strategy_reloads_total{source=\"file\",result=\"success\"}";
    let failed = "acgs_strategy_reloads_total{source=\"file\",result=\"failure\"}";
    assert_eq!((harness.metric(ok), harness.metric(failed)), (1, 0));

    let took = harness.wait_for("health-check", {
        harness.replace_file(file_with(0.25).as_bytes());
        |body: &str| body.contains("0.25")
    });
    eprintln!("an atomic replace was served after {took:?}");
    std::fs::write(&harness.file, file_with(0.75)).expect("in-place write");
    harness.wait_for("health-check", |body| body.contains("0.75"));
    let good = harness.strategy("health-check");

    let ten_mb = vec![b' '; 10 * 1024 * 1024];
    let bad_files: [&[u8]; 9] = [
        b"{ not json",
        br#"{"default_strategy": {"type": "probabilistic", "param": 1.5}}"#,
        br#"{"default_strategy": {"type": "probabilistic", "param": 0.1, "color": "red"}}"#,
        br#"{"service_strategies": [{"service": "x", "type": "ratelimiting", "param": -5}]}"#,
        br#"{"service_strategies": [{"service": "x", "type": "ratelimiting", "param": "fast"}]}"#,
        br#"{"service_strategies": [{"service": "x", "type": "probabilistic", "param": 1}, {"service": "x", "type": "probabilistic", "param": 1}]}"#,
        br#"{"service_strategies": [{"service": "", "type": "probabilistic", "param": 1}]}"#,
        br#"{"default_strategy": {"type": 7, "param": 1}}"#,
        &ten_mb,
    ];
    for (n, bad) in bad_files.iter().enumerate() {
        let before = harness.metric(failed);
        harness.replace_file(bad);
        harness.wait_for_metric(failed, before + 1);
        assert_eq!(harness.strategy("health-check"), good, "bad file {n} changes nothing");
    }
    let before = harness.metric(failed);
    std::fs::remove_file(&harness.file).expect("remove");
    harness.wait_for_metric(failed, before + 1);
    assert_eq!(harness.strategy("health-check"), good, "a deleted file changes nothing");
    let (ready, _, _) = harness.get("/readyz", &[]);
    assert_eq!(ready, 200, "still ready: a good set is being served");

    harness.replace_file(file_with(0.5).as_bytes());
    harness.wait_for("health-check", |body| body.contains("0.5"));
}

#[test]
fn an_invalid_or_missing_file_at_start_up_refuses_to_start_naming_the_field() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = std::env::temp_dir().join(format!("acgs-sampling-start-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("strategies.json");
    std::fs::write(&bad, r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 2}]}"#)
        .expect("write");
    let missing = dir.join("absent.json");
    for (path, code, message) in [
        (
            &bad,
            64,
            format!(
                "invalid strategies file: {}: service_strategies[0].param: probability 2 is outside [0, 1]",
                bad.display()
            ),
        ),
        (
            &missing,
            66,
            format!(
                "cannot read the strategies file: {}: (file): No such file or directory (os error 2)",
                missing.display()
            ),
        ),
    ] {
        let error = runtime
            .block_on(start(ServerConfig::loopback(Some(path.clone()))))
            .expect_err("a server that cannot serve its strategies does not start");
        assert_eq!(error.to_string(), message);
        assert_eq!(acgs_control_plane::exit::code_of(&error), std::process::ExitCode::from(code));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reading_the_file_is_not_a_change_only_new_content_reloads() {
    let harness = Harness::new(&file_with(0.01));
    let ok = "acgs_strategy_reloads_total{source=\"file\",result=\"success\"}";
    let failed = "acgs_strategy_reloads_total{source=\"file\",result=\"failure\"}";
    assert_eq!((harness.metric(ok), harness.metric(failed)), (1, 0));
    let read_100_times = || {
        for _ in 0..100 {
            std::fs::read(&harness.file).expect("anyone may read the file");
        }
    };
    read_100_times();
    // The same bytes written again (a ConfigMap refresh, `touch`) are not new content either.
    harness.replace_file(file_with(0.01).as_bytes());
    // The watcher handles events in order: once this edit is served, every earlier read and the
    // identical rewrite have been seen.
    harness.replace_file(file_with(0.25).as_bytes());
    harness.wait_for("health-check", |body| body.contains("0.25"));
    harness.stays_at(&[(ok, 2), (failed, 0)], "one load at start, one for the edit, none for reads");

    harness.replace_file(b"{ broken");
    harness.wait_for_metric(failed, 1);
    read_100_times();
    harness.replace_file(file_with(0.5).as_bytes());
    harness.wait_for("health-check", |body| body.contains("0.5"));
    harness.stays_at(&[(ok, 3), (failed, 1)], "a bad file is refused (and logged) once, however often it is read");
}
