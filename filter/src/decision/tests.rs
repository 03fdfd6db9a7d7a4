use super::*;
use crate::traceparent::TraceParent;
use proptest::prelude::{
    any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig, Strategy as _,
};

const HASH: &[u8] = b"cdd01ef066bc6cf2";

fn engine(config: FilterConfig, service: &str) -> Engine {
    Engine::new(Rc::new(config), service, 7)
}

fn view<'a>(method: &'a str, path: &'a str, hash: Option<&'a [u8]>, traceparent: Option<&'a [u8]>) -> RequestView<'a> {
    RequestView { method: method.as_bytes(), path: path.as_bytes(), hash, traceparent }
}

fn never_sample() -> FilterConfig {
    FilterConfig { fallback_strategy: Strategy::Probabilistic { rate: 0.0 }, ..FilterConfig::default() }
}

#[test]
fn strict_mode_forwards_the_valid_and_rejects_the_rest_with_the_json_body() {
    let mut engine = engine(FilterConfig::default(), "groqcloud-policy");
    let valid = engine.decide(&view("GET", "/v1/policies/7", Some(HASH), None), 0);
    assert_eq!(
        (valid.hash_status, &valid.verdict, valid.compliance),
        (HashStatus::Valid, &Verdict::Forward, Compliance::Compliant)
    );
    let missing = engine.decide(&view("GET", "/v1/policies/7", None, None), 0);
    assert_eq!(
        missing.verdict,
        Verdict::Reject {
            status: 403,
            body: br#"{"error":"constitutional_hash_invalid","status":"missing","expected_hash":"cdd01ef066bc6cf2"}"#
                .to_vec()
        }
    );
    assert_eq!(missing.traceparent_out, None, "a local reply forwards nothing");
    let forged = engine.decide(&view("GET", "/v1/policies/7", Some(b"forged"), None), 0);
    assert_eq!(
        forged.verdict,
        Verdict::Reject {
            status: 403,
            body: br#"{"error":"constitutional_hash_invalid","status":"mismatch","expected_hash":"cdd01ef066bc6cf2"}"#
                .to_vec()
        }
    );
    assert_eq!(forged.compliance, Compliance::NonCompliant);
    assert!(missing.sampled && forged.sampled, "violations are always sampled");
}

#[test]
fn permissive_forwards_violations_and_inject_adds_a_missing_hash_only() {
    let mut permissive = engine(FilterConfig { mode: Mode::Permissive, ..never_sample() }, "svc");
    let decision = permissive.decide(&view("GET", "/x", None, None), 0);
    assert_eq!(
        (decision.hash_status, decision.verdict, decision.inject_hash),
        (HashStatus::Missing, Verdict::Forward, false)
    );
    assert!(decision.sampled);
    let mut inject = engine(FilterConfig { mode: Mode::Inject, ..never_sample() }, "svc");
    let missing = inject.decide(&view("GET", "/x", None, None), 0);
    assert_eq!(
        (missing.hash_status, &missing.verdict, missing.inject_hash),
        (HashStatus::Injected, &Verdict::Forward, true)
    );
    assert_eq!(missing.compliance, Compliance::Compliant);
    assert!(!missing.sampled, "an injected hash is not a violation");
    let forged = inject.decide(&view("GET", "/x", Some(b"forged"), None), 0);
    assert_eq!(forged.hash_status, HashStatus::Mismatch);
    assert!(matches!(forged.verdict, Verdict::Reject { status: 403, .. }), "a forged hash is never replaced");
}

#[test]
fn exempt_paths_and_their_look_alikes() {
    let mut engine = engine(FilterConfig::default(), "health-check");
    for path in ["/healthz", "/healthz?verbose=1", "/health/deep", "/metrics", "/readyz#x"] {
        let decision = engine.decide(&view("GET", path, None, None), 0);
        assert_eq!(
            (decision.hash_status, decision.category, &decision.verdict),
            (HashStatus::Exempt, Category::Health, &Verdict::Forward),
            "{path}"
        );
    }
    for path in ["/healthzz", "/metricsx", "/v1/healthz", "healthz"] {
        assert_eq!(engine.decide(&view("GET", path, None, None), 0).hash_status, HashStatus::Missing, "{path}");
    }
}

#[test]
fn an_incoming_traceparent_decides_and_keeps_its_trace() {
    let mut engine = engine(never_sample(), "svc");
    let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let decision = engine.decide(&view("GET", "/x", Some(HASH), Some(incoming)), 0);
    let out = TraceParent::parse(&decision.traceparent_out.expect("forwarded")).expect("valid traceparent");
    let parent = TraceParent::parse(incoming).expect("valid");
    assert_eq!(out.trace_id, parent.trace_id);
    assert_eq!(out.parent_id, decision.span_id, "the filter's span is the new parent");
    assert_eq!(decision.parent_span_id, Some(parent.parent_id));
    assert!(out.sampled());
    let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert!(!engine.decide(&view("GET", "/x", Some(HASH), Some(unsampled)), 0).sampled);
    let constitutional = engine.decide(&view("POST", "/v1/constitutional/validate", Some(HASH), Some(unsampled)), 0);
    assert!(constitutional.sampled, "constitutional operations upgrade an unsampled parent");
    let garbage = engine.decide(&view("GET", "/x", Some(HASH), Some(b"garbage")), 0);
    assert_eq!(garbage.parent_span_id, None, "an invalid traceparent starts a new trace");
}

#[test]
fn without_a_parent_the_strategy_decides_by_trace_id() {
    let mut engine = engine(
        FilterConfig { fallback_strategy: Strategy::Probabilistic { rate: 0.5 }, ..FilterConfig::default() },
        "svc",
    );
    let mut sampled = 0;
    for _ in 0..1_000 {
        let decision = engine.decide(&view("GET", "/x", Some(HASH), None), 0);
        assert_eq!(decision.sampled, crate::sampling::ratio_samples(&decision.trace_id, 0.5));
        assert_ne!(decision.trace_id, [0; 16]);
        assert_ne!(decision.span_id, [0; 8]);
        sampled += usize::from(decision.sampled);
    }
    assert!((400..=600).contains(&sampled), "{sampled} of 1000 at rate 0.5");
}

#[test]
fn forced_samples_take_no_token_from_the_rate_limiter() {
    let config = FilterConfig {
        fallback_strategy: Strategy::RateLimiting { max_traces_per_second: 1.0 },
        ..FilterConfig::default()
    };
    let mut engine = engine(config, "groqcloud-policy");
    for _ in 0..5 {
        assert!(engine.decide(&view("POST", "/v1/constitutional/x", Some(HASH), None), 0).sampled);
    }
    assert!(engine.decide(&view("GET", "/x", Some(HASH), None), 0).sampled, "the one token is still there");
    assert!(!engine.decide(&view("GET", "/x", Some(HASH), None), 0).sampled);
    engine.apply_strategy(Strategy::Probabilistic { rate: 1.0 });
    assert!(engine.decide(&view("GET", "/x", Some(HASH), None), 0).sampled, "a new strategy applies at once");
    assert_eq!(engine.strategy(), &Strategy::Probabilistic { rate: 1.0 });
    assert_eq!(engine.service(), "groqcloud-policy");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn every_request_gets_the_mode_s_verdict(
        mode in prop::sample::select(vec![Mode::Strict, Mode::Permissive, Mode::Inject]),
        method in proptest::collection::vec(any::<u8>(), 0..10),
        path in prop_oneof![proptest::collection::vec(any::<u8>(), 0..60), "/[a-z/?]{0,20}".prop_map(String::into_bytes)],
        hash in proptest::option::of(prop_oneof![Just(HASH.to_vec()), proptest::collection::vec(any::<u8>(), 0..40)]),
        traceparent in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..70)),
    ) {
        let mut engine = engine(FilterConfig { mode, ..FilterConfig::default() }, "svc");
        let request = RequestView { method: &method, path: &path, hash: hash.as_deref(), traceparent: traceparent.as_deref() };
        let decision = engine.decide(&request, 1);
        let exempt = is_exempt(strip_query(&path), &FilterConfig::default().exempt_paths);
        let valid = hash.as_deref() == Some(HASH);
        let rejected = matches!(decision.verdict, Verdict::Reject { status: 403, .. });
        let expected_reject = !exempt && !valid && match mode {
            Mode::Strict => true,
            Mode::Permissive => false,
            Mode::Inject => hash.is_some(),
        };
        prop_assert_eq!(rejected, expected_reject);
        prop_assert_eq!(decision.traceparent_out.is_some(), !rejected);
        if let Some(out) = decision.traceparent_out {
            prop_assert!(TraceParent::parse(&out).is_some());
        }
    }
}
