//! The byte bounds of what one batch may bring into the control plane, applied to each admitted
//! batch before it is exported or stored: label values (`service`, `operation`, the mismatch
//! `source`) are cut to [`MAX_LABEL_BYTES`], so a series costs a bounded number of bytes on
//! `/metrics`; a span record's name, peer, attribute keys and string values are cut to
//! [`MAX_VALUE_BYTES`], then attributes are dropped from the end until the record encodes in at
//! most [`MAX_SPAN_BYTES`] (OpenTelemetry SDKs bound attribute lengths and counts the same way).
//! Every cut is at a UTF-8 character boundary; what was cut is counted in [`Cuts`].

use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{SpanRecord, MAX_SPAN_VALUE_BYTES};
use prost::Message;

use super::received::ReceivedBatch;

/// Longest label value kept on `/metrics`, in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// Longest span name, peer, attribute key or string value kept, in bytes.
pub const MAX_VALUE_BYTES: usize = MAX_SPAN_VALUE_BYTES;
/// Largest span record kept (its protobuf encoding), in bytes.
pub const MAX_SPAN_BYTES: usize = 16 * 1024;

/// What cutting one batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cuts {
    /// Label values cut to [`MAX_LABEL_BYTES`].
    pub labels: u64,
    /// Span records with anything cut or dropped.
    pub spans: u64,
}

/// Cuts every label value and span record of `batch` to the bounds.
pub fn cut_batch(received: &mut ReceivedBatch) -> Cuts {
    let mut cuts = Cuts {
        labels: u64::from(cut(&mut received.batch.service, MAX_LABEL_BYTES)) + received.cut_labels(MAX_LABEL_BYTES),
        spans: 0,
    };
    for span in &mut received.batch.spans {
        cuts.spans += u64::from(cut_span(span));
    }
    cuts
}

/// Cuts one span record; whether anything was cut.
fn cut_span(span: &mut SpanRecord) -> bool {
    let mut changed = cut(&mut span.name, MAX_VALUE_BYTES) | cut(&mut span.peer, MAX_VALUE_BYTES);
    for attribute in &mut span.attributes {
        changed |= cut(&mut attribute.key, MAX_VALUE_BYTES);
        if let Some(Value::StringValue(value)) = &mut attribute.value {
            changed |= cut(value, MAX_VALUE_BYTES);
        }
    }
    while span.encoded_len() > MAX_SPAN_BYTES && span.attributes.pop().is_some() {
        changed = true;
    }
    changed
}

/// Cuts `value` to at most `max` bytes at a character boundary; whether it was cut.
fn cut(value: &mut String, max: usize) -> bool {
    if value.len() <= max {
        return false;
    }
    value.truncate(value.floor_char_boundary(max));
    true
}

#[cfg(test)]
mod tests;
