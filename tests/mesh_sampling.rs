//! Sampling as it takes effect in an Istio mesh (docs/mesh.md), end to end: a gateway and two
//! services, each sidecar an Envoy of the host with Envoy's tracing configured from the rendered
//! Telemetry resource (100 %: every hop recorded), the real filter .wasm inbound on both
//! services, their strategies (service-a 0.1, service-b 1.0) served by the real control plane
//! from a strategies file, and every recorded span passed through the rendered Collector tiers
//! (routing by trace id, tail sampling). What the storage receives must be what the strategies
//! say: the trace's fate is the entry service's strategy, violations and constitutional
//! operations are always kept, no trace is half kept, no hop has two spans.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use acgs_control_plane::collector::CollectorStandIn;
use acgs_control_plane::mesh::chain::{client_request, AppCall, Chain, ChainConfig, Entry, SERVICE_A, SERVICE_B};
use acgs_control_plane::mesh::sidecar::CONTROL_PLANE_CLUSTER;
use acgs_control_plane::rollout::bundle::Manifest;
use acgs_control_plane::rollout::render::{render, RenderOptions};
use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_e2e::{filter_module, noop_module};
use acgs_wasm_host::{Headers, HttpResponse, RecordedSpan, SpanKind};
use serde_json::json;

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

/// The chain with both filters polling the control plane (fallback 0.5, so that the strategy
/// each one names in its rule shows it applied the served one).
fn chain(manifests: &[Manifest], control: &RunningServer) -> Chain {
    let filter = |service: &str| {
        json!({
            "service": service,
            "control_plane": {"cluster": CONTROL_PLANE_CLUSTER, "authority": "cp", "poll_interval_ms": 200, "flush_interval_ms": 60000, "timeout_ms": 1000},
            "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}}
        })
    };
    let config = ChainConfig {
        filters: [filter(SERVICE_A), filter(SERVICE_B)],
        control_plane: Some(control.http_addr),
        gateway_percent: None,
    };
    let mut chain = Chain::start(manifests, &filter_module(), &noop_module(), &config).expect("the chain starts");
    wait_for_strategy(&mut chain, Entry::ServiceA, "probabilistic(0.1)@service-a");
    wait_for_strategy(&mut chain, Entry::ServiceB, "probabilistic(1)@service-b");
    chain.spans();
    chain
}

/// Polls until the service's filter names its strategy from the control plane in its rule.
fn wait_for_strategy(chain: &mut Chain, service: Entry, rule: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let worker = &mut chain.sidecar_mut(service).workers_mut()[0];
        worker.run_for(Duration::from_millis(20));
        let mut seen = None;
        let mut upstream = |headers: &Headers, _: &[u8]| {
            seen = headers.get_str("x-acgs-sampling-rule").map(str::to_owned);
            HttpResponse { status: 200, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() }
        };
        worker.handle(client_request("GET", "/v1/probe", SERVICE_A, true), &mut upstream);
        if seen.as_deref() == Some(rule) {
            return;
        }
        assert!(Instant::now() < deadline, "{service:?}: still {seen:?}, waiting for {rule}");
    }
}

/// A strategies file of the caller's own: the tests run in parallel, and a control plane reading a
/// file another test is rewriting would see it empty.
fn strategies_file() -> std::path::PathBuf {
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("acgs-mesh-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("strategies-{}.json", FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
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
    entry: Entry,
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

/// What the rendered Collector tiers store of `spans` (all arriving at once, decided after
/// `decision_wait`): the primary storage's and the constitutional storage's spans.
fn through_the_collector(manifests: &[Manifest], spans: &[RecordedSpan]) -> (Vec<RecordedSpan>, Vec<RecordedSpan>) {
    let mut collector = CollectorStandIn::from_render(manifests).expect("the rendered collector tiers");
    for span in spans {
        collector.receive(span, Duration::ZERO);
    }
    collector.tick(collector.decision_wait());
    let stored = |exporter: &str| collector.stored(exporter).iter().map(|(span, _)| span.clone()).collect();
    (stored("otlp/jaeger"), stored("otlp/jaeger-constitutional"))
}

#[test]
fn what_the_storage_keeps_is_what_the_strategies_say() {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let control = runtime.block_on(start(ServerConfig::loopback(Some(strategies_file())))).expect("control plane");
    let mut mesh = chain(&manifests, &control);

    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut sent = Vec::new();
    for _ in 0..REQUESTS {
        let entry = if dice.roll() < 0.2 { Entry::ServiceB } else { Entry::ServiceA };
        let with_hash = dice.roll() >= 0.01;
        let roll = dice.roll();
        let call = if roll < 0.05 {
            AppCall::Constitutional
        } else if roll < 0.06 {
            AppCall::ForgetsTheHash
        } else {
            AppCall::Plain
        };
        let status = mesh.send(entry, with_hash, call);
        let expected = match (with_hash, entry, call) {
            (false, ..) => 403,
            (true, Entry::ServiceA, AppCall::ForgetsTheHash) => 502,
            _ => 200,
        };
        assert_eq!(status, expected, "{entry:?} hash={with_hash} {call:?}");
        sent.push(Sent { entry, with_hash, call });
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

    let (stored, constitutional_store) = through_the_collector(&manifests, &spans);
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
        sent.iter().filter(|s| !s.with_hash || s.call != AppCall::Plain && s.entry == Entry::ServiceA).count();
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
    let mut mesh = chain(&manifests, &control);
    for _ in 0..200 {
        assert_eq!(mesh.send(Entry::ServiceA, true, AppCall::DropsBaggage), 200);
    }
    let spans = mesh.spans();
    let traces = by_trace(&spans);
    let (stored, _) = through_the_collector(&manifests, &spans);
    let kept: HashMap<[u8; 16], usize> = by_trace(&stored).into_iter().map(|(id, spans)| (id, spans.len())).collect();
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
