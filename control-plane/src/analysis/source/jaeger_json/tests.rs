use acgs_proto::telemetry::HashStatus;

use crate::analysis::{AnalysisOptions, Analyzer};

use super::feed;

const EXPORT: &str = r#"{"data":[{"traceID":"00000000000000000000000000000abc","spans":[
 {"traceID":"abc","spanID":"0000000000000001","operationName":"POST /v1/validate","references":[],
  "startTime":1700000000000000,"duration":1500,"processID":"p1","logs":[{"timestamp":1,"fields":[]}],
  "tags":[{"key":"constitutional.hash.status","type":"string","value":"valid"},
          {"key":"http.response.status_code","type":"int64","value":200},
          {"key":"client.address","type":"string","value":"spiffe://cluster.local/ns/default/sa/gateway"}]},
 {"traceID":"abc","spanID":"2","operationName":"GET /v1/policies/{id}",
  "references":[{"refType":"CHILD_OF","traceID":"abc","spanID":"1"}],
  "startTime":1700000000000100,"duration":900,"processID":"p2",
  "tags":[{"key":"constitutional.hash.status","type":"string","value":"mismatch"},
          {"key":"error","type":"bool","value":true},{"key":"weight","type":"float64","value":0.5}]}],
 "processes":{"p1":{"serviceName":"constitutional-core","tags":[]},"p2":{"serviceName":"groqcloud-policy","tags":[]}},
 "warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}"#;

fn analyse(text: &str) -> crate::analysis::report::Report {
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    feed(text.as_bytes(), "export.json", &mut analyzer, None);
    analyzer.finish("export.json")
}

#[test]
fn reads_a_jaeger_ui_export() {
    let report = analyse(EXPORT);
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 2));
    assert_eq!(report.data_quality.input_errors, Vec::<String>::new());
    let services: Vec<(&str, u64, u64)> =
        report.compliance.services.iter().map(|s| (s.service.as_str(), s.valid, s.mismatch)).collect();
    assert_eq!(services, vec![("constitutional-core", 1, 0), ("groqcloud-policy", 0, 1)]);
    let edges: Vec<(&str, &str, u64)> =
        report.dependencies.edges.iter().map(|e| (e.from.as_str(), e.to.as_str(), e.errors)).collect();
    assert_eq!(
        edges,
        vec![("constitutional-core", "groqcloud-policy", 1), ("gateway.default", "constitutional-core", 0)]
    );
    assert_eq!(report.findings[0].evidence_trace_ids, vec!["00000000000000000000000000000abc".to_owned()]);
    assert_eq!(report.performance.services[0].p99_ms, 1.5);
    let _ = HashStatus::Valid;
}

#[test]
fn a_bare_array_of_traces_is_accepted() {
    let start = EXPORT.find('[').unwrap_or(0);
    let end = EXPORT.rfind("],\"total\"").unwrap_or(EXPORT.len());
    let report = analyse(&EXPORT[start..=end]);
    assert_eq!(report.summary.spans_analyzed, 2);
}

#[test]
fn a_truncated_export_keeps_the_traces_before_the_cut() {
    let two = EXPORT.replacen(
        "{\"data\":[",
        &format!("{{\"data\":[{},", &EXPORT[9..EXPORT.find(",\"total\"").unwrap_or(9) - 1].replace("abc", "def")),
        1,
    );
    let cut = &two[..two.len() - 120];
    let report = analyse(cut);
    assert_eq!(report.summary.traces_analyzed, 1);
    assert_eq!(report.data_quality.input_errors.len(), 1);
    let error = &report.data_quality.input_errors[0];
    assert!(error.starts_with("export.json: not a valid Jaeger JSON export (EOF while parsing"), "{error}");
    assert!(error.ends_with("read 1 traces before it"), "{error}");
}

#[test]
fn garbage_and_wrong_shapes_are_reported_not_fatal() {
    for (text, expected) in [
        ("", "EOF while parsing a value"),
        ("not json", "expected ident"),
        (r#"{"traces": []}"#, "missing field `data`"),
        (r#"{"data": 7}"#, "invalid type: integer `7`"),
    ] {
        let report = analyse(text);
        assert_eq!(report.summary.spans_analyzed, 0);
        assert!(
            report.data_quality.input_errors[0].contains(expected),
            "{text}: {:?}",
            report.data_quality.input_errors
        );
    }
    let empty = analyse(r#"{"data": []}"#);
    assert_eq!((empty.summary.traces_analyzed, empty.data_quality.input_errors.len()), (0, 0));
}

#[test]
fn spans_without_ids_or_process_are_skipped_by_name() {
    let broken =
        EXPORT.replace("\"spanID\":\"2\"", "\"spanID\":\"zz\"").replace("\"processID\":\"p1\"", "\"processID\":\"p9\"");
    let report = analyse(&broken);
    assert_eq!(report.summary.spans_analyzed, 0);
    assert_eq!(
        report.data_quality.input_errors,
        vec![
            "trace 00000000000000000000000000000abc, span 0000000000000001: processID \"p9\" is not among the trace's processes".to_owned(),
            "trace #1, span #1: missing or invalid traceID/spanID".to_owned(),
        ]
    );
}

#[test]
fn a_huge_trace_is_analysed_span_by_span() {
    let spans: Vec<String> = (1..=100_000u64)
        .map(|id| {
            let parent = if id == 1 { String::new() } else { format!(r#"{{"refType":"CHILD_OF","spanID":"{:x}"}}"#, id - 1) };
            format!(r#"{{"spanID":"{id:x}","operationName":"op","references":[{parent}],"startTime":{},"duration":10,"processID":"p{}"}}"#, 1_700_000_000_000_000u64 + id, id % 2)
        })
        .collect();
    let text = format!(
        r#"{{"data":[{{"traceID":"ff","spans":[{}],"processes":{{"p0":{{"serviceName":"a"}},"p1":{{"serviceName":"b"}}}}}}]}}"#,
        spans.join(",")
    );
    let report = analyse(&text);
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 100_000));
    let edges: Vec<(&str, u64)> = report.dependencies.edges.iter().map(|e| (e.from.as_str(), e.calls)).collect();
    assert_eq!(edges, vec![("a", 49_999), ("b", 50_000)]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

    /// Truncated or corrupted exports never panic, and never yield more than the export holds.
    #[test]
    fn corrupted_exports_never_panic(cut in 0usize..EXPORT.len(), at in 0usize..EXPORT.len(), byte in proptest::prelude::any::<u8>()) {
        let mut bytes = EXPORT.as_bytes()[..cut.max(1)].to_vec();
        if let Some(slot) = bytes.get_mut(at) {
            *slot = byte;
        }
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        feed(&bytes[..], "fuzz", &mut analyzer, None);
        let report = analyzer.finish("fuzz");
        proptest::prop_assert!(report.summary.spans_analyzed <= 2);
    }
}
