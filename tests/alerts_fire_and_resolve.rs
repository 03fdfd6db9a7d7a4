//! The four alerts end to end: telemetry batches (real protobuf over `POST /v1/telemetry`) drive
//! the control plane's evaluator; `GET /api/v1/alerts` shows nothing while the mesh is healthy,
//! exactly the four expected alerts firing during the faults, and all of them resolved after;
//! an Alertmanager stand-in on loopback receives them in `POST /api/v2/alerts` format, firing
//! and then resolved (`endsAt` no later than the time of the push); firing alerts are resent at
//! the resend interval, and resolutions pushed while Alertmanager answered 503 reach it after.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use acgs_control_plane::alerts::rules::AlertConfig;
use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_control_plane::telemetry::store::StoreLimits;
use acgs_control_plane::telemetry::TelemetryConfig;
use acgs_e2e::metric_sum;
use acgs_proto::telemetry::{AggregateEntry, HashStatus, TelemetryBatch, LATENCY_BUCKET_BOUNDS_MICROS};
use prost::Message as _;
use serde_json::Value;

const TOKEN: &str = "alert-test";

/// (service, hash status, count, latency µs) → one aggregate entry each.
fn batch(seq: u64, entries: &[(&str, HashStatus, u64, u64)]) -> TelemetryBatch {
    TelemetryBatch {
        vm_id: "vm-alerts".to_owned(),
        seq,
        service: "mesh".to_owned(),
        aggregates: entries
            .iter()
            .map(|(service, status, count, micros)| {
                let index = LATENCY_BUCKET_BOUNDS_MICROS.partition_point(|b| b < micros);
                let mut buckets = vec![0; index + 1];
                buckets[index] = *count;
                AggregateEntry {
                    service: (*service).to_owned(),
                    operation: "GET /v1/x".to_owned(),
                    status_class: 2,
                    hash_status: *status as i32,
                    category: "other".to_owned(),
                    count: *count,
                    latency_buckets: buckets,
                    latency_sum_micros: count * micros,
                    latency_max_micros: *micros,
                    source: if *status == HashStatus::Mismatch { "10.0.0.9:1".to_owned() } else { String::new() },
                }
            })
            .collect(),
        constitutional_hash: "cdd01ef066bc6cf2".to_owned(),
        ..TelemetryBatch::default()
    }
}

fn post(server: &RunningServer, batch: &TelemetryBatch) {
    let response = ureq::post(&format!("http://{}/v1/telemetry", server.http_addr))
        .header("content-type", "application/x-protobuf")
        .header("authorization", &format!("Bearer {TOKEN}"))
        .send(&batch.encode_to_vec()[..])
        .expect("telemetry post");
    assert_eq!(response.status().as_u16(), 200);
}

/// (alertname, service, state) listed at /api/v1/alerts.
fn listed(server: &RunningServer) -> BTreeSet<(String, String, String)> {
    let text = ureq::get(&format!("http://{}/api/v1/alerts", server.http_addr))
        .call()
        .expect("alerts call")
        .body_mut()
        .read_to_string()
        .expect("alerts body");
    let body: Value = serde_json::from_str(&text).expect("alerts JSON");
    assert_eq!(body["status"], "success");
    body["data"]["alerts"]
        .as_array()
        .expect("alerts array")
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or_default().to_owned(),
                a["labels"]["service"].as_str().unwrap_or("").to_owned(),
                a["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

const HEALTHY: [(&str, HashStatus, u64, u64); 2] =
    [("constitutional-core", HashStatus::Valid, 100, 900), ("health-check", HashStatus::Exempt, 20, 100)];
const FAULTY: [(&str, HashStatus, u64, u64); 3] = [
    ("constitutional-core", HashStatus::Valid, 3, 8_000),
    ("constitutional-core", HashStatus::Mismatch, 1, 8_000),
    ("constitutional-core", HashStatus::Missing, 1, 8_000),
];

/// Posts a batch every 100 ms until `done` or `limit`.
fn drive(
    server: &RunningServer,
    seq: &mut u64,
    entries: &[(&str, HashStatus, u64, u64)],
    limit: Duration,
    done: impl Fn(&BTreeSet<(String, String, String)>) -> bool,
) -> BTreeSet<(String, String, String)> {
    let started = Instant::now();
    loop {
        *seq += 1;
        post(server, &batch(*seq, entries));
        std::thread::sleep(Duration::from_millis(100));
        let alerts = listed(server);
        if done(&alerts) || started.elapsed() > limit {
            return alerts;
        }
    }
}

fn expected(state: &str) -> BTreeSet<(String, String, String)> {
    [
        ("ConstitutionalComplianceRate", "constitutional-core"),
        ("ConstitutionalHashViolation", "constitutional-core"),
        ("HighTraceLatency", "constitutional-core"),
        ("LowTraceThroughput", ""),
    ]
    .iter()
    .map(|(name, service)| ((*name).to_owned(), (*service).to_owned(), state.to_owned()))
    .collect()
}

#[test]
fn the_four_alerts_fire_during_faults_and_resolve_after() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sink = AlertmanagerSink::start(&runtime);
    let received = Arc::clone(&sink.pushes);
    let server = control_plane(&runtime, &sink, AlertConfig::default().resend_interval);
    let mut seq = 0;

    let healthy = drive(&server, &mut seq, &HEALTHY, Duration::from_secs(3), |_| false);
    assert_eq!(healthy, BTreeSet::new(), "1 200 requests/s, all compliant and fast: no alert");

    let firing = drive(&server, &mut seq, &FAULTY, Duration::from_secs(20), |a| *a == expected("firing"));
    assert_eq!(firing, expected("firing"));

    let resolved = drive(&server, &mut seq, &HEALTHY, Duration::from_secs(20), |a| *a == expected("resolved"));
    assert_eq!(resolved, expected("resolved"));

    let names: BTreeSet<String> = expected("").into_iter().map(|(name, _, _)| name).collect();
    // The resolutions reach Alertmanager on the evaluator's next push: healthy traffic goes on
    // until they are in.
    let pushed = || fired_and_ended(&received.lock().expect("sink"));
    drive(&server, &mut seq, &HEALTHY, Duration::from_secs(10), |_| pushed().1 == names);
    let (fired, ended) = pushed();
    assert_eq!(fired, names, "Alertmanager got every alert firing");
    assert_eq!(ended, names, "Alertmanager got every alert resolved");
    runtime.block_on(server.shutdown());
}

/// The alert names Alertmanager got as firing (`endsAt` in the future) and as resolved (`endsAt`
/// at the push), from the pushes as (pushed at, body).
fn fired_and_ended(pushes: &[(f64, Value)]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut fired = BTreeSet::new();
    let mut ended = BTreeSet::new();
    for (pushed_at, body) in pushes {
        for alert in body.as_array().expect("an array of postable alerts") {
            let name = alert["labels"]["alertname"].as_str().unwrap_or_default().to_owned();
            assert!(alert["startsAt"].is_string() && alert["annotations"]["summary"].is_string(), "{alert}");
            let runbook =
                format!("https://github.com/acgs/acgs-tracing/blob/main/docs/alerts.md#{}", name.to_lowercase());
            assert_eq!(alert["annotations"]["runbook_url"], runbook.as_str(), "{alert}");
            let description = alert["annotations"]["description"].as_str().unwrap_or_default();
            assert!(!description.contains("{{") && description.len() > 40, "filled in: {alert}");
            let ends = humantime::parse_rfc3339(alert["endsAt"].as_str().unwrap_or_default()).expect("endsAt");
            let ends = ends.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            if ends <= *pushed_at + 0.01 {
                ended.insert(name);
            } else {
                fired.insert(name);
            }
        }
    }
    (fired, ended)
}

/// An Alertmanager stand-in on loopback: `POST /api/v2/alerts` bodies with the time they came
/// in, or 503 while `down` (nothing recorded).
struct AlertmanagerSink {
    addr: SocketAddr,
    pushes: Arc<Mutex<Vec<(f64, Value)>>>,
    down: Arc<AtomicBool>,
}

impl AlertmanagerSink {
    fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let pushes: Arc<Mutex<Vec<(f64, Value)>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let (sink, refusing) = (Arc::clone(&pushes), Arc::clone(&down));
        let addr = runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v2/alerts",
                axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                    let (sink, refusing) = (Arc::clone(&sink), Arc::clone(&refusing));
                    async move {
                        if refusing.load(Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                        sink.lock().expect("sink").push((now, body));
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        });
        Self { addr, pushes, down }
    }

    fn pushes(&self) -> Vec<(f64, Value)> {
        self.pushes.lock().expect("sink").clone()
    }
}

#[test]
fn firing_alerts_are_resent_and_what_resolved_while_alertmanager_was_down_reaches_it_after() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sink = AlertmanagerSink::start(&runtime);
    let server = control_plane(&runtime, &sink, Duration::from_millis(600));
    let names: BTreeSet<String> = expected("").into_iter().map(|(name, _, _)| name).collect();
    let mut seq = 0;

    let firing = drive(&server, &mut seq, &FAULTY, Duration::from_secs(20), |a| *a == expected("firing"));
    assert_eq!(firing, expected("firing"));
    // Nothing changes from here: every later push is a resend.
    let steady = sink.pushes().len();
    drive(&server, &mut seq, &FAULTY, Duration::from_secs(20), |_| sink.pushes().len() >= steady + 3);
    let pushes = sink.pushes();
    let resends = &pushes[steady..steady + 3];
    for (pushed_at, body) in resends {
        let (fired, ended) = fired_and_ended(&[(*pushed_at, body.clone())]);
        assert_eq!((&fired, ended.len()), (&names, 0), "a resend carries every firing alert: {body}");
        for alert in body.as_array().expect("alerts") {
            let ends = humantime::parse_rfc3339(alert["endsAt"].as_str().unwrap_or_default()).expect("endsAt");
            let ahead = ends.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0) - pushed_at;
            assert!(ahead > 1.2, "endsAt four resend intervals (2.4 s) ahead, not four evaluations: {ahead:.2} s");
        }
    }
    for pair in resends.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap > 0.4, "resent every 600 ms, not at every 100 ms evaluation: {gap:.3} s apart");
    }

    sink.down.store(true, Ordering::SeqCst);
    let failed = "acgs_alertmanager_notifications_total{result=\"failed\"}";
    let resolved = drive(&server, &mut seq, &HEALTHY, Duration::from_secs(20), |a| *a == expected("resolved"));
    assert_eq!(resolved, expected("resolved"));
    assert!(metric_sum(server.http_addr, failed) > 0, "the pushes while it was down are counted as failed");
    let before = sink.pushes().len();
    sink.down.store(false, Ordering::SeqCst);
    // Still healthy: no alert changes state, so only the retry of the failed push can tell it.
    let ended = || fired_and_ended(&sink.pushes()[before..]).1;
    let still = drive(&server, &mut seq, &HEALTHY, Duration::from_secs(10), |_| ended() == names);
    assert_eq!(still, expected("resolved"), "nothing changed state meanwhile");
    assert_eq!(ended(), names, "Alertmanager learns every resolution it missed");
    runtime.block_on(server.shutdown());
}

#[test]
fn a_replica_with_the_built_in_alerts_off_neither_lists_nor_pushes_and_says_where_alerts_come_from() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sink = AlertmanagerSink::start(&runtime);
    let mut config = server_config(&sink, Duration::from_millis(600));
    config.alerts.builtin = false;
    let server = runtime.block_on(start(config)).expect("control plane");
    // The same faults to a replica with the evaluator on: once it fires, the one with it off has
    // had every chance to.
    let on_sink = AlertmanagerSink::start(&runtime);
    let on = control_plane(&runtime, &on_sink, Duration::from_millis(600));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0;
    let fired = || {
        listed(&on).iter().any(|(name, _, state)| name == "ConstitutionalHashViolation" && state == "firing")
            && !on_sink.pushes().is_empty()
    };
    while !fired() {
        assert!(Instant::now() < deadline, "the replica with the evaluator on never fired");
        seq += 1;
        post(&server, &batch(seq, &FAULTY));
        post(&on, &batch(seq, &FAULTY));
    }
    let mut response = ureq::get(&format!("http://{}/api/v1/alerts", server.http_addr))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("GET /api/v1/alerts");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default()).expect("JSON");
    assert_eq!(body["status"], "error");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("--builtin-alerts off") && error.contains("PrometheusRule"), "{error}");
    assert_eq!(sink.pushes().len(), 0, "nothing pushed to Alertmanager");
    let sent = seq * FAULTY.iter().map(|e| e.2).sum::<u64>();
    let counted = || metric_sum(server.http_addr, "acgs_requests_total{");
    while counted() < sent && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(counted(), sent, "it counts what it gets all the same");
    runtime.block_on(async {
        server.shutdown().await;
        on.shutdown().await;
    });
}

/// The control plane on loopback with second-scale alerting, pushing to `sink`.
fn control_plane(runtime: &tokio::runtime::Runtime, sink: &AlertmanagerSink, resend: Duration) -> RunningServer {
    runtime.block_on(start(server_config(sink, resend))).expect("control plane")
}

fn server_config(sink: &AlertmanagerSink, resend: Duration) -> ServerConfig {
    ServerConfig {
        telemetry: TelemetryConfig {
            token: Some(TOKEN.to_owned()),
            limits: StoreLimits { window: Duration::from_secs(1), ..StoreLimits::default() },
            ..TelemetryConfig::default()
        },
        alerts: AlertConfig {
            range: Duration::from_secs(2),
            eval_interval: Duration::from_millis(100),
            for_others: Duration::from_millis(300),
            resend_interval: resend,
            ..AlertConfig::default()
        },
        alertmanager: Some(format!("http://{}", sink.addr)),
        ..ServerConfig::loopback(None)
    }
}
