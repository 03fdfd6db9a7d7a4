//! The ACGS tracing control plane: the `acgs-tracing` subcommands and the services behind them.
//!
//! - [`alerts`]: the four alert rules evaluated over the telemetry, `/api/v1/alerts`, Alertmanager.
//! - [`analysis`]: trace analysis (compliance, performance, security, dependencies, anomalies).
//! - [`cli`]: the command line (one module per subcommand under `commands`).
//! - [`exit`]: exit codes and the errors that choose them.
//! - [`commands`]: `serve`, `validate`, `dry-run`, `demo`, `bench`.
//! - [`sampling`]: strategies (Jaeger file format and resolution) and the endpoints serving them.
//! - [`server`]: the HTTP and gRPC servers `serve`, `demo` and the tests run.
//! - [`drain`]: a replica stopping without losing what it counted (telemetry refused, a last scrape).
//! - [`policy`]: `SamplingPolicy` custom resources, their merge with the file, their controller.
//! - [`rollout`]: `render`, `deploy` and `verify` of the deploy/ manifests.
//! - [`mesh`]: the simulated mesh of the demo and benchmarks (seed services, sidecars, traffic);
//!   with the `wasm-runtime` feature (default), as `demo`, `dry-run`, `bench filter` and
//!   `bench pipeline`, which run the filter in the embedded wasmtime host. `serve` needs none of it.
//! - [`collector`]: the rendered OpenTelemetry Collector tiers as a model (routing by trace id,
//!   tail sampling), what the demo and the tests pass Envoy's spans through.

pub mod alerts;
pub mod analysis;
pub mod cli;
pub mod collector;
pub mod commands;
pub mod drain;
pub mod exit;
pub mod http_client;
#[cfg(feature = "wasm-runtime")]
pub mod mesh;
pub mod policy;
pub mod rollout;
pub mod sampling;
pub mod server;
pub mod telemetry;
