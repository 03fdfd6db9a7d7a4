//! OTLP/JSON trace files: one `TracesData` document (`{"resourceSpans": […]}`, as the OTLP/HTTP
//! JSON encoding defines it: hex ids, 64-bit integers as strings), or one document per line (the
//! OTel Collector's file exporter). The types are the official protos (`opentelemetry-proto`
//! with its serde support).
//!
//! OTLP groups spans by resource, not by trace, so a trace's spans may be anywhere in the file:
//! the spans are grouped by trace id in memory before analysis. [`feed_documents`] also serves
//! Jaeger's api/v3, which answers the same `TracesData`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::TracesData;

use super::{InputErrors, Interner};
use crate::analysis::model::{Attribute, Span, SpanFacts};
use crate::analysis::Analyzer;

/// Whether the text looks like OTLP/JSON (rather than a Jaeger export).
pub fn looks_like_otlp(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&head[..head.len().min(4096)]).into_owned();
    head.contains("\"resourceSpans\"")
}

/// Reads OTLP/JSON `text` into the analyzer; `what` names the input in messages. Returns the
/// number of traces.
pub fn feed(text: &[u8], what: &str, analyzer: &mut Analyzer) -> u64 {
    let mut errors = InputErrors::default();
    let documents: Vec<TracesData> = match serde_json::from_slice::<TracesData>(text) {
        Ok(document) => vec![document],
        Err(whole_error) => {
            let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()).collect();
            if lines.len() <= 1 {
                analyzer.input_error(format!("{what}: not a valid OTLP/JSON TracesData document ({whole_error})"));
                return 0;
            }
            lines
                .iter()
                .enumerate()
                .filter_map(|(number, line)| match serde_json::from_slice::<TracesData>(line) {
                    Ok(document) => Some(document),
                    Err(error) => {
                        errors.push(format!("{what}, line {}: not a valid OTLP/JSON TracesData ({error})", number + 1));
                        None
                    }
                })
                .collect()
        }
    };
    feed_documents(documents, what, errors, analyzer, None)
}

/// Analyses the traces in `documents`, each once: a trace whose id is in `seen` is skipped, and
/// the ids analysed are added to it. `errors` are the input's errors so far. Returns the number of
/// traces in the documents (skipped ones included).
pub fn feed_documents(
    documents: Vec<TracesData>,
    what: &str,
    mut errors: InputErrors,
    analyzer: &mut Analyzer,
    mut seen: Option<&mut HashSet<Arc<str>>>,
) -> u64 {
    let mut interner = Interner::default();
    let mut traces: HashMap<Arc<str>, Vec<Span>> = HashMap::new();
    let mut order: Vec<Arc<str>> = Vec::new();
    for document in documents {
        for resource_spans in document.resource_spans {
            let resource_attributes = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            let service = resource_attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .map(text_of)
                .unwrap_or_else(|| "unknown_service".to_owned());
            let service = interner.intern(&service);
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    let (Some(trace_id), Some(span_id)) = (hex_id(&span.trace_id, 16), id_u64(&span.span_id)) else {
                        errors.push(format!("{what}: span {:?} has an invalid traceId or spanId", span.name));
                        continue;
                    };
                    let trace_id = interner.intern(&trace_id);
                    let facts = SpanFacts {
                        trace_id: Arc::clone(&trace_id),
                        span_id,
                        parent_span_id: id_u64(&span.parent_span_id),
                        service: Arc::clone(&service),
                        operation: interner.intern(&span.name),
                        start_micros: span.start_time_unix_nano / 1_000,
                        duration_micros: span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) / 1_000,
                        error: span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32),
                        client: span.kind == SpanKind::Client as i32 || span.kind == SpanKind::Producer as i32,
                        server: span.kind == SpanKind::Server as i32,
                        peer: None,
                        http_status: None,
                        hash_status: None,
                    };
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| Attribute { key: kv.key.clone(), value: text_of(kv) })
                        .collect();
                    let spans = traces.entry(Arc::clone(&trace_id)).or_insert_with(|| {
                        order.push(Arc::clone(&trace_id));
                        Vec::new()
                    });
                    spans.push(facts.into_span(attributes));
                }
            }
        }
    }
    errors.report_to(analyzer);
    for trace_id in &order {
        if seen.as_mut().is_some_and(|seen| !seen.insert(Arc::clone(trace_id))) {
            continue;
        }
        if let Some(spans) = traces.get(trace_id) {
            analyzer.add_trace(spans);
        }
    }
    order.len() as u64
}

fn text_of(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// Lower-case hex of an id of `len` bytes; `None` when empty, all zero or of another length.
fn hex_id(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn id_u64(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    let id = u64::from_be_bytes(array);
    (id != 0).then_some(id)
}

#[cfg(test)]
mod tests;
