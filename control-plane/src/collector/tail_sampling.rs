//! The OpenTelemetry Collector's `tail_sampling` processor, as a model that evaluates the policy
//! set deploy/ renders, for the demo and the tests (no Collector binary runs here). It follows
//! collector-contrib's `processor/tailsamplingprocessor` (read at main of 2025-05-22, `31fcfbd`;
//! deploy/ runs 0.138.0, and the 0.139.0 notes change none of this):
//!
//! - a trace waits `decision_wait` from its first span, then every policy is evaluated over all
//!   of its spans (`processor.go` `samplingPolicyOnTick` / `makeDecision`);
//! - the final decision: any `InvertNotSampled` → not sampled; else any `Sampled` → sampled; else
//!   `InvertSampled` with no `NotSampled` → sampled; else not sampled (`makeDecision`);
//! - a span arriving after its trace was decided follows that decision (the trace's entry, then
//!   the decision cache: `processTrace`), so a trace is never half kept;
//! - `string_attribute`: `Sampled` when any span or resource has the key with one of the values,
//!   else `NotSampled`; with `invert_match`, `InvertNotSampled` when any does, else
//!   `InvertSampled` (`internal/sampling/string_tag_filter.go`);
//! - `probabilistic`: `Sampled` when FNV-1a-64(salt ‖ trace id) ≤ ratio × 2^64−1, salt
//!   `default-hash-seed` (`internal/sampling/probabilistic.go`);
//! - `and`: `Sampled` when every sub-policy is `Sampled` or `InvertSampled`, else `NotSampled`
//!   (`internal/sampling/and.go`); `always_sample`: `Sampled`.
//!
//! Other policy types and options are refused by name, so the model cannot silently disagree
//! with a config it does not understand.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

/// What a span shows the sampler.
pub trait SpanView {
    fn trace_id(&self) -> [u8; 16];
    /// A span attribute, as a string.
    fn attribute(&self, key: &str) -> Option<&str>;
    /// A resource attribute (`service.name`), as a string.
    fn resource_attribute(&self, key: &str) -> Option<&str>;
}

/// A config the model cannot evaluate, or a malformed one: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ModelError {
    pub path: String,
    pub reason: String,
}

fn fail<T>(path: &str, reason: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError { path: path.to_owned(), reason: reason.into() })
}

/// A policy's verdict on one trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Sampled,
    NotSampled,
    InvertSampled,
    InvertNotSampled,
}

const DEFAULT_HASH_SALT: &str = "default-hash-seed";

#[derive(Debug, Clone, PartialEq)]
enum Policy {
    AlwaysSample,
    StringAttribute { key: String, values: Vec<String>, invert: bool },
    Probabilistic { threshold: u64, salt: String },
    And(Vec<NamedPolicy>),
}

/// A policy with its name (the name is what the Collector's metrics report).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPolicy {
    pub name: String,
    policy: Policy,
}

/// One `tail_sampling` processor's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TailSamplingConfig {
    pub decision_wait: Duration,
    pub policies: Vec<NamedPolicy>,
}

fn string(path: &str, value: &Value) -> Result<String, ModelError> {
    value.as_str().map(str::to_owned).ok_or_else(|| ModelError { path: path.to_owned(), reason: "not a string".into() })
}

fn only_fields(path: &str, value: &Value, allowed: &[&str]) -> Result<(), ModelError> {
    let Some(fields) = value.as_object() else { return fail(path, "not a mapping") };
    match fields.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => fail(&format!("{path}.{key}"), "not something the model evaluates"),
        None => Ok(()),
    }
}

/// A Go duration (`10s`, `1m30s`, `500ms`).
fn duration(path: &str, value: &Value) -> Result<Duration, ModelError> {
    let text = string(path, value)?;
    humantime::parse_duration(&text).or_else(|_| fail(path, format!("{text:?} is not a duration")))
}

/// `ratio × (2^64 − 1)`, as Go's big.Float product truncated to an integer.
fn threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        return u64::MAX;
    }
    (ratio * 18_446_744_073_709_551_615.0) as u64
}

fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl NamedPolicy {
    fn parse(path: &str, value: &Value) -> Result<Self, ModelError> {
        let name = string(&format!("{path}.name"), &value["name"])?;
        let kind = string(&format!("{path}.type"), &value["type"])?;
        only_fields(path, value, &["name", "type", kind.as_str()])?;
        let settings = &value[kind.as_str()];
        let inner = format!("{path}.{kind}");
        let policy = match kind.as_str() {
            "always_sample" => Policy::AlwaysSample,
            "string_attribute" => {
                only_fields(&inner, settings, &["key", "values", "invert_match"])?;
                let values = settings["values"]
                    .as_array()
                    .ok_or_else(|| ModelError { path: format!("{inner}.values"), reason: "not a list".into() })?
                    .iter()
                    .map(|item| string(&format!("{inner}.values"), item))
                    .collect::<Result<_, _>>()?;
                Policy::StringAttribute {
                    key: string(&format!("{inner}.key"), &settings["key"])?,
                    values,
                    invert: settings["invert_match"].as_bool().unwrap_or(false),
                }
            }
            "probabilistic" => {
                only_fields(&inner, settings, &["sampling_percentage", "hash_salt"])?;
                let Some(percent) = settings["sampling_percentage"].as_f64() else {
                    return fail(&format!("{inner}.sampling_percentage"), "not a number");
                };
                let salt = match &settings["hash_salt"] {
                    Value::Null => DEFAULT_HASH_SALT.to_owned(),
                    salt => string(&format!("{inner}.hash_salt"), salt)?,
                };
                Policy::Probabilistic { threshold: threshold(percent / 100.0), salt }
            }
            "and" => {
                only_fields(&inner, settings, &["and_sub_policy"])?;
                let Some(subs) = settings["and_sub_policy"].as_array() else {
                    return fail(&format!("{inner}.and_sub_policy"), "not a list");
                };
                let subs = subs
                    .iter()
                    .enumerate()
                    .map(|(index, sub)| Self::parse(&format!("{inner}.and_sub_policy[{index}]"), sub))
                    .collect::<Result<_, _>>()?;
                Policy::And(subs)
            }
            other => {
                return fail(&format!("{path}.type"), format!("{other:?} is not a policy type the model evaluates"))
            }
        };
        Ok(Self { name, policy })
    }

    fn evaluate<S: SpanView>(&self, trace_id: &[u8; 16], spans: &[S]) -> Decision {
        match &self.policy {
            Policy::AlwaysSample => Decision::Sampled,
            Policy::StringAttribute { key, values, invert } => {
                let matches =
                    |value: Option<&str>| value.is_some_and(|v| !v.is_empty() && values.iter().any(|w| w == v));
                let found =
                    spans.iter().any(|span| matches(span.attribute(key)) || matches(span.resource_attribute(key)));
                match (invert, found) {
                    (false, true) => Decision::Sampled,
                    (false, false) => Decision::NotSampled,
                    (true, true) => Decision::InvertNotSampled,
                    (true, false) => Decision::InvertSampled,
                }
            }
            Policy::Probabilistic { threshold, salt } => {
                if fnv1a64(&[salt.as_bytes(), trace_id]) <= *threshold {
                    Decision::Sampled
                } else {
                    Decision::NotSampled
                }
            }
            Policy::And(subs) => {
                let all = subs.iter().all(|sub| {
                    !matches!(sub.evaluate(trace_id, spans), Decision::NotSampled | Decision::InvertNotSampled)
                });
                if all {
                    Decision::Sampled
                } else {
                    Decision::NotSampled
                }
            }
        }
    }
}

impl TailSamplingConfig {
    /// Reads a `tail_sampling` processor's settings (`path` names it in errors).
    pub fn parse(path: &str, value: &Value) -> Result<Self, ModelError> {
        let allowed = ["decision_wait", "num_traces", "expected_new_traces_per_sec", "decision_cache", "policies"];
        only_fields(path, value, &allowed)?;
        let decision_wait = match &value["decision_wait"] {
            Value::Null => Duration::from_secs(30),
            wait => duration(&format!("{path}.decision_wait"), wait)?,
        };
        let Some(policies) = value["policies"].as_array().filter(|p| !p.is_empty()) else {
            return fail(&format!("{path}.policies"), "at least one policy is required");
        };
        let policies = policies
            .iter()
            .enumerate()
            .map(|(index, policy)| NamedPolicy::parse(&format!("{path}.policies[{index}]"), policy))
            .collect::<Result<_, _>>()?;
        Ok(Self { decision_wait, policies })
    }

    /// Whether a trace made of `spans` is kept, and the first policy that said so.
    pub fn decide<S: SpanView>(&self, trace_id: &[u8; 16], spans: &[S]) -> (bool, Option<&str>) {
        let decisions: Vec<(Decision, &str)> =
            self.policies.iter().map(|policy| (policy.evaluate(trace_id, spans), policy.name.as_str())).collect();
        let first = |wanted: Decision| decisions.iter().find(|(d, _)| *d == wanted).map(|(_, name)| *name);
        if first(Decision::InvertNotSampled).is_some() {
            return (false, None);
        }
        if let Some(name) = first(Decision::Sampled) {
            return (true, Some(name));
        }
        match (first(Decision::InvertSampled), first(Decision::NotSampled)) {
            (Some(name), None) => (true, Some(name)),
            _ => (false, None),
        }
    }
}

/// One `tail_sampling` instance: traces wait for their decision, then their spans go on or not.
#[derive(Debug)]
pub struct TailSampler<S> {
    config: TailSamplingConfig,
    waiting: HashMap<[u8; 16], Waiting<S>>,
    decided: HashMap<[u8; 16], bool>,
}

#[derive(Debug)]
struct Waiting<S> {
    first_arrival: Duration,
    spans: Vec<S>,
}

impl<S: SpanView> TailSampler<S> {
    pub fn new(config: TailSamplingConfig) -> Self {
        Self { config, waiting: HashMap::new(), decided: HashMap::new() }
    }

    /// A span arrives at `now`: it waits with its trace, or, when its trace has been decided,
    /// follows that decision at once (returned when kept).
    pub fn ingest(&mut self, span: S, now: Duration) -> Option<S> {
        let trace_id = span.trace_id();
        if let Some(kept) = self.decided.get(&trace_id) {
            return kept.then_some(span);
        }
        self.waiting
            .entry(trace_id)
            .or_insert_with(|| Waiting { first_arrival: now, spans: Vec::new() })
            .spans
            .push(span);
        None
    }

    /// Decides every trace whose first span came `decision_wait` ago or more; returns the spans
    /// of the kept ones, with the policy that kept each trace.
    pub fn tick(&mut self, now: Duration) -> Vec<(S, String)> {
        let due: Vec<[u8; 16]> = self
            .waiting
            .iter()
            .filter(|(_, waiting)| now.saturating_sub(waiting.first_arrival) >= self.config.decision_wait)
            .map(|(id, _)| *id)
            .collect();
        let mut kept = Vec::new();
        for trace_id in due {
            let Some(waiting) = self.waiting.remove(&trace_id) else { continue };
            let (keep, policy) = self.config.decide(&trace_id, &waiting.spans);
            let policy = policy.unwrap_or_default().to_owned();
            self.decided.insert(trace_id, keep);
            if keep {
                kept.extend(waiting.spans.into_iter().map(|span| (span, policy.clone())));
            }
        }
        kept
    }

    /// Traces waiting for their decision.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests;
