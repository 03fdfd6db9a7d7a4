use acgs_proto::telemetry::HashStatus;

use crate::analysis::report::{Analysis, CallerViolations, CompliancePoint};
use crate::analysis::testkit::{findings_of, report, span, SpanExt, T0};

const ALPHA: &str = "spiffe://cluster.local/ns/default/sa/alpha";
const MALLORY: &str = "spiffe://cluster.local/ns/attack/sa/mallory";

fn planted() -> Vec<Vec<crate::analysis::model::Span>> {
    let mut traces = Vec::new();
    let mut id = 0u128;
    let mut add = |service: &str, status: Option<HashStatus>, peer: Option<&str>, n: usize| {
        for _ in 0..n {
            id += 1;
            let mut s = span(id, 1, service, "GET /v1/x").hash(status);
            if let Some(peer) = peer {
                s = s.peer(peer);
            }
            traces.push(vec![s]);
        }
    };
    add("constitutional-core", Some(HashStatus::Valid), None, 8);
    add("constitutional-core", Some(HashStatus::Injected), None, 1);
    add("groqcloud-policy", Some(HashStatus::Valid), None, 10);
    add("groqcloud-policy", Some(HashStatus::Missing), Some(ALPHA), 2);
    add("groqcloud-policy", Some(HashStatus::Mismatch), Some(MALLORY), 1);
    add("auth-service", Some(HashStatus::Exempt), None, 5);
    add("auth-service", None, None, 3);
    traces
}

#[test]
fn rates_per_service_and_overall() {
    let report = report(&planted());
    let rates: Vec<(&str, Option<f64>, u64, u64)> = report
        .compliance
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.compliance_rate, s.exempt, s.untracked))
        .collect();
    assert_eq!(
        rates,
        vec![
            ("auth-service", None, 5, 3),
            ("constitutional-core", Some(1.0), 0, 0),
            ("groqcloud-policy", Some(10.0 / 13.0), 0, 0),
        ]
    );
    assert_eq!(report.compliance.overall_rate, Some(19.0 / 22.0));
    assert_eq!(report.summary.compliance_rate, Some(19.0 / 22.0));
    assert_eq!((report.compliance.compliant, report.compliance.missing, report.compliance.mismatch), (19, 2, 1));
}

#[test]
fn violations_by_kind_and_caller() {
    let report = report(&planted());
    assert_eq!(
        report.compliance.violations_by_caller,
        vec![
            CallerViolations {
                caller: "alpha.default".into(),
                service: "groqcloud-policy".into(),
                kind: "missing".into(),
                count: 2
            },
            CallerViolations {
                caller: "mallory.attack".into(),
                service: "groqcloud-policy".into(),
                kind: "mismatch".into(),
                count: 1
            },
        ]
    );
    assert_eq!(
        report.compliance.timeline,
        vec![CompliancePoint { start_unix_secs: T0 / 1_000_000, compliant: 19, violations: 3 }]
    );
}

#[test]
fn finds_exactly_the_planted_violations() {
    let report = report(&planted());
    let g = || "groqcloud-policy".to_owned();
    assert_eq!(
        findings_of(&report, Analysis::Compliance),
        vec![
            ("ConstitutionalHashViolation".to_owned(), g(), None),
            ("MissingConstitutionalHash".to_owned(), g(), None),
            ("ConstitutionalComplianceRate".to_owned(), g(), None),
        ]
    );
    let violation = &report.findings[0];
    assert_eq!(violation.evidence_trace_ids, vec![format!("{:032x}", 22)]);
    assert!(violation.message.starts_with("1 requests carried"), "{}", violation.message);
    assert!(violation.message.contains("mallory.attack"), "{}", violation.message);
}

#[test]
fn all_compliant_finds_nothing() {
    let traces: Vec<_> = (1..=20).map(|i| vec![span(i, 1, "constitutional-core", "GET /")]).collect();
    let report = report(&traces);
    assert_eq!(findings_of(&report, Analysis::Compliance), vec![]);
    assert_eq!(report.compliance.overall_rate, Some(1.0));
}

/// A checked gateway hop calling `legacy`, whose server span carries no hash; a client span of
/// the gateway; an application's server span behind its own sidecar's inbound span; a request
/// that entered `legacy` unchecked.
fn unchecked_hops() -> Vec<Vec<crate::analysis::model::Span>> {
    vec![
        // gateway (checked) → legacy (server span, no hash): a missing hash blamed on the gateway.
        vec![span(1, 1, "gateway", "GET /").server(), span(1, 2, "legacy", "GET /v1/x").parent(1).hash(None).server()],
        // a client span without a hash: not a request the filter could check.
        vec![span(2, 1, "gateway", "GET /").server(), span(2, 2, "gateway", "GET legacy").parent(1).hash(None)],
        // core's sidecar (Envoy's inbound span) → core's application server span: the same request.
        vec![
            span(3, 1, "core", "GET /v1/y").server().attr("upstream_cluster", "inbound|8080||"),
            span(3, 2, "core-app", "GET /v1/y").parent(1).hash(None).server(),
        ],
        // a root server span without a hash: a request that entered unchecked.
        vec![span(4, 1, "legacy", "GET /v1/z").hash(None).server().peer("10.0.0.7:4000")],
    ]
}

#[test]
fn an_unchecked_server_span_counts_as_missing_and_blames_its_caller() {
    let report = report(&unchecked_hops());
    let legacy = report.compliance.services.iter().find(|s| s.service == "legacy").expect("legacy");
    assert_eq!((legacy.missing, legacy.untracked, legacy.compliance_rate), (2, 0, Some(0.0)));
    let gateway = report.compliance.services.iter().find(|s| s.service == "gateway").expect("gateway");
    assert_eq!((gateway.valid, gateway.untracked), (2, 1), "the client span is untracked");
    let app = report.compliance.services.iter().find(|s| s.service == "core-app").expect("core-app");
    assert_eq!((app.missing, app.untracked), (0, 1), "behind its sidecar");
    assert_eq!(report.compliance.untracked, 2);
    let blamed: Vec<(&str, &str, &str, u64)> = report
        .compliance
        .violations_by_caller
        .iter()
        .map(|v| (v.caller.as_str(), v.service.as_str(), v.kind.as_str(), v.count))
        .collect();
    assert_eq!(blamed, vec![("10.0.0.7", "legacy", "missing", 1), ("gateway", "legacy", "missing", 1)]);
    assert!(findings_of(&report, Analysis::Compliance)
        .iter()
        .any(|(rule, service, _)| rule == "MissingConstitutionalHash" && service == "legacy"));
}

#[test]
fn a_service_declared_out_of_scope_is_untracked_not_violating() {
    let options = crate::analysis::AnalysisOptions {
        untracked_services: vec!["legacy".to_owned()],
        ..crate::analysis::AnalysisOptions::default()
    };
    let report = crate::analysis::testkit::report_with(&unchecked_hops(), options);
    let legacy = report.compliance.services.iter().find(|s| s.service == "legacy").expect("legacy");
    assert_eq!((legacy.missing, legacy.untracked, legacy.compliance_rate), (0, 2, None));
    assert!(report.compliance.violations_by_caller.is_empty());
    assert_eq!(report.compliance.untracked, 4);
}
