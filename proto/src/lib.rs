//! Wire types shared by the filter and the control plane.
//!
//! - [`telemetry`]: `acgs.telemetry.v1`, the batches each filter VM posts to the control plane,
//!   and the fixed latency buckets both sides agree on.
//! - [`jaeger::api_v2`] (feature `grpc`): Jaeger's remote-sampling messages and the tonic
//!   `SamplingManager` client/server, wire-identical to Jaeger's `sampling.proto`.
//!
//! The code under `src/gen/` is generated from `proto/` and checked in; `tests/bootstrap.rs`
//! regenerates it and fails on drift, so no build needs protoc.

pub mod telemetry {
    //! `acgs.telemetry.v1`: filter → control plane.
    #![allow(missing_debug_implementations, clippy::all)]
    include!("gen/acgs.telemetry.v1.rs");

    /// Upper bounds (inclusive, microseconds) of the latency histogram buckets carried in
    /// [`AggregateEntry::latency_buckets`]; one more bucket follows for everything above the last
    /// bound. Roughly ×2 steps from 50 µs to 10 s: fine where the 5 ms P99 target sits.
    pub const LATENCY_BUCKET_BOUNDS_MICROS: [u64; 19] = [
        50, 100, 250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 25_000, 50_000, 100_000,
        250_000, 1_000_000, 10_000_000,
    ];

    /// Number of buckets in a full histogram (the bounds plus the overflow bucket).
    pub const LATENCY_BUCKETS: usize = LATENCY_BUCKET_BOUNDS_MICROS.len() + 1;
}

#[cfg(feature = "grpc")]
pub mod jaeger {
    //! Jaeger's `jaeger.api_v2` package (remote sampling only).
    pub mod api_v2 {
        #![allow(missing_debug_implementations, clippy::all)]
        include!("gen/jaeger.api_v2.rs");
    }
}
