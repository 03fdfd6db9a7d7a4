//! `acgs-tracing render`: the rollout's manifests on stdout (or a file), ready for `kubectl apply
//! --server-side -f -`; optionally the filter .wasm this binary embeds, for envoy/compose.yaml.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::rollout_args::RolloutArgs;
use crate::rollout::render::{filter_sha256, to_yaml};

/// Print the rollout's manifests (deploy/ with your namespaces, hash, images, sampling, retention).
#[derive(Debug, Args)]
pub struct Render {
    #[command(flatten)]
    pub rollout: RolloutArgs,
    /// Write the manifests here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write the filter .wasm (the module the manifests' sha256 names) to this path.
    #[arg(long)]
    pub filter_wasm_out: Option<PathBuf>,
}

impl Render {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let manifests = self.rollout.render()?;
        let yaml = to_yaml(&manifests)?;
        match &self.output {
            Some(path) => std::fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))?,
            None => print!("{yaml}"),
        }
        if let Some(path) = &self.filter_wasm_out {
            std::fs::write(path, acgs_filter_artifacts::FILTER_WASM)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        eprintln!(
            "rendered {} manifests ({:?} overlay); filter .wasm sha256 {}",
            manifests.len(),
            self.rollout.variant,
            filter_sha256()
        );
        Ok(ExitCode::SUCCESS)
    }
}
