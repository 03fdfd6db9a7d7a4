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
