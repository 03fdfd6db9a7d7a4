use super::*;
use crate::policy::merge::{merge, PolicyInput, Verdict};
use crate::sampling::file::OperationStrategy;
use acgs_filter::request_id::draw_keeps;
use proptest::prelude::*;

fn key() -> PolicyKey {
    PolicyKey { namespace: "acgs-system".to_owned(), name: "checkout".to_owned() }
}

fn gateway() -> HeadSampling {
    HeadSampling {
        namespace: Some("istio-ingress".to_owned()),
        match_labels: BTreeMap::from([("istio".to_owned(), "ingressgateway".to_owned())]),
    }
}

fn service(kind: StrategyKind, param: f64, head: Option<HeadSampling>) -> ServicePolicy {
    ServicePolicy { service: "checkout-api".to_owned(), kind, param, operation_strategies: vec![], head_sampling: head }
}

fn spec(services: Vec<ServicePolicy>) -> SamplingPolicySpec {
    SamplingPolicySpec { services, ..SamplingPolicySpec::default() }
}

fn operation(kind: StrategyKind, param: f64) -> OperationStrategy {
    OperationStrategy { operation: "GET /x".to_owned(), kind, param }
}

/// The numerator Envoy derives from Istio's percentage: `random_sampling` as a FractionalPercent
/// of 10,000, rounded (`PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT`).
fn envoy_numerator(percent: f64) -> u32 {
    (percent / 100.0 * 10_000.0).round() as u32
}

#[test]
fn the_percentage_is_the_rate_rounded_up_to_envoys_resolution() {
    for (rate, percent) in [(0.1, 10.0), (0.123, 12.3), (0.5, 50.0), (1.0, 100.0), (0.0, 0.0), (0.0001, 0.01)] {
        assert_eq!(percentage(&service(StrategyKind::Probabilistic, rate, None)), percent, "rate {rate}");
    }
    assert_eq!(percentage(&service(StrategyKind::Probabilistic, 0.123_45, None)), 12.35);
    assert_eq!(percentage(&service(StrategyKind::Probabilistic, 0.000_01, None)), 0.01);
}

#[test]
fn a_probabilistic_operation_above_the_rate_raises_the_percentage_and_a_ratelimiting_one_does_not() {
    let mut entry = service(StrategyKind::Probabilistic, 0.1, None);
    entry.operation_strategies = vec![operation(StrategyKind::Probabilistic, 0.05)];
    assert_eq!(percentage(&entry), 10.0);
    entry.operation_strategies.push(operation(StrategyKind::Probabilistic, 0.25));
    assert_eq!(percentage(&entry), 25.0);
    entry.operation_strategies = vec![operation(StrategyKind::Ratelimiting, 5.0)];
    assert_eq!(percentage(&entry), 10.0);
}

proptest! {
    #[test]
    fn envoy_at_the_percentage_records_every_trace_the_filter_keeps_and_no_more_buckets(
        rate in 0.0f64..=1.0,
        draw in any::<u32>(),
    ) {
        let numerator = envoy_numerator(percentage(&service(StrategyKind::Probabilistic, rate, None)));
        prop_assert_eq!(f64::from(numerator), (rate * 10_000.0).ceil());
        if draw_keeps(draw, rate) {
            prop_assert!(draw % 10_000 < numerator, "the filter keeps draw {} that Envoy does not record", draw);
        }
    }
}

#[test]
fn the_telemetry_selects_the_workloads_client_side_at_the_percentage() {
    let spec = spec(vec![service(StrategyKind::Probabilistic, 0.123, Some(gateway()))]);
    let desired = desired([(&key(), &spec)]);
    let expected = json!({
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {
            "name": "acgs-head-checkout-api",
            "namespace": "istio-ingress",
            "labels": {"app.kubernetes.io/managed-by": "acgs-tracing", "tracing.acgs.io/policy": "acgs-system.checkout"}
        },
        "spec": {
            "selector": {"matchLabels": {"istio": "ingressgateway"}},
            "tracing": [{"match": {"mode": "CLIENT"}, "providers": [{"name": "acgs-otel"}], "randomSamplingPercentage": 12.3}]
        }
    });
    let at = ("istio-ingress".to_owned(), "acgs-head-checkout-api".to_owned());
    assert_eq!(desired, BTreeMap::from([(at, expected)]));
}

#[test]
fn the_namespace_defaults_to_the_policys_and_services_without_head_sampling_ask_for_nothing() {
    let head = HeadSampling { namespace: None, ..gateway() };
    let mut other = service(StrategyKind::Probabilistic, 0.5, None);
    other.service = "other".to_owned();
    let spec = spec(vec![service(StrategyKind::Probabilistic, 0.1, Some(head)), other]);
    let desired = desired([(&key(), &spec)]);
    let keys: Vec<_> = desired.keys().cloned().collect();
    assert_eq!(keys, vec![("acgs-system".to_owned(), "acgs-head-checkout-api".to_owned())]);
}

#[test]
fn services_starting_at_the_same_workloads_share_the_highest_percentage() {
    let named = |name: &str, rate: f64, head: HeadSampling| ServicePolicy {
        service: name.to_owned(),
        ..service(StrategyKind::Probabilistic, rate, Some(head))
    };
    let canary =
        HeadSampling { match_labels: BTreeMap::from([("istio".to_owned(), "canary-gateway".to_owned())]), ..gateway() };
    let first = spec(vec![named("checkout-api", 0.1, gateway()), named("search", 0.02, canary)]);
    let other = PolicyKey { name: "catalog".to_owned(), ..key() };
    let second = spec(vec![named("catalog", 0.5, gateway())]);
    let desired = desired([(&key(), &first), (&other, &second)]);
    let percent = |name: &str| {
        desired[&("istio-ingress".to_owned(), format!("acgs-head-{name}"))]["spec"]["tracing"][0]
            ["randomSamplingPercentage"]
            .as_f64()
    };
    assert_eq!(percent("checkout-api"), Some(50.0), "behind the same gateway as catalog at 0.5");
    assert_eq!(percent("catalog"), Some(50.0));
    assert_eq!(percent("search"), Some(2.0), "a gateway of its own");
    assert_eq!(
        desired[&("istio-ingress".to_owned(), "acgs-head-catalog".to_owned())]["metadata"]["labels"]
            ["tracing.acgs.io/policy"],
        "acgs-system.catalog"
    );
}

#[test]
fn refused_head_sampling_names_the_field() {
    let with = |kind, head: HeadSampling| spec(vec![service(kind, 0.1, Some(head))]);
    let labels = |pairs: &[(&str, &str)]| HeadSampling {
        namespace: None,
        match_labels: pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    let cases = [
        (
            with(StrategyKind::Ratelimiting, gateway()),
            "spec.services[0].headSampling: needs a probabilistic strategy (Istio's percentage is a probability)",
        ),
        (
            with(StrategyKind::Probabilistic, labels(&[])),
            "spec.services[0].headSampling.matchLabels: no labels (a Telemetry without selector applies to the whole namespace)",
        ),
        (
            with(StrategyKind::Probabilistic, labels(&[("app name", "x")])),
            "spec.services[0].headSampling.matchLabels: \"app name\" is not a label key",
        ),
        (
            with(StrategyKind::Probabilistic, labels(&[("istio", "ingress*")])),
            "spec.services[0].headSampling.matchLabels: \"ingress*\" (of \"istio\") is not a label value",
        ),
        (
            with(StrategyKind::Probabilistic, HeadSampling { namespace: Some("Istio".to_owned()), ..gateway() }),
            "spec.services[0].headSampling.namespace: \"Istio\" is not a namespace name (a-z, 0-9, '-', at most 63, alphanumeric ends)",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(check(&spec), Err(expected.to_owned()));
    }
    let mut odd = service(StrategyKind::Probabilistic, 0.1, Some(gateway()));
    odd.service = "Checkout_API".to_owned();
    assert_eq!(
        check(&spec(vec![odd])),
        Err("spec.services[0].headSampling: service \"Checkout_API\" cannot name a Telemetry \
             (\"acgs-head-Checkout_API\" is not a DNS-1123 subdomain: a-z, 0-9, '-', '.')"
            .to_owned())
    );
    assert_eq!(check(&spec(vec![service(StrategyKind::Ratelimiting, 5.0, None)])), Ok(()));
}

#[test]
fn a_policy_whose_reference_cannot_be_a_label_value_is_refused_only_with_head_sampling() {
    let long = PolicyKey { namespace: "acgs-system".to_owned(), name: "p".repeat(52) };
    let with = spec(vec![service(StrategyKind::Probabilistic, 0.1, Some(gateway()))]);
    let message = check_reference(&long, &with).expect_err("64 characters");
    assert!(
        message.starts_with("spec.services[0].headSampling: the label tracing.acgs.io/policy=acgs-system.ppp"),
        "{message}"
    );
    let short = PolicyKey { name: "p".repeat(51), ..long.clone() };
    assert_eq!(check_reference(&short, &with), Ok(()));
    assert_eq!(check_reference(&long, &spec(vec![service(StrategyKind::Probabilistic, 0.1, None)])), Ok(()));
}

#[test]
fn the_merge_refuses_head_sampling_on_a_ratelimiting_service_as_invalid() {
    let policy = PolicyInput {
        key: key(),
        spec: spec(vec![service(StrategyKind::Ratelimiting, 5.0, Some(gateway()))]),
        last_good: None,
    };
    let merged = merge(None, &[policy]);
    assert_eq!(
        merged.verdicts[&key()],
        Verdict::Invalid {
            message:
                "spec.services[0].headSampling: needs a probabilistic strategy (Istio's percentage is a probability)"
                    .to_owned(),
            serving_last_good: false
        }
    );
    assert!(merged.strategies.service_strategies.is_empty());
}
