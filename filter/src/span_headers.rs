//! The request headers the filter sets for the Envoy tracer to record as span tags (Istio
//! Telemetry `customTags`, envoy/'s `custom_tags`) and for applications downstream, and the
//! trace-context headers it reads or writes. No other header value is ever copied into span
//! metadata. The filter always overwrites its own headers, so a client cannot forge the tags.

pub const HASH_STATUS_HEADER: &str = "x-acgs-hash-status";
pub const CATEGORY_HEADER: &str = "x-acgs-category";
pub const COMPLIANT_HEADER: &str = "x-acgs-compliant";
/// `keep` or `drop`: this hop's sampling decision (span tag `acgs.sampling.decision`).
pub const SAMPLING_DECISION_HEADER: &str = "x-acgs-sampling-decision";
/// The rule that decided (span tag `acgs.sampling.rule`).
pub const SAMPLING_RULE_HEADER: &str = "x-acgs-sampling-rule";
pub const TRACEPARENT_HEADER: &str = "traceparent";
pub const BAGGAGE_HEADER: &str = "baggage";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The value of [`SAMPLING_DECISION_HEADER`].
pub fn decision_value(keep: bool) -> &'static str {
    if keep {
        "keep"
    } else {
        "drop"
    }
}
