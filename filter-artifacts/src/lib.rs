//! The filter modules as the product ships them (and one test filter), built by this crate's
//! build script for `wasm32-wasip1` with the `wasm-release` profile (size-optimised, LTO, no
//! unwinding) and embedded here, so every command and test runs the exact bytes a sidecar would
//! load.

/// The constitutional-hash filter (`acgs-filter`).
pub const FILTER_WASM: &[u8] = include_bytes!(env!("FILTER_WASM_PATH"));
/// Where the build left the filter .wasm (what `dry-run --wasm` or an EnvoyFilter would load).
pub const FILTER_WASM_PATH: &str = env!("FILTER_WASM_PATH");
/// A filter that continues every callback and does nothing else: the benchmarks' baseline.
pub const NOOP_FILTER_WASM: &[u8] = include_bytes!(env!("NOOP_FILTER_WASM_PATH"));
/// Where the build left the no-op filter .wasm.
pub const NOOP_FILTER_WASM_PATH: &str = env!("NOOP_FILTER_WASM_PATH");
/// A test filter built with the proxy-wasm Rust SDK that makes gRPC callouts (unary, stream,
/// cancel) and reports what came back in request headers: the host's gRPC ABI against real SDK
/// code (filter-artifacts/grpc-callout-filter). Never shipped.
pub const GRPC_CALLOUT_FILTER_WASM: &[u8] = include_bytes!(env!("GRPC_CALLOUT_FILTER_WASM_PATH"));
