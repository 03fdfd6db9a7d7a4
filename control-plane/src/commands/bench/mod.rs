//! `acgs-tracing bench …`: each benchmark measures ours against a baseline in the same run and
//! prints the ratio; `--format json` prints one JSON object on the last line.

use std::process::ExitCode;

use clap::Subcommand;

pub mod filter;
pub mod ingest;
mod load;
pub mod sampling;

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Full request/response cycles through our filter vs a no-op filter in the same host.
    Filter(filter::FilterBench),
    /// Load on /api/sampling vs a bare axum handler; strategy lookup cost with 10 and 10k services.
    Sampling(sampling::SamplingBench),
    /// Telemetry batches through POST /v1/telemetry vs a plain protobuf decode of the same batches.
    Ingest(ingest::IngestBench),
}

impl Bench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Bench::Filter(bench) => bench.execute(),
            Bench::Sampling(bench) => bench.execute(),
            Bench::Ingest(bench) => bench.execute(),
        }
    }
}

/// How a benchmark prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Text,
    /// One JSON object on the last line, for scripts.
    Json,
}
