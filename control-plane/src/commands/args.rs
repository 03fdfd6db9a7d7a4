//! Arguments several subcommands share, defined once (the rollout's are in
//! [`super::rollout_args`], the benchmarks' load in `bench::load`).

/// How a command prints its result (`analyze`, `dry-run`, every `bench`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Text,
    /// One JSON object on the last line, for scripts.
    Json,
}
