//! The spans the control plane collected from the filters (its bounded span buffer): grouped by
//! trace id and converted with the same attribute rules as every other source. The filter's
//! `peer` field is the caller's identity. The span facts the records carry typed (the hash status,
//! the HTTP status as an integer, the error flag as a boolean) are read as such (the hash status
//! is parsed from its label only on records of filters that predate the typed field); the
//! attributes' text is for the analyses that scan attributes.

use std::collections::HashMap;
use std::sync::Arc;

use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{HashStatus, SpanRecord};

use super::Interner;
use crate::analysis::model::{keys, Attribute, Span, SpanFacts};
use crate::analysis::Analyzer;
use crate::telemetry::batch::hash_status;
use crate::telemetry::store::StoredSpan;

/// Feeds the collected spans to the analyzer; returns the number of traces.
pub fn feed<'a>(spans: impl IntoIterator<Item = &'a StoredSpan>, analyzer: &mut Analyzer) -> u64 {
    let mut interner = Interner::default();
    let mut traces: HashMap<Arc<str>, Vec<Span>> = HashMap::new();
    let mut order = Vec::new();
    for stored in spans {
        let Some(span) = convert(&stored.service, &stored.record, &mut interner) else { continue };
        let trace = traces.entry(Arc::clone(&span.trace_id)).or_insert_with(|| {
            order.push(Arc::clone(&span.trace_id));
            Vec::new()
        });
        trace.push(span);
    }
    for trace_id in &order {
        if let Some(trace) = traces.get(trace_id) {
            analyzer.add_trace(trace);
        }
    }
    order.len() as u64
}

fn convert(service: &Arc<str>, record: &SpanRecord, interner: &mut Interner) -> Option<Span> {
    let trace_id: String = record.trace_id.iter().map(|b| format!("{b:02x}")).collect();
    if trace_id.len() != 32 {
        return None;
    }
    let span_id = u64::from_be_bytes(record.span_id.as_slice().try_into().ok()?);
    let parent_span_id = record.parent_span_id.as_slice().try_into().ok().map(u64::from_be_bytes).filter(|id| *id != 0);
    let attributes = record
        .attributes
        .iter()
        .map(|a| Attribute {
            key: a.key.clone(),
            value: match &a.value {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                None => String::new(),
            },
        })
        .collect();
    let facts = SpanFacts {
        trace_id: interner.intern(&trace_id),
        span_id,
        parent_span_id,
        service: Arc::clone(service),
        operation: interner.intern(&record.name),
        start_micros: record.start_unix_nanos / 1_000,
        duration_micros: record.end_unix_nanos.saturating_sub(record.start_unix_nanos) / 1_000,
        error: matches!(value(record, keys::ERROR), Some(Value::BoolValue(true))),
        client: false,
        // The filter records the inbound side of the requests it checked.
        server: true,
        peer: (!record.peer.is_empty()).then(|| interner.intern(&record.peer)),
        http_status: http_status(record),
        // Typed on the records of current filters; a label on older ones.
        hash_status: hash_status(record.hash_status).or_else(|| match value(record, keys::HASH_STATUS) {
            Some(Value::StringValue(label)) => label.parse::<HashStatus>().ok(),
            _ => None,
        }),
    };
    Some(facts.into_span(attributes))
}

/// The value of the record's first attribute named `key`.
fn value<'a>(record: &'a SpanRecord, key: &str) -> Option<&'a Value> {
    record.attributes.iter().find(|a| a.key == key)?.value.as_ref()
}

/// The HTTP status from the first status attribute the record has: an integer as the filter
/// writes it (`None` when out of range), or text (`None` when not a status).
fn http_status(record: &SpanRecord) -> Option<u16> {
    let key = keys::HTTP_STATUS.iter().find(|key| record.attributes.iter().any(|a| a.key == **key))?;
    match value(record, key)? {
        Value::IntValue(status) => u16::try_from(*status).ok(),
        Value::StringValue(text) => text.parse().ok(),
        Value::BoolValue(_) | Value::DoubleValue(_) => None,
    }
}
