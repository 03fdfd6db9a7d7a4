//! `acgs-tracing verify`: checks a rollout end to end and prints one line per check (pass, fail or
//! skip, what was seen, what to do). Exit code 0 when nothing failed, 1 otherwise.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::analysis::render::table::table;
use crate::commands::args::OutputFormat;
use crate::exit::EXIT_FAILED;
use crate::rollout::render::DEFAULT_HASH;
use crate::rollout::verify::{verify, Check, Endpoints, Outcome};

/// Check the rollout: control plane, collector, Jaeger, Elasticsearch, the filter in the mesh, and
/// a traced request's way to Jaeger.
#[derive(Debug, Args)]
pub struct Verify {
    /// The control plane's HTTP endpoint.
    #[arg(long, default_value = "http://acgs-control-plane.acgs-system.svc.cluster.local:5778")]
    pub control_plane_url: String,
    /// The OTel Collector's health_check extension.
    #[arg(long, default_value = "http://otel-collector.acgs-system.svc.cluster.local:13133")]
    pub collector_health_url: String,
    /// Jaeger's query service.
    #[arg(long, default_value = "http://jaeger-query.jaeger-system.svc.cluster.local:16686")]
    pub jaeger_query_url: String,
    /// Elasticsearch.
    #[arg(long, default_value = "http://elasticsearch.jaeger-system.svc.cluster.local:9200")]
    pub elasticsearch_url: String,
    /// The `elastic` user's password, for Elasticsearch's health (`kubectl -n jaeger-system get
    /// secret elasticsearch-credentials -o jsonpath='{.data.password}' | base64 -d`).
    #[arg(long, env = "ACGS_ELASTICSEARCH_PASSWORD", hide_env_values = true)]
    pub elasticsearch_password: Option<String>,
    /// A URL of a service in the mesh, behind the filter (without it the mesh checks are skipped).
    #[arg(long)]
    pub mesh_url: Option<String>,
    /// The constitutional hash the rollout enforces.
    #[arg(long, default_value = DEFAULT_HASH)]
    pub hash: String,
    /// Timeout of each check.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// How long the traced request may take to reach Jaeger (the sampler's decision_wait, the
    /// batching and Elasticsearch's 30 s refresh interval delay it).
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration)]
    pub trace_wait: Duration,
    /// Output format (json: `{"checks":[{name,target,outcome,detail,remedy}],"passed","failed","skipped"}`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

impl Verify {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let endpoints = Endpoints {
            control_plane: self.control_plane_url,
            collector_health: self.collector_health_url,
            jaeger_query: self.jaeger_query_url,
            elasticsearch: self.elasticsearch_url,
            elasticsearch_password: self.elasticsearch_password,
            mesh: self.mesh_url,
            hash: self.hash,
            timeout: self.timeout,
            trace_wait: self.trace_wait,
        };
        let format = self.format;
        let checks = verify(&endpoints);
        let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
        let passed = checks.iter().filter(|c| c.outcome == Outcome::Pass).count();
        let skipped = checks.len() - passed - failed;
        match format {
            OutputFormat::Text => print_table(&checks, passed, failed, skipped),
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({"checks": checks, "passed": passed, "failed": failed, "skipped": skipped})
            ),
        }
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

/// The checks as a table for people, then the counts.
fn print_table(checks: &[Check], passed: usize, failed: usize, skipped: usize) {
    let mut table = table(&["", "check", "seen", "what to do"]);
    for check in checks {
        let (mark, remedy) = match check.outcome {
            Outcome::Pass => ("✓ pass", ""),
            Outcome::Fail => ("✗ FAIL", check.remedy),
            Outcome::Skip => ("- skip", check.remedy),
        };
        table.add_row([mark, check.name, &format!("{}\n{}", check.detail, check.target), remedy]);
    }
    println!("{table}");
    println!("{passed} passed, {failed} failed, {skipped} skipped");
}
