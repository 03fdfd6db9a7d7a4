//! `acgs-tracing`: the control plane's one binary. Parses the command line, sets up logging and
//! hands over to the subcommand; exit codes are for scripts (see [`acgs_control_plane::cli`]).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a server that frees on one thread what it allocated on
/// another (spans decoded on the runtime's workers, dropped by the store's thread) fragments
/// glibc's per-thread arenas, and its resident memory creeps up for hours (`bench soak`,
/// docs/reliability.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = acgs_control_plane::cli::Cli::parse();
    acgs_control_plane::cli::run(cli)
}
