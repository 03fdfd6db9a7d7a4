//! `serve --kubernetes` against the mock API server: SamplingPolicy create, update, invalid
//! update, delete, a closed watch (resumed from its resourceVersion) and `410 Gone` (re-listed),
//! each checked through the real sampling endpoint, the policy's status and the recorded events;
//! and a policy edit reaching the real filter .wasm in a sidecar that polls the control plane.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, KubernetesSource, RunningServer, ServerConfig};
use acgs_e2e::kube_api::MockApiServer;
use acgs_e2e::{start_sidecar_with_clusters, wait_for_sampled_fraction};
use serde_json::{json, Value};

const POLICIES: &str = "/apis/tracing.acgs.io/v1alpha1/samplingpolicies";
const NAMESPACE: &str = "acgs-system";
/// A functional deadline for asynchronous propagation, not a performance assertion.
const DEADLINE: Duration = Duration::from_secs(10);

fn policy(name: &str, services: &[(&str, f64)]) -> Value {
    let services: Vec<Value> = services
        .iter()
        .map(|(service, rate)| json!({"service": service, "type": "probabilistic", "param": rate}))
        .collect();
    json!({
        "apiVersion": "tracing.acgs.io/v1alpha1", "kind": "SamplingPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"services": services}
    })
}

/// The probabilistic rate served to `service`; `None` while the control plane is not ready (503).
fn served_rate(addr: SocketAddr, service: &str) -> Option<f64> {
    let mut response = match ureq::get(format!("http://{addr}/api/sampling?service={service}")).call() {
        Ok(response) => response,
        Err(ureq::Error::StatusCode(503)) => return None,
        Err(error) => panic!("the sampling endpoint fails: {error}"),
    };
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().expect("a body")).expect("JSON");
    Some(body["probabilisticSampling"]["samplingRate"].as_f64().expect("a probabilistic strategy"))
}

async fn wait_for<F: FnMut() -> bool>(what: &str, mut done: F) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn rate_becomes(server: &RunningServer, service: &str, rate: f64) -> Duration {
    let addr = server.http_addr;
    let service = service.to_owned();
    let what = format!("{service} served at {rate}");
    wait_for(&what, move || served_rate(addr, &service) == Some(rate)).await
}

fn accepted_condition(api: &MockApiServer, name: &str) -> Option<Value> {
    let object = api.get(POLICIES, NAMESPACE, name)?;
    object["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Accepted").cloned()
}

fn events(api: &MockApiServer) -> Vec<Value> {
    api.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events"))
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect()
}

fn lists(api: &MockApiServer) -> usize {
    api.requests().iter().filter(|r| r.method == "GET" && r.path == POLICIES && !r.query.contains("watch=")).count()
}

async fn control_plane(api: &MockApiServer) -> RunningServer {
    let config = ServerConfig { kubernetes: Some(KubernetesSource::Url(api.url())), ..ServerConfig::loopback(None) };
    start(config).await.expect("the control plane starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_served_and_reported_as_they_are_created_updated_refused_and_deleted() {
    let api = MockApiServer::start().await;
    api.apply(POLICIES, policy("checkout", &[("auth-service", 0.5)]));
    let server = control_plane(&api).await;

    rate_becomes(&server, "auth-service", 0.5).await;
    wait_for("status Accepted=True", || {
        accepted_condition(&api, "checkout").is_some_and(|c| c["status"] == "True" && c["reason"] == "Accepted")
    })
    .await;
    let condition = accepted_condition(&api, "checkout").expect("a condition");
    assert_eq!(condition["message"], "serving 1 service strategies");
    assert_eq!(condition["observedGeneration"], 1);
    let status_patches: Vec<_> = api.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(
        status_patches[0].path,
        format!("/apis/tracing.acgs.io/v1alpha1/namespaces/{NAMESPACE}/samplingpolicies/checkout/status")
    );
    assert_eq!(status_patches[0].content_type, "application/merge-patch+json");
    wait_for("an Accepted event", || events(&api).iter().any(|e| e["reason"] == "Accepted")).await;
    let event = events(&api).into_iter().find(|e| e["reason"] == "Accepted").expect("event");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["regarding"]["name"], "checkout");
    assert_eq!(event["reportingController"], "acgs-tracing");

    api.apply(POLICIES, policy("checkout", &[("auth-service", 0.25)]));
    let took = rate_becomes(&server, "auth-service", 0.25).await;
    eprintln!("an updated policy was served after {took:?}");
    wait_for("observedGeneration 2", || {
        accepted_condition(&api, "checkout").is_some_and(|c| c["observedGeneration"] == 2)
    })
    .await;

    let mut invalid = policy("checkout", &[("auth-service", 0.9)]);
    invalid["spec"]["services"][0]["operationStrategies"] = json!([
        {"operation": "GET /x", "type": "probabilistic", "param": 0.1},
        {"operation": "GET /x", "type": "probabilistic", "param": 0.2}
    ]);
    api.apply(POLICIES, invalid);
    wait_for("status Accepted=False", || accepted_condition(&api, "checkout").is_some_and(|c| c["status"] == "False"))
        .await;
    let condition = accepted_condition(&api, "checkout").expect("a condition");
    assert_eq!(condition["reason"], "Invalid");
    assert_eq!(
        condition["message"],
        "spec.services[0].operationStrategies[1].operation: duplicate operation \"GET /x\"; the last accepted spec keeps being served"
    );
    assert_eq!(condition["observedGeneration"], 3);
    assert_eq!(served_rate(server.http_addr, "auth-service"), Some(0.25), "the last good spec is still served");
    wait_for("a Warning event", || events(&api).iter().any(|e| e["reason"] == "Invalid" && e["type"] == "Warning"))
        .await;

    api.delete(POLICIES, NAMESPACE, "checkout");
    rate_becomes(&server, "auth-service", 0.001).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_watch_is_resumed_and_a_410_gone_relists() {
    let api = MockApiServer::start().await;
    api.apply(POLICIES, policy("first", &[("auth-service", 0.5)]));
    let server = control_plane(&api).await;
    rate_becomes(&server, "auth-service", 0.5).await;
    wait_for("the watch", || api.requests().iter().any(|r| r.query.contains("watch=true"))).await;
    let listed = lists(&api);
    assert_eq!(listed, 1);

    api.close_watches();
    api.apply(POLICIES, policy("second", &[("health-check", 0.2)]));
    rate_becomes(&server, "health-check", 0.2).await;
    assert_eq!(lists(&api), 1, "a closed watch resumes from its resourceVersion without listing again");
    let watches: Vec<_> = api.requests().into_iter().filter(|r| r.query.contains("watch=true")).collect();
    assert!(watches.len() >= 2, "the watch was reopened: {watches:?}");
    assert!(watches.iter().all(|w| w.query.contains("resourceVersion=")), "{watches:?}");

    api.compact();
    api.close_watches();
    api.delete(POLICIES, NAMESPACE, "first");
    rate_becomes(&server, "auth-service", 0.001).await;
    wait_for("a relist after 410 Gone", || lists(&api) == 2).await;
    assert_eq!(served_rate(server.http_addr, "health-check"), Some(0.2), "the other policy survives the relist");
    server.shutdown().await;
}

#[test]
fn a_policy_edit_reaches_the_filters_in_the_sidecars() {
    const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (api, server) = runtime.block_on(async {
        let api = MockApiServer::start().await;
        api.apply(POLICIES, policy("groq", &[("groqcloud-policy", 0.0)]));
        let server = control_plane(&api).await;
        (api, server)
    });
    let config = json!({
        "control_plane": {"cluster": CLUSTER, "authority": "acgs-control-plane.acgs-system:5778", "poll_interval_ms": 200, "timeout_ms": 500},
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}}
    });
    let clusters = BTreeMap::from([(CLUSTER.to_owned(), server.http_addr)]);
    let mut proxy = start_sidecar_with_clusters("groqcloud-policy", config.to_string().as_bytes(), 2, clusters)
        .expect("sidecar starts");
    wait_for_sampled_fraction(&mut proxy, 0.0, DEADLINE);
    api.apply(POLICIES, policy("groq", &[("groqcloud-policy", 1.0)]));
    let took = wait_for_sampled_fraction(&mut proxy, 1.0, DEADLINE);
    eprintln!("a SamplingPolicy edit reached every filter worker after {took:?} (poll interval 200 ms)");
    runtime.block_on(server.shutdown());
}
