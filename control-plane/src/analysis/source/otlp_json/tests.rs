use crate::analysis::{AnalysisOptions, Analyzer};

use super::{feed, looks_like_otlp};

const DOCUMENT: &str = r#"{"resourceSpans":[
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"constitutional-core"}}]},
  "scopeSpans":[{"scope":{"name":"acgs"},"spans":[
   {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"POST /v1/validate",
    "kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000002000000",
    "attributes":[{"key":"constitutional.hash.status","value":{"stringValue":"missing"}},
                  {"key":"http.response.status_code","value":{"intValue":"403"}}],
    "status":{}}]}]},
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"groqcloud-policy"}}]},
  "scopeSpans":[{"scope":{},"spans":[
   {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174",
    "name":"chat","kind":3,"startTimeUnixNano":"1700000000000500000","endTimeUnixNano":"1700000000001500000",
    "attributes":[{"key":"server.address","value":{"stringValue":"api.groq.com"}}],"status":{"code":2}}]}]}]}"#;

fn analyse(text: &str) -> crate::analysis::report::Report {
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    feed(text.as_bytes(), "traces.json", &mut analyzer);
    analyzer.finish("traces.json")
}

#[test]
fn reads_otlp_json_with_the_official_types() {
    assert!(looks_like_otlp(DOCUMENT.as_bytes()));
    let report = analyse(DOCUMENT);
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 2));
    assert_eq!(report.compliance.missing, 1);
    assert_eq!(report.security.auth_failures[0].forbidden_403, 1);
    let edges: Vec<(&str, &str, bool, u64)> =
        report.dependencies.edges.iter().map(|e| (e.from.as_str(), e.to.as_str(), e.external, e.errors)).collect();
    assert_eq!(
        edges,
        vec![("constitutional-core", "groqcloud-policy", false, 1), ("groqcloud-policy", "api.groq.com", true, 1)]
    );
    assert_eq!(
        report.findings.iter().find(|f| f.rule == "MissingConstitutionalHash").map(|f| f.evidence_trace_ids.clone()),
        Some(vec!["5b8efff798038103d269b633813fc60c".to_owned()])
    );
}

#[test]
fn json_lines_skip_the_bad_lines() {
    let line = DOCUMENT.replace('\n', "");
    let text = format!("{line}\n{{\"resourceSpans\": 3}}\n{}\n", line.replace("5b8efff7", "6b8efff7"));
    let report = analyse(&text);
    assert_eq!(report.summary.traces_analyzed, 2);
    assert_eq!(report.data_quality.input_errors.len(), 1);
    assert!(report.data_quality.input_errors[0].starts_with("traces.json, line 2: not a valid OTLP/JSON TracesData"));
}

#[test]
fn invalid_ids_and_documents_are_reported() {
    let report = analyse(&DOCUMENT.replace("eee19b7ec3c1b174\",\"parentSpanId\":\"\"", "xyz\",\"parentSpanId\":\"\""));
    assert!(
        report.data_quality.input_errors.iter().any(|e| e.contains("traces.json")),
        "{:?}",
        report.data_quality.input_errors
    );
    let garbage = analyse("{\"resourceSpans\": [");
    assert_eq!(garbage.summary.spans_analyzed, 0);
    assert!(garbage.data_quality.input_errors[0].starts_with("traces.json: not a valid OTLP/JSON TracesData document"));
}
