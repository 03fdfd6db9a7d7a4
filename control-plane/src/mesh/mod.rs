//! The simulated mesh the CLI drives: sidecars (our filter .wasm in the embedded proxy-wasm host,
//! one per workload), the seed services behind them, and the request mix sent through them.
//! Shared by `dry-run`, `demo` and `bench filter` so they all run the filter the same way; the
//! Envoy tracing of each proxy comes from the rendered Istio Telemetry ([`istio`]).

pub mod chain;
pub mod istio;
pub mod seed;
pub mod sidecar;
pub mod traffic;
