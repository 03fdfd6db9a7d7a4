//! The filter's span facts, sent typed (`SpanRecord` fields 9–16), written out as the span's
//! attributes in the order `telemetry.proto` states, before anything else reads the record: the
//! store, the exporters and the analysis see the same attributes whatever filter version sent the
//! batch (a record without a hash status carries its attributes alone, as filters before the
//! typed fields sent them). Writing the attributes here rather than in the filter moves the work
//! from every request of every sidecar to one control plane; the hash status stays typed on the
//! record for the analysis, the typed strings are moved into the attributes.

use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{Attribute, Compliance, SpanRecord, TelemetryBatch};

use super::batch::hash_status;

/// The value of `acgs.sampling.decision` on a filter's record: only kept requests have one.
const KEPT: &str = "keep";

/// Writes out the typed facts of every span record of `batch`.
pub fn expand_batch(batch: &mut TelemetryBatch) {
    let (service, constitutional_hash) = (&batch.service, &batch.constitutional_hash);
    for span in &mut batch.spans {
        expand(span, service, constitutional_hash);
    }
}

fn attribute(key: &str, value: Value) -> Attribute {
    Attribute { key: key.to_owned(), value: Some(value) }
}

fn text(key: &str, value: String) -> Attribute {
    attribute(key, Value::StringValue(value))
}

fn expand(span: &mut SpanRecord, service: &str, constitutional_hash: &str) {
    let Some(status) = hash_status(span.hash_status) else {
        // Facts without a hash status mean nothing: they are dropped, never stored unbounded.
        let facts = [&mut span.category, &mut span.sampling_rule, &mut span.method, &mut span.path];
        for fact in facts.into_iter().chain([&mut span.authority, &mut span.user_agent]) {
            fact.clear();
        }
        span.status_code = 0;
        return;
    };
    let mut attributes = Vec::with_capacity(13 + span.attributes.len());
    attributes.push(text("constitutional.hash", constitutional_hash.to_owned()));
    attributes.push(text("constitutional.hash.status", status.as_str().to_owned()));
    attributes
        .push(attribute("constitutional.compliant", Value::BoolValue(Compliance::of(status) == Compliance::Compliant)));
    attributes.push(text("acgs.category", std::mem::take(&mut span.category)));
    attributes.push(text("acgs.service", service.to_owned()));
    attributes.push(text("acgs.operation", span.name.clone()));
    attributes.push(text("acgs.sampling.decision", KEPT.to_owned()));
    attributes.push(text("acgs.sampling.rule", std::mem::take(&mut span.sampling_rule)));
    attributes.push(text("http.request.method", std::mem::take(&mut span.method)));
    attributes.push(text("url.path", std::mem::take(&mut span.path)));
    if span.status_code != 0 {
        attributes.push(attribute("http.response.status_code", Value::IntValue(i64::from(span.status_code))));
    }
    if !span.authority.is_empty() {
        attributes.push(text("server.address", std::mem::take(&mut span.authority)));
    }
    if !span.user_agent.is_empty() {
        attributes.push(text("user_agent.original", std::mem::take(&mut span.user_agent)));
    }
    attributes.append(&mut span.attributes);
    span.attributes = attributes;
}

#[cfg(test)]
mod tests;
