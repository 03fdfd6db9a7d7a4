use super::*;
use proptest::prelude::{
    any, prop, prop_assert, prop_assert_ne, prop_oneof, proptest, Just, ProptestConfig, Strategy as _,
};
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<FilterConfig, ConfigError> {
    FilterConfig::from_json(value.to_string().as_bytes())
}

fn field_of(value: serde_json::Value) -> String {
    match parse(value.clone()) {
        Err(error) => error.field,
        Ok(_) => panic!("{value} must be refused"),
    }
}

#[test]
fn empty_configuration_means_the_documented_defaults() {
    for empty in [&b""[..], b"  \n", b"{}"] {
        let config = FilterConfig::from_json(empty).expect("defaults");
        assert_eq!(config, FilterConfig::default());
    }
    let config = FilterConfig::default();
    assert_eq!(config.constitutional_hash, "cdd01ef066bc6cf2");
    assert_eq!(config.header, "constitutional-hash");
    assert_eq!(config.mode, Mode::Strict);
    assert_eq!(config.exempt_paths, ["/healthz", "/readyz", "/livez", "/metrics", "/health"]);
    assert_eq!(config.control_plane.poll_interval_ms, 10_000);
    assert_eq!(config.control_plane.flush_interval_ms, 1_000);
    assert_eq!(config.fallback_strategy, Strategy::Probabilistic { rate: 1.0 });
    assert_eq!(config.tracer, Tracer::Envoy, "a sidecar's Envoy records the hops");
}

#[test]
fn every_field_is_read() {
    let config = parse(json!({
        "constitutional_hash": "abc123",
        "header": "x-const-hash",
        "mode": "inject",
        "exempt_paths": ["/ping"],
        "service": "auth-service",
        "constitutional": {"services": [], "path_prefixes": ["/v2/amend"], "operations": ["POST /v1/ratify"]},
        "operations": ["/v1/policies/{id}"],
        "max_operations": 50,
        "control_plane": {"cluster": "cp", "authority": "cp:5778", "token": "s3cret", "poll_interval_ms": 500, "flush_interval_ms": 250, "timeout_ms": 100},
        "fallback_strategy": {"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 7}},
        "tracer": "none"
    }))
    .expect("valid");
    assert_eq!(config.constitutional_hash, "abc123");
    assert_eq!(config.header, "x-const-hash");
    assert_eq!(config.mode, Mode::Inject);
    assert_eq!(config.exempt_paths, ["/ping"]);
    assert_eq!(config.service.as_deref(), Some("auth-service"));
    assert_eq!(
        config.constitutional,
        ConstitutionalSelector {
            services: vec![],
            path_prefixes: vec!["/v2/amend".into()],
            operations: vec!["POST /v1/ratify".into()]
        }
    );
    assert_eq!(config.operations, ["/v1/policies/{id}"]);
    assert_eq!(config.max_operations, 50);
    assert_eq!(
        config.control_plane,
        ControlPlaneConfig {
            cluster: "cp".into(),
            authority: "cp:5778".into(),
            token: Some("s3cret".into()),
            poll_interval_ms: 500,
            flush_interval_ms: 250,
            timeout_ms: 100
        }
    );
    assert_eq!(config.fallback_strategy, Strategy::RateLimiting { max_traces_per_second: 7.0 });
    assert_eq!(config.tracer, Tracer::None);
}

#[test]
fn errors_name_the_field_by_its_json_path() {
    let cases = [
        (json!({"mode": "enforce"}), "mode"),
        (json!({"mode": 1}), "mode"),
        (json!({"constitutional_hash": ""}), "constitutional_hash"),
        (json!({"constitutional_hash": "has space"}), "constitutional_hash"),
        (json!({"header": "Constitutional-Hash"}), "header"),
        (json!({"header": ":path"}), "header"),
        (json!({"exempt_paths": ["healthz"]}), "exempt_paths[0]"),
        (json!({"exempt_paths": ["/ok", "/q?x"]}), "exempt_paths[1]"),
        (json!({"exempt_paths": "/healthz"}), "exempt_paths"),
        (json!({"service": ""}), "service"),
        (json!({"constitutional": {"services": ["a", 3]}}), "constitutional.services[1]"),
        (json!({"constitutional": {"paths": []}}), "constitutional.paths"),
        (json!({"operations": ["/v1/{id"]}), "operations[0]"),
        (json!({"operations": ["/v1/x{id}"]}), "operations[0]"),
        (json!({"max_operations": 0}), "max_operations"),
        (json!({"max_operations": -3}), "max_operations"),
        (json!({"control_plane": {"poll_interval_ms": 5}}), "control_plane.poll_interval_ms"),
        (json!({"control_plane": {"flush_interval_ms": "1s"}}), "control_plane.flush_interval_ms"),
        (json!({"control_plane": {"timeout_ms": 0}}), "control_plane.timeout_ms"),
        (json!({"control_plane": {"clusterr": "x"}}), "control_plane.clusterr"),
        (json!({"control_plane": []}), "control_plane"),
        (json!({"modee": "strict"}), "modee"),
        (json!({"tracer": "zipkin"}), "tracer"),
        (json!({"tracer": true}), "tracer"),
        (json!({"fallback_strategy": {"probabilisticSampling": {"samplingRate": 1.5}}}), "fallback_strategy"),
        (json!({"fallback_strategy": {"rateLimitingSampling": {"maxTracesPerSecond": -1}}}), "fallback_strategy"),
        (json!({"fallback_strategy": {"probabilisticSampling": {"samplingrate": 0.5}}}), "fallback_strategy"),
    ];
    for (config, field) in cases {
        assert_eq!(field_of(config.clone()), field, "{config}");
    }
}

#[test]
fn the_error_message_is_one_operator_readable_line() {
    let error =
        parse(json!({"fallback_strategy": {"probabilisticSampling": {"samplingRate": 1.5}}})).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "invalid plugin configuration: field `fallback_strategy`: probabilisticSampling.samplingRate: 1.5 is outside [0, 1]"
    );
    let error = FilterConfig::from_json(b"{\"mode\": ").expect_err("refused");
    assert_eq!(error.field, "(root)");
    assert!(error.reason.starts_with("not valid JSON"), "{}", error.reason);
    assert_eq!(FilterConfig::from_json(b"[1]").expect_err("refused").reason, "must be a JSON object");
    assert!(FilterConfig::from_json(b"\xff\xfe").expect_err("refused").reason.starts_with("not UTF-8"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(15_000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_name_a_field(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(error) = FilterConfig::from_json(&bytes) {
            prop_assert!(!error.field.is_empty());
            let needle = format!("`{}`", error.field);
            prop_assert!(error.to_string().contains(&needle));
        }
    }

    #[test]
    fn arbitrary_json_objects_are_accepted_or_refused_by_field(
        key in prop::sample::select(vec!["mode", "header", "constitutional_hash", "exempt_paths", "operations", "max_operations", "control_plane", "fallback_strategy", "service", "bogus"]),
        value in prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)),
            ".{0,20}".prop_map(serde_json::Value::from),
            proptest::collection::vec(".{0,10}", 0..4).prop_map(serde_json::Value::from),
        ],
    ) {
        let config = json!({ key: value });
        match parse(config) {
            Ok(_) => prop_assert_ne!(key, "bogus"),
            Err(error) => prop_assert!(error.field.starts_with(key), "{} vs {}", error.field, key),
        }
    }
}
