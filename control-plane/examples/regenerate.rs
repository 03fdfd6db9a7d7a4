//! Rewrites the files in deploy/ that are generated from the code, for a developer who changed
//! the code they come from: the SamplingPolicy CRD (from the Rust types), the PrometheusRule
//! (from the alert rules), the filter's sha256 in the EnvoyFilter and WasmPlugin (from the
//! embedded .wasm), and the README's list of metric families (from a running server's registry). The tests compare the committed files with the code and name this command
//! when they differ; they never rewrite anything themselves.
//!
//! `cargo run --release -p acgs-control-plane --example regenerate`

use std::path::Path;

use acgs_control_plane::alerts::rules::{prometheus_rule_yaml, AlertConfig};
use acgs_control_plane::policy::resource::crd_yaml;
use acgs_control_plane::rollout::render::filter_sha256;
use anyhow::Context as _;

#[path = "../tests/support/metric_families.rs"]
mod metric_families;

/// The annotation that names the filter's sha256 in both filter manifests.
const SHA_ANNOTATION: &str = "tracing.acgs.io/filter-wasm-sha256: \"";

fn main() -> anyhow::Result<()> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    write_if_changed(&deploy.join("base/crds/samplingpolicy.yaml"), &crd_yaml()?)?;
    write_if_changed(
        &deploy.join("base/monitoring/prometheusrule.yaml"),
        &prometheus_rule_yaml(&AlertConfig::default(), "acgs-system"),
    )?;
    let sha = filter_sha256();
    for manifest in ["filter/envoyfilter/envoyfilter.yaml", "filter/wasmplugin/wasmplugin.yaml"] {
        let path = deploy.join(manifest);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let old = text
            .split_once(SHA_ANNOTATION)
            .and_then(|(_, rest)| rest.get(..64))
            .with_context(|| format!("{}: no {SHA_ANNOTATION:?} annotation", path.display()))?;
        write_if_changed(&path, &text.replace(old, &sha))?;
    }
    let readme = deploy.join("../README.md");
    let text = std::fs::read_to_string(&readme).context("reading README.md")?;
    let table = metric_families::readme_table(&metric_families::busy_server_families());
    let rewritten = metric_families::with_table(&text, &table).context("README.md: no metric families' markers")?;
    write_if_changed(&readme, &rewritten)?;
    Ok(())
}

fn write_if_changed(path: &Path, contents: &str) -> anyhow::Result<()> {
    let path = path.canonicalize().with_context(|| format!("{} is missing", path.display()))?;
    if std::fs::read_to_string(&path).ok().as_deref() == Some(contents) {
        println!("unchanged  {}", path.display());
    } else {
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        println!("rewritten  {}", path.display());
    }
    Ok(())
}
