//! `acgs-tracing bench …`: each benchmark measures ours against a baseline in the same run and
//! prints the ratio; `--format json` prints one JSON object on the last line.

use std::process::ExitCode;

use clap::Subcommand;

pub mod analyze;
mod child_server;
#[cfg(feature = "wasm-runtime")]
pub mod filter;
pub mod ingest;
mod load;
#[cfg(feature = "wasm-runtime")]
pub mod pipeline;
pub mod sampling;
pub mod soak;

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// The full trace analysis of a generated Jaeger export vs a plain serde_json parse of it.
    Analyze(analyze::AnalyzeBench),
    /// Full request/response cycles through our filter vs a no-op filter in the same host.
    #[cfg(feature = "wasm-runtime")]
    Filter(filter::FilterBench),
    /// Load on /api/sampling vs a bare axum handler; strategy lookup cost with 10 and 10k services.
    Sampling(sampling::SamplingBench),
    /// Telemetry batches through POST /v1/telemetry vs a plain protobuf decode of the same batches.
    Ingest(ingest::IngestBench),
    /// Spans and bytes to the Collector recording every hop vs head sampling at the gateway.
    #[cfg(feature = "wasm-runtime")]
    Pipeline(pipeline::PipelineBench),
    /// Mixed sampling and telemetry load for a while: errors, p99 and the RSS slope.
    Soak(soak::SoakBench),
}

impl Bench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Bench::Analyze(bench) => bench.execute(),
            #[cfg(feature = "wasm-runtime")]
            Bench::Filter(bench) => bench.execute(),
            Bench::Sampling(bench) => bench.execute(),
            Bench::Ingest(bench) => bench.execute(),
            #[cfg(feature = "wasm-runtime")]
            Bench::Pipeline(bench) => bench.execute(),
            Bench::Soak(bench) => bench.execute(),
        }
    }
}

/// A memory figure of this process from /proc/self/status (Linux; `VmRSS` now, `VmHWM` peak), in MB.
pub fn memory_mb(field: &str) -> Option<f64> {
    memory_mb_of("/proc/self/status", field)
}

/// A memory figure from a process's `status` file, in MB.
fn memory_mb_of(status_path: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(status_path).ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
