use super::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct TestSpan {
    trace: u8,
    attributes: Vec<(&'static str, &'static str)>,
}

impl SpanView for TestSpan {
    fn trace_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[15] = self.trace;
        id
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn resource_attribute(&self, key: &str) -> Option<&str> {
        (key == "service.name").then_some("svc")
    }
}

fn span(trace: u8, attributes: &[(&'static str, &'static str)]) -> TestSpan {
    TestSpan { trace, attributes: attributes.to_vec() }
}

/// The policy set deploy/ renders for the sampling tier, default rate `percent`.
fn acgs_policies(percent: f64) -> TailSamplingConfig {
    let config = json!({
        "decision_wait": "10s",
        "policies": [
            {"name": "keep", "type": "string_attribute", "string_attribute": {"key": "acgs.sampling.decision", "values": ["keep"]}},
            {"name": "violation", "type": "string_attribute", "string_attribute": {"key": "constitutional.hash.status", "values": ["missing", "mismatch"]}},
            {"name": "undecided", "type": "and", "and": {"and_sub_policy": [
                {"name": "none", "type": "string_attribute", "string_attribute": {"key": "acgs.sampling.decision", "values": ["keep", "drop"], "invert_match": true}},
                {"name": "rate", "type": "probabilistic", "probabilistic": {"sampling_percentage": percent}}
            ]}}
        ]
    });
    TailSamplingConfig::parse("tail_sampling", &config).expect("a config the model evaluates")
}

fn decide(config: &TailSamplingConfig, spans: &[TestSpan]) -> (bool, Option<String>) {
    let (keep, policy) = config.decide(&spans[0].trace_id(), spans);
    (keep, policy.map(str::to_owned))
}

#[test]
fn any_span_that_says_keep_keeps_the_whole_trace() {
    let config = acgs_policies(0.0);
    let trace =
        [span(1, &[("acgs.sampling.decision", "drop")]), span(1, &[("acgs.sampling.decision", "keep")]), span(1, &[])];
    assert_eq!(decide(&config, &trace), (true, Some("keep".into())));
    let dropped = [span(2, &[("acgs.sampling.decision", "drop")]), span(2, &[])];
    assert_eq!(decide(&config, &dropped), (false, None));
}

#[test]
fn a_violation_anywhere_keeps_a_trace_that_said_drop() {
    let config = acgs_policies(0.0);
    let trace = [span(3, &[("acgs.sampling.decision", "drop"), ("constitutional.hash.status", "mismatch")])];
    assert_eq!(decide(&config, &trace), (true, Some("violation".into())));
}

#[test]
fn an_inverted_match_inside_and_is_no_veto_and_undecided_traces_get_the_default_rate() {
    // Inside `and`, InvertNotSampled is a plain NotSampled (and.go): a trace the filter decided
    // is left to the other policies, not vetoed.
    let all = acgs_policies(100.0);
    let decided_keep = [span(4, &[("acgs.sampling.decision", "keep")])];
    assert_eq!(decide(&all, &decided_keep), (true, Some("keep".into())));
    let decided_drop = [span(5, &[("acgs.sampling.decision", "drop")])];
    assert_eq!(decide(&all, &decided_drop), (false, None), "the filter said drop: the default rate does not apply");
    let undecided = [span(6, &[("http.status_code", "200")])];
    assert_eq!(decide(&all, &undecided), (true, Some("undecided".into())));
    assert_eq!(decide(&acgs_policies(0.0), &undecided), (false, None));
}

#[test]
fn a_top_level_inverted_match_vetoes_every_other_policy() {
    let config = TailSamplingConfig::parse(
        "t",
        &json!({"policies": [
            {"name": "all", "type": "always_sample"},
            {"name": "not-health", "type": "string_attribute", "string_attribute": {"key": "acgs.category", "values": ["health"], "invert_match": true}}
        ]}),
    )
    .expect("valid");
    assert_eq!(decide(&config, &[span(7, &[("acgs.category", "health")])]), (false, None));
    assert_eq!(decide(&config, &[span(8, &[("acgs.category", "auth")])]), (true, Some("all".into())));
}

#[test]
fn the_probabilistic_policy_hashes_the_trace_id_with_its_salt_like_the_collector() {
    // FNV-1a-64 of "default-hash-seed" followed by sixteen zero bytes and a final 0x09.
    let trace = [span(9, &[])];
    let hash = fnv1a64(&[DEFAULT_HASH_SALT.as_bytes(), &trace[0].trace_id()]);
    let ratio_at = |hash: u64| hash as f64 / u64::MAX as f64;
    let just_above = ratio_at(hash) * 100.0 * 1.000_001;
    let just_below = ratio_at(hash) * 100.0 * 0.999_999;
    let probabilistic = |percent: f64| {
        TailSamplingConfig::parse(
            "t",
            &json!({"policies": [{"name": "p", "type": "probabilistic", "probabilistic": {"sampling_percentage": percent}}]}),
        )
        .expect("valid")
    };
    assert!(decide(&probabilistic(just_above), &trace).0);
    assert!(!decide(&probabilistic(just_below), &trace).0);
    assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c, "FNV-1a-64 reference value of \"a\"");
}

#[test]
fn spans_wait_for_the_decision_and_latecomers_follow_it() {
    let mut sampler = TailSampler::new(acgs_policies(0.0));
    let second = Duration::from_secs(1);
    assert!(sampler.ingest(span(10, &[("acgs.sampling.decision", "keep")]), Duration::ZERO).is_none());
    assert!(sampler.ingest(span(10, &[]), 3 * second).is_none());
    assert!(sampler.ingest(span(11, &[("acgs.sampling.decision", "drop")]), 2 * second).is_none());
    assert!(sampler.tick(9 * second).is_empty(), "decision_wait has not passed");
    let kept = sampler.tick(10 * second);
    assert_eq!(kept.len(), 2, "both spans of the kept trace");
    assert_eq!(sampler.waiting(), 1);
    assert!(sampler.ingest(span(10, &[]), 11 * second).is_some(), "a late span of a kept trace goes on");
    assert!(sampler.tick(12 * second).is_empty());
    assert!(sampler.ingest(span(11, &[("acgs.sampling.decision", "keep")]), 13 * second).is_none(), "decided: dropped");
}

#[test]
fn configs_the_model_does_not_evaluate_are_refused_by_name() {
    let cases = [
        (json!({"policies": []}), "t.policies: at least one policy is required"),
        (
            json!({"policies": [{"name": "l", "type": "latency", "latency": {"threshold_ms": 5}}]}),
            "t.policies[0].type: \"latency\" is not a policy type the model evaluates",
        ),
        (
            json!({"policies": [{"name": "s", "type": "string_attribute", "string_attribute": {"key": "k", "values": ["v"], "enabled_regex_matching": true}}]}),
            "t.policies[0].string_attribute.enabled_regex_matching: not something the model evaluates",
        ),
        (
            json!({"decision_wait": "soon", "policies": [{"name": "a", "type": "always_sample"}]}),
            "t.decision_wait: \"soon\" is not a duration",
        ),
        (
            json!({"sample_on_first_match": true, "policies": [{"name": "a", "type": "always_sample"}]}),
            "t.sample_on_first_match: not something the model evaluates",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(TailSamplingConfig::parse("t", &config).expect_err("refused").to_string(), expected);
    }
    let waits = ["10s", "1m30s", "500ms"].map(|wait| {
        TailSamplingConfig::parse(
            "t",
            &json!({"decision_wait": wait, "policies": [{"name": "a", "type": "always_sample"}]}),
        )
        .expect("valid")
        .decision_wait
    });
    assert_eq!(waits, [Duration::from_secs(10), Duration::from_secs(90), Duration::from_millis(500)]);
}
