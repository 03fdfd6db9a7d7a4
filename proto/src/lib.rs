//! Wire types and contracts shared by the filter and the control plane.
//!
//! - [`telemetry`]: `acgs.telemetry.v1`, the batches each filter VM posts to the control plane,
//!   the fixed latency buckets both sides agree on, and the request facts defined once for every
//!   crate: [`telemetry::HashStatus`], [`telemetry::Category`], [`telemetry::Compliance`], with
//!   their labels (`as_str`) and parsing (`FromStr`).
//! - [`shared_data`]: the keys under which the filter's VMs share their polling lease and strategy
//!   record in Envoy's shared data.
//! - [`jaeger::api_v2`] (feature `grpc`): Jaeger's remote-sampling messages and the tonic
//!   `SamplingManager` client/server, wire-identical to Jaeger's `sampling.proto`.
//!
//! The code under `src/gen/` is generated from `proto/` and checked in, so no build needs protoc:
//! `examples/generate.rs` regenerates it and records the protos' digests, and `tests/bootstrap.rs`
//! fails when a proto no longer matches them.

pub mod shared_data;
pub mod telemetry;

mod facts;

#[cfg(feature = "grpc")]
pub mod jaeger {
    //! Jaeger's `jaeger.api_v2` package (remote sampling only).
    pub mod api_v2 {
        #![allow(missing_debug_implementations, clippy::all)]
        include!("gen/jaeger.api_v2.rs");
    }
}
