//! `acgs-tracing deploy`: renders the rollout, plans it in dependency order, runs the pre-flight
//! (CRDs it needs, permission to patch each resource, the Istio in place: a failed check stops it
//! before anything is applied), and applies it by server-side apply through the Kubernetes API
//! (CRDs first and established, then the rest), then waits for every workload. `--dry-run` prints the plan and touches nothing. Bad values and
//! unplaceable manifests fail before any API call (exit 64); an unreachable API server exits 69;
//! a refused manifest or a rollout that does not finish in time exits 1.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::args::OutputFormat;
use super::rollout_args::RolloutArgs;
use crate::analysis::render::table::table;
use crate::exit::{Unavailable, UsageError, EXIT_FAILED};
use crate::rollout::apply::{deploy, DeployError};
use crate::rollout::diff::{diff, Change, ObjectDiff};
use crate::rollout::plan::{plan, Step, PHASES};
use crate::rollout::preflight::{preflight, Check, Outcome};
use crate::server::KubernetesSource;

/// Apply the rollout to the cluster (server-side apply, CRDs first) and wait for it.
#[derive(Debug, Args)]
pub struct Deploy {
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Print the plan (order, kinds, API paths, what is waited for) and change nothing.
    #[arg(long, conflicts_with = "diff")]
    pub dry_run: bool,
    /// Show what applying would change in the live cluster (server-side dry-run apply, compared
    /// field by field with each live object) and change nothing; exit 0 when nothing would
    /// change, 1 when something would (as `kubectl diff`).
    #[arg(long)]
    pub diff: bool,
    /// How long to wait for CRDs and workloads.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Kubernetes API server URL (plain HTTP, e.g. `kubectl proxy`); default: in-cluster or kubeconfig.
    #[arg(long, env = "ACGS_KUBERNETES_API")]
    pub kubernetes_api: Option<String>,
    /// Take over fields another field manager owns (as `kubectl apply --server-side
    /// --force-conflicts`); without it such a conflict stops the deploy, naming the object.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Output format (json: the plan's steps with `--dry-run`, else what was applied).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// The plan as JSON: the steps in order, then what is waited for.
fn plan_json(steps: &[Step]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = steps
        .iter()
        .map(|step| {
            serde_json::json!({
                "phase": PHASES[usize::from(step.phase)],
                "kind": step.kind(),
                "namespace": step.namespace,
                "name": step.name,
                "path": step.path(),
            })
        })
        .collect();
    let workloads: Vec<String> =
        steps.iter().filter(|s| s.is_workload()).map(|s| format!("{} {}", s.kind(), s.name)).collect();
    serde_json::json!({
        "dry_run": true,
        "steps": rows,
        "crds_to_establish": steps.iter().filter(|s| s.phase == 0).count(),
        "workloads_to_roll_out": workloads,
    })
}

fn print_plan(steps: &[Step]) {
    let mut table = table(&["#", "phase", "kind", "namespace/name", "API path"]);
    for (index, step) in steps.iter().enumerate() {
        let name = match &step.namespace {
            Some(namespace) => format!("{namespace}/{}", step.name),
            None => step.name.clone(),
        };
        table.add_row([
            (index + 1).to_string(),
            format!("{} {}", step.phase + 1, PHASES[usize::from(step.phase)]),
            step.kind().to_owned(),
            name,
            step.path(),
        ]);
    }
    println!("{table}");
    let crds = steps.iter().filter(|s| s.phase == 0).count();
    let workloads: Vec<String> =
        steps.iter().filter(|s| s.is_workload()).map(|s| format!("{} {}", s.kind(), s.name)).collect();
    println!("server-side apply, field manager acgs-tracing; after phase 1, wait for {crds} CRD(s) to be established;");
    println!("at the end, wait for {} workloads to roll out: {}", workloads.len(), workloads.join(", "));
}

fn print_diffs(diffs: &[ObjectDiff]) {
    for object in diffs {
        match &object.change {
            Change::Create => println!("+ {} (new)", object.object),
            Change::Unchanged => {}
            Change::Update(fields) => {
                println!("~ {}", object.object);
                for (path, live, applied) in fields {
                    println!("    {path}: {live} → {applied}");
                }
            }
        }
    }
    let unchanged = diffs.iter().filter(|d| d.change == Change::Unchanged).count();
    println!("{} to create, {} to change, {unchanged} unchanged", count(diffs, true), count(diffs, false));
}

fn count(diffs: &[ObjectDiff], new: bool) -> usize {
    diffs
        .iter()
        .filter(|d| if new { d.change == Change::Create } else { matches!(d.change, Change::Update(_)) })
        .count()
}

fn diffs_json(diffs: &[ObjectDiff]) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = diffs
        .iter()
        .map(|d| match &d.change {
            Change::Create => serde_json::json!({"object": d.object, "change": "create"}),
            Change::Unchanged => serde_json::json!({"object": d.object, "change": "none"}),
            Change::Update(fields) => serde_json::json!({
                "object": d.object,
                "change": "update",
                "fields": fields.iter().map(|(path, live, applied)| serde_json::json!({"path": path, "live": live, "applied": applied})).collect::<Vec<_>>(),
            }),
        })
        .collect();
    serde_json::json!({"diff": rows})
}

fn print_checks(checks: &[Check]) {
    let mut table = table(&["pre-flight check", "result", "detail"]);
    for check in checks {
        table.add_row([check.check.clone(), check.outcome.as_str().to_owned(), check.detail.clone()]);
    }
    println!("{table}");
}

fn checks_json(checks: &[Check]) -> serde_json::Value {
    checks
        .iter()
        .map(|c| serde_json::json!({"check": c.check, "outcome": c.outcome.as_str(), "detail": c.detail}))
        .collect()
}

impl Deploy {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let manifests = self.rollout.render()?;
        let steps = plan(manifests).map_err(|error| UsageError(error.to_string()))?;
        let json = self.format == OutputFormat::Json;
        if self.dry_run {
            if json {
                println!("{}", plan_json(&steps));
            } else {
                println!("dry run: {} resources would be applied in this order (nothing is changed)", steps.len());
                print_plan(&steps);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let source = self.kubernetes_api.clone().map_or(KubernetesSource::Infer, KubernetesSource::Url);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let client = source.client().await.map_err(|error| Unavailable(format!("{error:#}")))?;
            if self.diff {
                let diffs = match diff(&client, &steps).await {
                    Ok(diffs) => diffs,
                    Err(error) if error.unreachable() => return Err(Unavailable(error.to_string()).into()),
                    Err(error) => {
                        eprintln!("deploy --diff failed: {error}");
                        return Ok(ExitCode::from(EXIT_FAILED));
                    }
                };
                let changing = diffs.iter().filter(|d| d.change != Change::Unchanged).count();
                if json {
                    println!("{}", diffs_json(&diffs));
                } else {
                    print_diffs(&diffs);
                }
                return Ok(if changing == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) });
            }
            let checks = preflight(&client, &steps).await.map_err(|error| Unavailable(error.to_string()))?;
            let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
            if json && failed > 0 {
                println!("{}", serde_json::json!({"preflight": checks_json(&checks), "error": "pre-flight failed: nothing applied"}));
            } else if !json {
                print_checks(&checks);
            }
            if failed > 0 {
                eprintln!("deploy stopped: {failed} pre-flight check(s) failed; nothing was applied");
                return Ok(ExitCode::from(EXIT_FAILED));
            }
            match deploy(&client, &steps, self.timeout, self.force_conflicts).await {
                Ok(done) if json => {
                    let preflight = checks_json(&checks);
                    println!("{}", serde_json::json!({"preflight": preflight, "applied": done.applied, "workloads": done.workloads, "kept": done.kept}));
                    Ok(ExitCode::SUCCESS)
                }
                Ok(done) => {
                    println!("deployed: {} resources applied, {} workloads rolled out", done.applied, done.workloads);
                    if !done.kept.is_empty() {
                        println!("kept as they were (create-only): {}", done.kept.join(", "));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(error @ DeployError::Unreachable { .. }) => Err(Unavailable(error.to_string()).into()),
                Err(error) => {
                    if json {
                        println!("{}", serde_json::json!({"error": error.to_string()}));
                    }
                    eprintln!("deploy failed: {error}");
                    Ok(ExitCode::from(EXIT_FAILED))
                }
            }
        })
    }
}
