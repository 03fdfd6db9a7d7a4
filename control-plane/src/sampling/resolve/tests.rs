use super::*;
use crate::sampling::file::{parse, Format};

fn resolve(text: &str) -> StrategySet {
    StrategySet::resolve(&parse("s.json", text.as_bytes(), Format::Json).expect("valid").file)
}

fn body(set: &StrategySet, service: &str) -> String {
    String::from_utf8(set.lookup(service).json.to_vec()).expect("utf-8")
}

const JAEGER_EXAMPLE: &str = r#"{
  "service_strategies": [
    {"service": "foo", "type": "probabilistic", "param": 0.8,
     "operation_strategies": [{"operation": "op1", "type": "probabilistic", "param": 0.2}]},
    {"service": "bar", "type": "ratelimiting", "param": 5},
    {"service": "baz", "type": "probabilistic", "param": 0.3}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.5,
    "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0}]}
}"#;

#[test]
fn resolution_follows_jaegers_static_provider() {
    let set = resolve(JAEGER_EXAMPLE);
    assert_eq!(
        body(&set, "foo"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},"operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"op1","probabilisticSampling":{"samplingRate":0.2}},{"operation":"/health","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#,
        "own operations first, then the default's it does not name"
    );
    assert_eq!(
        body(&set, "bar"),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#,
        "rate-limited without operations: inherits the default's operations as they are (Jaeger's fixture TestServiceNoPerOperationStrategies_ServiceB)"
    );
    assert_eq!(
        body(&set, "baz"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.3},"operationSampling":{"defaultSamplingProbability":0.3,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#,
        "inherits the default's operations with its own rate"
    );
    assert_eq!(
        body(&set, "unknown"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
    assert!(set.knows("foo") && !set.knows("unknown"));
}

#[test]
fn without_a_default_jaeger_samples_a_thousandth_and_rates_truncate() {
    let set = resolve(
        r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 7.9, "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 0.5}]}]}"#,
    );
    assert_eq!(
        body(&set, "nobody"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
    );
    assert_eq!(
        body(&set, "a"),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7},"operationSampling":{"defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"x","probabilisticSampling":{"samplingRate":0.5}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
}

#[test]
fn the_constitutional_selector_forces_full_sampling() {
    let set = resolve(
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.1},
            "service_strategies": [{"service": "core", "type": "probabilistic", "param": 0.2},
                                   {"service": "rl", "type": "ratelimiting", "param": 3}],
            "constitutional": {"services": ["core"], "operations": ["POST /v1/constitutional/validate"]}}"#,
    );
    assert_eq!(
        body(&set, "core"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1},"operationSampling":{"defaultSamplingProbability":1,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"POST /v1/constitutional/validate","probabilisticSampling":{"samplingRate":1}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
    assert_eq!(
        body(&set, "other"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"POST /v1/constitutional/validate","probabilisticSampling":{"samplingRate":1}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
    assert_eq!(body(&set, "rl"), r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":3}}"#);
}

#[test]
fn the_seed_strategies_serve_the_seed_rates() {
    let set = crate::sampling::seed().expect("seed");
    assert_eq!(set.service_count(), 4);
    let rate = |service: &str| set.lookup(service).response.probabilistic_sampling.as_ref().map(|p| p.sampling_rate);
    assert_eq!(rate("constitutional-core"), Some(1.0));
    assert_eq!(rate("health-check"), Some(0.01));
    assert_eq!(rate("someone-else"), Some(1.0));
    assert_ne!(set.lookup("health-check").etag, set.lookup("auth-service").etag);
}

#[test]
fn a_missing_or_unknown_type_serves_jaegers_default_probability_for_that_entry_only() {
    let set = resolve(
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.5},
            "service_strategies": [{"service": "typo", "type": "probabalistic", "param": 0.9},
                                   {"service": "untyped", "param": 0.9,
                                    "operation_strategies": [{"operation": "x", "type": "adaptive", "param": 0.7}]},
                                   {"service": "fine", "type": "probabilistic", "param": 0.2}]}"#,
    );
    assert_eq!(
        body(&set, "typo"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
    );
    assert_eq!(
        body(&set, "untyped"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001},"operationSampling":{"defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"x","probabilisticSampling":{"samplingRate":0.001}}],"defaultUpperBoundTracesPerSecond":0}}"#
    );
    assert_eq!(body(&set, "fine"), r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.2}}"#);
    assert_eq!(
        body(&set, "anyone"),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
}
