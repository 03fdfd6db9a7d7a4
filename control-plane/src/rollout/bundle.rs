//! The manifests of deploy/, embedded in the binary so `render` and `deploy` work anywhere, and a
//! small kustomize `resources:` resolver over them (files and directories with a
//! kustomization.yaml; deploy/ uses nothing else, so `kubectl apply -k` and `render` agree).

use serde_json::Value;

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/", $path)))),*]
    };
}

/// Every file of deploy/ (a test checks this list against the directory).
pub const FILES: &[(&str, &str)] = embed![
    "base/kustomization.yaml",
    "base/namespaces.yaml",
    "base/crds/samplingpolicy.yaml",
    "base/control-plane/rbac.yaml",
    "base/control-plane/telemetry-token.yaml",
    "base/control-plane/deployment.yaml",
    "base/control-plane/service.yaml",
    "base/control-plane/destinationrule.yaml",
    "base/control-plane/samplingpolicy-seed.yaml",
    "base/mesh/peerauthentication.yaml",
    "base/mesh/telemetry.yaml",
    "base/otel-collector/configmap.yaml",
    "base/otel-collector/deployment.yaml",
    "base/otel-collector/sampler-configmap.yaml",
    "base/otel-collector/sampler.yaml",
    "base/elasticsearch/credentials.yaml",
    "base/elasticsearch/statefulset.yaml",
    "base/elasticsearch/retention.yaml",
    "base/monitoring/prometheusrule.yaml",
    "base/monitoring/podmonitor.yaml",
    "base/monitoring/grafana-dashboard.yaml",
    "filter/wasmplugin/kustomization.yaml",
    "filter/wasmplugin/wasmplugin.yaml",
    "filter/envoyfilter/kustomization.yaml",
    "filter/envoyfilter/envoyfilter.yaml",
    "jaeger/v2/kustomization.yaml",
    "jaeger/v2/config.yaml",
    "jaeger/v2/collector.yaml",
    "jaeger/v2/query.yaml",
    "jaeger/v1/kustomization.yaml",
    "jaeger/v1/collector.yaml",
    "jaeger/v1/query.yaml",
    "jaeger/v1/agent.yaml",
    "overlays/default/kustomization.yaml",
    "overlays/envoyfilter/kustomization.yaml",
    "overlays/jaeger-v1/kustomization.yaml",
];

/// One manifest and the file it comes from (relative to deploy/).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub source: String,
    pub value: Value,
}

/// Why the embedded bundle cannot be built (a packaging bug, never user input).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("deploy/{0} is not embedded")]
    Missing(String),
    #[error("deploy/{file}: {error}")]
    Yaml { file: String, error: serde_norway::Error },
}

fn file(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(name, _)| *name == path).map(|(_, text)| *text)
}

/// `base` joined with a relative `path` (`..` allowed), as a deploy/-relative path.
fn join(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// Parses a multi-document YAML text into its (non-empty) documents.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, serde_norway::Error> {
    let mut values = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        if !value.is_null() {
            values.push(value);
        }
    }
    Ok(values)
}

/// Parses one embedded YAML file into its documents.
pub fn documents(path: &str) -> Result<Vec<Manifest>, BundleError> {
    let text = file(path).ok_or_else(|| BundleError::Missing(path.to_owned()))?;
    let values = parse_documents(text).map_err(|error| BundleError::Yaml { file: path.to_owned(), error })?;
    Ok(values.into_iter().map(|value| Manifest { source: path.to_owned(), value }).collect())
}

/// Everything the kustomization in `dir` (deploy/-relative) lists, in order.
pub fn build(dir: &str) -> Result<Vec<Manifest>, BundleError> {
    let kustomization_path = join(dir, "kustomization.yaml");
    let kustomization = documents(&kustomization_path)?;
    let resources = kustomization
        .first()
        .and_then(|k| k.value["resources"].as_array().cloned())
        .ok_or_else(|| BundleError::Missing(format!("{kustomization_path} resources")))?;
    let mut manifests = Vec::new();
    for resource in resources.iter().filter_map(Value::as_str) {
        let path = join(dir, resource);
        if file(&path).is_some() {
            manifests.extend(documents(&path)?);
        } else {
            manifests.extend(build(&path)?);
        }
    }
    Ok(manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_deploy_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let mut on_disk = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("deploy/ is readable").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    on_disk.push(path.strip_prefix(&root).expect("under deploy/").display().to_string());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn overlays_resolve_in_kustomize_order() {
        let default = build("overlays/default").expect("the default overlay builds");
        assert_eq!(default.first().map(|m| m.source.as_str()), Some("base/namespaces.yaml"));
        let sources: Vec<&str> = default.iter().map(|m| m.source.as_str()).collect();
        assert!(sources.contains(&"filter/wasmplugin/wasmplugin.yaml"));
        assert!(sources.contains(&"jaeger/v2/collector.yaml"));
        assert!(!sources.iter().any(|s| s.starts_with("jaeger/v1") || s.starts_with("filter/envoyfilter")));
        let v1 = build("overlays/jaeger-v1").expect("the v1 overlay builds");
        assert!(v1.iter().any(|m| m.value["kind"] == "DaemonSet" && m.value["metadata"]["name"] == "jaeger-agent"));
        assert_eq!(join("overlays/default", "../../base"), "base");
    }
}
