//! The request headers the filter sets for the Envoy tracer to map to span tags (envoy/'s
//! `custom_tags`) and for applications downstream, and the W3C trace-context header it rewrites.
//! No other header value is ever copied into span metadata.

pub const HASH_STATUS_HEADER: &str = "x-acgs-hash-status";
pub const CATEGORY_HEADER: &str = "x-acgs-category";
pub const COMPLIANT_HEADER: &str = "x-acgs-compliant";
pub const TRACEPARENT_HEADER: &str = "traceparent";
