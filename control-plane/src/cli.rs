//! The command line: subcommands, logging set-up, and the exit code of the command's outcome
//! (the codes and the errors that choose them are [`crate::exit`]'s).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

/// ACGS mesh tracing: the constitutional-hash filter's control plane.
#[derive(Debug, Parser)]
#[command(name = "acgs-tracing", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing-subscriber EnvFilter syntax), e.g. `info` or `acgs=debug`.
    #[arg(long, global = true, env = "ACGS_LOG", default_value = "warn")]
    pub log: String,

    /// Log format.
    #[arg(long, global = true, env = "ACGS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse traces (control plane, Jaeger query API, Jaeger JSON export or OTLP/JSON file).
    Analyze(commands::analyze::Analyze),
    /// Run the real filter .wasm over requests from a JSONL file (or stdin) and show its decisions.
    DryRun(commands::dry_run::DryRun),
    /// The whole product on embedded defaults: control plane, filters, seed services, traffic.
    Demo(commands::demo::Demo),
    /// Serve sampling strategies over the Jaeger protocol (HTTP and gRPC), metrics and health.
    Serve(commands::serve::Serve),
    /// Check a strategies file offline (exit code 0 valid, 1 invalid).
    Validate(commands::validate::Validate),
    /// Print the rollout's manifests (deploy/ with your namespaces, hash, images, sampling, retention).
    Render(commands::render::Render),
    /// Apply the rollout by server-side apply (CRDs first) and wait for it; --dry-run prints the plan.
    Deploy(commands::deploy::Deploy),
    /// Check a rollout: control plane, collector, Jaeger, Elasticsearch, the filter in the mesh.
    Verify(commands::verify::Verify),
    /// Benchmarks, each against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
    /// Print a shell completion script (`source <(acgs-tracing completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs the parsed command line and maps its outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    init_logging(&cli.log, cli.log_format);
    let result = match cli.command {
        Command::Analyze(cmd) => cmd.execute(),
        Command::DryRun(cmd) => cmd.execute(),
        Command::Demo(cmd) => cmd.execute(),
        Command::Serve(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Render(cmd) => cmd.execute(),
        Command::Deploy(cmd) => cmd.execute(),
        Command::Verify(cmd) => cmd.execute(),
        Command::Bench(cmd) => cmd.execute(),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "acgs-tracing",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            crate::exit::code_of(&error)
        }
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only for a person at a terminal; never into a file, a pipe or a log collector.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
