//! The `SamplingPolicy` custom resource (group `tracing.acgs.io`, version `v1alpha1`, namespaced),
//! defined once here: the CRD YAML in deploy/ is generated from these types (`crd_yaml`, with a
//! drift test), and the controller reads the same types.
//!
//! The spec is the strategies file's content in Kubernetes' camelCase: an optional default
//! strategy, per-service strategies with per-operation overrides, and the constitutional selector.
//! What the API server can check is in the schema (strategy type enum, `param` ≥ 0, probabilities
//! ≤ 1 as a CEL rule, services unique as a list-map keyed by `service`, `headSampling` only on
//! probabilistic services as a CEL rule, at least one label in its `matchLabels`); everything else
//! (duplicate operations, empty names, label syntax) is checked by the controller, which reports it
//! in status.
//!
//! The strategies themselves are the sampling layer's types wherever the JSON agrees: a
//! per-operation override is [`OperationStrategy`], the selector [`Constitutional`], the type
//! [`StrategyKind`]. Only the strategy and service entries are the resource's own, because their
//! JSON spells `operationStrategies` (and `headSampling`) where the file spells
//! `operation_strategies`; [`SamplingPolicySpec::to_strategies`] converts the spec into the
//! sampling layer's [`StrategiesFile`]. The dependency runs one way: policy → sampling.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sampling::file::{
    Constitutional, DefaultStrategy, OperationStrategy, ServiceStrategy, StrategiesFile, StrategyKind,
};

/// Per-service sampling for the mesh's filters and SDKs, merged with the strategies file.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tracing.acgs.io",
    version = "v1alpha1",
    kind = "SamplingPolicy",
    plural = "samplingpolicies",
    shortname = "sp",
    namespaced,
    status = "SamplingPolicyStatus",
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SamplingPolicySpec {
    /// The strategy of services no policy or file names (at most one policy may set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_strategy: Option<PolicyStrategy>,
    /// Per-service strategies; a service may appear in one policy only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["service"]))]
    pub services: Vec<ServicePolicy>,
    /// What is always sampled (merged with every other source's selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constitutional: Option<Constitutional>,
}

/// A strategy: `probabilistic` (param is the probability) or `ratelimiting` (traces per second).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type != 'probabilistic' || self.param <= 1.0",
    "message": "a probabilistic param is a probability in [0, 1]"
}]))]
pub struct PolicyStrategy {
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    #[schemars(range(min = 0.0))]
    pub param: f64,
    /// Per-operation probabilities (probabilistic only, as in Jaeger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation_strategies: Vec<OperationStrategy>,
}

/// One service's strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type != 'probabilistic' || self.param <= 1.0",
    "message": "a probabilistic param is a probability in [0, 1]"
}, {
    "rule": "self.type == 'probabilistic' || !has(self.headSampling)",
    "message": "headSampling needs a probabilistic strategy (Istio's percentage is a probability)"
}]))]
pub struct ServicePolicy {
    #[schemars(length(min = 1))]
    pub service: String,
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    #[schemars(range(min = 0.0))]
    pub param: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation_strategies: Vec<OperationStrategy>,
    /// The workloads where this service's traces start (their CLIENT side, e.g. the ingress
    /// gateway): Istio's percentage there follows this strategy (probabilistic only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sampling: Option<HeadSampling>,
}

/// Where a service's traces start, for the Istio `Telemetry` the controller writes there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadSampling {
    /// The workloads' namespace (default: the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The workloads' labels; at least one (a Telemetry without selector applies to a whole
    /// namespace).
    #[schemars(extend("minProperties" = 1))]
    pub match_labels: BTreeMap<String, String>,
}

/// A policy's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the controller made of the policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamplingPolicyStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Accepted`: True (served) or False with reason `Invalid` or `Conflict` and a message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The CustomResourceDefinition, as the YAML committed in deploy/.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    let header = "# Generated from control-plane/src/policy/resource.rs (SamplingPolicy); do not edit.\n\
                  # Regenerate: cargo run --release -p acgs-control-plane --example regenerate\n";
    Ok(format!("{header}{}", serde_norway::to_string(&SamplingPolicy::crd())?))
}

impl SamplingPolicySpec {
    /// The spec as a strategies-file fragment (what the merge and the checks work on).
    pub fn to_strategies(&self) -> StrategiesFile {
        StrategiesFile {
            default_strategy: self.default_strategy.as_ref().map(|strategy| DefaultStrategy {
                kind: strategy.kind,
                param: strategy.param,
                operation_strategies: strategy.operation_strategies.clone(),
            }),
            service_strategies: self
                .services
                .iter()
                .map(|service| ServiceStrategy {
                    service: service.service.clone(),
                    kind: service.kind,
                    param: service.param,
                    operation_strategies: service.operation_strategies.clone(),
                })
                .collect(),
            constitutional: self.constitutional.clone(),
        }
    }
}

/// Rewrites a strategies-file field path (`service_strategies[1].operation_strategies[0].param`)
/// into the resource's (`spec.services[1].operationStrategies[0].param`).
pub fn spec_path(file_path: &str) -> String {
    let path = file_path
        .replace("service_strategies", "services")
        .replace("default_strategy", "defaultStrategy")
        .replace("operation_strategies", "operationStrategies");
    format!("spec.{path}")
}
