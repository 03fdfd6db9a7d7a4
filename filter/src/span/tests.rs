use super::*;
use crate::config::FilterConfig;
use crate::decision::{Engine, RequestView};
use acgs_proto::telemetry::{attribute, SpanRecord};
use prost::Message as _;

fn decision(hash: Option<&[u8]>, path: &str) -> RequestDecision {
    let mut engine = Engine::new(
        Rc::new(FilterConfig { mode: crate::config::Mode::Permissive, ..FilterConfig::default() }),
        "groqcloud-policy",
        3,
    );
    engine.decide(
        &RequestView {
            method: b"POST",
            path: path.as_bytes(),
            hash,
            traceparent: None,
            request_id: None,
            baggage: None,
        },
        1,
    )
}

fn finished<'a>(decision: &'a RequestDecision, status: Option<u16>) -> Finished<'a> {
    Finished {
        decision,
        method: b"POST",
        path: b"/v1/constitutional/validate",
        status,
        authority: Some(b"groqcloud-policy:8080"),
        user_agent: Some(b"curl/8"),
        start_nanos: 1_000_000,
        end_nanos: 3_500_000,
        peer: "spiffe://cluster.local/ns/default/sa/client",
    }
}

fn value(span: &SpanRecord, key: &str) -> Option<attribute::Value> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone())
}

#[test]
fn a_sampled_request_carries_its_span_with_the_named_attributes_only() {
    let decision = decision(Some(b"cdd01ef066bc6cf2"), "/v1/constitutional/validate");
    let mut writer = SpanWriter::new("groqcloud-policy", "cdd01ef066bc6cf2");
    let record = writer.request_record(&finished(&decision, Some(200)));
    assert_eq!((record.status_class, record.latency_micros, record.source.is_none()), (2, 2_500, true));
    let span =
        SpanRecord::decode(record.span.expect("constitutional operations are sampled")).expect("a valid SpanRecord");
    let keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "constitutional.hash",
            "constitutional.hash.status",
            "constitutional.compliant",
            "acgs.category",
            "acgs.service",
            "acgs.operation",
            "acgs.sampling.decision",
            "acgs.sampling.rule",
            "http.request.method",
            "url.path",
            "http.response.status_code",
            "server.address",
            "user_agent.original"
        ]
    );
    assert_eq!(value(&span, "constitutional.hash.status"), Some(attribute::Value::StringValue("valid".into())));
    assert_eq!(value(&span, "constitutional.compliant"), Some(attribute::Value::BoolValue(true)));
    assert_eq!(value(&span, "acgs.sampling.decision"), Some(attribute::Value::StringValue("keep".into())));
    assert_eq!(
        value(&span, "acgs.sampling.rule"),
        Some(attribute::Value::StringValue("constitutional@groqcloud-policy".into()))
    );
    assert_eq!(value(&span, "http.response.status_code"), Some(attribute::Value::IntValue(200)));
    assert_eq!(span.trace_id, decision.trace_id.to_vec());
    assert_eq!(span.span_id, decision.span_id.to_vec());
    assert_eq!(span.parent_span_id, Vec::<u8>::new());
    assert_eq!((span.start_unix_nanos, span.end_unix_nanos), (1_000_000, 3_500_000));
    assert_eq!(span.peer, "spiffe://cluster.local/ns/default/sa/client");
}

#[test]
fn violations_record_their_source_and_odd_statuses_have_no_class() {
    let decision = decision(None, "/v1/policies/7");
    let mut writer = SpanWriter::new("groqcloud-policy", "cdd01ef066bc6cf2");
    let record = writer.request_record(&finished(&decision, Some(403)));
    assert_eq!(record.status_class, 4);
    assert_eq!(record.source.as_deref(), Some("spiffe://cluster.local/ns/default/sa/client"));
    assert!(record.span.is_some(), "violations are sampled");
    let mut odd = finished(&decision, Some(403));
    odd.path = b"/v1/\xff\xfe";
    let span = SpanRecord::decode(writer.span_record(&odd)).expect("invalid UTF-8 is carried lossily");
    assert_eq!(value(&span, "url.path"), Some(attribute::Value::StringValue("/v1/\u{fffd}\u{fffd}".into())));
    for status in [None, Some(99), Some(700)] {
        assert_eq!(writer.request_record(&finished(&decision, status)).status_class, 0, "{status:?}");
    }
}
