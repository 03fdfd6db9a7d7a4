use super::*;
use crate::policy::resource::{PolicyStrategy, ServicePolicy};
use crate::sampling::file::{Constitutional, DefaultStrategy, OperationStrategy, ServiceStrategy, StrategyKind};

fn key(name: &str) -> PolicyKey {
    PolicyKey { namespace: "acgs-system".to_owned(), name: name.to_owned() }
}

fn service(name: &str, param: f64) -> ServicePolicy {
    ServicePolicy {
        service: name.to_owned(),
        kind: StrategyKind::Probabilistic,
        param,
        operation_strategies: vec![],
        head_sampling: None,
    }
}

fn policy(name: &str, services: Vec<ServicePolicy>) -> PolicyInput {
    PolicyInput {
        key: key(name),
        spec: SamplingPolicySpec { services, ..SamplingPolicySpec::default() },
        last_good: None,
    }
}

fn file() -> StrategiesFile {
    StrategiesFile {
        default_strategy: Some(DefaultStrategy {
            kind: StrategyKind::Probabilistic,
            param: 0.5,
            operation_strategies: vec![],
        }),
        service_strategies: vec![
            ServiceStrategy {
                service: "auth-service".to_owned(),
                kind: StrategyKind::Probabilistic,
                param: 1.0,
                operation_strategies: vec![],
            },
            ServiceStrategy {
                service: "health-check".to_owned(),
                kind: StrategyKind::Probabilistic,
                param: 0.01,
                operation_strategies: vec![],
            },
        ],
        constitutional: Some(Constitutional { services: vec!["constitutional-core".to_owned()], operations: vec![] }),
    }
}

fn param_of(merged: &Merged, service: &str) -> Option<f64> {
    merged.strategies.service_strategies.iter().find(|s| s.service == service).map(|s| s.param)
}

#[test]
fn a_policy_overrides_the_file_for_the_services_it_names_and_keeps_the_rest() {
    let merged = merge(Some(&file()), &[policy("health", vec![service("health-check", 0.2)])]);
    assert_eq!(param_of(&merged, "health-check"), Some(0.2));
    assert_eq!(param_of(&merged, "auth-service"), Some(1.0));
    assert_eq!(merged.strategies.service_strategies.len(), 2);
    assert_eq!(merged.verdicts[&key("health")], Verdict::Accepted { services: 1 });
    assert_eq!(merged.strategies.default_strategy.as_ref().map(|d| d.param), Some(0.5));
}

#[test]
fn a_policy_default_replaces_the_files_and_selectors_are_united() {
    let mut input = policy("defaults", vec![]);
    input.spec.default_strategy =
        Some(PolicyStrategy { kind: StrategyKind::Ratelimiting, param: 50.0, operation_strategies: vec![] });
    input.spec.constitutional = Some(Constitutional {
        services: vec!["constitutional-core".to_owned(), "groqcloud-policy".to_owned()],
        operations: vec!["POST /v1/validate".to_owned()],
    });
    let merged = merge(Some(&file()), &[input]);
    let default = merged.strategies.default_strategy.expect("a default");
    assert_eq!((default.kind, default.param), (StrategyKind::Ratelimiting, 50.0));
    let selector = merged.strategies.constitutional.expect("a selector");
    assert_eq!(selector.services, vec!["constitutional-core", "groqcloud-policy"]);
    assert_eq!(selector.operations, vec!["POST /v1/validate"]);
}

#[test]
fn the_later_of_two_policies_naming_one_service_is_refused_whole() {
    let merged = merge(
        None,
        &[
            policy("b-second", vec![service("auth-service", 0.3), service("billing", 0.4)]),
            policy("a-first", vec![service("auth-service", 0.7)]),
        ],
    );
    assert_eq!(merged.verdicts[&key("a-first")], Verdict::Accepted { services: 1 });
    assert_eq!(
        merged.verdicts[&key("b-second")],
        Verdict::Conflict {
            message: "spec.services[0].service: policy acgs-system/a-first already sets service \"auth-service\""
                .to_owned()
        }
    );
    assert_eq!(param_of(&merged, "auth-service"), Some(0.7));
    assert_eq!(param_of(&merged, "billing"), None, "nothing of a conflicting policy is served");
}

#[test]
fn an_invalid_policy_keeps_its_last_accepted_spec_served() {
    let mut input = policy("health", vec![service("health-check", 1.5)]);
    input.last_good = Some(SamplingPolicySpec { services: vec![service("health-check", 0.2)], ..Default::default() });
    let merged = merge(Some(&file()), &[input]);
    assert_eq!(param_of(&merged, "health-check"), Some(0.2));
    let verdict = &merged.verdicts[&key("health")];
    assert_eq!(verdict.reason(), "Invalid");
    assert_eq!(
        verdict.message(),
        "spec.services[0].param: probability 1.5 is outside [0, 1]; the last accepted spec keeps being served"
    );
}

#[test]
fn an_invalid_policy_without_history_adds_nothing() {
    let mut input = policy("ops", vec![service("auth-service", 0.5)]);
    input.spec.services[0].operation_strategies = vec![
        OperationStrategy { operation: "GET /x".to_owned(), kind: StrategyKind::Probabilistic, param: 0.1 },
        OperationStrategy { operation: "GET /x".to_owned(), kind: StrategyKind::Probabilistic, param: 0.2 },
    ];
    let merged = merge(Some(&file()), &[input]);
    assert_eq!(param_of(&merged, "auth-service"), Some(1.0), "the file's strategy stays");
    assert_eq!(
        merged.verdicts[&key("ops")].message(),
        "spec.services[0].operationStrategies[1].operation: duplicate operation \"GET /x\"; nothing from it is served"
    );
}

#[test]
fn policies_alone_start_from_jaegers_defaults() {
    let merged = merge(None, &[policy("only", vec![service("auth-service", 0.25)])]);
    assert_eq!(merged.strategies.default_strategy, None);
    assert_eq!(param_of(&merged, "auth-service"), Some(0.25));
}
