//! Checks a decoded `TelemetryBatch` before anything of it is used: a batch is taken whole or
//! refused whole with an error naming the field (`aggregates[3].hash_status: …`), so a bad sender
//! can never half-apply a batch.

use acgs_proto::telemetry::{HashStatus, LATENCY_BUCKETS};

use super::received::ReceivedBatch;

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BatchError {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> BatchError {
    BatchError { field: field.into(), reason: reason.into() }
}

/// The hash status a wire value names; `None` for the unset value and for values this control
/// plane does not know.
pub fn hash_status(wire: i32) -> Option<HashStatus> {
    HashStatus::try_from(wire).ok().filter(|status| *status != HashStatus::Unspecified)
}

/// Validates a batch as a whole.
pub fn validate(received: &ReceivedBatch) -> Result<(), BatchError> {
    let batch = &received.batch;
    if batch.vm_id.is_empty() {
        return Err(invalid("vm_id", "must not be empty"));
    }
    if batch.seq == 0 {
        return Err(invalid("seq", "must be at least 1"));
    }
    for (i, entry) in received.aggregates().enumerate() {
        let field = |name: &str| format!("aggregates[{i}].{name}");
        if entry.service.is_empty() {
            return Err(invalid(field("service"), "must not be empty"));
        }
        if hash_status(entry.hash_status).is_none() {
            return Err(invalid(field("hash_status"), format!("unknown hash status {}", entry.hash_status)));
        }
        if entry.status_class > 5 {
            return Err(invalid(field("status_class"), format!("{} is not a status class (0-5)", entry.status_class)));
        }
        if entry.buckets_received > LATENCY_BUCKETS {
            return Err(invalid(
                field("latency_buckets"),
                format!("{} buckets, at most {LATENCY_BUCKETS}", entry.buckets_received),
            ));
        }
        let in_buckets = entry.latency_buckets.iter().try_fold(0u64, |sum, n| sum.checked_add(*n));
        if in_buckets != Some(entry.count) {
            return Err(invalid(
                field("count"),
                format!(
                    "{} but the latency buckets hold {}",
                    entry.count,
                    in_buckets.map_or("more".to_owned(), |n| n.to_string())
                ),
            ));
        }
    }
    for (i, span) in batch.spans.iter().enumerate() {
        let field = |name: &str| format!("spans[{i}].{name}");
        if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
            return Err(invalid(field("trace_id"), "must be 16 bytes, not all zero"));
        }
        if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
            return Err(invalid(field("span_id"), "must be 8 bytes, not all zero"));
        }
        if !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8) {
            return Err(invalid(field("parent_span_id"), "must be empty or 8 bytes"));
        }
        if span.end_unix_nanos < span.start_unix_nanos {
            return Err(invalid(field("end_unix_nanos"), "is before start_unix_nanos"));
        }
        if span.hash_status != HashStatus::Unspecified as i32 && hash_status(span.hash_status).is_none() {
            return Err(invalid(field("hash_status"), format!("unknown hash status {}", span.hash_status)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
