//! A request chain as Istio runs it, for the tests and `bench pipeline`: a client's request enters
//! at the ingress gateway and goes to service-a's sidecar (inbound, with the filter) and
//! application, which calls service-b through its sidecar's outbound listener, to service-b's
//! sidecar (inbound, with the filter) and application; or straight from the gateway to service-b.
//! Every Envoy traces as the rendered Telemetry says ([`super::istio`]), the gateway and the
//! outbound listener run no ACGS filter. The applications behave as an OpenTelemetry SDK with a
//! parent-based sampler does: they record a SERVER span when the incoming `traceparent` is
//! sampled, and propagate `traceparent` (their span as the parent, or the incoming context with
//! its flag when they did not record), `baggage` and `x-request-id`, as Istio asks applications
//! to.

use std::cell::RefCell;
use std::net::SocketAddr;

use acgs_wasm_host::{FilterModule, Headers, HttpRequest, HttpResponse, Proxy, RecordedSpan, SpanKind};
use anyhow::Context as _;

use super::istio::{tracing_for, ProxyRole};
use super::seed::{CONSTITUTIONAL_HASH, HASH_HEADER};
use super::sidecar::SidecarSpec;
use crate::rollout::bundle::Manifest;
use crate::rollout::render::DEFAULT_NAMESPACE;

pub const SERVICE_A: &str = "service-a";
pub const SERVICE_B: &str = "service-b";
pub const GATEWAY: &str = "istio-ingressgateway";
const PORT: u16 = 8080;

/// Where a client's request goes from the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    ServiceA,
    ServiceB,
}

/// What service-a's application does with a request: its call to service-b.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCall {
    /// `GET /v1/b/items/7` with the hash, the trace context, `baggage` and `x-request-id`.
    Plain,
    /// `POST /v1/constitutional/validate` on service-b (a constitutional operation there).
    Constitutional,
    /// The call without the constitutional hash (a bug in the app): service-b answers 403, the
    /// app 502.
    ForgetsTheHash,
    /// The call without `baggage` (an app whose SDK does not propagate it).
    DropsBaggage,
}

/// How the chain is set up.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The filter configuration (WasmPlugin `pluginConfig`) of service-a's and service-b's sidecars.
    pub filters: [serde_json::Value; 2],
    /// The control plane the filters reach (cluster `outbound|5778||acgs-control-plane…`).
    pub control_plane: Option<SocketAddr>,
    /// Istio's percentage at the gateway, where traces start (head sampling); `None`: as rendered.
    pub gateway_percent: Option<f64>,
}

/// The running chain.
#[derive(Debug)]
pub struct Chain {
    gateway: Proxy,
    a_inbound: Proxy,
    a_outbound: Proxy,
    b_inbound: Proxy,
    app_spans: Vec<RecordedSpan>,
}

pub fn host(service: &str) -> String {
    format!("{service}.{DEFAULT_NAMESPACE}.svc.cluster.local")
}

fn ok() -> HttpResponse {
    HttpResponse { status: 200, headers: Headers::new(), body: b"ok".to_vec(), trailers: Headers::new() }
}

fn request(headers: Headers) -> HttpRequest {
    HttpRequest {
        headers,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request as a client outside the mesh sends it to the gateway.
pub fn client_request(method: &str, path: &str, target: &str, with_hash: bool) -> HttpRequest {
    let mut headers = Headers::new();
    headers.push(":method", method);
    headers.push(":path", path);
    headers.push(":authority", host(target));
    headers.push(":scheme", "http");
    if with_hash {
        headers.push(HASH_HEADER, CONSTITUTIONAL_HASH);
    }
    request(headers)
}

/// The SERVER span an application's SDK records for a request it serves, child of the hop's
/// span (the `traceparent` the sidecar's router wrote), when that is sampled.
fn app_span(service: &str, inbound: &Headers) -> Option<RecordedSpan> {
    let parts: Vec<&str> = inbound.get_str("traceparent")?.split('-').collect();
    if parts.get(3) != Some(&"01") {
        return None;
    }
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

/// service-a's application: its call to service-b, as `call` says.
fn outbound_call(inbound: &Headers, app: Option<&RecordedSpan>, call: AppCall) -> Headers {
    let mut out = Headers::new();
    let (method, path) = match call {
        AppCall::Constitutional => ("POST", "/v1/constitutional/validate"),
        _ => ("GET", "/v1/b/items/7"),
    };
    out.push(":method", method);
    out.push(":path", path);
    out.push(":authority", host(SERVICE_B));
    out.push(":scheme", "http");
    match (app, inbound.get("traceparent")) {
        (Some(span), _) => out.push("traceparent", format!("00-{}-{}-01", hex(&span.trace_id), hex(&span.span_id))),
        (None, Some(unsampled)) => out.push("traceparent", unsampled),
        (None, None) => {}
    }
    if let Some(request_id) = inbound.get("x-request-id") {
        out.push("x-request-id", request_id);
    }
    if let (Some(baggage), false) = (inbound.get("baggage"), call == AppCall::DropsBaggage) {
        out.push("baggage", baggage);
    }
    if call != AppCall::ForgetsTheHash {
        out.push(HASH_HEADER, CONSTITUTIONAL_HASH);
    }
    out
}

impl Chain {
    /// Starts the four Envoys: the gateway and service-a's outbound listener with `noop` (no ACGS
    /// filter), both services' inbound listeners with `filter`.
    pub fn start(
        manifests: &[Manifest],
        filter: &FilterModule,
        noop: &FilterModule,
        config: &ChainConfig,
    ) -> anyhow::Result<Self> {
        let start = |role: ProxyRole, app: &str, target: &str, module: &FilterModule, plugin: serde_json::Value| {
            let mut tracing = tracing_for(manifests, role, app, DEFAULT_NAMESPACE, &host(target), PORT)
                .map_err(|e| anyhow::anyhow!("the rendered Telemetry: {e}"))?;
            if let (ProxyRole::Gateway, Some(percent)) = (role, config.gateway_percent) {
                tracing.random_sampling_percent = percent;
            }
            let mut spec = SidecarSpec::new(app, plugin);
            spec.namespace = DEFAULT_NAMESPACE.to_owned();
            spec.control_plane = config.control_plane;
            spec.tracing = Some(tracing);
            spec.start(module).with_context(|| format!("starting {app}'s Envoy ({role:?})"))
        };
        let [a_filter, b_filter] = config.filters.clone();
        Ok(Self {
            gateway: start(ProxyRole::Gateway, GATEWAY, SERVICE_A, noop, serde_json::json!({}))?,
            a_inbound: start(ProxyRole::SidecarInbound, SERVICE_A, SERVICE_A, filter, a_filter)?,
            a_outbound: start(ProxyRole::SidecarOutbound, SERVICE_A, SERVICE_B, noop, serde_json::json!({}))?,
            b_inbound: start(ProxyRole::SidecarInbound, SERVICE_B, SERVICE_B, filter, b_filter)?,
            app_spans: Vec::new(),
        })
    }

    /// The sidecar (inbound listener, with the filter) of one service.
    pub fn sidecar_mut(&mut self, service: Entry) -> &mut Proxy {
        match service {
            Entry::ServiceA => &mut self.a_inbound,
            Entry::ServiceB => &mut self.b_inbound,
        }
    }

    /// One client request through the gateway to `entry` (and on through service-a's app):
    /// the status the client got.
    pub fn send(&mut self, entry: Entry, with_hash: bool, call: AppCall) -> u16 {
        let client = match entry {
            Entry::ServiceA => client_request("GET", "/v1/a/items", SERVICE_A, with_hash),
            Entry::ServiceB => client_request("GET", "/v1/b/items", SERVICE_B, with_hash),
        };
        self.send_request(entry, client, call)
    }

    /// [`Chain::send`] with the client's request as given (e.g. with its own `x-request-id`).
    pub fn send_request(&mut self, entry: Entry, client: HttpRequest, call: AppCall) -> u16 {
        let Self { gateway, a_inbound, a_outbound, b_inbound, app_spans } = self;
        let app_spans = RefCell::new(app_spans);
        let b_inbound = RefCell::new(b_inbound);
        let b_app = |headers: &Headers, _: &[u8]| {
            app_spans.borrow_mut().extend(app_span(SERVICE_B, headers));
            ok()
        };
        let to_b = |headers: &Headers| -> HttpResponse {
            let mut b_app = b_app;
            b_inbound.borrow_mut().workers_mut()[0].handle(request(headers.clone()), &mut b_app).response
        };
        let mut a_app = |headers: &Headers, _: &[u8]| -> HttpResponse {
            let span = app_span(SERVICE_A, headers);
            let out = outbound_call(headers, span.as_ref(), call);
            app_spans.borrow_mut().extend(span);
            let mut upstream = |headers: &Headers, _: &[u8]| to_b(headers);
            let response = a_outbound.workers_mut()[0].handle(request(out), &mut upstream).response;
            if response.status == 200 {
                ok()
            } else {
                HttpResponse { status: 502, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() }
            }
        };
        let mut to_entry = |headers: &Headers, _: &[u8]| -> HttpResponse {
            match entry {
                Entry::ServiceA => a_inbound.workers_mut()[0].handle(request(headers.clone()), &mut a_app).response,
                Entry::ServiceB => to_b(headers),
            }
        };
        gateway.workers_mut()[0].handle(client, &mut to_entry).response.status
    }

    /// Every span recorded since the last call: each Envoy's, and the applications'.
    pub fn spans(&mut self) -> Vec<RecordedSpan> {
        let mut spans = Vec::new();
        for proxy in [&self.gateway, &self.a_inbound, &self.a_outbound, &self.b_inbound] {
            spans.extend(proxy.take_spans());
        }
        spans.append(&mut self.app_spans);
        spans
    }
}
