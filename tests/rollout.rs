//! `render`, `deploy` and `verify` end to end: render's output for every overlay passes the strict
//! schema checks and agrees with deploy/; deploy applies through the mock API server in dependency
//! order by server-side apply and waits for the rollout (and reports what is not ready); verify
//! checks loopback stand-ins of every endpoint, with the real control plane and the real filter.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acgs_control_plane::collector::CollectorStandIn;
use acgs_control_plane::mesh::istio::{tracing_for, ProxyRole};
use acgs_control_plane::rollout::apply::{deploy, DeployError};
use acgs_control_plane::rollout::bundle;
use acgs_control_plane::rollout::diff::{diff, Change};
use acgs_control_plane::rollout::plan::plan;
use acgs_control_plane::rollout::preflight::{self, preflight};
use acgs_control_plane::rollout::render::{render, RenderOptions, Variant};
use acgs_control_plane::rollout::uninstall::uninstall;
use acgs_control_plane::rollout::verify::{verify, Endpoints, Outcome};
use acgs_control_plane::server::{start, ServerConfig};
use acgs_e2e::kube_api::MockApiServer;
use acgs_e2e::schemas::{Document, Validator};
use acgs_e2e::{request, start_sidecar_traced, HASH};
use acgs_wasm_host::{Headers, HttpResponse, RecordedSpan};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{json, Value};

const VARIANTS: [Variant; 3] = [Variant::Default, Variant::Envoyfilter, Variant::JaegerV1];

#[test]
fn renders_of_every_overlay_pass_the_schema_checks_and_match_deploy() {
    let validator = Validator::new();
    for variant in VARIANTS {
        let rendered = render(&RenderOptions { variant, ..RenderOptions::default() }).expect("renders");
        let committed = bundle::build(variant.overlay()).expect("deploy/ builds");
        assert_eq!(rendered, committed, "{variant:?}: render's defaults reproduce deploy/ exactly (images, sha256; after a filter change: cargo run --release -p acgs-control-plane --example regenerate)");
        let mut failures = Vec::new();
        for manifest in &rendered {
            let document =
                Document { source: format!("render {variant:?} {}", manifest.source), value: manifest.value.clone() };
            failures.extend(validator.check_manifest(&document));
        }
        assert!(failures.is_empty(), "{variant:?}:\n{}", failures.join("\n"));
    }
    let custom = RenderOptions {
        namespace: "tenant-a".to_owned(),
        jaeger_namespace: "tenant-a-traces".to_owned(),
        hash: "0123456789abcdef".to_owned(),
        filter_image: format!("registry.example/acgs-filter@sha256:{}", "b".repeat(64)),
        sampling: 0.5,
        retention_days: 14,
        constitutional_retention_days: 60,
        ..RenderOptions::default()
    };
    for variant in VARIANTS {
        let rendered = render(&RenderOptions { variant, ..custom.clone() }).expect("renders");
        for manifest in &rendered {
            let document =
                Document { source: format!("custom {variant:?} {}", manifest.source), value: manifest.value.clone() };
            let failures = validator.check_manifest(&document);
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    }
}

fn failed(checks: &[preflight::Check]) -> Vec<(String, String)> {
    checks
        .iter()
        .filter(|c| c.outcome == preflight::Outcome::Fail)
        .map(|c| (c.check.clone(), c.detail.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_names_missing_crds_and_denied_permissions_and_applies_nothing() {
    let api = MockApiServer::start().await;
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
    let crds = [
        ("destinationrules.networking.istio.io", "v1", "install Istio 1.22 or later (istioctl install)"),
        ("peerauthentications.security.istio.io", "v1", "install Istio 1.22 or later (istioctl install)"),
        (
            "podmonitors.monitoring.coreos.com",
            "v1",
            "install prometheus-operator (kube-prometheus-stack), or leave out deploy/base/monitoring",
        ),
        (
            "prometheusrules.monitoring.coreos.com",
            "v1",
            "install prometheus-operator (kube-prometheus-stack), or leave out deploy/base/monitoring",
        ),
        ("telemetries.telemetry.istio.io", "v1", "install Istio 1.22 or later (istioctl install)"),
        ("wasmplugins.extensions.istio.io", "v1alpha1", "install Istio 1.22 or later (istioctl install)"),
    ];

    let checks = preflight(&client, &steps).await.expect("the API server answers");
    let expected: Vec<(String, String)> = crds
        .iter()
        .map(|(name, version, hint)| (format!("CRD {name} ({version})"), format!("not installed: {hint}")))
        .collect();
    assert_eq!(failed(&checks), expected);
    let istio = checks.iter().find(|c| c.check == "Istio control plane").expect("Istio row");
    assert_eq!(istio.outcome, preflight::Outcome::Note);

    // Istio and prometheus-operator installed, istiod running; patching WasmPlugins denied.
    for (name, version, _) in crds {
        let (plural, group) = name.split_once('.').expect("plural.group");
        api.apply(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
                   "spec": {"group": group, "names": {"plural": plural}, "versions": [{"name": version, "served": true}]}}),
        );
    }
    api.apply(
        "/apis/apps/v1/deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod", "namespace": "istio-system"},
               "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.30.3"}]}}}}),
    );
    api.deny_access("wasmplugins");
    let checks = preflight(&client, &steps).await.expect("the API server answers");
    let wasm_namespace = steps.iter().find(|s| s.kind() == "WasmPlugin").and_then(|s| s.namespace.clone()).expect("ns");
    assert_eq!(
        failed(&checks),
        [(
            format!("may patch wasmplugins.extensions.istio.io in {wasm_namespace}"),
            "denied: RBAC: no rule allows it".to_owned()
        )]
    );
    let istio = checks.iter().find(|c| c.check == "Istio control plane").expect("Istio row");
    assert_eq!(istio.detail, "istio-system/istiod runs docker.io/istio/pilot:1.30.3");
    assert!(api.requests().iter().all(|r| r.method != "PATCH"), "the pre-flight changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_shows_what_an_apply_would_create_and_change_and_stores_nothing() {
    let api = MockApiServer::start().await;
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");

    let fresh = diff(&client, &steps).await.expect("diffs");
    assert!(fresh.iter().all(|d| d.change == Change::Create), "an empty cluster: everything is new");
    deploy(&client, &steps, Duration::from_secs(20), false).await.expect("deploys");
    let same = diff(&client, &steps).await.expect("diffs");
    assert!(
        same.iter().all(|d| d.change == Change::Unchanged),
        "{:?}",
        same.iter().find(|d| d.change != Change::Unchanged)
    );

    // Someone scaled the control plane by hand: the diff shows the apply would set it back.
    let mut live = api.get("/apis/apps/v1/deployments", "acgs-system", "acgs-control-plane").expect("deployed");
    live["spec"]["replicas"] = json!(5);
    api.apply("/apis/apps/v1/deployments", live);
    let writes_before = api.requests().iter().filter(|r| r.method == "PATCH" && !r.query.contains("dryRun")).count();
    let drifted = diff(&client, &steps).await.expect("diffs");
    let changed: Vec<_> = drifted.iter().filter(|d| d.change != Change::Unchanged).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].object, "Deployment acgs-system/acgs-control-plane");
    assert_eq!(changed[0].change, Change::Update(vec![("spec.replicas".to_owned(), "5".to_owned(), "2".to_owned())]));
    let writes_after = api.requests().iter().filter(|r| r.method == "PATCH" && !r.query.contains("dryRun")).count();
    assert_eq!(writes_before, writes_after, "a diff writes nothing");
    assert!(api.requests().iter().any(|r| r.query.contains("dryRun=All")), "server-side dry runs");
    let live = api.get("/apis/apps/v1/deployments", "acgs-system", "acgs-control-plane").expect("deployed");
    assert_eq!(live["spec"]["replicas"], 5, "still as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_deletes_in_reverse_order_and_keeps_the_crd_and_namespaces_unless_purging() {
    let api = MockApiServer::start().await;
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
    deploy(&client, &steps, Duration::from_secs(20), false).await.expect("deploys");

    let removed = uninstall(&client, &steps, false).await.expect("uninstalls");
    assert_eq!((removed.deleted, removed.already_gone), (steps.len() - 5, 0));
    assert_eq!(
        removed.kept,
        [
            "Secret jaeger-system/elasticsearch-transport-tls",
            "Secret jaeger-system/elasticsearch-credentials",
            "Namespace jaeger-system",
            "Namespace acgs-system",
            "CustomResourceDefinition samplingpolicies.tracing.acgs.io"
        ]
    );
    let left: Vec<String> = api.object_keys().into_iter().map(|(_, _, name)| name).collect();
    assert_eq!(
        left,
        [
            "acgs-system",
            "jaeger-system",
            "elasticsearch-credentials",
            "elasticsearch-transport-tls",
            "samplingpolicies.tracing.acgs.io"
        ]
    );
    let deletes: Vec<String> = api.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path).collect();
    let expected: Vec<String> = steps
        .iter()
        .rev()
        .filter(|s| {
            !matches!(s.kind(), "Namespace" | "CustomResourceDefinition" | "Secret") || s.name == "acgs-telemetry-token"
        })
        .map(|s| s.path())
        .collect();
    assert_eq!(deletes, expected, "the reverse of the deploy order");

    let purged = uninstall(&client, &steps, true).await.expect("purges");
    assert_eq!((purged.deleted, purged.already_gone, purged.kept.len()), (5, steps.len() - 5, 0));
    assert!(api.object_keys().is_empty(), "{:?}", api.object_keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_applies_in_dependency_order_by_server_side_apply_and_waits() {
    let api = MockApiServer::start().await;
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
    let done = deploy(&client, &steps, Duration::from_secs(20), false).await.expect("deploys");
    assert_eq!((done.applied, done.workloads), (45, 6));

    let applies: Vec<_> = api.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(applies.len(), 45, "one server-side apply per resource");
    for apply in &applies {
        assert_eq!(apply.content_type, "application/apply-patch+yaml", "{}", apply.path);
        assert!(
            apply.query.contains("fieldManager=acgs-tracing") && !apply.query.contains("force=true"),
            "{}",
            apply.query
        );
    }
    assert_eq!(
        applies[0].path,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/samplingpolicies.tracing.acgs.io"
    );
    let requests = api.requests();
    let crd_checked = requests
        .iter()
        .position(|r| r.method == "GET" && r.path.contains("customresourcedefinitions"))
        .expect("CRD checked");
    let second_apply =
        requests.iter().position(|r| r.method == "PATCH" && r.path == "/api/v1/namespaces/acgs-system").expect("ns");
    assert!(crd_checked < second_apply, "the CRD is established before anything else is applied");
    let position =
        |needle: &str| applies.iter().position(|r| r.path.ends_with(needle)).unwrap_or_else(|| panic!("{needle}"));
    assert!(position("/namespaces/acgs-system") < position("/serviceaccounts/acgs-control-plane"));
    assert!(position("/clusterrolebindings/acgs-control-plane") < position("/deployments/acgs-control-plane"));
    assert!(position("/configmaps/otel-collector-config") < position("/deployments/otel-collector"));
    assert!(position("/deployments/acgs-control-plane") < position("/samplingpolicies/seed"));
    let stored = api.get("/apis/tracing.acgs.io/v1alpha1/samplingpolicies", "acgs-system", "seed").expect("applied");
    assert_eq!(stored["spec"]["defaultStrategy"]["param"], 1.0);
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/apis/apps/v1/namespaces/jaeger-system/statefulsets/elasticsearch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_owned_by_another_manager_stops_the_deploy_unless_conflicts_are_forced() {
    let api = MockApiServer::start().await;
    // The API server's answer to an apply that would change fields another manager owns.
    api.refuse_writes("/apis/telemetry.istio.io/v1/telemetries", 409);
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
    let error = deploy(&client, &steps, Duration::from_secs(20), false).await.expect_err("a conflict");
    assert!(matches!(error, DeployError::Conflict { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("Telemetry istio-system/acgs-mesh-tracing") && text.contains("--force-conflicts"), "{text}");

    api.accept_writes("/apis/telemetry.istio.io/v1/telemetries");
    deploy(&client, &steps, Duration::from_secs(20), true).await.expect("forced");
    let forced = api.requests().into_iter().rfind(|r| r.method == "PATCH").expect("an apply");
    assert!(forced.query.contains("force=true"), "{}", forced.query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_names_what_did_not_roll_out_in_time() {
    let api = MockApiServer::start().await;
    api.set_rollouts_ready(false);
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let steps = plan(render(&RenderOptions::default()).expect("renders")).expect("plans");
    let crds_only: Vec<_> = steps.iter().filter(|s| s.phase == 0).cloned().collect();
    let error = deploy(&client, &crds_only, Duration::from_millis(600), false).await.expect_err("never established");
    assert!(matches!(error, DeployError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("CustomResourceDefinition samplingpolicies.tracing.acgs.io: not established"),
        "{error}"
    );

    api.set_rollouts_ready(true);
    let mut not_crds: Vec<_> = steps.iter().filter(|s| s.phase > 0).cloned().collect();
    api.set_rollouts_ready(false);
    not_crds.retain(|s| s.kind() != "CustomResourceDefinition");
    let error = deploy(&client, &not_crds, Duration::from_millis(600), false).await.expect_err("never ready");
    let text = error.to_string();
    assert!(text.contains("Deployment acgs-system/acgs-control-plane: 0/2 ready, 0 updated (kubectl -n acgs-system describe deployment/acgs-control-plane)"), "{text}");
    assert!(text.contains("StatefulSet jaeger-system/elasticsearch: 0/3 ready"), "{text}");

    let unreachable =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("URL"))).expect("client");
    let error = deploy(&unreachable, &steps, Duration::from_secs(2), false).await.expect_err("unreachable");
    assert!(matches!(error, DeployError::Unreachable { .. }), "{error}");
}

/// The traced mesh behind `verify`: a service whose sidecar runs the real filter .wasm (strict,
/// the default hash) with Envoy's tracing from the rendered Telemetry, the rendered Collector
/// tiers its spans go through, and a clock that a Jaeger query advances by the decision wait
/// (time passing between the request and the question).
struct TracedMesh {
    proxy: acgs_wasm_host::Proxy,
    collector: CollectorStandIn<RecordedSpan>,
    clock: Duration,
}

type SharedMesh = Arc<Mutex<TracedMesh>>;

fn traced_mesh() -> SharedMesh {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let host = "constitutional-core.acgs-system.svc.cluster.local";
    let tracing = tracing_for(&manifests, ProxyRole::SidecarInbound, "constitutional-core", "acgs-system", host, 8080)
        .expect("tracing");
    let config = json!({"mode": "strict"}).to_string();
    let proxy = start_sidecar_traced(
        "constitutional-core",
        config.as_bytes(),
        1,
        BTreeMap::<String, acgs_wasm_host::Cluster>::new(),
        Some(tracing),
    )
    .expect("sidecar");
    let collector = CollectorStandIn::from_render(&manifests).expect("collector tiers");
    Arc::new(Mutex::new(TracedMesh { proxy, collector, clock: Duration::ZERO }))
}

/// A loopback "mesh" service: requests go through the sidecar, then to an upstream that
/// answers 200; Envoy's spans go to the Collector stand-in.
async fn mesh_service(mesh: SharedMesh) -> SocketAddr {
    let app = axum::Router::new().route(
        "/v1/constitutional/validate",
        get(move |headers: axum::http::HeaderMap| {
            let mesh = Arc::clone(&mesh);
            async move {
                let extra: Vec<(String, String)> = headers
                    .iter()
                    .filter(|(name, _)| !matches!(name.as_str(), "host" | "accept-encoding" | "user-agent"))
                    .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
                    .collect();
                let extra: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let mut mesh = mesh.lock().expect("mesh");
                let mut upstream = |_: &Headers, _: &[u8]| HttpResponse {
                    status: 200,
                    headers: Headers::new(),
                    body: b"validated".to_vec(),
                    trailers: Headers::new(),
                };
                let outcome = mesh.proxy.workers_mut()[0]
                    .handle(request("GET", "/v1/constitutional/validate", &extra), &mut upstream);
                let TracedMesh { proxy, collector, clock } = &mut *mesh;
                for span in proxy.take_spans() {
                    collector.receive(&span, *clock);
                }
                let mut response = axum::http::Response::builder().status(outcome.response.status);
                for (name, value) in outcome.response.headers.iter() {
                    response = response.header(name, value);
                }
                response.body(axum::body::Body::from(outcome.response.body)).expect("response")
            }
        }),
    );
    serve(app).await
}

/// Jaeger's query API over what the Collector stand-in stored: `/api/services` and
/// `/api/traces/{id}` (Jaeger's JSON; 404 with Jaeger's error body for an unknown trace).
async fn jaeger_query(mesh: SharedMesh) -> SocketAddr {
    let trace = move |axum::extract::Path(id): axum::extract::Path<String>| {
        let mesh = Arc::clone(&mesh);
        async move {
            let mut mesh = mesh.lock().expect("mesh");
            let wait = mesh.collector.decision_wait();
            mesh.clock += wait;
            let now = mesh.clock;
            mesh.collector.tick(now);
            let spans: Vec<Value> = mesh
                .collector
                .stored("otlp/jaeger")
                .iter()
                .filter(|(span, _)| span.trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>() == id)
                .map(|(span, _)| {
                    let tags: Vec<Value> =
                        span.attributes.iter().map(|(k, v)| json!({"key": k, "type": "string", "value": v})).collect();
                    json!({"traceID": id, "spanID": span.span_id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                           "operationName": span.name, "references": [], "startTime": 0, "duration": 1,
                           "tags": tags, "processID": "p1"})
                })
                .collect();
            if spans.is_empty() {
                let body = json!({"data": null, "errors": [{"code": 404, "msg": "trace not found"}]});
                return (StatusCode::NOT_FOUND, body.to_string());
            }
            let body = json!({"data": [{"traceID": id, "spans": spans,
                "processes": {"p1": {"serviceName": "constitutional-core.acgs-system", "tags": []}}}]});
            (StatusCode::OK, body.to_string())
        }
    };
    let services = || async { json!({"data": ["auth-service", "constitutional-core"]}).to_string() };
    serve(axum::Router::new().route("/api/services", get(services)).route("/api/traces/{id}", get(trace))).await
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn stand_in(path: &'static str, status: StatusCode, body: Value) -> SocketAddr {
    serve(axum::Router::new().route(path, get(move || async move { (status, body.to_string()) }))).await
}

const ES_PASSWORD: &str = "a-generated-password";

/// Elasticsearch with security on: `_cluster/health` answers only the `elastic` user with
/// `ES_PASSWORD` (HTTP basic), else 401 with its security exception.
async fn secured_elasticsearch(health: Value) -> SocketAddr {
    // `echo -n elastic:a-generated-password | base64`
    let expected = "Basic ZWxhc3RpYzphLWdlbmVyYXRlZC1wYXNzd29yZA==";
    let handler = move |headers: axum::http::HeaderMap| async move {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected) {
            (StatusCode::OK, health.to_string())
        } else {
            let refused = json!({"error": {"type": "security_exception",
                "reason": "missing authentication credentials for REST request [/_cluster/health]"}, "status": 401});
            (StatusCode::UNAUTHORIZED, refused.to_string())
        }
    };
    serve(axum::Router::new().route("/_cluster/health", get(handler))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_each_check_with_what_it_saw() {
    let control_plane = start(ServerConfig::loopback(None)).await.expect("control plane");
    let collector = stand_in("/", StatusCode::OK, json!({"status": "Server available"})).await;
    let traced = traced_mesh();
    let jaeger = jaeger_query(Arc::clone(&traced)).await;
    let green = secured_elasticsearch(json!({"status": "green", "number_of_nodes": 3})).await;
    let mesh = mesh_service(traced).await;
    let endpoints = Endpoints {
        control_plane: format!("http://{}", control_plane.http_addr),
        collector_health: format!("http://{collector}"),
        jaeger_query: format!("http://{jaeger}"),
        elasticsearch: format!("http://{green}"),
        elasticsearch_password: Some(ES_PASSWORD.to_owned()),
        mesh: Some(format!("http://{mesh}/v1/constitutional/validate")),
        hash: HASH.to_owned(),
        timeout: Duration::from_secs(5),
        trace_wait: Duration::from_secs(5),
    };
    let checks = tokio::task::spawn_blocking({
        let endpoints = endpoints.clone();
        move || verify(&endpoints)
    })
    .await
    .expect("verify");
    let summary: Vec<(&str, Outcome, &str)> = checks.iter().map(|c| (c.name, c.outcome, c.detail.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            ("control plane ready", Outcome::Pass, "ready: strategies loaded"),
            ("constitutional operations sampled at 100 %", Outcome::Pass, "constitutional-core sampled at 1.0"),
            ("OTel Collector healthy", Outcome::Pass, "Server available"),
            ("Jaeger query answers", Outcome::Pass, "2 services with traces"),
            ("Elasticsearch cluster health", Outcome::Pass, "green, 3 nodes"),
            ("request without the hash is refused", Outcome::Pass, "403, status missing"),
            ("request with the hash passes", Outcome::Pass, "HTTP 200, hash echoed"),
            (
                "its trace reaches Jaeger with the filter's tags",
                Outcome::Pass,
                "1 spans; constitutional-core.acgs-system: constitutional.hash.status=valid, \
                 acgs.sampling.decision=keep (constitutional@constitutional-core)"
            ),
        ]
    );

    let untraced = stand_in("/api/services", StatusCode::OK, json!({"data": []})).await;
    let lost = Endpoints {
        jaeger_query: format!("http://{untraced}"),
        trace_wait: Duration::from_millis(1_500),
        ..endpoints.clone()
    };
    let checks = tokio::task::spawn_blocking(move || verify(&lost)).await.expect("verify");
    let lost = checks.iter().find(|c| c.name == "its trace reaches Jaeger with the filter's tags").expect("check");
    assert_eq!(lost.outcome, Outcome::Fail);
    assert_eq!(lost.detail, "not found with the filter's tags within 1s 500ms: HTTP 404 (not stored yet?)");
    assert!(lost.remedy.contains("otel-sampler"), "{}", lost.remedy);

    // Without the password, or with a wrong one, a secured Elasticsearch answers 401.
    for (password, detail) in [
        (None, "HTTP 401: Elasticsearch runs with security on; pass --elasticsearch-password"),
        (Some("wrong".to_owned()), "HTTP 401: the password was refused"),
    ] {
        let anonymous = Endpoints { elasticsearch_password: password, ..endpoints.clone() };
        let checks = tokio::task::spawn_blocking(move || verify(&anonymous)).await.expect("verify");
        let health = checks.iter().find(|c| c.name == "Elasticsearch cluster health").expect("check");
        assert_eq!(health.outcome, Outcome::Fail);
        assert!(health.detail.starts_with(detail), "{}", health.detail);
    }

    let red = secured_elasticsearch(json!({"status": "red", "number_of_nodes": 2})).await;
    let broken = Endpoints {
        collector_health: "http://127.0.0.1:9".to_owned(),
        elasticsearch: format!("http://{red}"),
        hash: "ffffffffffffffff".to_owned(),
        ..endpoints
    };
    let checks = tokio::task::spawn_blocking(move || verify(&broken)).await.expect("verify");
    let by_name: BTreeMap<&str, (Outcome, String)> =
        checks.iter().map(|c| (c.name, (c.outcome, c.detail.clone()))).collect();
    assert_eq!(by_name["OTel Collector healthy"].0, Outcome::Fail);
    assert!(by_name["OTel Collector healthy"].1.starts_with("unreachable: "));
    assert_eq!(
        by_name["Elasticsearch cluster health"],
        (Outcome::Fail, "red, 2 nodes: primary shards are unassigned".to_owned())
    );
    assert_eq!(by_name["request with the hash passes"].0, Outcome::Fail, "a wrong hash is refused by the filter");
    assert!(by_name["request with the hash passes"].1.starts_with("403 with the hash"));
    assert_eq!(
        by_name["its trace reaches Jaeger with the filter's tags"],
        (Outcome::Fail, "the request did not pass the filter".to_owned())
    );
    let failed = checks.iter().find(|c| c.name == "OTel Collector healthy").expect("check");
    assert!(failed.remedy.starts_with("kubectl -n acgs-system logs deploy/otel-collector"));
    control_plane.shutdown().await;
}

/// Whether an Istio WasmPlugin or EnvoyFilter applies to a pod, by Istio's rules: a resource in
/// the root namespace (`istio-system`) applies in every namespace, any other only in its own; no
/// selector means every workload there; else every selector label must be on the pod (istio/api
/// `extensions/v1alpha1/wasm.proto` `selector`, `networking/v1alpha3/envoy_filter.proto`
/// `workload_selector`).
fn filter_applies(filter: &Value, namespace: &str, pod_labels: &serde_json::Map<String, Value>) -> bool {
    let filter_namespace = filter["metadata"]["namespace"].as_str().unwrap_or("default");
    if filter_namespace != "istio-system" && filter_namespace != namespace {
        return false;
    }
    let selector = match filter["kind"].as_str() {
        Some("WasmPlugin") => &filter["spec"]["selector"]["matchLabels"],
        _ => &filter["spec"]["workloadSelector"]["labels"],
    };
    match selector.as_object() {
        None => true,
        Some(wanted) => wanted.iter().all(|(key, value)| pod_labels.get(key) == Some(value)),
    }
}

/// The pod template labels of every workload in a render, with its kind, name and namespace.
fn workloads(manifests: &[bundle::Manifest]) -> Vec<(String, String, serde_json::Map<String, Value>)> {
    manifests
        .iter()
        .filter_map(|manifest| {
            let value = &manifest.value;
            let template = match value["kind"].as_str()? {
                "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => &value["spec"]["template"],
                "CronJob" => &value["spec"]["jobTemplate"]["spec"]["template"],
                _ => return None,
            };
            let name = format!("{}/{}", value["kind"].as_str()?, value["metadata"]["name"].as_str()?);
            let namespace = value["metadata"]["namespace"].as_str().unwrap_or("default").to_owned();
            let labels = template["metadata"]["labels"].as_object().cloned().unwrap_or_default();
            Some((name, namespace, labels))
        })
        .collect()
}

#[test]
fn the_filter_never_lands_on_the_collector_the_control_plane_jaeger_or_elasticsearch() {
    for variant in VARIANTS {
        let rendered = render(&RenderOptions { variant, ..RenderOptions::default() }).expect("renders");
        let filters: Vec<&Value> = rendered
            .iter()
            .map(|manifest| &manifest.value)
            .filter(|value| matches!(value["kind"].as_str(), Some("WasmPlugin" | "EnvoyFilter")))
            .collect();
        assert_eq!(filters.len(), 1, "{variant:?}: one filter resource");
        let workloads = workloads(&rendered);
        assert!(workloads.len() >= 6, "{variant:?}: the render's workloads: {workloads:?}");
        for (workload, namespace, labels) in &workloads {
            assert!(!filter_applies(filters[0], namespace, labels), "{variant:?}: the filter would run in {workload}");
        }
        // The same check passes an application that opted in, and fails a selector-less filter.
        let opted_in = json!({"app": "constitutional-core", "tracing.acgs.io/constitutional": "enforce"});
        let opted_in = opted_in.as_object().expect("labels");
        assert!(filter_applies(filters[0], "acgs-system", opted_in), "{variant:?}: an opted-in app gets it");
        assert!(!filter_applies(filters[0], "other-team", opted_in), "{variant:?}: only in its namespace");
        let mut unselected = filters[0].clone();
        unselected["spec"]
            .as_object_mut()
            .expect("spec")
            .retain(|key, _| key != "selector" && key != "workloadSelector");
        let collector = workloads.iter().find(|(name, ..)| name == "Deployment/otel-collector").expect("collector");
        assert!(filter_applies(&unselected, &collector.1, &collector.2), "without a selector it would run there");
    }
}

#[test]
fn the_filter_runs_inbound_on_the_application_port_only() {
    let rendered = render(&RenderOptions::default()).expect("renders");
    let plugin = rendered.iter().find(|m| m.value["kind"] == "WasmPlugin").expect("WasmPlugin");
    assert_eq!(plugin.value["spec"]["match"], json!([{"mode": "SERVER", "ports": [{"number": 8080}]}]));
    let envoy_filter = render(&RenderOptions { variant: Variant::Envoyfilter, ..RenderOptions::default() })
        .expect("renders")
        .into_iter()
        .find(|m| m.value["kind"] == "EnvoyFilter")
        .expect("EnvoyFilter");
    let matched = &envoy_filter.value["spec"]["configPatches"][0]["match"];
    assert_eq!(matched["context"], "SIDECAR_INBOUND");
    assert_eq!(matched["listener"]["filterChain"]["destinationPort"], 8080);
}
