use super::*;
use crate::config::FilterConfig;
use crate::decision::{Engine, RequestView};
use acgs_proto::telemetry::{HashStatus, SpanRecord};
use prost::Message as _;

fn decision(hash: Option<&[u8]>, path: &str) -> RequestDecision {
    decision_of(hash, b"POST", path.as_bytes())
}

fn decision_of(hash: Option<&[u8]>, method: &[u8], path: &[u8]) -> RequestDecision {
    let mut engine = Engine::new(
        Rc::new(FilterConfig { mode: crate::config::Mode::Permissive, ..FilterConfig::default() }),
        "groqcloud-policy",
        3,
    );
    engine.decide(&RequestView { method, path, hash, traceparent: None, request_id: None, baggage: None }, 1)
}

fn finished<'a>(decision: &'a RequestDecision, status: Option<u16>) -> Finished<'a> {
    Finished {
        decision,
        status,
        authority: Some(b"groqcloud-policy:8080"),
        user_agent: Some(b"curl/8"),
        start_nanos: 1_000_000,
        end_nanos: 3_500_000,
        peer: b"spiffe://cluster.local/ns/default/sa/client",
    }
}

#[test]
fn a_sampled_request_carries_its_span_with_its_facts_typed_and_no_other_header() {
    let decision = decision(Some(b"cdd01ef066bc6cf2"), "/v1/constitutional/validate");
    let mut writer = SpanWriter::default();
    let record = writer.request_record(&finished(&decision, Some(200)));
    assert_eq!((record.status_class, record.latency_micros, record.source.is_none()), (2, 2_500, true));
    let span =
        SpanRecord::decode(record.span.expect("constitutional operations are sampled")).expect("a valid SpanRecord");
    let expected = SpanRecord {
        trace_id: decision.trace_id.to_vec(),
        span_id: decision.span_id.to_vec(),
        parent_span_id: Vec::new(),
        name: "POST /v1/constitutional/validate".to_owned(),
        start_unix_nanos: 1_000_000,
        end_unix_nanos: 3_500_000,
        attributes: Vec::new(),
        peer: "spiffe://cluster.local/ns/default/sa/client".to_owned(),
        hash_status: HashStatus::Valid as i32,
        category: "constitutional".to_owned(),
        sampling_rule: "constitutional@groqcloud-policy".to_owned(),
        method: "POST".to_owned(),
        path: "/v1/constitutional/validate".to_owned(),
        status_code: 200,
        authority: "groqcloud-policy:8080".to_owned(),
        user_agent: "curl/8".to_owned(),
    };
    assert_eq!(span, expected);
}

#[test]
fn absent_facts_are_absent_fields() {
    let decision = decision(Some(b"cdd01ef066bc6cf2"), "/v1/constitutional/validate");
    let mut writer = SpanWriter::default();
    let mut request = finished(&decision, None);
    (request.authority, request.user_agent, request.peer) = (None, None, b"");
    let span = SpanRecord::decode(writer.span_record(&request)).expect("a valid SpanRecord");
    assert_eq!(
        (span.status_code, span.authority.as_str(), span.user_agent.as_str(), span.peer.as_str()),
        (0, "", "", "")
    );
}

#[test]
fn violations_record_their_source_and_odd_statuses_have_no_class() {
    let decision = decision(None, "/v1/policies/7");
    let mut writer = SpanWriter::default();
    let record = writer.request_record(&finished(&decision, Some(403)));
    assert_eq!(record.status_class, 4);
    assert_eq!(record.source.as_deref(), Some("spiffe://cluster.local/ns/default/sa/client"));
    assert!(record.span.is_some(), "violations are sampled");
    let odd = decision_of(None, b"G\xffT", b"/v1/\xff\xfe?q");
    let span =
        SpanRecord::decode(writer.span_record(&finished(&odd, Some(403)))).expect("invalid UTF-8 is carried lossily");
    assert_eq!((span.method.as_str(), span.path.as_str()), ("G\u{fffd}T", "/v1/\u{fffd}\u{fffd}"));
    assert_eq!(span.name, "(other) (other)");
    assert_eq!(span.hash_status, HashStatus::Missing as i32);
    for status in [None, Some(99), Some(700)] {
        assert_eq!(writer.request_record(&finished(&decision, status)).status_class, 0, "{status:?}");
    }
}

#[test]
fn values_from_the_request_are_cut_to_the_span_value_bound_at_a_character_boundary() {
    let decision = decision(Some(b"cdd01ef066bc6cf2"), "/v1/constitutional/validate");
    let mut writer = SpanWriter::default();
    let huge_agent = "é".repeat(40_000);
    let huge_host = vec![b'h'; 60_000];
    let mut request = finished(&decision, Some(200));
    (request.user_agent, request.authority) = (Some(huge_agent.as_bytes()), Some(huge_host.as_slice()));
    let span = SpanRecord::decode(writer.span_record(&request)).expect("a valid SpanRecord");
    assert_eq!(span.user_agent, "é".repeat(512), "1,024 bytes: 512 two-byte characters");
    assert_eq!(span.authority.len(), 1_024);
    // A cut inside a character of a value that is not UTF-8 either.
    let odd = [&[0xffu8][..], "é".repeat(600).as_bytes()].concat();
    request.user_agent = Some(&odd);
    let span = SpanRecord::decode(writer.span_record(&request)).expect("a valid SpanRecord");
    assert_eq!(span.user_agent, format!("\u{fffd}{}", "é".repeat(510)));
}
