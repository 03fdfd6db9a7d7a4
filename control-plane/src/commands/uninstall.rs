//! `acgs-tracing uninstall`: renders the rollout with the same values `deploy` was given (so the
//! names and namespaces match), and deletes it in the reverse of the deploy order. The
//! SamplingPolicy CRD and the namespaces stay unless `--purge` (they hold the cluster's policies
//! and the traces' volumes). `--dry-run` lists what would be deleted and calls nothing. An
//! unreachable API server exits 69; a refused delete exits 1.

use std::process::ExitCode;

use clap::Args;

use super::args::OutputFormat;
use super::rollout_args::RolloutArgs;
use crate::exit::{Unavailable, UsageError, EXIT_FAILED};
use crate::rollout::plan::plan;
use crate::rollout::uninstall::{kept_unless_purging, uninstall, UninstallError};
use crate::server::KubernetesSource;

/// Delete the rollout (reverse order; keeps the CRD and the namespaces unless --purge).
#[derive(Debug, Args)]
pub struct Uninstall {
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Also delete the SamplingPolicy CRD (every SamplingPolicy with it) and the namespaces
    /// (Elasticsearch's volumes with them).
    #[arg(long)]
    pub purge: bool,
    /// List what would be deleted, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Kubernetes API server URL (plain HTTP, e.g. `kubectl proxy`); default: in-cluster or kubeconfig.
    #[arg(long, env = "ACGS_KUBERNETES_API")]
    pub kubernetes_api: Option<String>,
    /// Output format (json: what was deleted, gone already and kept).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

impl Uninstall {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let steps = plan(self.rollout.render()?).map_err(|error| UsageError(error.to_string()))?;
        let json = self.format == OutputFormat::Json;
        if self.dry_run {
            let (kept, deleted): (Vec<_>, Vec<_>) =
                steps.iter().rev().partition(|step| !self.purge && kept_unless_purging(step));
            let deleted: Vec<String> = deleted.iter().map(|step| step.label()).collect();
            let kept: Vec<String> = kept.iter().map(|step| step.label()).collect();
            if json {
                println!("{}", serde_json::json!({"dry_run": true, "would_delete": deleted, "kept": kept}));
            } else {
                println!("dry run: {} resources would be deleted in this order (nothing is changed)", deleted.len());
                deleted.iter().for_each(|line| println!("  {line}"));
                if !kept.is_empty() {
                    println!("kept (--purge deletes them): {}", kept.join(", "));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let source = self.kubernetes_api.clone().map_or(KubernetesSource::Infer, KubernetesSource::Url);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let client = source.client().await.map_err(|error| Unavailable(format!("{error:#}")))?;
            match uninstall(&client, &steps, self.purge).await {
                Ok(removed) if json => {
                    let value = serde_json::json!({
                        "deleted": removed.deleted, "already_gone": removed.already_gone, "kept": removed.kept
                    });
                    println!("{value}");
                    Ok(ExitCode::SUCCESS)
                }
                Ok(removed) => {
                    println!("uninstalled: {} deleted, {} already gone", removed.deleted, removed.already_gone);
                    if !removed.kept.is_empty() {
                        println!("kept (--purge deletes them): {}", removed.kept.join(", "));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(error @ UninstallError::Unreachable { .. }) => Err(Unavailable(error.to_string()).into()),
                Err(error) => {
                    eprintln!("uninstall failed: {error}");
                    Ok(ExitCode::from(EXIT_FAILED))
                }
            }
        })
    }
}
