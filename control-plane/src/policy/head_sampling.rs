//! Head sampling from the policies: a service entry's `headSampling` names the workloads where that
//! service's traces start (their CLIENT side, e.g. the ingress gateway), and the controller writes
//! one Istio `Telemetry` there (`acgs-head-<service>`, CLIENT mode, provider `acgs-otel`) whose
//! `randomSamplingPercentage` is the service's strategy, so that one SamplingPolicy drives the
//! filter, the SDKs and Istio's own percentage alike.
//!
//! The percentage is the service's highest probability (its rate, or a per-operation rate above
//! it) rounded up to Envoy's resolution: ⌈rate × 10,000⌉ / 100. Envoy's `random_sampling` and the
//! filter's probabilistic decision draw the same coin from `x-request-id` (docs/mesh.md), so every
//! trace the filter keeps is among those Envoy recorded, and what Jaeger stores stays what the
//! strategy says.
//!
//! Services whose traces start at the same workloads share the highest of their percentages
//! there (Istio applies one Telemetry per workload). Only served specs count (an accepted policy's, or the last accepted spec of one refused as
//! invalid): Istio's percentage never disagrees with the rate the filters are served. The checks
//! here name the field, as the strategies checks do; [`apply`] writes and prunes the Telemetries.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::resource::{HeadSampling, PolicyKey, SamplingPolicySpec, ServicePolicy};
use crate::sampling::file::StrategyKind;

pub mod apply;
mod names;

/// The prefix of the Telemetries' names (`acgs-head-<service>`).
pub const NAME_PREFIX: &str = "acgs-head-";
/// The label every Telemetry the controller writes carries, with [`MANAGED_BY_VALUE`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "acgs-tracing";
/// The label naming the policy (`<namespace>.<name>`) a Telemetry comes from.
pub const POLICY_LABEL: &str = "tracing.acgs.io/policy";
/// The mesh config's OpenTelemetry provider (deploy/base/mesh/telemetry.yaml uses the same).
pub const PROVIDER: &str = "acgs-otel";

/// A Telemetry's namespace and name.
pub type TelemetryKey = (String, String);

/// Checks every service's `headSampling`; the error names the field in the resource's terms.
pub fn check(spec: &SamplingPolicySpec) -> Result<(), String> {
    for (index, service) in spec.services.iter().enumerate() {
        let Some(head) = &service.head_sampling else { continue };
        let path = format!("spec.services[{index}].headSampling");
        if service.kind != StrategyKind::Probabilistic {
            return Err(format!("{path}: needs a probabilistic strategy (Istio's percentage is a probability)"));
        }
        if let Some(namespace) = &head.namespace {
            if !names::is_dns1123_label(namespace) {
                return Err(format!(
                    "{path}.namespace: {namespace:?} is not a namespace name (a-z, 0-9, '-', at most 63, alphanumeric ends)"
                ));
            }
        }
        if head.match_labels.is_empty() {
            return Err(format!(
                "{path}.matchLabels: no labels (a Telemetry without selector applies to the whole namespace)"
            ));
        }
        for (key, value) in &head.match_labels {
            if !names::is_label_key(key) {
                return Err(format!("{path}.matchLabels: {key:?} is not a label key"));
            }
            if !names::is_label_value(value) {
                return Err(format!("{path}.matchLabels: {value:?} (of {key:?}) is not a label value"));
            }
        }
        let name = telemetry_name(&service.service);
        if !names::is_dns1123_subdomain(&name) {
            return Err(format!(
                "{path}: service {:?} cannot name a Telemetry ({name:?} is not a DNS-1123 subdomain: a-z, 0-9, '-', '.')",
                service.service
            ));
        }
    }
    Ok(())
}

/// Checks what depends on the policy's own name: the label naming it on its Telemetries.
pub fn check_reference(key: &PolicyKey, spec: &SamplingPolicySpec) -> Result<(), String> {
    let Some(index) = spec.services.iter().position(|service| service.head_sampling.is_some()) else {
        return Ok(());
    };
    let reference = reference(key);
    if names::is_label_value(&reference) {
        Ok(())
    } else {
        Err(format!(
            "spec.services[{index}].headSampling: the label {POLICY_LABEL}={reference} its Telemetry carries would be \
             longer than 63 characters; shorten the policy's name"
        ))
    }
}

fn reference(key: &PolicyKey) -> String {
    format!("{}.{}", key.namespace, key.name)
}

fn telemetry_name(service: &str) -> String {
    format!("{NAME_PREFIX}{service}")
}

/// Istio's percentage for a service: its highest probability (the rate, or a probabilistic
/// operation's above it), rounded up to Envoy's resolution of 0.01 %.
pub fn percentage(service: &ServicePolicy) -> f64 {
    let highest = service
        .operation_strategies
        .iter()
        .filter(|operation| operation.kind == StrategyKind::Probabilistic)
        .map(|operation| operation.param)
        .fold(service.param, f64::max);
    (highest.clamp(0.0, 1.0) * 10_000.0).ceil() / 100.0
}

/// The Telemetry for one service of one policy, at `percent`.
pub fn telemetry(
    policy: &PolicyKey,
    service: &ServicePolicy,
    head: &HeadSampling,
    percent: f64,
) -> (TelemetryKey, Value) {
    let name = telemetry_name(&service.service);
    let manifest = json!({
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {
            "name": name,
            "namespace": namespace_of(policy, head),
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, POLICY_LABEL: reference(policy)}
        },
        "spec": {
            "selector": {"matchLabels": head.match_labels},
            "tracing": [{
                "match": {"mode": "CLIENT"},
                "providers": [{"name": PROVIDER}],
                "randomSamplingPercentage": percent
            }]
        }
    });
    ((namespace_of(policy, head), name), manifest)
}

fn namespace_of(policy: &PolicyKey, head: &HeadSampling) -> String {
    head.namespace.clone().unwrap_or_else(|| policy.namespace.clone())
}

/// Every Telemetry the served specs ask for. Services whose traces start at the same workloads
/// (same namespace and `matchLabels`, e.g. every service behind one ingress gateway) share one
/// percentage there, the highest of theirs: Istio applies only one Telemetry per workload, and at
/// the highest rate every one of those services still gets all the traces its filter keeps.
pub fn desired<'a>(
    served: impl IntoIterator<Item = (&'a PolicyKey, &'a SamplingPolicySpec)>,
) -> BTreeMap<TelemetryKey, Value> {
    let entries: Vec<(&PolicyKey, &ServicePolicy, &HeadSampling)> = served
        .into_iter()
        .flat_map(|(key, spec)| {
            spec.services
                .iter()
                .filter_map(move |service| service.head_sampling.as_ref().map(|head| (key, service, head)))
        })
        .collect();
    let mut highest: BTreeMap<(String, &BTreeMap<String, String>), f64> = BTreeMap::new();
    for (key, service, head) in &entries {
        let percent = highest.entry((namespace_of(key, head), &head.match_labels)).or_insert(0.0);
        *percent = percent.max(percentage(service));
    }
    entries
        .iter()
        .map(|(key, service, head)| {
            let percent = highest.get(&(namespace_of(key, head), &head.match_labels)).copied().unwrap_or(100.0);
            telemetry(key, service, head, percent)
        })
        .collect()
}

#[cfg(test)]
mod tests;
