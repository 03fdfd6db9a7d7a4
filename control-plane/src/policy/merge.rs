//! What is served when both a strategies file and `SamplingPolicy` resources exist.
//!
//! Precedence (documented in docs/sampling.md): the file is the base layer; a policy's service
//! strategy replaces the file's strategy for that service; a policy's `defaultStrategy` replaces
//! the file's default; the constitutional selectors of all sources are united (a source can only
//! add to what is always sampled). Policies are taken in (namespace, name) order: a policy naming a
//! service, or a default, that an earlier policy already set is refused whole with reason
//! `Conflict`, so one edit never half-applies. A policy that fails validation is refused with
//! reason `Invalid`, and its last accepted spec (if any) keeps being served.
//!
//! Conflicts are between policies only, so the verdicts never depend on the file: the policies
//! are decided once into a [`PolicyLayer`] (the accepted specs in order, and the verdicts), which
//! the strategy sources lay over whatever file is current ([`Overlay`]).

use std::collections::{BTreeMap, HashMap};

use super::head_sampling;
use super::resource::{spec_path, PolicyKey, SamplingPolicySpec};
use crate::sampling::file::{check, Constitutional, StrategiesFile};
use crate::sampling::sources::Overlay;

/// One policy as the merge sees it: its current spec and the last spec that was accepted.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    pub key: PolicyKey,
    pub spec: SamplingPolicySpec,
    pub last_good: Option<SamplingPolicySpec>,
}

/// The outcome for one policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Served; how many services it sets.
    Accepted { services: usize },
    /// The spec is invalid (path and reason); `serving_last_good` says whether an earlier
    /// accepted spec is served instead.
    Invalid { message: String, serving_last_good: bool },
    /// Another policy already sets what this one sets.
    Conflict { message: String },
}

impl Verdict {
    /// The `Accepted` condition's reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "Accepted",
            Self::Invalid { .. } => "Invalid",
            Self::Conflict { .. } => "Conflict",
        }
    }

    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted { .. })
    }

    /// Whether a spec of the policy is served: its current one, or its last accepted one.
    pub fn is_served(&self) -> bool {
        matches!(self, Self::Accepted { .. } | Self::Invalid { serving_last_good: true, .. })
    }

    /// The condition's message.
    pub fn message(&self) -> String {
        match self {
            Self::Accepted { services } => format!("serving {services} service strategies"),
            Self::Invalid { message, serving_last_good: true } => {
                format!("{message}; the last accepted spec keeps being served")
            }
            Self::Invalid { message, serving_last_good: false } => format!("{message}; nothing from it is served"),
            Self::Conflict { message } => message.clone(),
        }
    }
}

/// The merged strategies and every policy's verdict.
#[derive(Debug, Clone)]
pub struct Merged {
    pub strategies: StrategiesFile,
    pub verdicts: BTreeMap<PolicyKey, Verdict>,
}

/// Validates a spec as the controller does; the error names the field in the resource's terms.
pub fn validate_spec(spec: &SamplingPolicySpec) -> Result<StrategiesFile, String> {
    let strategies = spec.to_strategies();
    if let Err((path, reason)) = check(&strategies) {
        return Err(format!("{}: {reason}", spec_path(&path)));
    }
    head_sampling::check(spec)?;
    Ok(strategies)
}

/// [`validate_spec`], plus what depends on the policy's namespace and name.
fn validate_policy(key: &PolicyKey, spec: &SamplingPolicySpec) -> Result<StrategiesFile, String> {
    let strategies = validate_spec(spec)?;
    head_sampling::check_reference(key, spec)?;
    Ok(strategies)
}

/// Merges `file` (the last good strategies file, if any) with `policies`.
pub fn merge(file: Option<&StrategiesFile>, policies: &[PolicyInput]) -> Merged {
    let (layer, verdicts) = decide(policies);
    Merged { strategies: layer.over(file), verdicts }
}

/// The specs of the accepted policies (or their last accepted specs), in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct PolicyLayer {
    applied: Vec<StrategiesFile>,
}

impl Overlay for PolicyLayer {
    fn over(&self, file: Option<&StrategiesFile>) -> StrategiesFile {
        let mut strategies = file.cloned().unwrap_or(StrategiesFile {
            default_strategy: None,
            service_strategies: Vec::new(),
            constitutional: None,
        });
        for effective in self.applied.iter().cloned() {
            if let Some(default) = effective.default_strategy {
                strategies.default_strategy = Some(default);
            }
            for service in effective.service_strategies {
                strategies.service_strategies.retain(|existing| existing.service != service.service);
                strategies.service_strategies.push(service);
            }
            if let Some(selector) = effective.constitutional {
                unite(&mut strategies.constitutional, selector);
            }
        }
        strategies
    }
}

/// Decides every policy: the layer of what is served from them, and each one's verdict.
pub fn decide(policies: &[PolicyInput]) -> (PolicyLayer, BTreeMap<PolicyKey, Verdict>) {
    let mut layer = PolicyLayer::default();
    let mut ordered: Vec<&PolicyInput> = policies.iter().collect();
    ordered.sort_by(|a, b| a.key.cmp(&b.key));
    let mut owners: HashMap<String, &PolicyKey> = HashMap::new();
    let mut default_owner: Option<&PolicyKey> = None;
    let mut verdicts = BTreeMap::new();
    for policy in ordered {
        let (effective, invalid) = match validate_policy(&policy.key, &policy.spec) {
            Ok(effective) => (Some(effective), None),
            Err(message) => {
                (policy.last_good.as_ref().and_then(|good| validate_policy(&policy.key, good).ok()), Some(message))
            }
        };
        let Some(effective) = effective else {
            let message = invalid.unwrap_or_default();
            verdicts.insert(policy.key.clone(), Verdict::Invalid { message, serving_last_good: false });
            continue;
        };
        if let Some(conflict) = conflict(&effective, &owners, default_owner) {
            verdicts.insert(policy.key.clone(), Verdict::Conflict { message: conflict });
            continue;
        }
        if effective.default_strategy.is_some() {
            default_owner = Some(&policy.key);
        }
        let services = effective.service_strategies.len();
        for service in &effective.service_strategies {
            owners.insert(service.service.clone(), &policy.key);
        }
        layer.applied.push(effective);
        let verdict = match invalid {
            Some(message) => Verdict::Invalid { message, serving_last_good: true },
            None => Verdict::Accepted { services },
        };
        verdicts.insert(policy.key.clone(), verdict);
    }
    (layer, verdicts)
}

fn conflict(
    effective: &StrategiesFile,
    owners: &HashMap<String, &PolicyKey>,
    default_owner: Option<&PolicyKey>,
) -> Option<String> {
    if let (Some(_), Some(owner)) = (&effective.default_strategy, default_owner) {
        return Some(format!("spec.defaultStrategy: policy {owner} already sets the default strategy"));
    }
    effective.service_strategies.iter().enumerate().find_map(|(index, service)| {
        owners.get(&service.service).map(|owner| {
            format!("spec.services[{index}].service: policy {owner} already sets service {:?}", service.service)
        })
    })
}

fn unite(into: &mut Option<Constitutional>, add: Constitutional) {
    let target = into.get_or_insert_with(Constitutional::default);
    for service in add.services {
        if !target.services.contains(&service) {
            target.services.push(service);
        }
    }
    for operation in add.operations {
        if !target.operations.contains(&operation) {
            target.operations.push(operation);
        }
    }
}

#[cfg(test)]
mod tests;
