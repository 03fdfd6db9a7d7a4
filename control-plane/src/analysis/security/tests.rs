use acgs_proto::telemetry::HashStatus;

use crate::analysis::report::{Analysis, AuthFailures, SensitiveAttribute};
use crate::analysis::testkit::{findings_of, report, span, SpanExt};

const SECRET: &str = "s3cr3t-value-never-printed";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

#[test]
fn finds_exactly_the_planted_security_problems() {
    let mut traces = Vec::new();
    // 6 × 401 and 1 × 403 for 10.1.2.3 from auth-service: a finding (threshold 5).
    for i in 0..7u128 {
        traces.push(vec![span(i + 1, 1, "auth-service", "POST /v1/token").peer("10.1.2.3:51000").status(if i < 6 {
            401
        } else {
            403
        })]);
    }
    // 2 × 403 for another caller: below the threshold.
    for i in 0..2u128 {
        traces.push(vec![span(i + 100, 1, "auth-service", "POST /v1/token").peer("10.9.9.9:1").status(403)]);
    }
    // Forged hashes from one caller to two services.
    traces.push(vec![span(200, 1, "constitutional-core", "POST /v1/validate")
        .peer("spiffe://cluster.local/ns/x/sa/mallory")
        .hash(Some(HashStatus::Mismatch))
        .status(403)]);
    traces.push(vec![span(201, 1, "groqcloud-policy", "GET /v1/policies/{id}")
        .peer("spiffe://cluster.local/ns/x/sa/mallory")
        .hash(Some(HashStatus::Mismatch))
        .status(403)]);
    // Secrets in attributes: by key, by bearer value, JWT, URL query. And harmless look-alikes.
    traces.push(vec![span(300, 1, "groqcloud-policy", "GET /v1/policies/{id}")
        .attr("http.request.header.authorization", SECRET)
        .attr("x-forwarded-for", "Bearer abcdef")
        .attr("session", JWT)
        .attr("url.full", &format!("https://api.groq.com/v1/chat?api_key={SECRET}&model=llama"))
        .attr("constitutional.hash", "cdd01ef066bc6cf2")
        .attr("http.route", "/v1/tokens/{id}")
        .attr("url.path", "/v1/policies/7")]);
    let report = report(&traces);
    let owned = |r: &str, s: &str| (r.to_owned(), s.to_owned(), None);
    assert_eq!(
        findings_of(&report, Analysis::Security),
        vec![
            owned("ForgedConstitutionalHash", "constitutional-core, groqcloud-policy"),
            owned("SensitiveAttribute", "groqcloud-policy"),
            owned("SensitiveAttribute", "groqcloud-policy"),
            owned("SensitiveAttribute", "groqcloud-policy"),
            owned("SensitiveAttribute", "groqcloud-policy"),
            owned("RepeatedAuthFailures", "auth-service"),
        ]
    );
    let attributes: Vec<(&str, &str)> = report
        .security
        .sensitive_attributes
        .iter()
        .map(|SensitiveAttribute { key, reason, .. }| (key.as_str(), reason.as_str()))
        .collect();
    assert_eq!(
        attributes,
        vec![
            ("http.request.header.authorization", "key name"),
            ("session", "JWT"),
            ("url.full", "secret in URL query"),
            ("x-forwarded-for", "credential value"),
        ]
    );
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert!(!json.contains(SECRET) && !json.contains(JWT) && !json.contains("abcdef"), "a secret value leaked");
    assert!(json.contains("http.request.header.authorization"));
    assert_eq!(
        report.security.auth_failures,
        vec![
            AuthFailures {
                caller: "10.1.2.3".into(),
                service: "auth-service".into(),
                unauthorized_401: 6,
                forbidden_403: 1
            },
            AuthFailures {
                caller: "10.9.9.9".into(),
                service: "auth-service".into(),
                unauthorized_401: 0,
                forbidden_403: 2
            },
            AuthFailures {
                caller: "mallory.x".into(),
                service: "constitutional-core".into(),
                unauthorized_401: 0,
                forbidden_403: 1
            },
            AuthFailures {
                caller: "mallory.x".into(),
                service: "groqcloud-policy".into(),
                unauthorized_401: 0,
                forbidden_403: 1
            },
        ]
    );
    assert_eq!(report.security.forged_hashes.iter().map(|f| f.count).sum::<u64>(), 2);
}

#[test]
fn clean_spans_find_nothing() {
    let traces: Vec<_> = (1..=10)
        .map(|i| vec![span(i, 1, "auth-service", "POST /v1/token").attr("user_agent.original", "curl/8")])
        .collect();
    assert_eq!(findings_of(&report(&traces), Analysis::Security), vec![]);
}
