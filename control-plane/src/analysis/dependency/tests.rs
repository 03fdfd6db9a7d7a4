use crate::analysis::report::DependencyEdge;
use crate::analysis::testkit::{report, span, SpanExt, T0};

#[test]
fn the_graph_from_parents_peers_and_external_calls() {
    let mut traces = Vec::new();
    for i in 0..10u128 {
        // core (root, called by the gateway's identity) → groqcloud-policy → api.groq.com
        let failing = i < 2;
        traces.push(vec![
            span(i + 1, 1, "constitutional-core", "POST /v1/validate")
                .peer("spiffe://cluster.local/ns/default/sa/gateway")
                .took(3_000),
            span(i + 1, 2, "constitutional-core", "GET groqcloud")
                .parent(1)
                .calls_external("groqcloud-policy")
                .took(2_500),
            span(i + 1, 3, "groqcloud-policy", "GET /v1/policies/{id}")
                .parent(2)
                .at(T0 + 100)
                .took(2_000)
                .status(if failing { 502 } else { 200 }),
            span(i + 1, 4, "groqcloud-policy", "POST api.groq.com")
                .parent(3)
                .calls_external("api.groq.com")
                .took(1_500),
        ]);
    }
    let report = report(&traces);
    let edge = |from: &str, to: &str, external: bool, calls: u64, errors: u64, p99_ms: f64| DependencyEdge {
        from: from.into(),
        to: to.into(),
        external,
        calls,
        errors,
        error_rate: errors as f64 / calls as f64,
        p99_ms,
    };
    assert_eq!(
        report.dependencies.edges,
        vec![
            edge("constitutional-core", "groqcloud-policy", false, 10, 2, 2.0),
            edge("gateway.default", "constitutional-core", false, 10, 0, 3.0),
            edge("groqcloud-policy", "api.groq.com", true, 10, 0, 1.5),
        ]
    );
    assert_eq!(report.data_quality.orphan_spans, 0);
}

#[test]
fn orphans_self_parents_duplicates_and_skew_are_counted_not_fatal() {
    let traces = vec![
        vec![
            span(1, 1, "a", "op").at(T0 + 500),
            span(1, 2, "b", "op").parent(1).at(T0), // starts before its parent
            span(1, 2, "b", "op").parent(1),        // duplicate span id
            span(1, 3, "b", "op").parent(99),       // parent not in the trace
            span(1, 4, "b", "op").parent(4),        // its own parent
            span(1, 5, "c", "op").parent(6),        // a cycle: 5 → 6 → 5
            span(1, 6, "d", "op").parent(5),
        ],
        vec![],
    ];
    let report = report(&traces);
    let q = &report.data_quality;
    assert_eq!((q.orphan_spans, q.duplicate_spans, q.clock_skew_spans, q.self_parent_spans), (1, 1, 1, 1));
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 6));
    let edges: Vec<(&str, &str)> = report.dependencies.edges.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
    assert_eq!(edges, vec![("a", "b"), ("c", "d"), ("d", "c")]);
}
