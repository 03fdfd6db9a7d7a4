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
    RequestView { method: method.as_bytes(), path: path.as_bytes(), hash, traceparent, request_id: None, baggage: None }
}

/// A request as a later hop sees it: Envoy's `x-request-id` and the app's `baggage`.
fn hop<'a>(path: &'a str, hash: Option<&'a [u8]>, request_id: &'a [u8], baggage: Option<&'a [u8]>) -> RequestView<'a> {
    RequestView {
        method: b"GET",
        path: path.as_bytes(),
        hash,
        traceparent: Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        request_id: Some(request_id),
        baggage,
    }
}

fn never_sample() -> FilterConfig {
    FilterConfig { fallback_strategy: Strategy::Probabilistic { rate: 0.0 }, ..FilterConfig::default() }
}

fn without_tracer(config: FilterConfig) -> FilterConfig {
    FilterConfig { tracer: Tracer::None, ..config }
}

fn text(bytes: Option<Rc<[u8]>>) -> Option<String> {
    bytes.map(|bytes| String::from_utf8(bytes.to_vec()).expect("ascii"))
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
    for path in [
        "/healthzz",
        "/metricsx",
        "/v1/healthz",
        "healthz",
        "/healthz/../v1/admin",
        "/healthz/..",
        "/healthz/./x",
        "/healthz/..%2Fv1/admin",
        "/healthz/%2e%2e/v1/admin",
        "/healthz/%2E./v1",
        "/healthz/x%5c..%5cadmin",
        "/healthz/x\\..\\admin",
    ] {
        assert_eq!(engine.decide(&view("GET", path, None, None), 0).hash_status, HashStatus::Missing, "{path}");
    }
}

#[test]
fn without_a_tracer_an_incoming_traceparent_decides_and_keeps_its_trace() {
    let mut engine = engine(without_tracer(never_sample()), "svc");
    let incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let decision = engine.decide(&view("GET", "/x", Some(HASH), Some(incoming)), 0);
    let out = TraceParent::parse(&decision.traceparent_out.expect("forwarded")).expect("valid traceparent");
    let parent = TraceParent::parse(incoming).expect("valid");
    assert_eq!(out.trace_id, parent.trace_id);
    assert_eq!(out.parent_id, decision.span_id, "the filter's span is the new parent");
    assert_eq!(decision.parent_span_id, Some(parent.parent_id));
    assert!(out.sampled());
    assert_eq!(&*decision.rule, "traceparent(sampled)");
    let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert!(!engine.decide(&view("GET", "/x", Some(HASH), Some(unsampled)), 0).sampled);
    let constitutional = engine.decide(&view("POST", "/v1/constitutional/validate", Some(HASH), Some(unsampled)), 0);
    assert!(constitutional.sampled, "constitutional operations upgrade an unsampled parent");
    let garbage = engine.decide(&view("GET", "/x", Some(HASH), Some(b"garbage")), 0);
    assert_eq!(garbage.parent_span_id, None, "an invalid traceparent starts a new trace");
}

#[test]
fn without_a_parent_or_a_request_id_the_strategy_decides_by_trace_id() {
    let mut engine = engine(
        without_tracer(FilterConfig {
            fallback_strategy: Strategy::Probabilistic { rate: 0.5 },
            ..FilterConfig::default()
        }),
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

#[test]
fn with_envoys_tracer_the_entry_hop_flips_envoys_coin_and_leaves_traceparent_alone() {
    let mut engine = engine(
        FilterConfig { fallback_strategy: Strategy::Probabilistic { rate: 0.1 }, ..FilterConfig::default() },
        "auth-service",
    );
    // 0x00000309 = 777 (bucket 777 < 1000: kept); 0x000003e8 = 1000 (not below 1000: dropped).
    let kept = engine.decide(&hop("/x", Some(HASH), b"00000309-0000-4000-8000-000000000000", None), 0);
    assert_eq!((kept.sampled, &*kept.rule), (true, "probabilistic(0.1)@auth-service"));
    assert_eq!(kept.traceparent_out, None, "Envoy's router writes traceparent");
    assert_eq!(text(kept.baggage_out).as_deref(), Some("acgs.sampling=keep:probabilistic(0.1)@auth-service"));
    let dropped = engine.decide(&hop("/x", Some(HASH), b"000003e8-0000-4000-8000-000000000000", None), 0);
    assert_eq!((dropped.sampled, &*dropped.rule), (false, "probabilistic(0.1)@auth-service"));
    assert_eq!(
        text(dropped.baggage_out).as_deref(),
        Some("acgs.sampling=drop:probabilistic(0.1)@auth-service"),
        "a drop travels too, so that later hops do not decide again"
    );
}

#[test]
fn a_later_hop_follows_the_propagated_decision_whatever_its_own_strategy() {
    let mut engine = engine(FilterConfig::default(), "service-b");
    let dropped = engine
        .decide(&hop("/x", Some(HASH), b"00000001-x", Some(b"k=v,acgs.sampling=drop:probabilistic(0.1)@service-a")), 0);
    assert_eq!((dropped.sampled, &*dropped.rule), (false, "probabilistic(0.1)@service-a"));
    assert_eq!(dropped.baggage_out, None, "the baggage already says so");
    let kept = engine.decide(&hop("/x", Some(HASH), b"00000001-x", Some(b"acgs.sampling=keep:ratelimiting(5/s)@a")), 0);
    assert_eq!((kept.sampled, &*kept.rule), (true, "ratelimiting(5/s)@a"));
}

#[test]
fn violations_and_constitutional_hops_force_keep_and_say_so_downstream() {
    let mut engine = engine(FilterConfig { mode: Mode::Permissive, ..never_sample() }, "service-b");
    let dropped_upstream = Some(&b"acgs.sampling=drop:probabilistic(0.1)@service-a"[..]);
    let violation = engine.decide(&hop("/x", None, b"00000001-x", dropped_upstream), 0);
    assert_eq!((violation.sampled, &*violation.rule), (true, "violation(missing)@service-b"));
    assert_eq!(text(violation.baggage_out).as_deref(), Some("acgs.sampling=keep:violation(missing)@service-b"));
    let forged = engine.decide(&hop("/x", Some(b"forged"), b"00000001-x", None), 0);
    assert_eq!(&*forged.rule, "violation(mismatch)@service-b");
    let constitutional =
        engine.decide(&hop("/v1/constitutional/validate", Some(HASH), b"00000001-x", dropped_upstream), 0);
    assert_eq!((constitutional.sampled, &*constitutional.rule), (true, "constitutional@service-b"));
}

#[test]
fn a_local_reply_forwards_no_baggage_but_carries_its_rule() {
    let mut engine = engine(never_sample(), "svc");
    let rejected = engine.decide(&hop("/x", None, b"00000001-x", None), 0);
    assert!(matches!(rejected.verdict, Verdict::Reject { status: 403, .. }));
    assert_eq!((rejected.sampled, &*rejected.rule, rejected.baggage_out), (true, "violation(missing)@svc", None));
}

#[test]
fn a_malformed_propagated_decision_is_ignored_and_the_hop_decides_itself() {
    let mut engine = engine(never_sample(), "svc");
    let decision = engine.decide(&hop("/x", Some(HASH), b"00000001-x", Some(b"acgs.sampling=keep:\x01")), 0);
    assert_eq!((decision.sampled, &*decision.rule), (false, "probabilistic(0)@svc"));
    assert_eq!(
        text(decision.baggage_out).as_deref(),
        Some("acgs.sampling=drop:probabilistic(0)@svc"),
        "the malformed member is replaced"
    );
}

#[test]
fn with_envoys_tracer_an_unsampled_traceparent_does_not_decide() {
    let mut engine = engine(FilterConfig::default(), "svc");
    let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let decision = engine
        .decide(&RequestView { request_id: Some(b"00000001-x"), ..view("GET", "/x", Some(HASH), Some(unsampled)) }, 0);
    assert_eq!((decision.sampled, &*decision.rule), (true, "probabilistic(1)@svc"));
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
        request_id in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        baggage in proptest::option::of(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "(acgs.sampling=(keep|drop):[ -~]{0,20},?){1,3}".prop_map(String::into_bytes),
        ]),
        tracer in prop::sample::select(vec![Tracer::Envoy, Tracer::None]),
    ) {
        let mut engine = engine(FilterConfig { mode, tracer, ..FilterConfig::default() }, "svc");
        let request = RequestView {
            method: &method,
            path: &path,
            hash: hash.as_deref(),
            traceparent: traceparent.as_deref(),
            request_id: request_id.as_deref(),
            baggage: baggage.as_deref(),
        };
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
        prop_assert_eq!(decision.traceparent_out.is_some(), !rejected && tracer == Tracer::None);
        if let Some(out) = decision.traceparent_out {
            prop_assert!(TraceParent::parse(&out).is_some());
        }
        prop_assert!(decision.rule.bytes().all(|b| (0x20..0x7f).contains(&b)), "the rule is a valid header value");
        if let Some(out) = &decision.baggage_out {
            prop_assert!(!rejected);
            let found = crate::baggage::find(out).expect("what the filter writes reads back");
            prop_assert_eq!((found.keep, found.rule.as_str()), (decision.sampled, &*decision.rule));
        }
    }
}
