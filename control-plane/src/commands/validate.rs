//! `acgs-tracing validate FILE`: the strategies file checked offline exactly as `serve` checks it
//! on every reload. Exit code 0 when valid (warnings are printed), 1 when not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::cli::EXIT_FAILED;
use crate::sampling::file;
use crate::sampling::resolve::describe;

/// Check a strategies file (Jaeger format, JSON or YAML) the way `serve` would load it.
#[derive(Debug, Args)]
pub struct Validate {
    /// The strategies file.
    pub file: PathBuf,
}

impl Validate {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match file::load(&self.file) {
            Ok(validated) => {
                for warning in &validated.warnings {
                    println!("warning: {}: {warning}", self.file.display());
                }
                println!(
                    "{}: valid: {} service strategies, default {}",
                    self.file.display(),
                    validated.file.service_strategies.len(),
                    describe(validated.file.default_strategy.as_ref())
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                println!("invalid: {error}");
                Ok(ExitCode::from(EXIT_FAILED))
            }
        }
    }
}
