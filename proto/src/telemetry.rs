//! `acgs.telemetry.v1`: filter → control plane, and the request facts both sides name the same
//! way ([`HashStatus`], [`Category`], [`Compliance`], with their labels and parsing).

#![allow(missing_debug_implementations, clippy::all)]
include!("gen/acgs.telemetry.v1.rs");

pub use crate::facts::{Category, Compliance, UnknownLabel};

/// Upper bounds (inclusive, microseconds) of the latency histogram buckets carried in
/// [`AggregateEntry::latency_buckets`]; one more bucket follows for everything above the last
/// bound. Roughly ×2 steps from 50 µs to 10 s: fine where the 5 ms P99 target sits.
pub const LATENCY_BUCKET_BOUNDS_MICROS: [u64; 19] = [
    50, 100, 250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000, 10_000_000,
];

/// Number of buckets in a full histogram (the bounds plus the overflow bucket).
pub const LATENCY_BUCKETS: usize = LATENCY_BUCKET_BOUNDS_MICROS.len() + 1;

/// Longest text a [`SpanRecord`] keeps in one field (name, peer, method, path, authority, user
/// agent, rule, an attribute's key or string value), in bytes: the filter cuts what it copies
/// from a request to this length and the control plane cuts what it receives, both at a UTF-8
/// character boundary.
pub const MAX_SPAN_VALUE_BYTES: usize = 1024;
