//! `acgs-tracing validate FILE`: a strategies file checked offline exactly as `serve` checks it on
//! every reload, or a YAML file of SamplingPolicy resources checked as the API server and the
//! controller would. Exit code 0 when valid (warnings are printed), 1 when not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::exit::EXIT_FAILED;
use crate::policy::check::{check_policy, is_policy};
use crate::sampling::file;
use crate::sampling::resolve::describe;

/// Check a strategies file (Jaeger format, JSON or YAML) or SamplingPolicy manifests.
#[derive(Debug, Args)]
pub struct Validate {
    /// The strategies file, or a YAML file of SamplingPolicy resources.
    pub file: PathBuf,
}

impl Validate {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        if let Some(documents) = policy_documents(&self.file) {
            return Ok(validate_policies(&self.file, &documents));
        }
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

/// The file's documents if it holds SamplingPolicy resources (anything else is a strategies file).
fn policy_documents(path: &std::path::Path) -> Option<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    let documents = crate::rollout::bundle::parse_documents(&text).ok()?;
    documents.iter().any(is_policy).then_some(documents)
}

fn validate_policies(path: &std::path::Path, documents: &[serde_json::Value]) -> ExitCode {
    let mut failed = false;
    for (index, document) in documents.iter().enumerate() {
        if !is_policy(document) {
            failed = true;
            println!("invalid: {}: document {index} is not a tracing.acgs.io SamplingPolicy", path.display());
            continue;
        }
        match check_policy(document) {
            Ok(services) => println!(
                "{}: SamplingPolicy {}: valid: {services} service strategies",
                path.display(),
                document["metadata"]["name"].as_str().unwrap_or("?")
            ),
            Err(error) => {
                failed = true;
                println!("invalid: {}: {error}", path.display());
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}
