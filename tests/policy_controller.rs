//! `serve --kubernetes` against the mock API server: SamplingPolicy create, update, invalid
//! update, delete, a closed watch (resumed from its resourceVersion) and `410 Gone` (re-listed),
//! each checked through the real sampling endpoint, the policy's status and the recorded events;
//! a policy edit reaching the real filter .wasm in a sidecar that polls the control plane; and head
//! sampling: the Istio Telemetry a policy's `headSampling` asks for, written, edited, deleted,
//! refused with the policy, checked against Istio's schema, and retried after a failed write.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acgs_control_plane::server::{start, KubernetesSource, RunningServer, ServerConfig};
use acgs_e2e::kube_api::MockApiServer;
use acgs_e2e::schemas::{Document, Validator};
use acgs_e2e::{start_sidecar_with_clusters, wait_for_sampled_fraction};
use serde_json::{json, Value};

const POLICIES: &str = "/apis/tracing.acgs.io/v1alpha1/samplingpolicies";
const TELEMETRIES: &str = "/apis/telemetry.istio.io/v1/telemetries";
const NAMESPACE: &str = "acgs-system";
const GATEWAY_NAMESPACE: &str = "istio-ingress";
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

// === head sampling ===

/// `policy` with `headSampling` on its first service: the ingress gateway.
fn with_head_sampling(mut policy: Value) -> Value {
    policy["spec"]["services"][0]["headSampling"] =
        json!({"namespace": GATEWAY_NAMESPACE, "matchLabels": {"istio": "ingressgateway"}});
    policy
}

fn head_telemetry(api: &MockApiServer, service: &str) -> Option<Value> {
    api.get(TELEMETRIES, GATEWAY_NAMESPACE, &format!("acgs-head-{service}"))
}

fn head_percentage(api: &MockApiServer, service: &str) -> Option<f64> {
    head_telemetry(api, service)?["spec"]["tracing"][0]["randomSamplingPercentage"].as_f64()
}

/// A sample of the control plane's `/metrics` (0 when absent).
fn metric(addr: SocketAddr, sample: &str) -> f64 {
    let mut response = ureq::get(format!("http://{addr}/metrics")).call().expect("/metrics");
    let body = response.body_mut().read_to_string().expect("a body");
    body.lines().find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

const HEAD_OK: &str = "acgs_strategy_reloads_total{source=\"headsampling\",result=\"success\"}";
const HEAD_FAILED: &str = "acgs_strategy_reloads_total{source=\"headsampling\",result=\"failure\"}";

fn telemetry_writes(api: &MockApiServer) -> Vec<acgs_e2e::kube_api::Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/apis/telemetry.istio.io/"))
        .collect()
}

/// The mesh-wide Telemetry of deploy/ (no managed-by label): the controller must never touch it.
fn mesh_default() -> Value {
    json!({
        "apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry",
        "metadata": {"name": "mesh-default", "namespace": "istio-system"},
        "spec": {"tracing": [{"match": {"mode": "CLIENT"}, "providers": [{"name": "acgs-otel"}], "randomSamplingPercentage": 100.0}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policys_head_sampling_becomes_an_istio_telemetry_that_follows_rate_edits() {
    let api = MockApiServer::start().await;
    api.apply(POLICIES, with_head_sampling(policy("checkout", &[("checkout-api", 0.1)])));
    let server = control_plane(&api).await;

    wait_for("the head-sampling Telemetry", || head_telemetry(&api, "checkout-api").is_some()).await;
    let telemetry = head_telemetry(&api, "checkout-api").expect("written");
    assert_eq!(telemetry["apiVersion"], "telemetry.istio.io/v1");
    assert_eq!(telemetry["kind"], "Telemetry");
    assert_eq!(
        telemetry["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "acgs-tracing", "tracing.acgs.io/policy": "acgs-system.checkout"})
    );
    assert_eq!(
        telemetry["spec"],
        json!({
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "tracing": [{"match": {"mode": "CLIENT"}, "providers": [{"name": "acgs-otel"}], "randomSamplingPercentage": 10.0}]
        })
    );
    let failures = Validator::new().check_manifest(&Document { source: "mock".to_owned(), value: telemetry });
    assert!(failures.is_empty(), "the written Telemetry fails Istio's schema: {failures:#?}");
    let writes = telemetry_writes(&api);
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        format!("/apis/telemetry.istio.io/v1/namespaces/{GATEWAY_NAMESPACE}/telemetries/acgs-head-checkout-api")
    );
    assert_eq!(writes[0].content_type, "application/apply-patch+yaml");
    assert!(
        writes[0].query.contains("fieldManager=acgs-tracing") && writes[0].query.contains("force=true"),
        "{writes:?}"
    );
    assert_eq!(served_rate(server.http_addr, "checkout-api"), Some(0.1), "the filters get the same rate");

    api.apply(POLICIES, with_head_sampling(policy("checkout", &[("checkout-api", 0.123)])));
    wait_for("randomSamplingPercentage 12.3", || head_percentage(&api, "checkout-api") == Some(12.3)).await;
    rate_becomes(&server, "checkout-api", 0.123).await;

    // An invalid edit keeps the last accepted spec served, and Istio's percentage with it.
    let syncs = metric(server.http_addr, HEAD_OK);
    let mut invalid = with_head_sampling(policy("checkout", &[("checkout-api", 0.9)]));
    invalid["spec"]["services"][0]["operationStrategies"] = json!([
        {"operation": "GET /x", "type": "probabilistic", "param": 0.1},
        {"operation": "GET /x", "type": "probabilistic", "param": 0.2}
    ]);
    api.apply(POLICIES, invalid);
    wait_for("status Accepted=False", || accepted_condition(&api, "checkout").is_some_and(|c| c["status"] == "False"))
        .await;
    wait_for("the Telemetry sync after the invalid edit", || metric(server.http_addr, HEAD_OK) > syncs).await;
    assert_eq!(head_percentage(&api, "checkout-api"), Some(12.3));
    assert_eq!(served_rate(server.http_addr, "checkout-api"), Some(0.123));
    assert_eq!(metric(server.http_addr, HEAD_FAILED), 0.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telemetry_no_policy_asks_for_any_more_is_deleted_and_others_are_left_alone() {
    let api = MockApiServer::start().await;
    api.apply(TELEMETRIES, mesh_default());
    api.apply(POLICIES, with_head_sampling(policy("checkout", &[("checkout-api", 0.1)])));
    let server = control_plane(&api).await;
    wait_for("the head-sampling Telemetry", || head_percentage(&api, "checkout-api") == Some(10.0)).await;

    api.apply(POLICIES, policy("checkout", &[("checkout-api", 0.1)]));
    wait_for("the Telemetry deleted after headSampling was removed", || head_telemetry(&api, "checkout-api").is_none())
        .await;
    let deletes: Vec<_> = telemetry_writes(&api).into_iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(
        deletes[0].path,
        format!("/apis/telemetry.istio.io/v1/namespaces/{GATEWAY_NAMESPACE}/telemetries/acgs-head-checkout-api")
    );
    let lists: Vec<_> = api.requests().into_iter().filter(|r| r.method == "GET" && r.path == TELEMETRIES).collect();
    assert!(
        lists.iter().all(|r| r
            .query
            .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dacgs-tracing%2Ctracing.acgs.io%2Fpolicy")),
        "{lists:?}"
    );

    api.apply(POLICIES, with_head_sampling(policy("checkout", &[("checkout-api", 0.1)])));
    wait_for("the Telemetry written again", || head_telemetry(&api, "checkout-api").is_some()).await;
    api.delete(POLICIES, NAMESPACE, "checkout");
    wait_for("the Telemetry deleted with its policy", || head_telemetry(&api, "checkout-api").is_none()).await;
    rate_becomes(&server, "checkout-api", 0.001).await;
    assert!(api.get(TELEMETRIES, "istio-system", "mesh-default").is_some(), "an unmanaged Telemetry is never deleted");
    assert!(
        telemetry_writes(&api).iter().all(|r| !r.path.contains("mesh-default")),
        "an unmanaged Telemetry is never written"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_sampling_on_a_ratelimiting_service_is_refused_and_writes_no_telemetry() {
    let api = MockApiServer::start().await;
    let mut limited = with_head_sampling(policy("checkout", &[("checkout-api", 0.1)]));
    limited["spec"]["services"][0]["type"] = json!("ratelimiting");
    limited["spec"]["services"][0]["param"] = json!(5);
    api.apply(POLICIES, limited);
    let server = control_plane(&api).await;

    wait_for("status Accepted=False", || accepted_condition(&api, "checkout").is_some_and(|c| c["status"] == "False"))
        .await;
    let condition = accepted_condition(&api, "checkout").expect("a condition");
    assert_eq!(condition["reason"], "Invalid");
    assert_eq!(
        condition["message"],
        "spec.services[0].headSampling: needs a probabilistic strategy (Istio's percentage is a probability); nothing from it is served"
    );
    wait_for("the Telemetry sync", || metric(server.http_addr, HEAD_OK) >= 1.0).await;
    assert_eq!(telemetry_writes(&api), vec![], "no Telemetry is written for a refused policy");
    assert_eq!(served_rate(server.http_addr, "checkout-api"), Some(0.001), "nothing from the policy is served");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_telemetry_write_is_counted_and_retried_on_the_next_event() {
    let api = MockApiServer::start().await;
    api.refuse_writes(TELEMETRIES, 403);
    api.apply(POLICIES, with_head_sampling(policy("checkout", &[("checkout-api", 0.1)])));
    let server = control_plane(&api).await;

    wait_for("a counted failure", || metric(server.http_addr, HEAD_FAILED) >= 1.0).await;
    assert_eq!(head_telemetry(&api, "checkout-api"), None);
    assert_eq!(served_rate(server.http_addr, "checkout-api"), Some(0.1), "the strategies are served regardless");
    wait_for("status Accepted=True", || accepted_condition(&api, "checkout").is_some_and(|c| c["status"] == "True"))
        .await;

    api.accept_writes(TELEMETRIES);
    // A change that leaves every spec as it was (a label): the merge is not recomputed, the failed
    // sync is retried all the same.
    let mut labelled = with_head_sampling(policy("checkout", &[("checkout-api", 0.1)]));
    labelled["metadata"]["labels"] = json!({"team": "payments"});
    api.apply(POLICIES, labelled);
    wait_for("the Telemetry written on the next event", || head_percentage(&api, "checkout-api") == Some(10.0)).await;
    wait_for("a counted success", || metric(server.http_addr, HEAD_OK) >= 1.0).await;
    server.shutdown().await;
}
