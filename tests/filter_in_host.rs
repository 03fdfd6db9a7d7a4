//! The real filter .wasm in the embedded host: every per-request behaviour of docs/contracts.md's filter
//! steps 1–4, the configuration check, and the Envoy stats, with exact expectations.

use acgs_e2e::{
    envoy_coin, request, send, send_plan, start_sidecar, start_sidecar_raw, start_sidecar_traced, traceparent_parts,
    HASH,
};
use acgs_wasm_host::{CustomTag, HostError, TracingConfig};
use serde_json::json;

fn strict() -> serde_json::Value {
    json!({})
}

fn with_rate(rate: f64, extra: serde_json::Value) -> serde_json::Value {
    let mut config = json!({
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": rate}}
    });
    if let (Some(target), Some(source)) = (config.as_object_mut(), extra.as_object()) {
        for (key, value) in source {
            target.insert(key.clone(), value.clone());
        }
    }
    config
}

#[test]
fn valid_hash_is_forwarded_with_span_metadata_and_the_hash_on_the_response() {
    let mut proxy = start_sidecar("constitutional-core", &strict(), 1).expect("sidecar starts");
    let outcome = send(&mut proxy, request("POST", "/v1/constitutional/validate", &[("constitutional-hash", HASH)]));

    assert_eq!(outcome.response.status, 200);
    assert!(outcome.local_reply.is_none());
    let forwarded = outcome.forwarded.expect("forwarded upstream");
    assert_eq!(forwarded.get_str("constitutional-hash"), Some(HASH));
    assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("valid"));
    assert_eq!(forwarded.get_str("x-acgs-category"), Some("constitutional"));
    assert_eq!(forwarded.get_str("x-acgs-compliant"), Some("compliant"));
    assert_eq!(forwarded.get_str("x-acgs-sampling-decision"), Some("keep"), "constitutional operations are kept");
    assert_eq!(forwarded.get_str("x-acgs-sampling-rule"), Some("constitutional@constitutional-core"));
    assert_eq!(forwarded.get_str("baggage"), Some("acgs.sampling=keep:constitutional@constitutional-core"));
    assert_eq!(forwarded.get("traceparent"), None, "Envoy's router writes traceparent, not the filter");
    assert_eq!(outcome.response.headers.get_str("constitutional-hash"), Some(HASH));
}

#[test]
fn a_local_reply_carries_the_span_metadata_on_the_request_for_envoys_custom_tags() {
    // Envoy reads custom tags from the request headers when the span ends (custom_tag_impl.cc):
    // the filter must set them before its 403, over whatever the client sent.
    let tag = |name: &str, header: &str| CustomTag::RequestHeader {
        tag: name.to_owned(),
        header: header.to_owned(),
        default_value: Some("unset".to_owned()),
    };
    let tracing = TracingConfig {
        custom_tags: vec![
            tag("constitutional.hash.status", "x-acgs-hash-status"),
            tag("acgs.sampling.decision", "x-acgs-sampling-decision"),
            tag("acgs.sampling.rule", "x-acgs-sampling-rule"),
        ],
        ..TracingConfig::inbound("groqcloud-policy.default", 100.0)
    };
    let mut proxy = start_sidecar_traced(
        "groqcloud-policy",
        b"{}",
        1,
        std::collections::BTreeMap::<String, acgs_wasm_host::Cluster>::new(),
        Some(tracing),
    )
    .expect("sidecar starts");
    let forged = [("x-acgs-hash-status", "valid"), ("x-acgs-sampling-decision", "drop")];
    let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &forged));
    assert_eq!(outcome.response.status, 403);
    let spans = proxy.take_spans();
    let [span] = spans.as_slice() else { panic!("one span per hop: {spans:?}") };
    assert_eq!(span.attribute("constitutional.hash.status"), Some("missing"));
    assert_eq!(span.attribute("acgs.sampling.decision"), Some("keep"));
    assert_eq!(span.attribute("acgs.sampling.rule"), Some("violation(missing)@groqcloud-policy"));
    assert_eq!(span.attribute("http.status_code"), Some("403"));
}

#[test]
fn strict_mode_rejects_a_missing_hash_with_the_json_body() {
    let mut proxy = start_sidecar("groqcloud-policy", &strict(), 1).expect("sidecar starts");
    let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[]));

    assert_eq!(outcome.response.status, 403);
    assert!(outcome.forwarded.is_none(), "never reaches the upstream");
    assert!(outcome.local_reply.is_some());
    let body: serde_json::Value = serde_json::from_slice(&outcome.response.body).expect("JSON body");
    assert_eq!(body, json!({"error": "constitutional_hash_invalid", "status": "missing", "expected_hash": HASH}));
    assert_eq!(outcome.response.headers.get_str("content-type"), Some("application/json"));
    assert_eq!(outcome.response.headers.get_str("constitutional-hash"), Some(HASH));
}

#[test]
fn strict_mode_rejects_a_forged_hash_as_mismatch() {
    let mut proxy = start_sidecar("groqcloud-policy", &strict(), 1).expect("sidecar starts");
    let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[("constitutional-hash", "cdd01ef066bc6cf3")]));

    assert_eq!(outcome.response.status, 403);
    let body: serde_json::Value = serde_json::from_slice(&outcome.response.body).expect("JSON body");
    assert_eq!(body["status"], "mismatch");
    assert_eq!(body["expected_hash"], HASH);
}

#[test]
fn exempt_paths_need_no_hash_but_their_look_alikes_do() {
    let mut proxy = start_sidecar("health-check", &strict(), 1).expect("sidecar starts");
    for path in ["/healthz", "/readyz", "/livez", "/metrics", "/health", "/healthz?verbose=1", "/health/deep"] {
        let outcome = send(&mut proxy, request("GET", path, &[]));
        assert_eq!(outcome.response.status, 200, "{path} is exempt");
        let forwarded = outcome.forwarded.expect("forwarded");
        assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("exempt"), "{path}");
        assert_eq!(forwarded.get_str("x-acgs-category"), Some("health"), "{path}");
        assert_eq!(forwarded.get_str("x-acgs-compliant"), Some("exempt"), "{path}");
    }
    for path in ["/healthzz", "/metricsx", "/v1/healthz"] {
        let outcome = send(&mut proxy, request("GET", path, &[]));
        assert_eq!(outcome.response.status, 403, "{path} is not exempt");
    }
}

#[test]
fn permissive_mode_forwards_violations_marked_non_compliant_and_sampled() {
    let config = with_rate(0.0, json!({"mode": "permissive"}));
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    for (hash, status) in [(None, "missing"), (Some("forged"), "mismatch")] {
        let headers: Vec<(&str, &str)> = hash.map(|h| vec![("constitutional-hash", h)]).unwrap_or_default();
        let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &headers));
        assert_eq!(outcome.response.status, 200);
        let forwarded = outcome.forwarded.expect("forwarded");
        assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some(status));
        assert_eq!(forwarded.get_str("x-acgs-compliant"), Some("non_compliant"));
        assert_eq!(forwarded.get_str("x-acgs-sampling-decision"), Some("keep"), "violations are kept, even at rate 0");
        let rule = format!("violation({status})@groqcloud-policy");
        assert_eq!(forwarded.get_str("x-acgs-sampling-rule"), Some(rule.as_str()));
    }
}

#[test]
fn inject_mode_adds_a_missing_hash() {
    let config = json!({"mode": "inject"});
    let mut proxy = start_sidecar("auth-service", &config, 1).expect("sidecar starts");
    let outcome = send(&mut proxy, request("POST", "/v1/auth/token", &[]));

    assert_eq!(outcome.response.status, 200);
    let forwarded = outcome.forwarded.expect("forwarded");
    assert_eq!(forwarded.get_str("constitutional-hash"), Some(HASH));
    assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("injected"));
    assert_eq!(forwarded.get_str("x-acgs-compliant"), Some("compliant"));
    assert_eq!(outcome.response.headers.get_str("constitutional-hash"), Some(HASH));
}

#[test]
fn without_a_tracer_an_incoming_sampled_flag_decides_and_the_trace_continues() {
    let config = with_rate(0.0, json!({"tracer": "none"}));
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    for flags in ["00", "01"] {
        let incoming = format!("00-{trace}-00f067aa0ba902b7-{flags}");
        let outcome = send(
            &mut proxy,
            request("GET", "/v1/policies/7", &[("constitutional-hash", HASH), ("traceparent", &incoming)]),
        );
        let forwarded = outcome.forwarded.expect("forwarded");
        let (trace_id, parent, out_flags) = traceparent_parts(forwarded.get("traceparent").expect("traceparent"));
        assert_eq!(trace_id, trace, "the trace id is kept");
        assert_ne!(parent, "00f067aa0ba902b7", "the filter's own span becomes the parent");
        assert_eq!(out_flags, flags, "parent-based: the incoming flag decides");
    }
}

#[test]
fn constitutional_operations_upgrade_an_unsampled_parent() {
    let config = with_rate(0.0, json!({}));
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let outcome = send(
        &mut proxy,
        request("POST", "/v1/constitutional/validate", &[("constitutional-hash", HASH), ("traceparent", incoming)]),
    );
    let forwarded = outcome.forwarded.expect("forwarded");
    assert_eq!(forwarded.get_str("x-acgs-category"), Some("constitutional"));
    assert_eq!(forwarded.get_str("x-acgs-sampling-decision"), Some("keep"));
    assert_eq!(forwarded.get_str("traceparent"), Some(incoming), "Envoy's, left alone");
}

#[test]
fn the_entry_hop_decides_with_envoys_random_sampling_coin_from_x_request_id() {
    let rate = 0.3;
    let config = with_rate(rate, json!({}));
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    let mut sampled = 0;
    for _ in 0..2_000 {
        let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[("constitutional-hash", HASH)]));
        let forwarded = outcome.forwarded.expect("forwarded");
        let request_id = forwarded.get_str("x-request-id").expect("the connection manager generates one");
        let expected = envoy_coin(request_id, rate);
        let decision = forwarded.get_str("x-acgs-sampling-decision");
        assert_eq!(decision, Some(if expected { "keep" } else { "drop" }), "x-request-id {request_id}");
        sampled += usize::from(expected);
    }
    assert!(sampled > 0 && sampled < 2_000, "both decisions occur ({sampled} kept)");
}

#[test]
fn rate_limiting_strategy_samples_up_to_its_budget() {
    let config = json!({
        "fallback_strategy": {"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5}}
    });
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    let started = std::time::Instant::now();
    let mut sampled = 0u64;
    for _ in 0..200 {
        let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[("constitutional-hash", HASH)]));
        let forwarded = outcome.forwarded.expect("forwarded");
        sampled += u64::from(forwarded.get_str("x-acgs-sampling-decision") == Some("keep"));
    }
    // The bucket starts full (5 tokens) and refills at 5/s: whatever the machine's speed, the
    // count is the initial 5 plus what refilled while the loop ran.
    let refill = (started.elapsed().as_secs_f64() * 5.0).floor() as u64;
    assert!(sampled >= 5 && sampled <= 5 + refill, "{sampled} sampled, refill allowance {refill}");
}

#[test]
fn per_operation_strategies_override_the_default() {
    let config = json!({
        "operations": ["/v1/policies/{id}"],
        "fallback_strategy": {
            "strategyType": "PROBABILISTIC",
            "probabilisticSampling": {"samplingRate": 0.0},
            "operationSampling": {
                "defaultSamplingProbability": 0.0,
                "defaultLowerBoundTracesPerSecond": 0.0,
                "perOperationStrategies": [
                    {"operation": "GET /v1/policies/{id}", "probabilisticSampling": {"samplingRate": 1.0}}
                ]
            }
        }
    });
    let mut proxy = start_sidecar("groqcloud-policy", &config, 1).expect("sidecar starts");
    let cases = [
        ("/v1/policies/7", "keep", "operation(1)@groqcloud-policy:GET /v1/policies/{id}"),
        ("/v1/policies/abc?x=1", "keep", "operation(1)@groqcloud-policy:GET /v1/policies/{id}"),
        ("/v1/rules/7", "drop", "lowerbound(0/s)@groqcloud-policy:GET /v1/rules/7"),
    ];
    for (path, expected, rule) in cases {
        for _ in 0..50 {
            let outcome = send(&mut proxy, request("GET", path, &[("constitutional-hash", HASH)]));
            let forwarded = outcome.forwarded.expect("forwarded");
            assert_eq!(forwarded.get_str("x-acgs-sampling-decision"), Some(expected), "{path}");
            assert_eq!(forwarded.get_str("x-acgs-sampling-rule"), Some(rule), "{path}");
        }
    }
}

#[test]
fn an_invalid_configuration_is_refused_naming_the_field() {
    let cases = [
        (json!({"mode": "enforce"}), "mode"),
        (json!({"constitutional_hash": ""}), "constitutional_hash"),
        (json!({"exempt_paths": ["healthz"]}), "exempt_paths[0]"),
        (json!({"control_plane": {"poll_interval_ms": 5}}), "control_plane.poll_interval_ms"),
        (json!({"modee": "strict"}), "modee"),
        (json!({"fallback_strategy": {"probabilisticSampling": {"samplingRate": 1.5}}}), "fallback_strategy"),
    ];
    for (config, field) in cases {
        match start_sidecar("groqcloud-policy", &config, 1) {
            Err(HostError::ConfigurationRejected { logs, .. }) => {
                let text: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
                assert!(
                    text.iter().any(|line| line.contains(&format!("`{field}`"))),
                    "config {config} must be refused naming `{field}`, logs: {text:?}"
                );
            }
            Err(other) => panic!("config {config}: expected a configuration rejection, got {other}"),
            Ok(_) => panic!("config {config} must be refused"),
        }
    }
}

#[test]
fn configuration_that_is_not_a_json_object_is_refused() {
    for raw in [&b"{not json"[..], b"[1,2]", b"\"strict\"", b"\xff\xfe", b"{\"mode\": \"strict\""] {
        assert!(
            matches!(start_sidecar_raw("x", raw, 1), Err(HostError::ConfigurationRejected { .. })),
            "{:?} must be refused",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn envoy_stats_count_requests_per_hash_status_across_workers() {
    let mut proxy = start_sidecar("groqcloud-policy", &strict(), 3).expect("sidecar starts");
    let plan: [(&str, Option<&str>, u64); 4] = [
        ("/v1/policies/7", Some(HASH), 7),
        ("/v1/policies/7", None, 4),
        ("/v1/policies/7", Some("nope"), 2),
        ("/healthz", None, 5),
    ];
    send_plan(&mut proxy, &plan);
    let stats = proxy.stats();
    assert_eq!(stats.counter("acgs_filter_requests_valid_total"), Some(7));
    assert_eq!(stats.counter("acgs_filter_requests_missing_total"), Some(4));
    assert_eq!(stats.counter("acgs_filter_requests_mismatch_total"), Some(2));
    assert_eq!(stats.counter("acgs_filter_requests_exempt_total"), Some(5));
    assert_eq!(stats.counter("acgs_filter_requests_injected_total"), Some(0));
    assert_eq!(stats.counter("acgs_filter_rejected_total"), Some(6));
}

#[test]
fn hostile_header_values_get_the_right_decision() {
    let mut proxy = start_sidecar("groqcloud-policy", &strict(), 1).expect("sidecar starts");
    // As large as Envoy's HTTP/1 codec lets through (60 KiB for the whole header block).
    let huge = "a".repeat(60 * 1024 - 512);
    let invalid_utf8 = String::from_utf8_lossy(&[0xff, 0xfe, 0xfd]).into_owned();
    for hash in [huge.as_str(), invalid_utf8.as_str(), "", "CDD01EF066BC6CF2", "cdd01ef066bc6cf2\0"] {
        let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[("constitutional-hash", hash)]));
        assert_eq!(outcome.failure, None);
        assert_eq!(outcome.response.status, 403, "hash {:?}…", &hash[..hash.len().min(20)]);
    }
    // One that does not fit never reaches the filter: the codec's 431.
    let too_large = "a".repeat(60 * 1024);
    let outcome = send(&mut proxy, request("GET", "/v1/policies/7", &[("constitutional-hash", &too_large)]));
    assert_eq!(
        (outcome.response.status, outcome.local_reply.map(|reply| reply.details)),
        (431, Some("http1.headers_too_large".to_owned()))
    );
    let mut raw = request("GET", "/v1/policies/7", &[]);
    raw.headers.push("constitutional-hash", [0xc3u8, 0x28, 0xa0, 0xa1]);
    raw.headers.push("traceparent", [0xffu8; 55]);
    let outcome = send(&mut proxy, raw);
    assert_eq!(outcome.failure, None);
    assert_eq!(outcome.response.status, 403);
}
