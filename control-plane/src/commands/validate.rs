//! `acgs-tracing validate FILE`: a strategies file checked offline exactly as `serve` checks it on
//! every reload, or a YAML file of SamplingPolicy resources checked as the API server and the
//! controller would. Exit code 0 when valid (warnings are printed), 1 when not.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::commands::args::OutputFormat;
use crate::exit::EXIT_FAILED;
use crate::policy::check::{check_policy, is_policy};
use crate::sampling::file;
use crate::sampling::resolve::describe;

/// Check a strategies file (Jaeger format, JSON or YAML) or SamplingPolicy manifests.
#[derive(Debug, Args)]
pub struct Validate {
    /// The strategies file, or a YAML file of SamplingPolicy resources.
    pub file: PathBuf,

    /// Output format (json: `{"file","kind","valid","findings":[{"level","message"}]}`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// What was checked and what was found.
#[derive(Debug, Serialize)]
struct Verdict {
    file: String,
    /// `strategies` or `sampling_policies`.
    kind: &'static str,
    valid: bool,
    findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
struct Finding {
    /// `valid` (a summary of what passed), `warning` or `invalid`; the message names the file
    /// where the error it carries does not already.
    level: &'static str,
    message: String,
}

impl Verdict {
    fn note(&mut self, level: &'static str, message: String) {
        self.valid &= level != "invalid";
        self.findings.push(Finding { level, message });
    }
}

impl Validate {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let file = self.file.display().to_string();
        let verdict = match policy_documents(&self.file) {
            Some(documents) => validate_policies(file, &documents),
            None => validate_strategies(file, &self.file),
        };
        match self.format {
            OutputFormat::Text => {
                for finding in &verdict.findings {
                    match finding.level {
                        "valid" => println!("{}: {}", verdict.file, finding.message),
                        level => println!("{level}: {}", finding.message),
                    }
                }
            }
            OutputFormat::Json => println!("{}", serde_json::to_string(&verdict)?),
        }
        Ok(if verdict.valid { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

fn validate_strategies(file: String, path: &Path) -> Verdict {
    let mut verdict = Verdict { file, kind: "strategies", valid: true, findings: Vec::new() };
    match file::load(path) {
        Ok(validated) => {
            for warning in &validated.warnings {
                let message = format!("{}: {warning}", verdict.file);
                verdict.note("warning", message);
            }
            let summary = format!(
                "valid: {} service strategies, default {}",
                validated.file.service_strategies.len(),
                describe(validated.file.default_strategy.as_ref())
            );
            verdict.note("valid", summary);
        }
        Err(error) => verdict.note("invalid", error.to_string()),
    }
    verdict
}

/// The file's documents if it holds SamplingPolicy resources (anything else is a strategies file).
fn policy_documents(path: &Path) -> Option<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    let documents = crate::rollout::bundle::parse_documents(&text).ok()?;
    documents.iter().any(is_policy).then_some(documents)
}

fn validate_policies(file: String, documents: &[serde_json::Value]) -> Verdict {
    let mut verdict = Verdict { file, kind: "sampling_policies", valid: true, findings: Vec::new() };
    for (index, document) in documents.iter().enumerate() {
        if !is_policy(document) {
            let message = format!("{}: document {index} is not a tracing.acgs.io SamplingPolicy", verdict.file);
            verdict.note("invalid", message);
            continue;
        }
        let name = document["metadata"]["name"].as_str().unwrap_or("?");
        match check_policy(document) {
            Ok(services) => {
                verdict.note("valid", format!("SamplingPolicy {name}: valid: {services} service strategies"))
            }
            Err(error) => {
                let message = format!("{}: {error}", verdict.file);
                verdict.note("invalid", message);
            }
        }
    }
    verdict
}
