use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{Attribute, HashStatus, SpanRecord, TelemetryBatch};

use super::expand_batch;

fn typed(status: HashStatus) -> SpanRecord {
    SpanRecord {
        name: "POST /v1/constitutional/validate".to_owned(),
        hash_status: status as i32,
        category: "constitutional".to_owned(),
        sampling_rule: "constitutional@constitutional-core".to_owned(),
        method: "POST".to_owned(),
        path: "/v1/constitutional/validate".to_owned(),
        status_code: 200,
        authority: "constitutional-core:8080".to_owned(),
        user_agent: "curl/8".to_owned(),
        ..SpanRecord::default()
    }
}

fn batch(spans: Vec<SpanRecord>) -> TelemetryBatch {
    TelemetryBatch {
        service: "constitutional-core".to_owned(),
        constitutional_hash: "cdd01ef066bc6cf2".to_owned(),
        spans,
        ..TelemetryBatch::default()
    }
}

fn text(key: &str, value: &str) -> Attribute {
    Attribute { key: key.to_owned(), value: Some(Value::StringValue(value.to_owned())) }
}

#[test]
fn typed_facts_become_the_attributes_the_filter_used_to_send_in_order() {
    let mut batch = batch(vec![typed(HashStatus::Valid)]);
    expand_batch(&mut batch);
    let span = &batch.spans[0];
    assert_eq!(
        span.attributes,
        [
            text("constitutional.hash", "cdd01ef066bc6cf2"),
            text("constitutional.hash.status", "valid"),
            Attribute { key: "constitutional.compliant".to_owned(), value: Some(Value::BoolValue(true)) },
            text("acgs.category", "constitutional"),
            text("acgs.service", "constitutional-core"),
            text("acgs.operation", "POST /v1/constitutional/validate"),
            text("acgs.sampling.decision", "keep"),
            text("acgs.sampling.rule", "constitutional@constitutional-core"),
            text("http.request.method", "POST"),
            text("url.path", "/v1/constitutional/validate"),
            Attribute { key: "http.response.status_code".to_owned(), value: Some(Value::IntValue(200)) },
            text("server.address", "constitutional-core:8080"),
            text("user_agent.original", "curl/8"),
        ]
    );
    assert_eq!(span.hash_status, HashStatus::Valid as i32, "the status stays typed for the analysis");
    let moved = [&span.category, &span.sampling_rule, &span.method, &span.path, &span.authority, &span.user_agent];
    assert!(moved.iter().all(|s| s.is_empty()), "the strings are moved, not copied: {moved:?}");
}

#[test]
fn a_violation_is_not_compliant_and_absent_facts_add_no_attribute() {
    let mut span = typed(HashStatus::Mismatch);
    (span.status_code, span.authority, span.user_agent) = (0, String::new(), String::new());
    span.attributes = vec![text("extra", "kept last")];
    let mut batch = batch(vec![span]);
    expand_batch(&mut batch);
    let keys: Vec<&str> = batch.spans[0].attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys[10..], ["extra"]);
    assert_eq!(batch.spans[0].attributes[2].value, Some(Value::BoolValue(false)));
}

#[test]
fn a_record_without_typed_facts_keeps_its_attributes_as_sent() {
    let old = SpanRecord { attributes: vec![text("constitutional.hash.status", "valid")], ..SpanRecord::default() };
    let mut batch = batch(vec![old.clone()]);
    expand_batch(&mut batch);
    assert_eq!(batch.spans[0], old);
}

#[test]
fn typed_facts_without_a_hash_status_are_dropped_not_stored() {
    let mut stray = typed(HashStatus::Unspecified);
    stray.path = "/".repeat(100_000);
    let mut batch = batch(vec![stray]);
    expand_batch(&mut batch);
    let expected = SpanRecord { name: "POST /v1/constitutional/validate".to_owned(), ..SpanRecord::default() };
    assert_eq!(batch.spans[0], expected);
}
