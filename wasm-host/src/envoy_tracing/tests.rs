use super::*;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers::from_pairs(pairs.iter().copied())
}

fn config(percent: f64) -> TracingConfig {
    TracingConfig {
        custom_tags: vec![
            CustomTag::RequestHeader {
                tag: "constitutional.hash.status".into(),
                header: "x-acgs-hash-status".into(),
                default_value: Some("unknown".into()),
            },
            CustomTag::RequestHeader { tag: "no.default".into(), header: "x-absent".into(), default_value: None },
            CustomTag::Literal { tag: "mesh".into(), value: "acgs".into() },
        ],
        ..TracingConfig::inbound("service-a.default", percent)
    }
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_request_without_an_id_gets_a_uuid4_before_the_filters() {
    let mut request = headers(&[(":path", "/")]);
    ensure_request_id(&mut request);
    let id = request.get_str("x-request-id").expect("generated").to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!((&id[8..9], &id[13..14], &id[14..15], &id[18..19], &id[23..24]), ("-", "-", "4", "-", "-"));
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "RFC 4122 variant");
    let mut kept = headers(&[("x-request-id", "caller-chose-this")]);
    ensure_request_id(&mut kept);
    assert_eq!(kept.get_str("x-request-id"), Some("caller-chose-this"), "an internal request keeps its id");
}

#[test]
fn random_sampling_draws_on_the_first_eight_hex_digits_and_packs_the_reason() {
    // conn_manager_utility.cc mutateTracingRequestHeader: result = first 8 hex digits % 10000.
    // 0x000003e7 = 999: below 10 % (1000 of 10000); 0x000003e8 = 1000: not.
    let mut below = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000")]);
    assert!(decide(&config(10.0), &mut below));
    assert_eq!(below.get_str("x-request-id"), Some("000003e7-0000-9000-8000-000000000000"), "'9': Sampling");
    let mut above = headers(&[("x-request-id", "000003e8-0000-4000-8000-000000000000")]);
    assert!(!decide(&config(10.0), &mut above));
    assert_eq!(above.get_str("x-request-id"), Some("000003e8-0000-4000-8000-000000000000"));
}

#[test]
fn a_reason_packed_by_an_earlier_hop_is_kept_and_forcing_headers_win_over_the_percentage() {
    // uuid/config.cc: '9' Sampling, 'a' ServiceForced, 'b' ClientForced.
    let mut sampled_upstream = headers(&[("x-request-id", "ffffffff-0000-9000-8000-000000000000")]);
    assert!(decide(&config(0.0), &mut sampled_upstream), "a prior decision is respected");
    let mut forced = headers(&[("x-request-id", "ffffffff-0000-4000-8000-000000000000"), ("x-envoy-force-trace", "1")]);
    assert!(decide(&config(0.0), &mut forced));
    assert_eq!(forced.get_str("x-request-id"), Some("ffffffff-0000-a000-8000-000000000000"));
    let mut client = headers(&[("x-request-id", "ffffffff-0000-4000-8000-000000000000"), ("x-client-trace-id", "c")]);
    assert!(decide(&config(0.0), &mut client));
    assert_eq!(client.get_str("x-request-id"), Some("ffffffff-0000-b000-8000-000000000000"));
    let mut unreadable = headers(&[("x-request-id", "not-hex!")]);
    assert!(!decide(&config(100.0), &mut unreadable), "no draw, no random sampling");
}

#[test]
fn an_incoming_traceparent_decides_the_hop_whatever_the_percentage() {
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000"), ("traceparent", PARENT)]);
    let span = start(&config(0.0), &mut request).expect("a span");
    assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_span_id.map(|id| hex(&id)).as_deref(), Some("00f067aa0ba902b7"));
    assert!(span.sampled, "the parent's flag, not the 0 % decision");
    let unsampled = PARENT.replace("-01", "-00");
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000"), ("traceparent", &unsampled)]);
    assert!(!start(&config(100.0), &mut request).expect("a span").sampled, "…even at 100 %");
    assert_eq!(request.get_str("traceparent"), Some(unsampled.as_str()), "the filters see the caller's value");
}

#[test]
fn a_malformed_traceparent_gives_no_span() {
    for bad in [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "004bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
    ] {
        let mut request = headers(&[("traceparent", bad)]);
        assert!(start(&config(100.0), &mut request).is_none(), "{bad}");
    }
}

#[test]
fn without_a_traceparent_the_span_takes_the_decision_and_the_filters_see_none() {
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000")]);
    let span = start(&config(10.0), &mut request).expect("a span");
    assert!(span.sampled && span.parent_span_id.is_none());
    assert_eq!(request.get("traceparent"), None, "the connection manager injects nothing");
}

#[test]
fn the_router_writes_the_hops_context_and_the_custom_tags_are_read_at_the_end() {
    let cfg = config(100.0);
    let mut request = headers(&[
        (":method", "GET"),
        (":path", "/x"),
        (":authority", "a:8080"),
        ("x-request-id", "000003e7-0000-4000-8000-000000000000"),
        ("traceparent", PARENT),
        ("tracestate", "vendor=1"),
        ("x-envoy-decorator-operation", "service-a.default.svc.cluster.local:8080/*"),
    ]);
    let mut span = start(&cfg, &mut request).expect("a span");
    assert_eq!(request.get("x-envoy-decorator-operation"), None, "an inbound hop takes the caller's operation");
    // A filter sets the status header after the span started.
    request.replace(b"x-acgs-hash-status", b"mismatch");
    inject(&cfg, &mut span, &mut request);
    let expected = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", hex(&span.span_id));
    assert_eq!(request.get_str("traceparent"), Some(expected.as_str()));
    assert_eq!(request.get_str("tracestate"), Some("vendor=1"));
    let spans = finish(&cfg, span, &request, Some(403), "sidecar~10.0.0.1~a~default.svc.cluster.local");
    let [recorded] = spans.as_slice() else { panic!("one span: {spans:?}") };
    assert_eq!(recorded.name, "service-a.default.svc.cluster.local:8080/*");
    assert_eq!(recorded.kind, SpanKind::Server);
    assert_eq!(recorded.service_name, "service-a.default");
    assert_eq!(recorded.attribute("constitutional.hash.status"), Some("mismatch"), "the filter's value at the end");
    assert_eq!(recorded.attribute("no.default"), None, "absent without a default: no tag");
    assert_eq!(recorded.attribute("mesh"), Some("acgs"));
    assert_eq!(recorded.attribute("http.status_code"), Some("403"));
    assert_eq!(recorded.attribute("guid:x-request-id"), Some("000003e7-0000-9000-8000-000000000000"));
    assert!(!recorded.error, "a 4xx on a SERVER span is not an error");
    assert_eq!(recorded.attribute("error"), None);
}

#[test]
fn absent_custom_tag_headers_take_their_default() {
    let cfg = config(100.0);
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000")]);
    let span = start(&cfg, &mut request).expect("a span");
    let spans = finish(&cfg, span, &request, Some(200), "node");
    assert_eq!(spans[0].attribute("constitutional.hash.status"), Some("unknown"));
}

#[test]
fn unsampled_spans_are_not_exported_and_5xx_are_errors() {
    let cfg = config(0.0);
    let mut request = headers(&[("x-request-id", "ffffffff-0000-4000-8000-000000000000")]);
    let span = start(&cfg, &mut request).expect("a span");
    assert!(finish(&cfg, span, &request, Some(200), "node").is_empty());
    let cfg = config(100.0);
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000")]);
    let span = start(&cfg, &mut request).expect("a span");
    let spans = finish(&cfg, span, &request, Some(503), "node");
    assert!(spans[0].error);
    assert_eq!(spans[0].attribute("error"), Some("true"));
}

#[test]
fn a_gateway_spawns_a_client_child_span_for_the_upstream_request() {
    let cfg = TracingConfig {
        direction: TrafficDirection::Outbound,
        spawn_upstream_span: true,
        operation: Some("service-a.default.svc.cluster.local:8080/*".into()),
        upstream_cluster: "outbound|8080||service-a.default.svc.cluster.local".into(),
        ..config(100.0)
    };
    let mut request = headers(&[("x-request-id", "000003e7-0000-4000-8000-000000000000"), (":authority", "a")]);
    let mut span = start(&cfg, &mut request).expect("a span");
    assert_eq!(
        request.get_str("x-envoy-decorator-operation"),
        Some("service-a.default.svc.cluster.local:8080/*"),
        "an outbound hop passes its operation on"
    );
    inject(&cfg, &mut span, &mut request);
    let spans = finish(&cfg, span, &request, Some(404), "node");
    let [child, server] = spans.as_slice() else { panic!("two spans: {spans:?}") };
    assert_eq!((server.kind, child.kind), (SpanKind::Server, SpanKind::Client));
    assert_eq!(child.parent_span_id, Some(server.span_id));
    assert_eq!(child.name, "router outbound|8080||service-a.default.svc.cluster.local egress");
    let injected = request.get_str("traceparent").expect("injected");
    assert!(injected.contains(&hex(&child.span_id)), "the upstream request belongs to the child span");
    assert!(child.error && !server.error, "a 4xx is an error on the CLIENT span only");
}
