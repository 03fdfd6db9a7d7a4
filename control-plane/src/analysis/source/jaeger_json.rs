//! Jaeger's JSON trace format, as the Jaeger UI downloads it and as `/api/traces` answers:
//! `{"data": [trace, …], …}` (or a bare `[trace, …]`), each trace
//! `{"traceID", "spans": [{"traceID", "spanID", "operationName", "references": [{"refType",
//! "spanID"}], "startTime" (µs), "duration" (µs), "tags": [{"key", "type", "value"}],
//! "processID"}], "processes": {"p1": {"serviceName", "tags"}}}`.
//!
//! Parsed as a stream: one trace at a time is held in memory and handed to the analyzer, so the
//! memory used follows the largest trace, not the file. A span that lacks what the analyses need
//! (ids, process) is skipped and recorded; a syntax error ends the input there, and everything
//! before it is still analysed.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{InputErrors, Interner};
use crate::analysis::model::{normalise_trace_id, parse_hex_u64, Attribute, Span, SpanFacts};
use crate::analysis::Analyzer;

#[derive(Debug, Deserialize)]
struct JaegerTrace {
    #[serde(rename = "traceID", default)]
    trace_id: Option<String>,
    #[serde(default)]
    spans: Vec<JaegerSpan>,
    #[serde(default)]
    processes: HashMap<String, JaegerProcess>,
}

#[derive(Debug, Deserialize)]
struct JaegerSpan {
    #[serde(rename = "traceID", default)]
    trace_id: Option<String>,
    #[serde(rename = "spanID", default)]
    span_id: Option<String>,
    #[serde(rename = "operationName", default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<JaegerReference>,
    #[serde(rename = "parentSpanID", default)]
    parent_span_id: Option<String>,
    #[serde(rename = "startTime", default)]
    start_time: u64,
    #[serde(default)]
    duration: u64,
    #[serde(default)]
    tags: Vec<JaegerTag>,
    #[serde(rename = "processID", default)]
    process_id: Option<String>,
    #[serde(default)]
    process: Option<JaegerProcess>,
}

#[derive(Debug, Deserialize)]
struct JaegerReference {
    #[serde(rename = "refType", default)]
    ref_type: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

#[derive(Debug, Deserialize)]
struct JaegerProcess {
    #[serde(rename = "serviceName", default)]
    service_name: String,
}

#[derive(Debug, Deserialize)]
struct JaegerTag {
    key: String,
    #[serde(default)]
    value: TagValue,
}

/// A tag value of any JSON type, as text (objects and arrays read as empty).
#[derive(Debug, Default)]
struct TagValue(String);

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagValueVisitor;
        impl<'de> Visitor<'de> for TagValueVisitor {
            type Value = TagValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tag value")
            }
            fn visit_str<E>(self, v: &str) -> Result<TagValue, E> {
                Ok(TagValue(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<TagValue, E> {
                Ok(TagValue(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<TagValue, E> {
                Ok(TagValue(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<TagValue, E> {
                Ok(TagValue(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<TagValue, E> {
                Ok(TagValue(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<TagValue, E> {
                Ok(TagValue(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<TagValue, E> {
                Ok(TagValue::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TagValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TagValue::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TagValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TagValue::default())
            }
        }
        deserializer.deserialize_any(TagValueVisitor)
    }
}

/// Converts parsed traces and feeds the analyzer.
struct Feed<'a> {
    analyzer: &'a mut Analyzer,
    interner: Interner,
    errors: InputErrors,
    /// Trace ids already analysed (set when several responses may repeat a trace).
    seen: Option<&'a mut std::collections::HashSet<Arc<str>>>,
    spans: Vec<Span>,
    traces: u64,
}

impl Feed<'_> {
    fn take(&mut self, trace: JaegerTrace) {
        self.traces += 1;
        let trace_number = self.traces;
        let services: HashMap<String, Arc<str>> = trace
            .processes
            .into_iter()
            .map(|(id, process)| (id, self.interner.intern(&process.service_name)))
            .collect();
        let trace_level_id = trace.trace_id.as_deref().and_then(normalise_trace_id);
        if let (Some(seen), Some(id)) = (self.seen.as_deref_mut(), &trace_level_id) {
            if !seen.insert(Arc::clone(id)) {
                return;
            }
        }
        self.spans.clear();
        for (position, span) in trace.spans.into_iter().enumerate() {
            let trace_id = match span.trace_id.as_deref().and_then(normalise_trace_id) {
                Some(id) if trace_level_id.as_ref() == Some(&id) => trace_level_id.clone(),
                Some(id) => Some(id),
                None => trace_level_id.clone(),
            };
            let (Some(trace_id), Some(span_id)) = (trace_id, span.span_id.as_deref().and_then(parse_hex_u64)) else {
                self.errors.push(format!("trace #{trace_number}, span #{position}: missing or invalid traceID/spanID"));
                continue;
            };
            let service = match (&span.process, span.process_id.as_deref().and_then(|id| services.get(id))) {
                (Some(process), _) => self.interner.intern(&process.service_name),
                (None, Some(service)) => Arc::clone(service),
                (None, None) => {
                    self.errors.push(format!(
                        "trace {trace_id}, span {span_id:016x}: processID {:?} is not among the trace's processes",
                        span.process_id.unwrap_or_default()
                    ));
                    continue;
                }
            };
            let parent = span
                .references
                .iter()
                .find(|r| r.ref_type == "CHILD_OF")
                .or_else(|| span.references.first())
                .map(|r| r.span_id.as_str())
                .or(span.parent_span_id.as_deref())
                .and_then(parse_hex_u64)
                .filter(|id| *id != 0);
            let attributes = span.tags.into_iter().map(|tag| Attribute { key: tag.key, value: tag.value.0 }).collect();
            let facts = SpanFacts {
                trace_id,
                span_id,
                parent_span_id: parent,
                service,
                operation: self.interner.intern(&span.operation_name),
                start_micros: span.start_time,
                duration_micros: span.duration,
                error: false,
                client: false,
                server: false,
                peer: None,
                http_status: None,
                hash_status: None,
            };
            self.spans.push(facts.into_span(attributes));
        }
        self.analyzer.add_trace(&self.spans);
    }
}

struct TracesSeed<'f, 'a>(&'f mut Feed<'a>);

impl<'de> DeserializeSeed<'de> for TracesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TracesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of Jaeger traces")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(trace) = seq.next_element::<JaegerTrace>()? {
            self.0.take(trace);
        }
        Ok(())
    }
}

struct DocumentSeed<'f, 'a>(&'f mut Feed<'a>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a Jaeger JSON export: {"data": [traces]} or [traces]"#)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        TracesSeed(self.0).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "data" {
                map.next_value_seed(TracesSeed(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(serde::de::Error::missing_field("data"));
        }
        Ok(())
    }
}

/// Reads a Jaeger JSON document from `reader` into the analyzer. Returns the number of traces
/// read; what could not be read is recorded in the analyzer (`what` names the input in
/// messages). `seen` skips traces already analysed from another document.
pub fn feed(
    reader: impl Read,
    what: &str,
    analyzer: &mut Analyzer,
    seen: Option<&mut std::collections::HashSet<Arc<str>>>,
) -> u64 {
    let mut feed = Feed {
        analyzer,
        interner: Interner::default(),
        errors: InputErrors::default(),
        seen,
        spans: Vec::new(),
        traces: 0,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let parsed = DocumentSeed(&mut feed).deserialize(&mut deserializer).and_then(|()| deserializer.end());
    let traces = feed.traces;
    let errors = std::mem::take(&mut feed.errors);
    let analyzer = feed.analyzer;
    errors.report_to(analyzer);
    if let Err(error) = parsed {
        analyzer
            .input_error(format!("{what}: not a valid Jaeger JSON export ({error}); read {traces} traces before it"));
    }
    traces
}

#[cfg(test)]
mod tests;
