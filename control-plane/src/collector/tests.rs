use super::*;
use crate::rollout::render::{render, RenderOptions};
use acgs_wasm_host::{RecordedSpan, SpanKind};

fn envoy_span(trace: u8, attributes: &[(&str, &str)]) -> RecordedSpan {
    let mut trace_id = [0u8; 16];
    trace_id[0] = trace;
    RecordedSpan {
        service_name: "service-a.acgs-system".into(),
        trace_id,
        span_id: [trace; 8],
        parent_span_id: None,
        name: "service-a.acgs-system.svc.cluster.local:8080/*".into(),
        kind: SpanKind::Server,
        start_unix_nanos: 0,
        end_unix_nanos: 1,
        attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        error: false,
    }
}

#[test]
fn the_rendered_tiers_keep_decided_traces_and_constitutional_ones_also_for_thirty_days() {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let mut collector = CollectorStandIn::from_render(&manifests).expect("the render is a config the model evaluates");
    assert_eq!(collector.exporters(), ["otlp/jaeger", "otlp/jaeger-constitutional"]);
    assert_eq!(collector.decision_wait(), Duration::from_secs(10));
    let spans = [
        envoy_span(1, &[("acgs.sampling.decision", "keep"), ("acgs.category", "other")]),
        envoy_span(2, &[("acgs.sampling.decision", "drop"), ("acgs.category", "other")]),
        envoy_span(3, &[("acgs.sampling.decision", "drop"), ("acgs.category", "constitutional")]),
        envoy_span(4, &[]),
        envoy_span(5, &[("acgs.sampling.decision", "drop"), ("constitutional.hash.status", "mismatch")]),
    ];
    for span in &spans {
        collector.receive(span, Duration::ZERO);
    }
    collector.tick(Duration::from_secs(10));
    let traces = |exporter: &str| -> Vec<(u8, String)> {
        let mut kept: Vec<(u8, String)> =
            collector.stored(exporter).iter().map(|(span, policy)| (span.trace_id[0], policy.clone())).collect();
        kept.sort();
        kept
    };
    assert_eq!(
        traces("otlp/jaeger"),
        [
            (1, "acgs-decision-keep".into()),
            (3, "acgs-constitutional".into()),
            (4, "acgs-undecided-default".into()),
            (5, "acgs-violation".into())
        ],
        "undecided traces at the default strategy (1.0 in deploy/)"
    );
    assert_eq!(traces("otlp/jaeger-constitutional"), [(3, "acgs-constitutional".into())]);
    assert_eq!(collector.waiting(), 0);
}

#[test]
fn a_first_tier_that_does_not_route_by_trace_id_is_refused() {
    let mut manifests = render(&RenderOptions::default()).expect("renders");
    let routing = manifests
        .iter_mut()
        .find(|m| m.value["kind"] == "ConfigMap" && m.value["metadata"]["name"] == ROUTING_CONFIG)
        .expect("first tier");
    let text = routing.value["data"]["config.yaml"]
        .as_str()
        .expect("text")
        .replace("routing_key: traceID", "routing_key: service");
    routing.value["data"]["config.yaml"] = serde_json::json!(text);
    let error = CollectorStandIn::<RecordedSpan>::from_render(&manifests).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "ConfigMap/otel-collector-config service.pipelines.traces: must export only through `loadbalancing` with routing_key traceID"
    );
}

#[test]
fn every_span_of_a_trace_goes_to_one_instance() {
    let instances: Vec<usize> = (0..=255u8).map(|b| route(&[b; 16], 3)).collect();
    assert!(instances.iter().all(|i| *i < 3));
    for instance in 0..3 {
        assert!(instances.contains(&instance), "instance {instance} gets traces");
    }
    assert_eq!(route(&[7; 16], 3), route(&[7; 16], 3));
}
