//! `acgs-tracing`: the control plane's one binary. Parses the command line, sets up logging and
//! hands over to the subcommand; exit codes are for scripts (see [`acgs_control_plane::cli`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = acgs_control_plane::cli::Cli::parse();
    acgs_control_plane::cli::run(cli)
}
