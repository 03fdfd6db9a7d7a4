//! The command line: subcommands, logging set-up, and the exit code of the command's outcome
//! (the codes and the errors that choose them are [`crate::exit`]'s).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::commands;

/// ACGS mesh tracing: the constitutional-hash filter's control plane.
#[derive(Debug, Parser)]
#[command(name = "acgs-tracing", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing-subscriber EnvFilter syntax), e.g. `info` or `acgs=debug`; `warn`
    /// when not given. Logs go to stderr, except `demo`'s, which go to a file unless this is set.
    #[arg(long, global = true, env = "ACGS_LOG")]
    pub log: Option<String>,

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
    #[cfg(feature = "wasm-runtime")]
    DryRun(commands::dry_run::DryRun),
    /// The whole product on embedded defaults: control plane, filters, seed services, traffic.
    #[cfg(feature = "wasm-runtime")]
    Demo(commands::demo::Demo),
    /// Serve sampling strategies over the Jaeger protocol (HTTP and gRPC), metrics and health.
    Serve(commands::serve::Serve),
    /// Check a strategies file offline (exit code 0 valid, 1 invalid).
    Validate(commands::validate::Validate),
    /// Print the rollout's manifests (deploy/ with your namespaces, hash, images, sampling, retention).
    Render(commands::render::Render),
    /// Apply the rollout by server-side apply (CRDs first) and wait for it; --dry-run prints the plan.
    Deploy(commands::deploy::Deploy),
    /// Delete the rollout in reverse order; keeps the SamplingPolicy CRD and the namespaces unless --purge.
    Uninstall(commands::uninstall::Uninstall),
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
pub fn run(mut cli: Cli) -> ExitCode {
    let filter = cli.log.as_deref().unwrap_or(DEFAULT_LOG_FILTER);
    let log_file: Option<std::path::PathBuf> = match (&mut cli.command, &cli.log) {
        // The demo tells a story on stdout; its control plane's log lines (alerts firing, ...)
        // would cut through it on a terminal.
        #[cfg(feature = "wasm-runtime")]
        (Command::Demo(demo), None) => {
            let path = std::env::temp_dir().join("acgs-demo.log");
            demo.log_file = Some(path.clone());
            Some(path)
        }
        _ => None,
    };
    if let Err(error) = init_logging(filter, cli.log_format, log_file.as_deref()) {
        eprintln!("error: {error:#}");
        return crate::exit::code_of(&error);
    }
    let result = match cli.command {
        Command::Analyze(cmd) => cmd.execute(),
        #[cfg(feature = "wasm-runtime")]
        Command::DryRun(cmd) => cmd.execute(),
        #[cfg(feature = "wasm-runtime")]
        Command::Demo(cmd) => cmd.execute(),
        Command::Serve(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Render(cmd) => cmd.execute(),
        Command::Deploy(cmd) => cmd.execute(),
        Command::Uninstall(cmd) => cmd.execute(),
        Command::Verify(cmd) => cmd.execute(),
        Command::Bench(cmd) => cmd.execute(),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "acgs-tracing", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                // The reader stopped reading (`| head`): not a failure of ours.
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(anyhow::Error::new(error).context("writing the completion script"))
                }
                _ => Ok(ExitCode::SUCCESS),
            }
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

/// The log filter when `--log` and `ACGS_LOG` are not given.
const DEFAULT_LOG_FILTER: &str = "warn";

fn init_logging(filter: &str, format: LogFormat, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let writer = match file {
        Some(path) => {
            let file =
                std::fs::File::create(path).with_context(|| format!("creating the log file {}", path.display()))?;
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(file))
        }
        None => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    };
    // Colour codes only for a person at a terminal; never into a file, a pipe or a log collector.
    let colour = file.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
