//! The example apps of docs/sdk.md (`examples/sdk/*`) as the SDK tests run them: a child process
//! that prints one JSON line per round (how many root spans of each seed operation its sampler
//! kept), and the strategies file the control plane under test reads.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use serde_json::{json, Value};

/// The traces per second of the rate-limited service (auth-service) in [`strategies`].
pub const RATE_LIMIT: u64 = 2;

/// The operations every example app starts each round (200 root spans of each).
pub const OPERATIONS: [&str; 4] =
    ["constitutional.validate", "consensus.round", "db.query", "external.groq.completions"];

/// A running example app; its JSON lines arrive on the receiver. Killed when dropped.
#[derive(Debug)]
pub struct SdkApp {
    child: Child,
    lines: Receiver<Value>,
}

impl SdkApp {
    /// Starts `command` (the app, its working directory set) for `service`, asking
    /// `sampler_url` every 100 ms and starting a round every 100 ms.
    pub fn start(mut command: Command, service: &str, sampler_url: &str, install: &str) -> Self {
        let mut child = command
            .env("ACGS_SAMPLER_URL", sampler_url)
            .env("OTEL_SERVICE_NAME", service)
            .env("ACGS_POLL_MS", "100")
            .env("ACGS_ROUND_MS", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?} ({e}); install it with: {install}", command.get_program()));
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if sender.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Self { child, lines }
    }

    /// The first round whose counts satisfy `wanted` (panics with the last one after 20 s).
    pub fn round_where(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok(round) = self.lines.recv_timeout(Duration::from_millis(200)) {
                if wanted(&round["kept"]) {
                    return round;
                }
                last = round;
            }
        }
        panic!("the app never showed {what}; last round: {last}");
    }
}

impl Drop for SdkApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the strategies file in one step (the control plane never reads half a file).
pub fn write_strategies(path: &Path, value: &Value) {
    let staging = path.with_extension("tmp");
    std::fs::write(&staging, value.to_string()).expect("write");
    std::fs::rename(&staging, path).expect("rename");
}

/// How many spans of `operation` a round kept (`u64::MAX` when the round lacks it).
pub fn kept(kept: &Value, operation: &str) -> u64 {
    kept[operation].as_u64().unwrap_or(u64::MAX)
}

/// The strategies the SDK tests start with: per operation for groqcloud-policy (its external
/// calls all, half its queries, nothing else), 25 % for constitutional-core, auth-service
/// rate-limited at [`RATE_LIMIT`].
pub fn strategies() -> Value {
    json!({
        "default_strategy": {"type": "probabilistic", "param": 1.0},
        "service_strategies": [
            {"service": "groqcloud-policy", "type": "probabilistic", "param": 0.0,
             "operation_strategies": [
                 {"operation": "external.groq.completions", "type": "probabilistic", "param": 1.0},
                 {"operation": "db.query", "type": "probabilistic", "param": 0.5}]},
            {"service": "constitutional-core", "type": "probabilistic", "param": 0.25},
            {"service": "auth-service", "type": "ratelimiting", "param": RATE_LIMIT}
        ]
    })
}

/// The edit the SDK tests make: the whole of groqcloud-policy at 100 %.
pub fn strategies_edited() -> Value {
    json!({"service_strategies": [
        {"service": "groqcloud-policy", "type": "probabilistic", "param": 1.0},
        {"service": "auth-service", "type": "ratelimiting", "param": RATE_LIMIT}
    ]})
}

/// What an app for groqcloud-policy (`policy`) and one for constitutional-core (`core`) keep
/// under [`strategies`]: 200 / about 100 / 0 of 200 per operation, and 20 to 80 of 200 of each.
pub fn assert_per_operation_and_per_service(policy: &SdkApp, core: &SdkApp) {
    let round = policy.round_where("the per-operation strategies", |k| {
        kept(k, "external.groq.completions") == 200 && kept(k, "constitutional.validate") == 0
    });
    let k = &round["kept"];
    assert_eq!((kept(k, "consensus.round"), kept(k, "external.groq.completions")), (0, 200), "{round}");
    assert!((60..=140).contains(&kept(k, "db.query")), "db.query at 0.5 keeps about 100 of 200: {round}");

    let round = core.round_where("the service's 25 %", |k| kept(k, "consensus.round") < 200);
    for operation in OPERATIONS {
        assert!((20..=80).contains(&kept(&round["kept"], operation)), "{operation} at 0.25: {round}");
    }
}

/// The real control plane on loopback serving [`strategies`] from a file of its own.
#[derive(Debug)]
pub struct StrategiesServer {
    runtime: tokio::runtime::Runtime,
    pub server: RunningServer,
    dir: PathBuf,
    /// The sampler URL the apps are given.
    pub url: String,
}

impl StrategiesServer {
    /// Starts it; `name` keeps this test's strategies file apart from others'.
    pub fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("acgs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        write_strategies(&dir.join("strategies.json"), &strategies());
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config = ServerConfig::loopback(Some(dir.join("strategies.json")));
        let server = runtime.block_on(start(config)).expect("control plane starts");
        let url = format!("http://{}", server.http_addr);
        Self { runtime, server, dir, url }
    }

    /// Replaces the strategies with [`strategies_edited`].
    pub fn edit(&self) {
        write_strategies(&self.dir.join("strategies.json"), &strategies_edited());
    }

    /// Stops the control plane and removes its file.
    pub fn stop(self) {
        self.runtime.block_on(self.server.shutdown());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
