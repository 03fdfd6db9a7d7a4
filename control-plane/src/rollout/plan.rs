//! The order `deploy` applies manifests in, and where each kind lives in the Kubernetes API.
//! Phases follow what depends on what: CRDs first (and established before their resources),
//! namespaces, identities and RBAC, configuration, services, workloads, then the custom resources
//! the workloads and the mesh read (Istio's, the PrometheusRule and PodMonitor, SamplingPolicies). Within a phase
//! the rendered order is kept. Kinds are known in advance, so no discovery call is needed and an
//! unknown kind fails the plan before anything is touched.

use kube::discovery::ApiResource;

use super::bundle::Manifest;
use super::elasticsearch_secrets::CREATE_ONLY_LABEL;

/// (apiVersion, kind, plural, namespaced, phase)
const KINDS: &[(&str, &str, &str, bool, u8)] = &[
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false, 0),
    ("v1", "Namespace", "namespaces", false, 1),
    ("v1", "ServiceAccount", "serviceaccounts", true, 2),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false, 2),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false, 2),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true, 2),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true, 2),
    ("v1", "Secret", "secrets", true, 3),
    ("v1", "ConfigMap", "configmaps", true, 3),
    ("v1", "Service", "services", true, 4),
    ("apps/v1", "StatefulSet", "statefulsets", true, 5),
    ("apps/v1", "Deployment", "deployments", true, 5),
    ("apps/v1", "DaemonSet", "daemonsets", true, 5),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true, 5),
    ("batch/v1", "CronJob", "cronjobs", true, 5),
    ("security.istio.io/v1", "PeerAuthentication", "peerauthentications", true, 6),
    ("telemetry.istio.io/v1", "Telemetry", "telemetries", true, 6),
    ("extensions.istio.io/v1alpha1", "WasmPlugin", "wasmplugins", true, 6),
    ("networking.istio.io/v1alpha3", "EnvoyFilter", "envoyfilters", true, 6),
    ("networking.istio.io/v1", "DestinationRule", "destinationrules", true, 6),
    ("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules", true, 7),
    ("monitoring.coreos.com/v1", "PodMonitor", "podmonitors", true, 7),
    ("tracing.acgs.io/v1alpha1", "SamplingPolicy", "samplingpolicies", true, 7),
];

/// What each phase is, for the plan's output.
pub const PHASES: [&str; 8] = [
    "custom resource definitions",
    "namespaces",
    "identities and RBAC",
    "configuration",
    "services",
    "workloads",
    "mesh policy and filter",
    "alerts and sampling policies",
];

/// One step: a manifest, where it goes, and its phase.
#[derive(Debug, Clone)]
pub struct Step {
    pub manifest: Manifest,
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
    pub phase: u8,
}

impl Step {
    pub fn kind(&self) -> &str {
        &self.resource.kind
    }

    /// The API path the apply goes to.
    pub fn path(&self) -> String {
        let base = if self.resource.group.is_empty() {
            format!("/api/{}", self.resource.version)
        } else {
            format!("/apis/{}/{}", self.resource.group, self.resource.version)
        };
        match &self.namespace {
            Some(namespace) => format!("{base}/namespaces/{namespace}/{}/{}", self.resource.plural, self.name),
            None => format!("{base}/{}/{}", self.resource.plural, self.name),
        }
    }

    /// `Kind namespace/name` (or `Kind name`), how the rollout commands name an object.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind(), self.name),
            None => format!("{} {}", self.kind(), self.name),
        }
    }

    /// Whether `deploy` only creates this object and keeps one that exists (generated secrets:
    /// [`CREATE_ONLY_LABEL`]).
    pub fn is_create_only(&self) -> bool {
        self.manifest.value["metadata"]["labels"][CREATE_ONLY_LABEL] == "true"
    }

    /// Whether `deploy` waits for this workload to roll out.
    pub fn is_workload(&self) -> bool {
        matches!(self.kind(), "Deployment" | "StatefulSet" | "DaemonSet")
    }
}

/// A manifest the plan cannot place.
#[derive(Debug, thiserror::Error)]
#[error("deploy/{source_file}: {reason}")]
pub struct PlanError {
    pub source_file: String,
    pub reason: String,
}

/// Orders the manifests into steps; fails on the first one it cannot place.
pub fn plan(manifests: Vec<Manifest>) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::with_capacity(manifests.len());
    for manifest in manifests {
        let api_version = manifest.value["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = manifest.value["kind"].as_str().unwrap_or_default().to_owned();
        let fail = |reason: String| PlanError { source_file: manifest.source.clone(), reason };
        let Some(&(_, _, plural, namespaced, phase)) =
            KINDS.iter().find(|(version, known, ..)| *version == api_version && *known == kind)
        else {
            return Err(fail(format!("{api_version} {kind} is not a kind deploy knows how to apply")));
        };
        let name = manifest.value["metadata"]["name"].as_str().filter(|n| !n.is_empty()).map(str::to_owned);
        let Some(name) = name else {
            return Err(fail(format!("{kind} without metadata.name")));
        };
        let namespace = manifest.value["metadata"]["namespace"].as_str().map(str::to_owned);
        if namespaced && namespace.is_none() {
            return Err(fail(format!("{kind}/{name} has no metadata.namespace")));
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version.as_str()));
        let resource = ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: api_version.clone(),
            kind: kind.clone(),
            plural: plural.to_owned(),
        };
        steps.push(Step { manifest, resource, namespace: namespace.filter(|_| namespaced), name, phase });
    }
    steps.sort_by_key(|step| step.phase);
    Ok(steps)
}
