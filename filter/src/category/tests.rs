use super::*;
use crate::hash::HashStatus;

fn facts<'a>(service: &'a str, path: &'a str, operation: &'a str) -> RequestFacts<'a> {
    RequestFacts { exempt: false, service, path: path.as_bytes(), operation }
}

#[test]
fn requests_fall_in_the_first_matching_category() {
    let selector = ConstitutionalSelector::default();
    let cases = [
        (
            facts("groqcloud-policy", "/v1/constitutional/validate", "POST /v1/constitutional/validate"),
            Category::Constitutional,
        ),
        (facts("groqcloud-policy", "/v1/consensus/vote", "-"), Category::Consensus),
        (facts("groqcloud-policy", "/v1/db/rows", "-"), Category::Database),
        (facts("groqcloud-policy", "/v1/query", "-"), Category::Database),
        (facts("groqcloud-policy", "/v1/llm/complete", "-"), Category::ExternalApi),
        (facts("auth-service", "/v1/auth/token", "-"), Category::Auth),
        (facts("groqcloud-policy", "/v1/policies/7", "-"), Category::Other),
        (facts("groqcloud-policy", "/v1/dbx", "-"), Category::Other),
    ];
    for (request, expected) in cases {
        assert_eq!(categorize(&request, &selector), expected, "{:?}", String::from_utf8_lossy(request.path));
    }
    let exempt = RequestFacts { exempt: true, ..facts("x", "/v1/constitutional", "-") };
    assert_eq!(categorize(&exempt, &selector), Category::Health, "exempt wins");
}

#[test]
fn the_selector_matches_services_prefixes_and_operations() {
    let selector = ConstitutionalSelector {
        services: vec!["constitutional-core".to_owned()],
        path_prefixes: vec!["/v1/amend".to_owned()],
        operations: vec!["POST /v1/policies/{id}/ratify".to_owned()],
    };
    assert_eq!(categorize(&facts("constitutional-core", "/anything", "-"), &selector), Category::Constitutional);
    assert_eq!(categorize(&facts("other", "/v1/amend/3", "-"), &selector), Category::Constitutional);
    assert_eq!(
        categorize(&facts("other", "/v1/amendments", "-"), &selector),
        Category::Other,
        "prefixes match whole segments"
    );
    assert_eq!(categorize(&facts("other", "/x", "POST /v1/policies/{id}/ratify"), &selector), Category::Constitutional);
    assert_eq!(
        categorize(&facts("other", "/v1/constitutional", "-"), &selector),
        Category::Other,
        "the default prefix is replaced"
    );
}

#[test]
fn compliance_follows_the_hash_status() {
    let levels: Vec<&str> = HashStatus::ALL.iter().map(|s| Compliance::of(*s).as_str()).collect();
    assert_eq!(levels, ["compliant", "non_compliant", "non_compliant", "exempt", "compliant"]);
    let names: Vec<&str> = [
        Category::Constitutional,
        Category::Consensus,
        Category::Database,
        Category::ExternalApi,
        Category::Auth,
        Category::Health,
        Category::Other,
    ]
    .iter()
    .map(|c| c.as_str())
    .collect();
    assert_eq!(names, ["constitutional", "consensus", "database", "external_api", "auth", "health", "other"]);
}
