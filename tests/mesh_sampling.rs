//! Sampling as it takes effect in an Istio mesh (docs/mesh.md), end to end: a gateway and two
//! services, each sidecar an Envoy of the host with Envoy's tracing configured from the rendered
//! Telemetry resource (100 %: every hop recorded), the real filter .wasm inbound on both
//! services, their strategies (service-a 0.1, service-b 1.0) served by the real control plane
//! from a strategies file, and every recorded span passed through the rendered Collector tiers
//! (routing by trace id, tail sampling). What the storage receives must be what the strategies
//! say: the trace's fate is the entry service's strategy, violations and constitutional
//! operations are always kept, no trace is half kept, no hop has two spans.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use acgs_control_plane::collector::CollectorStandIn;
use acgs_control_plane::mesh::istio::{tracing_for, ProxyRole};
use acgs_control_plane::rollout::bundle::Manifest;
use acgs_control_plane::rollout::render::{render, RenderOptions};
use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::{filter_module, noop_module, start_proxy, HASH};
use acgs_wasm_host::{Headers, HttpRequest, HttpResponse, Proxy, RecordedSpan, SpanKind};
use serde_json::json;

const CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
const NAMESPACE: &str = "acgs-system";
const REQUESTS: u64 = 3_000;

/// A deterministic request mix (xorshift64*).
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn host(service: &str) -> String {
    format!("{service}.{NAMESPACE}.svc.cluster.local")
}

/// What service-a's application does with one request: which call it makes to service-b.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppCall {
    /// `GET /v1/b/items/7`, propagating the trace context, `baggage` and `x-request-id`.
    Plain,
    /// `POST /v1/constitutional/validate` on service-b (a constitutional operation there).
    Constitutional,
    /// The call without the constitutional hash (a bug in the app): service-b answers 403.
    ForgetsTheHash,
    /// The call without `baggage` (an app whose SDK does not propagate it).
    DropsBaggage,
}

/// The mesh: the gateway, service-a's inbound and outbound listeners, service-b's inbound one,
/// and the spans the applications' SDKs record (one SERVER span per request they serve).
struct Mesh {
    gateway: Proxy,
    a_inbound: Proxy,
    a_outbound: Proxy,
    b_inbound: Proxy,
    app_spans: Vec<RecordedSpan>,
}

fn proxy(manifests: &[Manifest], role: ProxyRole, app: &str, target: &str, control: &RunningServer) -> Proxy {
    let tracing = tracing_for(manifests, role, app, NAMESPACE, &host(target), 8080).expect("tracing from the render");
    let (module, config) = match role {
        ProxyRole::SidecarInbound => (
            filter_module(),
            json!({
                "service": app,
                "control_plane": {"cluster": CLUSTER, "authority": "cp", "poll_interval_ms": 200, "flush_interval_ms": 60000, "timeout_ms": 1000},
                "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}}
            }),
        ),
        ProxyRole::SidecarOutbound | ProxyRole::Gateway => (noop_module(), json!({})),
    };
    let clusters = BTreeMap::from([(CLUSTER.to_owned(), control.http_addr)]);
    start_proxy(&module, app, config.to_string().as_bytes(), 1, clusters, Some(tracing)).expect("proxy starts")
}

fn ok() -> HttpResponse {
    HttpResponse { status: 200, headers: Headers::new(), body: b"ok".to_vec(), trailers: Headers::new() }
}

fn request(headers: Headers) -> HttpRequest {
    HttpRequest {
        headers,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: std::net::SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

/// A request as a client outside the mesh sends it to the gateway.
fn client_request(method: &str, path: &str, target: &str, with_hash: bool) -> HttpRequest {
    let mut headers = Headers::new();
    headers.push(":method", method);
    headers.push(":path", path);
    headers.push(":authority", host(target));
    headers.push(":scheme", "http");
    if with_hash {
        headers.push("constitutional-hash", HASH);
    }
    request(headers)
}

/// The span an application's SDK records for a request it serves, child of the hop's span.
fn app_span(service: &str, inbound: &Headers) -> Option<RecordedSpan> {
    let traceparent = inbound.get_str("traceparent")?;
    let parts: Vec<&str> = traceparent.split('-').collect();
    let trace_id = u128::from_str_radix(parts.get(1)?, 16).ok()?.to_be_bytes();
    let parent = u64::from_str_radix(parts.get(2)?, 16).ok()?.to_be_bytes();
    Some(RecordedSpan {
        service_name: format!("{service}-app"),
        trace_id,
        span_id: (u64::from_be_bytes(parent) ^ 0x5a5a).to_be_bytes(),
        parent_span_id: Some(parent),
        name: format!("{} {}", inbound.get_str(":method")?, inbound.get_str(":path")?),
        kind: SpanKind::Server,
        start_unix_nanos: 0,
        end_unix_nanos: 1,
        attributes: Vec::new(),
        error: false,
    })
}

impl Mesh {
    fn new(manifests: &[Manifest], control: &RunningServer) -> Self {
        let mut mesh = Self {
            gateway: proxy(manifests, ProxyRole::Gateway, "istio-ingressgateway", "service-a", control),
            a_inbound: proxy(manifests, ProxyRole::SidecarInbound, "service-a", "service-a", control),
            a_outbound: proxy(manifests, ProxyRole::SidecarOutbound, "service-a", "service-b", control),
            b_inbound: proxy(manifests, ProxyRole::SidecarInbound, "service-b", "service-b", control),
            app_spans: Vec::new(),
        };
        mesh.wait_for_strategy("a", "probabilistic(0.1)@service-a");
        mesh.wait_for_strategy("b", "probabilistic(1)@service-b");
        for proxy in [&mesh.gateway, &mesh.a_inbound, &mesh.a_outbound, &mesh.b_inbound] {
            proxy.take_spans();
        }
        mesh
    }

    /// Polls until the service's filter names its strategy from the control plane in its rule
    /// (the fallback is 0.5).
    fn wait_for_strategy(&mut self, which: &str, rule: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let proxy = if which == "a" { &mut self.a_inbound } else { &mut self.b_inbound };
        loop {
            let worker = &mut proxy.workers_mut()[0];
            worker.run_for(Duration::from_millis(20));
            let mut seen = None;
            let mut upstream = |headers: &Headers, _: &[u8]| {
                seen = headers.get_str("x-acgs-sampling-rule").map(str::to_owned);
                ok()
            };
            worker.handle(client_request("GET", "/v1/probe", "service-a", true), &mut upstream);
            if seen.as_deref() == Some(rule) {
                return;
            }
            assert!(Instant::now() < deadline, "{which}: still {seen:?}, waiting for {rule}");
        }
    }

    /// One client request through the gateway to `target`, and on through service-a's app.
    fn send(&mut self, target: &str, client: HttpRequest, call: AppCall) -> u16 {
        let Self { gateway, a_inbound, a_outbound, b_inbound, app_spans } = self;
        let app_spans = RefCell::new(app_spans);
        let b_inbound = RefCell::new(b_inbound);
        let b_app = |headers: &Headers, _: &[u8]| {
            app_spans.borrow_mut().extend(app_span("service-b", headers));
            ok()
        };
        let to_b = |headers: &Headers| -> HttpResponse {
            let mut b_app = b_app;
            b_inbound.borrow_mut().workers_mut()[0].handle(request(headers.clone()), &mut b_app).response
        };
        let mut a_app = |headers: &Headers, _: &[u8]| -> HttpResponse {
            let span = app_span("service-a", headers);
            let mut out = Headers::new();
            let (method, path) = match call {
                AppCall::Constitutional => ("POST", "/v1/constitutional/validate"),
                _ => ("GET", "/v1/b/items/7"),
            };
            out.push(":method", method);
            out.push(":path", path);
            out.push(":authority", host("service-b"));
            out.push(":scheme", "http");
            // The SDK's span is the parent of the outbound call; Istio asks apps to propagate
            // x-request-id; the OTel SDK's default propagators carry baggage.
            if let Some(span) = &span {
                let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                let parent: String = span.span_id.iter().map(|b| format!("{b:02x}")).collect();
                out.push("traceparent", format!("00-{trace}-{parent}-01"));
            }
            for name in ["x-request-id", "baggage"] {
                if let Some(value) = headers.get(name) {
                    if !(name == "baggage" && call == AppCall::DropsBaggage) {
                        out.push(name, value);
                    }
                }
            }
            if call != AppCall::ForgetsTheHash {
                out.push("constitutional-hash", HASH);
            }
            app_spans.borrow_mut().extend(span);
            let mut upstream = |headers: &Headers, _: &[u8]| to_b(headers);
            let response = a_outbound.workers_mut()[0].handle(request(out), &mut upstream).response;
            if response.status == 200 {
                ok()
            } else {
                HttpResponse { status: 502, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() }
            }
        };
        let mut to_target = |headers: &Headers, _: &[u8]| -> HttpResponse {
            if target == "service-a" {
                a_inbound.workers_mut()[0].handle(request(headers.clone()), &mut a_app).response
            } else {
                to_b(headers)
            }
        };
        gateway.workers_mut()[0].handle(client, &mut to_target).response.status
    }

    /// Every span recorded so far: Envoy's from each proxy, and the applications'.
    fn spans(&mut self) -> Vec<RecordedSpan> {
        let mut spans = Vec::new();
        for proxy in [&self.gateway, &self.a_inbound, &self.a_outbound, &self.b_inbound] {
            spans.extend(proxy.take_spans());
        }
        spans.append(&mut self.app_spans);
        spans
    }
}

fn strategies_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-mesh-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("strategies.json");
    let strategies = json!({
        "default_strategy": {"type": "probabilistic", "param": 1.0},
        "service_strategies": [
            {"service": "service-a", "type": "probabilistic", "param": 0.1},
            {"service": "service-b", "type": "probabilistic", "param": 1.0}
        ]
    });
    std::fs::write(&file, strategies.to_string()).expect("write strategies");
    file
}

/// How one request was sent, to compare with what the storage got.
#[derive(Debug, Clone, Copy)]
struct Sent {
    target: &'static str,
    with_hash: bool,
    call: AppCall,
}

fn by_trace(spans: &[RecordedSpan]) -> HashMap<[u8; 16], Vec<&RecordedSpan>> {
    let mut traces: HashMap<[u8; 16], Vec<&RecordedSpan>> = HashMap::new();
    for span in spans {
        traces.entry(span.trace_id).or_default().push(span);
    }
    traces
}

fn is_violation(span: &RecordedSpan) -> bool {
    matches!(span.attribute("constitutional.hash.status"), Some("missing" | "mismatch"))
}

/// The trace's entry service: the first inbound sidecar span below the gateway.
fn entry_of(spans: &[&RecordedSpan]) -> Option<String> {
    let gateway_child = spans.iter().find(|s| s.kind == SpanKind::Client && s.service_name.starts_with("istio"))?;
    let entry = spans.iter().find(|s| s.parent_span_id == Some(gateway_child.span_id))?;
    Some(entry.service_name.clone())
}

#[test]
fn what_the_storage_keeps_is_what_the_strategies_say() {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let control = runtime.block_on(start(ServerConfig::loopback(Some(strategies_file())))).expect("control plane");
    let mut mesh = Mesh::new(&manifests, &control);

    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut sent = Vec::new();
    for _ in 0..REQUESTS {
        let target = if dice.roll() < 0.2 { "service-b" } else { "service-a" };
        let with_hash = dice.roll() >= 0.01;
        let roll = dice.roll();
        let call = if roll < 0.05 {
            AppCall::Constitutional
        } else if roll < 0.06 {
            AppCall::ForgetsTheHash
        } else {
            AppCall::Plain
        };
        let path = if target == "service-a" { "/v1/a/items" } else { "/v1/b/items" };
        let status = mesh.send(target, client_request("GET", path, target, with_hash), call);
        let expected = match (with_hash, target, call) {
            (false, ..) => 403,
            (true, "service-a", AppCall::ForgetsTheHash) => 502,
            _ => 200,
        };
        assert_eq!(status, expected, "{target} hash={with_hash} {call:?}");
        sent.push(Sent { target, with_hash, call });
    }

    let spans = mesh.spans();
    let traces = by_trace(&spans);
    assert_eq!(traces.len() as u64, REQUESTS, "one trace per client request: the context travelled");

    // Envoy records every hop once: gateway SERVER + its upstream CLIENT span, each sidecar's
    // inbound SERVER span, service-a's outbound CLIENT span, the apps' own spans. The filter's
    // span records are telemetry only (`tracer: envoy`), never a second span of a hop.
    for (trace_id, spans) in &traces {
        let mut hops: HashMap<(&str, bool), u32> = HashMap::new();
        for span in spans {
            *hops.entry((span.service_name.as_str(), span.kind == SpanKind::Server)).or_default() += 1;
            assert_eq!(span.attribute("acgs.service"), None, "a filter span record was exported");
        }
        assert!(hops.values().all(|n| *n == 1), "a hop with two spans in {trace_id:02x?}: {hops:?}");
    }

    let mut collector = CollectorStandIn::from_render(&manifests).expect("the rendered collector tiers");
    for span in &spans {
        collector.receive(span, Duration::ZERO);
    }
    collector.tick(collector.decision_wait());
    let stored: Vec<RecordedSpan> = collector.stored("otlp/jaeger").iter().map(|(span, _)| span.clone()).collect();
    let constitutional_store: Vec<RecordedSpan> =
        collector.stored("otlp/jaeger-constitutional").iter().map(|(span, _)| span.clone()).collect();
    let kept = by_trace(&stored);
    let kept_30_days = by_trace(&constitutional_store);

    let (mut plain_a, mut plain_a_kept, mut plain_b) = (0u64, 0u64, 0u64);
    let (mut forced, mut constitutional) = (0u64, 0u64);
    for (trace_id, spans) in &traces {
        let kept_spans = kept.get(trace_id).map_or(0, Vec::len);
        assert!(kept_spans == 0 || kept_spans == spans.len(), "trace {trace_id:02x?} half kept");
        let violation = spans.iter().any(|s| is_violation(s));
        let is_constitutional = spans.iter().any(|s| s.attribute("acgs.category") == Some("constitutional"));
        if violation || is_constitutional {
            forced += 1;
            assert_eq!(kept_spans, spans.len(), "violations and constitutional operations are always kept");
            if is_constitutional {
                constitutional += 1;
                assert_eq!(kept_30_days.get(trace_id).map_or(0, Vec::len), spans.len(), "whole, for 30 days");
            }
            continue;
        }
        assert!(!kept_30_days.contains_key(trace_id), "only constitutional traces are kept 30 days");
        match entry_of(spans).as_deref() {
            Some("service-a.acgs-system") => {
                plain_a += 1;
                plain_a_kept += u64::from(kept_spans > 0);
                // Every hop of the trace carries the entry's decision and rule (baggage).
                let b = spans
                    .iter()
                    .find(|s| s.service_name == "service-b.acgs-system" && s.kind == SpanKind::Server)
                    .expect("service-b's hop");
                assert_eq!(b.attribute("acgs.sampling.rule"), Some("probabilistic(0.1)@service-a"));
                let decision = if kept_spans > 0 { "keep" } else { "drop" };
                assert_eq!(b.attribute("acgs.sampling.decision"), Some(decision));
            }
            Some("service-b.acgs-system") => {
                plain_b += 1;
                assert_eq!(kept_spans, spans.len(), "service-b's strategy is 1.0");
            }
            other => panic!("trace {trace_id:02x?} entered at {other:?}"),
        }
    }
    let sent_forced =
        sent.iter().filter(|s| !s.with_hash || s.call != AppCall::Plain && s.target == "service-a").count();
    assert_eq!(forced, sent_forced as u64, "every violation and constitutional trace was recognised");
    assert!(constitutional > 100 && plain_b > 400, "the mix: {constitutional} constitutional, {plain_b} at b");
    // Binomial bounds: 5 standard deviations around 0.1 of the plain traces entering at a.
    let expected = plain_a as f64 * 0.1;
    let sigma = (plain_a as f64 * 0.1 * 0.9).sqrt();
    assert!(
        (plain_a_kept as f64 - expected).abs() <= 5.0 * sigma,
        "{plain_a_kept} of {plain_a} plain traces entering at service-a kept, expected {expected:.0} ± {:.0}",
        5.0 * sigma
    );
    runtime.block_on(control.shutdown());
}

#[test]
fn an_app_that_does_not_propagate_baggage_lets_the_next_hop_decide_and_the_trace_stays_whole() {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let control = runtime.block_on(start(ServerConfig::loopback(Some(strategies_file())))).expect("control plane");
    let mut mesh = Mesh::new(&manifests, &control);
    for _ in 0..200 {
        let status =
            mesh.send("service-a", client_request("GET", "/v1/a/items", "service-a", true), AppCall::DropsBaggage);
        assert_eq!(status, 200);
    }
    let spans = mesh.spans();
    let traces = by_trace(&spans);
    let mut collector = CollectorStandIn::from_render(&manifests).expect("the rendered collector tiers");
    for span in &spans {
        collector.receive(span, Duration::ZERO);
    }
    collector.tick(collector.decision_wait());
    let kept = by_trace(&collector.stored("otlp/jaeger").iter().map(|(span, _)| span.clone()).collect::<Vec<_>>())
        .into_iter()
        .map(|(id, spans)| (id, spans.len()))
        .collect::<HashMap<_, _>>();
    assert_eq!(traces.len(), 200);
    for (trace_id, spans) in &traces {
        let b = spans.iter().find(|s| s.service_name == "service-b.acgs-system" && s.kind == SpanKind::Server);
        let b = b.expect("service-b's hop");
        // Without the entry's decision, service-b decides as an entry would, with its own
        // strategy (1.0), on the same x-request-id coin: the trace is kept, whole.
        assert_eq!(b.attribute("acgs.sampling.rule"), Some("probabilistic(1)@service-b"));
        assert_eq!(kept.get(trace_id).copied(), Some(spans.len()), "kept whole: any hop's keep keeps the trace");
    }
    runtime.block_on(control.shutdown());
}
