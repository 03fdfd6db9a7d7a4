//! Two control-plane replicas through a real Prometheus and a real Alertmanager, as a cluster
//! runs them (docs/scale-out.md): the real filter in sidecars reports to both replicas (each VM
//! to one, by consistent hash), Prometheus scrapes both and evaluates the alert rules of
//! deploy/base/monitoring/prometheusrule.yaml (checked by `promtool` first), and sends to
//! Alertmanager. Faults as in `demo` hit one service each; the test asserts from Prometheus' and
//! Alertmanager's own APIs that the four alerts fire for exactly the faulty services and resolve
//! afterwards, that `sum(acgs_requests_total)` equals the requests sent, and that batches whose
//! answer was lost are retried to the same replica and counted once.
//!
//! Time is scaled so the test takes about a minute: every `[5m]` range of the shipped rules
//! becomes `[10s]` and every `for: 1m` becomes `for: 2s` (scrape and evaluation every second);
//! the expressions are otherwise the shipped ones.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acgs_control_plane::alerts::rules::AlertConfig;
use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::faulty_link::{Fault, FaultyLink};
use acgs_e2e::schemas::{parse_documents, workspace};
use acgs_e2e::{request, start_sidecar_with_clusters, HASH};
use acgs_wasm_host::{Cluster, Headers, HttpResponse, LoadBalancing, Proxy};
use serde_json::{json, Value};

const INSTALL: &str = "apt-get install prometheus prometheus-alertmanager (scripts/test installs them)";
const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
const SERVICES: [&str; 4] = ["constitutional-core", "groqcloud-policy", "auth-service", "audit-log"];
/// The services the faults hit, one alert each.
const SLOW: usize = 0;
const MISSING_HASHES: usize = 1;
const FORGED_HASHES: usize = 2;
const NORMAL_RPS: f64 = 160.0;
const FAULT_RPS: f64 = 60.0;
/// Filter VMs per sidecar: 16 in all, so both replicas get some (all on one: 2 in 65,536).
const WORKERS: usize = 4;
/// Telemetry posts whose answer the links lose during the normal phase, per replica.
const LOST_ANSWERS: u64 = 4;

/// A child process killed when dropped; its output goes to `log`.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(binary: &str, args: &[String], log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(binary)
            .args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {binary} ({e}); install it with: {INSTALL}"));
        Self { child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(binary: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(found, "{binary} is not installed; install it with: {INSTALL}");
}

/// A loopback port free right now (Prometheus and Alertmanager take an address, not a socket).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn get_json(url: &str) -> Option<Value> {
    let mut response = ureq::get(url).call().ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

fn wait_ready(daemon: &Daemon, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ureq::get(url).call().is_err() {
        assert!(Instant::now() < deadline, "{url} never became ready:\n{}", daemon.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shipped rule groups with their time scaled (see the module doc).
fn scaled_rule_groups() -> Value {
    let path = "deploy/base/monitoring/prometheusrule.yaml";
    let text = std::fs::read_to_string(workspace().join(path)).expect("the PrometheusRule");
    let documents = parse_documents(path, &text).expect("YAML");
    let mut groups = documents[0].value["spec"]["groups"].clone();
    let rules = groups[0]["rules"].as_array_mut().expect("rules");
    assert_eq!(rules.len(), 4, "the four alerts");
    for rule in rules {
        let expr = rule["expr"].as_str().expect("expr").to_owned();
        assert!(expr.contains("[5m]"), "{expr}: the scaling expects 5m ranges");
        rule["expr"] = json!(expr.replace("[5m]", "[10s]"));
        let scaled = match rule["for"].as_str() {
            Some("0s") => "0s",
            Some("1m") => "2s",
            other => panic!("the scaling expects `for` of 0s or 1m, got {other:?}"),
        };
        rule["for"] = json!(scaled);
    }
    json!({ "groups": groups })
}

fn promtool_check(rules: &Path) -> (bool, String) {
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(rules)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}); install it with: {INSTALL}"));
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

struct Replica {
    server: RunningServer,
    link: FaultyLink,
}

fn replica(runtime: &tokio::runtime::Runtime) -> Replica {
    let config = ServerConfig {
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        alerts: AlertConfig { builtin: false, ..AlertConfig::default() },
        ..ServerConfig::loopback(None)
    };
    let server = runtime.block_on(start(config)).expect("control plane starts");
    let link = FaultyLink::start(server.http_addr).expect("link starts");
    Replica { server, link }
}

/// The traffic generator: one request after another through the sidecars, at a pace, giving the
/// VMs time (flushes) while ahead of it.
struct Mesh {
    sidecars: Vec<Proxy>,
    sent: u64,
    /// Requests sent to each service so far.
    per_service: [u64; SERVICES.len()],
}

impl Mesh {
    fn new(cluster: &Cluster) -> Self {
        let config = json!({
            "mode": "strict",
            "operations": ["/v1/items/{id}"],
            "control_plane": {"cluster": CLUSTER, "authority": "acgs-control-plane.acgs-system.svc.cluster.local:5778",
                              "poll_interval_ms": 600000, "flush_interval_ms": 200, "timeout_ms": 2000}
        });
        let sidecars = SERVICES
            .iter()
            .map(|service| {
                let clusters = std::collections::BTreeMap::from([(CLUSTER.to_owned(), cluster.clone())]);
                start_sidecar_with_clusters(service, config.to_string().as_bytes(), WORKERS, clusters)
                    .expect("sidecar starts")
            })
            .collect();
        Self { sidecars, sent: 0, per_service: [0; SERVICES.len()] }
    }

    fn give_time(&mut self) {
        for proxy in &mut self.sidecars {
            for worker in proxy.workers_mut() {
                worker.run_for(Duration::from_millis(1));
            }
        }
    }

    /// Sends at `rps` (with the faults when `faulty`) until `done` holds, checked every 250 ms;
    /// panics naming `what` after `limit`.
    fn send_until(
        &mut self,
        rps: f64,
        faulty: bool,
        what: &str,
        limit: Duration,
        mut done: impl FnMut() -> Option<String>,
    ) {
        let started = Instant::now();
        let mut sent_here: u64 = 0;
        let mut next_check = Instant::now();
        loop {
            let service = usize::try_from(self.sent % SERVICES.len() as u64).unwrap_or(0);
            self.send(service, faulty);
            sent_here += 1;
            while started.elapsed() < Duration::from_secs_f64(sent_here as f64 / rps) {
                self.give_time();
            }
            if Instant::now() >= next_check {
                next_check = Instant::now() + Duration::from_millis(250);
                match done() {
                    None => return,
                    Some(state) => assert!(started.elapsed() < limit, "timed out waiting until {what}; now: {state}"),
                }
            }
        }
    }

    /// Sends the next request to `service`: with the faults, every 5th to the missing-hashes
    /// service lacks the hash (compliance 80 %), every 50th to the forged-hashes one carries a
    /// forged hash (compliance 98 %: a violation, not a compliance alert), and the slow one
    /// answers after 8 ms.
    fn send(&mut self, service: usize, faulty: bool) {
        let n = self.per_service[service];
        self.per_service[service] += 1;
        let hash = match service {
            MISSING_HASHES if faulty && n.is_multiple_of(5) => None,
            FORGED_HASHES if faulty && n.is_multiple_of(50) => Some("ffffffffffffffff"),
            _ => Some(HASH),
        };
        let delay = if faulty && service == SLOW { Duration::from_millis(8) } else { Duration::ZERO };
        let headers: Vec<(&str, &str)> = hash.map(|h| vec![("constitutional-hash", h)]).unwrap_or_default();
        let proxy = &mut self.sidecars[service];
        let worker = &mut proxy.workers_mut()[usize::try_from(n).unwrap_or(0) % WORKERS];
        let mut upstream = |_: &Headers, _: &[u8]| {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            HttpResponse { status: 200, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() }
        };
        worker.handle(request("GET", "/v1/items/7", &headers), &mut upstream);
        self.sent += 1;
    }
}

struct Stack {
    prometheus: Daemon,
    prometheus_url: String,
    alertmanager: Daemon,
    alertmanager_url: String,
    dir: PathBuf,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_stack(replicas: &[&Replica]) -> Stack {
    for binary in ["prometheus", "promtool", "prometheus-alertmanager"] {
        require(binary);
    }
    let dir = std::env::temp_dir().join(format!("acgs-prometheus-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");

    let rules = dir.join("rules.yml");
    std::fs::write(&rules, scaled_rule_groups().to_string()).expect("rules file");
    let (ok, report) = promtool_check(&rules);
    assert!(ok, "promtool rejects the shipped rules:\n{report}");
    assert!(report.contains("SUCCESS: 4 rules found"), "{report}");

    let am_port = free_port();
    let am_config = dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: sre\n  group_by: [alertname, service]\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: sre\n",
    )
    .expect("alertmanager config");
    let alertmanager = Daemon::start(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".to_owned(),
        ],
        dir.join("alertmanager.log"),
    );
    let alertmanager_url = format!("http://127.0.0.1:{am_port}");
    wait_ready(&alertmanager, &format!("{alertmanager_url}/-/ready"));

    let targets: Vec<Value> = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"targets": [r.server.http_addr.to_string()], "labels": {"pod": format!("acgs-control-plane-{i}")}}))
        .collect();
    let prometheus_config = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [rules.display().to_string()],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [format!("127.0.0.1:{am_port}")]}]}]},
        "scrape_configs": [{"job_name": "acgs-control-plane", "static_configs": targets}],
    });
    let prometheus_yml = dir.join("prometheus.yml");
    std::fs::write(&prometheus_yml, prometheus_config.to_string()).expect("prometheus config");
    let prom_port = free_port();
    let prometheus = Daemon::start(
        "prometheus",
        &[
            format!("--config.file={}", prometheus_yml.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.join("prometheus.log"),
    );
    let prometheus_url = format!("http://127.0.0.1:{prom_port}");
    wait_ready(&prometheus, &format!("{prometheus_url}/-/ready"));
    Stack { prometheus, prometheus_url, alertmanager, alertmanager_url, dir }
}

impl Stack {
    /// An instant query's single value (`None` when the result is empty).
    fn query(&self, promql: &str) -> Option<f64> {
        let url = format!("{}/api/v1/query?query={}", self.prometheus_url, encode(promql));
        let answer = get_json(&url)?;
        answer["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// (alertname, service) of Prometheus' alerts in `state`.
    fn prometheus_alerts(&self, state: &str) -> BTreeSet<(String, String)> {
        let answer = get_json(&format!("{}/api/v1/alerts", self.prometheus_url)).unwrap_or(Value::Null);
        answer["data"]["alerts"]
            .as_array()
            .map(|alerts| alerts.iter().filter(|a| a["state"] == state).map(pair).collect())
            .unwrap_or_default()
    }

    /// (alertname, service) of Alertmanager's active alerts (resolved ones are not listed).
    fn alertmanager_alerts(&self) -> BTreeSet<(String, String)> {
        get_json(&format!("{}/api/v2/alerts", self.alertmanager_url))
            .and_then(|answer| answer.as_array().map(|alerts| alerts.iter().map(pair).collect()))
            .unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!("prometheus:\n{}\nalertmanager:\n{}", self.prometheus.log_tail(), self.alertmanager.log_tail())
    }
}

fn pair(alert: &Value) -> (String, String) {
    let labels = &alert["labels"];
    (
        labels["alertname"].as_str().unwrap_or_default().to_owned(),
        labels["service"].as_str().unwrap_or_default().to_owned(),
    )
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn expected_firing() -> BTreeSet<(String, String)> {
    [
        ("HighTraceLatency", SERVICES[SLOW]),
        ("ConstitutionalComplianceRate", SERVICES[MISSING_HASHES]),
        ("ConstitutionalHashViolation", SERVICES[FORGED_HASHES]),
        ("LowTraceThroughput", ""),
    ]
    .iter()
    .map(|(name, service)| ((*name).to_owned(), (*service).to_owned()))
    .collect()
}

#[test]
fn two_replicas_through_real_prometheus_and_alertmanager_fire_and_resolve_exactly_and_count_each_request_once() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (replica(&runtime), replica(&runtime));
    let stack = start_stack(&[&a, &b]);
    let cluster = Cluster::new(vec![a.link.addr, b.link.addr], LoadBalancing::ConsistentHash);
    let mut mesh = Mesh::new(&cluster);
    a.link.arm(Fault::LoseAnswer, LOST_ANSWERS);
    b.link.arm(Fault::LoseAnswer, LOST_ANSWERS);

    // 1. Normal traffic until the ranges hold only normal traffic and nothing is pending.
    let normal_since = Instant::now();
    mesh.send_until(NORMAL_RPS, false, "normal traffic shows no alert", Duration::from_secs(60), || {
        let rate = stack.query("sum(rate(acgs_requests_total[10s]))").unwrap_or(0.0);
        let pending = stack.prometheus_alerts("pending");
        let firing = stack.prometheus_alerts("firing");
        let settled = normal_since.elapsed() > Duration::from_secs(12);
        (!(settled && rate > 100.0 && pending.is_empty() && firing.is_empty()))
            .then(|| format!("rate {rate:.0}/s, pending {pending:?}, firing {firing:?}"))
    });
    assert_eq!(a.link.faults_done() + b.link.faults_done(), 2 * LOST_ANSWERS, "answers were lost on both links");

    // 2. Faults: each alert fires, for exactly the faulty service, in Prometheus and Alertmanager.
    let expected = expected_firing();
    mesh.send_until(FAULT_RPS, true, "the four alerts fire", Duration::from_secs(60), || {
        let (firing, routed) = (stack.prometheus_alerts("firing"), stack.alertmanager_alerts());
        (!(firing == expected && routed == expected)).then(|| format!("Prometheus {firing:?}, Alertmanager {routed:?}"))
    });

    // 3. Normal traffic again: every alert resolves in both.
    mesh.send_until(NORMAL_RPS, false, "every alert resolves", Duration::from_secs(60), || {
        let (firing, routed) = (stack.prometheus_alerts("firing"), stack.alertmanager_alerts());
        (!(firing.is_empty() && routed.is_empty())).then(|| format!("Prometheus {firing:?}, Alertmanager {routed:?}"))
    });

    // 4. Every request once in Prometheus' sum over the replicas.
    let sent = mesh.sent;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut counted = None;
    while counted != Some(sent as f64) && Instant::now() < deadline {
        mesh.give_time();
        counted = stack.query("sum(acgs_requests_total)");
    }
    assert_eq!(counted, Some(sent as f64), "sum(acgs_requests_total) over both replicas\n{}", stack.logs());
    let per_replica = (
        stack.query("sum(acgs_requests_total{pod=\"acgs-control-plane-0\"})"),
        stack.query("sum(acgs_requests_total{pod=\"acgs-control-plane-1\"})"),
    );
    assert!(matches!(per_replica, (Some(x), Some(y)) if x > 0.0 && y > 0.0), "both replicas took VMs: {per_replica:?}");
    let duplicates = stack.query("sum(acgs_telemetry_batches_total{result=\"duplicate\"})");
    // At least the lost answers (a retry after a slow answer on a loaded machine adds one more).
    assert!(
        duplicates.is_some_and(|d| d >= (2 * LOST_ANSWERS) as f64),
        "each batch whose answer was lost came back to its replica as a duplicate: {duplicates:?}"
    );
    drop(mesh);
    runtime.block_on(async {
        a.server.shutdown().await;
        b.server.shutdown().await;
    });
}

#[test]
fn promtool_rejects_a_broken_copy_of_the_rules() {
    require("promtool");
    let dir = std::env::temp_dir().join(format!("acgs-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut groups = scaled_rule_groups();
    groups["groups"][0]["rules"][1]["expr"] = json!("sum by (service (rate(acgs_requests_total[10s]))");
    let rules = dir.join("broken.yml");
    std::fs::write(&rules, groups.to_string()).expect("rules file");
    let (ok, report) = promtool_check(&rules);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "promtool accepted a broken expression:\n{report}");
    assert!(report.contains("parse error"), "{report}");
}
