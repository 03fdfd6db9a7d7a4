//! The ACGS tracing control plane: the `acgs-tracing` subcommands and the services behind them.
//!
//! - [`cli`]: the command line (one module per subcommand under `commands`), exit codes.
//! - [`commands`]: `dry-run`, `demo`, `bench`, …

pub mod cli;
pub mod commands;
pub mod mesh;
