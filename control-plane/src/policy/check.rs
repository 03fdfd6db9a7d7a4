//! Offline checks of SamplingPolicy manifests (`acgs-tracing validate policy.yaml`): what the API
//! server would refuse (fields the CRD's schema does not know, which it would silently prune; wrong
//! types; an unknown strategy type) and what the controller would refuse (the strategies rules),
//! each error naming the policy and the field.

use kube::CustomResourceExt;
use serde_json::Value;

use super::merge::validate_spec;
use super::resource::SamplingPolicy;

/// Whether a YAML document is a SamplingPolicy.
pub fn is_policy(document: &Value) -> bool {
    document["kind"] == "SamplingPolicy"
        && document["apiVersion"].as_str().is_some_and(|v| v.starts_with("tracing.acgs.io/"))
}

/// Paths of fields in `value` that `schema` (an OpenAPI v3 schema) does not declare.
fn unknown_fields(value: &Value, schema: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            let Some(properties) = schema["properties"].as_object() else { return };
            for (key, field) in fields {
                let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match properties.get(key) {
                    Some(property) => unknown_fields(field, property, &at, found),
                    None => found.push(at),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                unknown_fields(item, &schema["items"], &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// Checks one SamplingPolicy document; returns how many services it sets, or the error.
pub fn check_policy(document: &Value) -> Result<usize, String> {
    let name = document["metadata"]["name"].as_str().unwrap_or("(no name)");
    let fail = |reason: String| format!("SamplingPolicy {name}: {reason}");
    let crd = serde_json::to_value(SamplingPolicy::crd()).map_err(|e| fail(e.to_string()))?;
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut unknown = Vec::new();
    unknown_fields(&document["spec"], &schema["properties"]["spec"], "spec", &mut unknown);
    if let Some(field) = unknown.first() {
        return Err(fail(format!("{field}: unknown field (the API server would drop it)")));
    }
    let policy: SamplingPolicy =
        serde_path_to_error::deserialize(document.clone()).map_err(|e| fail(format!("{}: {}", e.path(), e.inner())))?;
    validate_spec(&policy.spec).map_err(fail)?;
    Ok(policy.spec.services.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> Value {
        json!({"apiVersion": "tracing.acgs.io/v1alpha1", "kind": "SamplingPolicy", "metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn a_valid_policy_counts_its_services() {
        let spec = json!({"services": [{"service": "a", "type": "probabilistic", "param": 0.5}]});
        assert_eq!(check_policy(&policy(spec)), Ok(1));
    }

    #[test]
    fn typos_types_and_rules_are_refused_naming_the_field() {
        let cases = [
            (json!({"service": []}), "SamplingPolicy p: spec.service: unknown field (the API server would drop it)"),
            (
                json!({"services": [{"service": "a", "type": "probabilistic", "parm": 0.5}]}),
                "SamplingPolicy p: spec.services[0].parm: unknown field (the API server would drop it)",
            ),
            (
                json!({"services": [{"service": "a", "type": "adaptive", "param": 0.5}]}),
                "SamplingPolicy p: spec.services[0].type: unknown variant `adaptive`, expected `probabilistic` or `ratelimiting`",
            ),
            (
                json!({"services": [{"service": "a", "type": "probabilistic", "param": 2.0}]}),
                "SamplingPolicy p: spec.services[0].param: probability 2 is outside [0, 1]",
            ),
            (
                json!({"services": [{"service": "a", "type": "probabilistic", "param": 0.1, "headSampling": {"matchLabel": {}}}]}),
                "SamplingPolicy p: spec.services[0].headSampling.matchLabel: unknown field (the API server would drop it)",
            ),
            (
                json!({"services": [{"service": "a", "type": "ratelimiting", "param": 5, "headSampling": {"matchLabels": {"istio": "ingressgateway"}}}]}),
                "SamplingPolicy p: spec.services[0].headSampling: needs a probabilistic strategy (Istio's percentage is a probability)",
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(check_policy(&policy(spec)).expect_err("refused"), expected);
        }
    }
}
