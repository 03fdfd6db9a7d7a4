use super::*;
use crate::operation::interned as op;
use proptest::prelude::{any, prop_assert, proptest, ProptestConfig};
use serde_json::json;

fn strategy(value: serde_json::Value) -> Result<Strategy, StrategyError> {
    Strategy::from_json(value.to_string().as_bytes(), UnknownFields::Reject)
}

fn trace_with_low56(low: u64) -> [u8; 16] {
    let mut id = [0xffu8; 16];
    id[8] = 0xab;
    id[9..].copy_from_slice(&low.to_be_bytes()[1..]);
    id
}

const SECOND: u64 = 1_000_000_000;

#[test]
fn jaeger_responses_parse_as_jaeger_clients_read_them() {
    assert_eq!(
        strategy(json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.25}})),
        Ok(Strategy::Probabilistic { rate: 0.25 })
    );
    assert_eq!(
        strategy(json!({"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 5}})),
        Ok(Strategy::RateLimiting { max_traces_per_second: 5.0 })
    );
    assert_eq!(
        strategy(json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {}})),
        Ok(Strategy::Probabilistic { rate: 0.0 }),
        "proto3 JSON omits a zero rate"
    );
    assert_eq!(
        strategy(json!({
            "strategyType": "PROBABILISTIC",
            "probabilisticSampling": {"samplingRate": 1.0},
            "rateLimitingSampling": null,
            "operationSampling": {
                "defaultSamplingProbability": 0.1,
                "defaultLowerBoundTracesPerSecond": 2,
                "defaultUpperBoundTracesPerSecond": 100,
                "perOperationStrategies": [{"operation": "GET /x", "probabilisticSampling": {"samplingRate": 0.5}}]
            }
        })),
        Ok(Strategy::PerOperation(PerOperation {
            default_probability: 0.1,
            default_lower_bound_per_second: 2.0,
            operations: vec![("GET /x".to_owned(), 0.5)],
        })),
        "operationSampling wins, as in the clients"
    );
}

#[test]
fn bad_strategies_are_refused_naming_the_path() {
    let cases = [
        (
            json!({"probabilisticSampling": {"samplingRate": 1.5}}),
            "probabilisticSampling.samplingRate: 1.5 is outside [0, 1]",
        ),
        (
            json!({"probabilisticSampling": {"samplingRate": "half"}}),
            "probabilisticSampling.samplingRate: \"half\" is not a number",
        ),
        (
            json!({"rateLimitingSampling": {"maxTracesPerSecond": -2}}),
            "rateLimitingSampling.maxTracesPerSecond: -2 is negative",
        ),
        (json!({"strategyType": "RANDOM"}), "strategyType: \"RANDOM\" is not PROBABILISTIC or RATE_LIMITING"),
        (json!({"strategyType": "RATE_LIMITING"}), "rateLimitingSampling: required when strategyType is RATE_LIMITING"),
        (json!({}), "no strategy: expected probabilisticSampling, rateLimitingSampling or operationSampling"),
        (json!([]), "must be an object"),
        (
            json!({"operationSampling": {"perOperationStrategies": [{"probabilisticSampling": {"samplingRate": 1}}]}}),
            "operationSampling.perOperationStrategies[0].operation: is required",
        ),
        (
            json!({"operationSampling": {"perOperationStrategies": [{"operation": "", "probabilisticSampling": {}}]}}),
            "operationSampling.perOperationStrategies[0].operation: must be a non-empty string",
        ),
        (json!({"probabilisticSampling": {"samplingRate": 0.5}, "extra": 1}), "extra: unknown field"),
    ];
    for (value, message) in cases {
        assert_eq!(strategy(value.clone()).map_err(|e| e.to_string()), Err(message.to_owned()), "{value}");
    }
    let lenient = Strategy::from_json(
        json!({"probabilisticSampling": {"samplingRate": 0.5, "x": 1}, "extra": 1}).to_string().as_bytes(),
        UnknownFields::Ignore,
    );
    assert_eq!(lenient, Ok(Strategy::Probabilistic { rate: 0.5 }), "responses may carry fields we do not know");
    assert!(Strategy::from_json(b"<html>", UnknownFields::Ignore).is_err());
}

#[test]
fn the_ratio_compares_the_low_56_bits() {
    let half = 1u64 << 55;
    assert!(ratio_samples(&trace_with_low56(half - 1), 0.5));
    assert!(!ratio_samples(&trace_with_low56(half), 0.5));
    assert!(ratio_samples(&trace_with_low56((1 << 56) - 1), 1.0), "rate 1 keeps everything");
    assert!(!ratio_samples(&trace_with_low56(0), 0.0), "rate 0 keeps nothing");
}

#[test]
fn verdicts_name_the_rule_that_gave_them() {
    let key = SamplingKey::TraceId(trace_with_low56(1 << 50));
    let mut probabilistic = Sampler::new(Strategy::Probabilistic { rate: 0.1 }, "auth-service".into());
    assert_eq!(
        probabilistic.should_sample(&op("GET /x"), &key, 0),
        Sampled { keep: true, rule: "probabilistic(0.1)@auth-service".into() }
    );
    let mut limited = Sampler::new(Strategy::RateLimiting { max_traces_per_second: 2.5 }, "svc".into());
    assert_eq!(limited.should_sample(&op("GET /x"), &key, 0).rule.as_ref(), "ratelimiting(2.5/s)@svc");
    let mut per_operation = Sampler::new(
        Strategy::PerOperation(PerOperation {
            default_probability: 0.0,
            default_lower_bound_per_second: 1.0,
            operations: vec![("GET /v1/policies/{id}".to_owned(), 1.0)],
        }),
        "groqcloud-policy".into(),
    );
    assert_eq!(
        per_operation.should_sample(&op("GET /v1/policies/{id}"), &key, 0),
        Sampled { keep: true, rule: "operation(1)@groqcloud-policy:GET /v1/policies/{id}".into() }
    );
    assert_eq!(
        per_operation.should_sample(&op("GET /rare"), &key, 0),
        Sampled { keep: true, rule: "lowerbound(1/s)@groqcloud-policy:GET /rare".into() }
    );
    assert_eq!(
        per_operation.should_sample(&op("GET /rare"), &key, 0),
        Sampled { keep: false, rule: "lowerbound(1/s)@groqcloud-policy:GET /rare".into() },
        "a drop names the rule that could have kept it"
    );
}

#[test]
fn the_lower_bound_is_charged_even_when_the_probability_keeps_as_in_jaeger() {
    let mut sampler = Sampler::new(
        Strategy::PerOperation(PerOperation {
            default_probability: 0.5,
            default_lower_bound_per_second: 1.0,
            operations: vec![],
        }),
        "svc".into(),
    );
    let kept_by_rate = SamplingKey::TraceId(trace_with_low56(0));
    let not_by_rate = SamplingKey::TraceId(trace_with_low56((1 << 56) - 1));
    assert!(sampler.should_sample(&op("GET /x"), &kept_by_rate, 0).keep);
    assert!(!sampler.should_sample(&op("GET /x"), &not_by_rate, 0).keep, "the one token went to the first trace");
}

#[test]
fn the_request_id_key_is_envoys_draw_and_the_trace_id_key_its_low_bits() {
    assert!(SamplingKey::RequestId(9_999).keeps(1.0));
    assert!(!SamplingKey::RequestId(5_000).keeps(0.5), "bucket 5000 is not below 5000");
    assert!(SamplingKey::RequestId(14_999).keeps(0.5), "14999 % 10000 = 4999");
    assert!(SamplingKey::TraceId(trace_with_low56((1 << 55) - 1)).keeps(0.5));
    assert!(!SamplingKey::TraceId(trace_with_low56(1 << 55)).keeps(0.5));
}

#[test]
fn rate_limiting_starts_full_and_refills_at_its_rate() {
    let mut sampler = Sampler::new(Strategy::RateLimiting { max_traces_per_second: 5.0 }, "svc".into());
    let id = SamplingKey::TraceId(trace_with_low56(0));
    let first: Vec<bool> = (0..7).map(|_| sampler.should_sample(&op("GET /x"), &id, SECOND).keep).collect();
    assert_eq!(first, [true, true, true, true, true, false, false]);
    assert!(!sampler.should_sample(&op("GET /x"), &id, SECOND + SECOND / 10).keep, "0.5 token after 100 ms");
    assert!(sampler.should_sample(&op("GET /x"), &id, SECOND + SECOND / 5).keep, "1 token after 200 ms");
    let refilled = (0..10).filter(|_| sampler.should_sample(&op("GET /x"), &id, 100 * SECOND).keep).count();
    assert_eq!(refilled, 5, "the balance is capped at the rate");
    let mut slow = Sampler::new(Strategy::RateLimiting { max_traces_per_second: 0.5 }, "svc".into());
    assert!(slow.should_sample(&op("GET /x"), &id, 0).keep, "capacity is at least one trace");
    assert!(!slow.should_sample(&op("GET /x"), &id, SECOND).keep);
    assert!(slow.should_sample(&op("GET /x"), &id, 2 * SECOND).keep);
    let mut zero = Sampler::new(Strategy::RateLimiting { max_traces_per_second: 0.0 }, "svc".into());
    assert!(!zero.should_sample(&op("GET /x"), &id, 0).keep, "a zero rate grants nothing");
    assert!(!zero.should_sample(&op("GET /x"), &id, 1_000 * SECOND).keep);
}

#[test]
fn per_operation_rates_with_a_lower_bound() {
    let mut sampler = Sampler::new(
        Strategy::PerOperation(PerOperation {
            default_probability: 0.0,
            default_lower_bound_per_second: 1.0,
            operations: vec![("GET /always".to_owned(), 1.0)],
        }),
        "svc".into(),
    );
    let id = SamplingKey::TraceId(trace_with_low56(1 << 40));
    assert!(sampler.should_sample(&op("GET /always"), &id, 0).keep);
    assert!(sampler.should_sample(&op("GET /always"), &id, 0).keep, "its probability keeps sampling");
    assert!(sampler.should_sample(&op("GET /rare"), &id, 0).keep, "the lower bound grants one per second");
    assert!(!sampler.should_sample(&op("GET /rare"), &id, 0).keep);
    assert!(sampler.should_sample(&op("GET /rare"), &id, SECOND).keep);
}

#[test]
fn operations_beyond_the_tracking_cap_use_the_default_probability() {
    let mut sampler = Sampler::new(
        Strategy::PerOperation(PerOperation {
            default_probability: 0.0,
            default_lower_bound_per_second: 5.0,
            operations: vec![],
        }),
        "svc".into(),
    );
    let id = SamplingKey::TraceId(trace_with_low56(1));
    for n in 0..MAX_TRACKED_OPERATIONS {
        assert!(sampler.should_sample(&op(&format!("GET /{n}")), &id, 0).keep, "lower bound of operation {n}");
    }
    assert!(!sampler.should_sample(&op("GET /one-too-many"), &id, 0).keep, "no lower bound past the cap");
}

#[test]
fn applying_the_same_strategy_keeps_the_buckets() {
    let strategy = Strategy::RateLimiting { max_traces_per_second: 1.0 };
    let mut sampler = Sampler::new(strategy.clone(), "svc".into());
    let id = SamplingKey::TraceId(trace_with_low56(0));
    assert!(sampler.should_sample(&op("GET /x"), &id, 0).keep);
    sampler.apply(strategy);
    assert!(!sampler.should_sample(&op("GET /x"), &id, 0).keep, "not refilled by a re-apply");
    sampler.apply(Strategy::RateLimiting { max_traces_per_second: 2.0 });
    assert!(sampler.should_sample(&op("GET /x"), &id, 0).keep, "a new strategy starts full");
    assert_eq!(sampler.strategy(), &Strategy::RateLimiting { max_traces_per_second: 2.0 });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn ratio_is_monotonic_in_the_rate(id in any::<[u8; 16]>(), a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        if ratio_samples(&id, low) {
            prop_assert!(ratio_samples(&id, high));
        }
    }
}

#[test]
fn a_strategy_reads_in_a_log_line_as_its_rates() {
    let per_operation = Strategy::PerOperation(PerOperation {
        default_probability: 0.1,
        default_lower_bound_per_second: 0.5,
        operations: vec![("GET /a".to_owned(), 1.0), ("GET /b".to_owned(), 0.25)],
    });
    assert_eq!(Strategy::Probabilistic { rate: 0.25 }.to_string(), "probabilistic 0.25");
    assert_eq!(Strategy::RateLimiting { max_traces_per_second: 5.0 }.to_string(), "rate-limiting 5/s");
    assert_eq!(per_operation.to_string(), "per-operation: default 0.1, lower bound 0.5/s, 2 operations");
}
