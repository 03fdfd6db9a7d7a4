//! The HTML report as a browser draws it: the page is loaded in headless Chromium (Debian's
//! `chromium`, installed by the README's test command), a checking script measures the rendered
//! DOM, and the test asserts on what it measured: every section of the terminal report is there,
//! no text box of the dependency graph overlaps another or a service's box, trace ids link to the
//! Jaeger UI, tables sort by a click, and names from the data stay text.

use std::path::{Path, PathBuf};
use std::process::Command;

use acgs_control_plane::analysis::render::html::{render, PageLinks};
use acgs_control_plane::analysis::report::{
    Analysis, Anomaly, AnomalySection, AuthFailures, CallerViolations, CompliancePoint, ComplianceSection, DataQuality,
    DependencyEdge, DependencySection, Finding, LatencyDistribution, LatencyRow, PerformanceSection, Report,
    SecuritySection, SensitiveAttribute, ServiceCompliance, Severity, Summary,
};
use serde_json::Value;

const INSTALL: &str = "apt-get install --no-install-recommends chromium fonts-dejavu-core";
const JAEGER_UI: &str = "https://jaeger.example.com/";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A service name that is markup: it must be shown, not run.
const HOSTILE: &str = "<script>document.title='owned'</script>&\"svc\"";

/// The sections of the terminal report, by the ids the page gives them.
const SECTIONS: [&str; 10] = [
    "summary",
    "findings",
    "compliance",
    "violations-by-caller",
    "performance",
    "auth-failures",
    "sensitive-attributes",
    "dependencies",
    "anomalies",
    "data-quality",
];

fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!("chromium is not installed; install it with `{INSTALL}` (the README's test command does)")
    })
}

fn edge(from: &str, to: &str, calls: u64, errors: u64, external: bool) -> DependencyEdge {
    DependencyEdge {
        from: from.to_owned(),
        to: to.to_owned(),
        external,
        calls,
        errors,
        error_rate: errors as f64 / calls as f64,
        p99_ms: 1.25,
    }
}

/// A report with something in every section, and a busy graph: a gateway fanning out, long
/// names, a cycle, a call to itself, an external API and a hostile name.
fn busy_report() -> Report {
    let mut edges = vec![
        edge("istio-ingressgateway", "constitutional-core", 120_000, 12, false),
        edge("istio-ingressgateway", "auth-service", 98_000, 3_000, false),
        edge("istio-ingressgateway", "groqcloud-policy", 40_000, 0, false),
        edge("constitutional-core", "policy-engine-with-a-rather-long-service-name", 60_000, 0, false),
        edge("constitutional-core", "auth-service", 55_000, 0, false),
        edge("auth-service", "constitutional-core", 1_000, 0, false),
        edge("auth-service", "auth-service", 50, 0, false),
        edge("groqcloud-policy", "api.groq.com", 39_000, 400, true),
        edge("policy-engine-with-a-rather-long-service-name", "postgres", 70_000, 0, false),
        edge("auth-service", "postgres", 90_000, 0, false),
        edge("auth-service", HOSTILE, 10, 0, false),
    ];
    for index in 0..6 {
        edges.push(edge("istio-ingressgateway", &format!("worker-{index}"), 1_000 + index, 0, false));
    }
    let services = ["auth-service", "constitutional-core", "groqcloud-policy", HOSTILE];
    Report {
        summary: Summary {
            source: "busy.json".to_owned(),
            traces_analyzed: 1_000,
            spans_analyzed: 5_000,
            total_issues: 1,
            critical: 1,
            compliance_rate: Some(0.99),
            ..Summary::default()
        },
        findings: vec![Finding {
            analysis: Analysis::Compliance,
            rule: "ForgedConstitutionalHash".to_owned(),
            severity: Severity::Critical,
            service: HOSTILE.to_owned(),
            operation: None,
            message: "forged".to_owned(),
            evidence_trace_ids: vec![TRACE.to_owned()],
        }],
        compliance: ComplianceSection {
            overall_rate: Some(0.99),
            compliant: 990,
            missing: 6,
            mismatch: 4,
            untracked: 7,
            services: services
                .iter()
                .map(|s| ServiceCompliance {
                    service: (*s).to_owned(),
                    spans: 250,
                    valid: 247,
                    missing: 3,
                    compliance_rate: Some(0.988),
                    ..ServiceCompliance::default()
                })
                .collect(),
            violations_by_caller: vec![CallerViolations {
                caller: "istio-ingressgateway".to_owned(),
                service: "auth-service".to_owned(),
                kind: "missing".to_owned(),
                count: 6,
            }],
            timeline: (0..30)
                .map(|i| CompliancePoint { start_unix_secs: 1_700_000_000 + i, compliant: 30, violations: i % 4 })
                .collect(),
            timeline_slice_secs: 1,
            target_rate: Some(0.95),
        },
        performance: PerformanceSection {
            p99_target_ms: 5.0,
            throughput_target_rps: 100.0,
            throughput_rps: Some(250.0),
            services: vec![LatencyRow {
                service: "auth-service".to_owned(),
                operation: "*".to_owned(),
                count: 250,
                errors: 1,
                rate_rps: 12.5,
                p50_ms: 0.5,
                p95_ms: 2.0,
                p99_ms: 4.5,
                max_ms: 9.0,
            }],
            operations: Vec::new(),
            distributions: services
                .iter()
                .map(|s| LatencyDistribution {
                    service: (*s).to_owned(),
                    bucket_upper_ms: vec![0.05, 0.1, 1.0],
                    counts: vec![10, 200, 30, 10],
                })
                .collect(),
        },
        security: SecuritySection {
            auth_failures: vec![AuthFailures {
                caller: "istio-ingressgateway".to_owned(),
                service: "auth-service".to_owned(),
                unauthorized_401: 3,
                forbidden_403: 12,
            }],
            forged_hashes: Vec::new(),
            sensitive_attributes: vec![SensitiveAttribute {
                service: "auth-service".to_owned(),
                key: "http.request.header.authorization".to_owned(),
                reason: "key name".to_owned(),
                spans: 4,
            }],
        },
        dependencies: DependencySection { edges },
        anomalies: AnomalySection {
            interval_secs: 10,
            baseline_secs: 300,
            anomalies: vec![Anomaly {
                service: "auth-service".to_owned(),
                operation: "GET /v1/auth/verify".to_owned(),
                metric: "latency".to_owned(),
                interval_start_unix_secs: 1_700_000_010,
                value: 8.2,
                baseline: 0.4,
                score: 12.0,
                anomalous_intervals: 2,
            }],
        },
        data_quality: DataQuality {
            input_errors: vec!["busy.json: line 9: not a span".to_owned()],
            orphan_spans: 3,
            ..DataQuality::default()
        },
    }
}

/// Runs in the page after load and writes what it measured into `<pre id="measured">`.
const MEASURE: &str = r#"<script>
(function () {
  function box(e) { var b = e.getBBox(); return [b.x, b.y, b.width, b.height]; }
  function cross(a, b) { return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]; }
  var graph = document.getElementById('dependency-graph');
  var labels = Array.from(graph.querySelectorAll('g.edge-label'));
  var nodes = Array.from(graph.querySelectorAll('g.node'));
  var texts = labels.concat(nodes).map(function (g) { return { text: g.querySelector('text').textContent, box: box(g.querySelector('text')) }; });
  var overlaps = [];
  for (var i = 0; i < texts.length; i++)
    for (var j = i + 1; j < texts.length; j++)
      if (cross(texts[i].box, texts[j].box)) overlaps.push([texts[i].text, texts[j].text]);
  labels.forEach(function (label) {
    var text = label.querySelector('text'), own = box(label.querySelector('rect')), drawn = box(text);
    if (drawn[0] < own[0] - 0.5 || drawn[0] + drawn[2] > own[0] + own[2] + 0.5) overlaps.push([text.textContent, 'outside its own box']);
    nodes.forEach(function (node) {
      if (cross(drawn, box(node.querySelector('rect')))) overlaps.push([text.textContent, node.textContent]);
    });
  });
  var sections = Array.from(document.querySelectorAll('section')).map(function (s) {
    return { id: s.id, title: s.querySelector('h2').textContent, chars: s.textContent.length };
  });
  var table = document.querySelector('#dependencies table'), header = table.querySelectorAll('th')[2];
  function firstCalls() { return table.tBodies[0].rows[0].cells[2].textContent; }
  header.click(); var ascending = firstCalls();
  header.click(); var descending = firstCalls();
  var result = {
    sections: sections,
    graph_texts: texts.length,
    overlaps: overlaps,
    trace_links: Array.from(document.querySelectorAll('#findings a')).map(function (a) { return a.getAttribute('href'); }),
    sorted: [ascending, descending],
    scripts: document.querySelectorAll('script').length,
    title: document.title,
    hostile_shown: document.getElementById('findings').textContent.indexOf("<script>document.title='owned'<\/script>") >= 0,
    chart_axes: Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
      return Array.from(svg.querySelectorAll('text')).map(function (t) { return t.textContent; }).filter(function (t) { return /[a-z]{4}/.test(t); });
    })
  };
  var out = document.createElement('pre'); out.id = 'measured'; out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
</script>"#;

/// The DOM of `page` after Chromium loaded it and ran its scripts.
fn rendered_dom(page: &str, dir: &Path) -> String {
    let path = dir.join("report.html");
    std::fs::write(&path, page).expect("write the page");
    let output = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", path.display()))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Loads `page` in headless Chromium and returns what [`MEASURE`] measured.
fn measure(page: &str, dir: &Path) -> Value {
    let dom = rendered_dom(&page.replace("</body>", &format!("{MEASURE}</body>")), dir);
    let start = dom.find("<pre id=\"measured\">").unwrap_or_else(|| panic!("no measurement in the DOM: {dom}"))
        + "<pre id=\"measured\">".len();
    let end = start + dom[start..].find("</pre>").expect("the measurement's end");
    let json = dom[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("measurement {json}: {e}"))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn the_rendered_report_has_every_section_and_a_graph_whose_texts_never_overlap() {
    let dir = scratch_dir("html-report");
    let page = render(&busy_report(), &PageLinks { jaeger_ui: Some(JAEGER_UI.to_owned()) });
    let measured = measure(&page, &dir);

    let ids: Vec<&str> =
        measured["sections"].as_array().expect("sections").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, SECTIONS);
    for section in measured["sections"].as_array().expect("sections") {
        assert!(
            section["chars"].as_u64().unwrap_or(0) > section["title"].as_str().unwrap_or("").len() as u64,
            "{section}"
        );
    }
    // 14 services (the hostile one included) and 17 edge labels, all measured, none overlapping.
    assert_eq!(measured["graph_texts"], 14 + 17, "{measured}");
    assert_eq!(measured["overlaps"], serde_json::json!([]), "{measured}");
    assert_eq!(measured["trace_links"], serde_json::json!([format!("https://jaeger.example.com/trace/{TRACE}")]));
    // The dependency table by calls: ascending, then descending.
    assert_eq!(measured["sorted"], serde_json::json!(["10", "120000"]));
    // The page's own script and the checker: the hostile name ran nothing and shows as text.
    assert_eq!(measured["scripts"], 2);
    assert_eq!(measured["title"], "ACGS trace analysis");
    assert_eq!(measured["hostile_shown"], true);
    // Every chart names its axes: the compliance chart, then one histogram per service.
    let axes = measured["chart_axes"].as_array().expect("charts");
    assert_eq!(axes.len(), 1 + 4);
    assert!(
        axes[0].as_array().is_some_and(|t| ["compliance rate (%)", "violations", "time (UTC), 1 s per bar"]
            .iter()
            .all(|title| t.iter().any(|x| x == title))),
        "{}",
        axes[0]
    );
    for histogram in &axes[1..] {
        assert!(
            histogram.as_array().is_some_and(|t| ["spans", "latency (ms), bucket upper bound"]
                .iter()
                .all(|title| t.iter().any(|x| x == title))),
            "{histogram}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_report_still_renders_every_section_saying_there_is_nothing() {
    let dir = scratch_dir("html-empty");
    let dom = rendered_dom(&render(&Report::default(), &PageLinks::default()), &dir);
    for id in SECTIONS {
        assert!(dom.contains(&format!("<section id=\"{id}\">")), "section {id} missing from the rendered DOM");
    }
    // Findings, compliance per service, violations, latency, 401/403, attributes, dependencies,
    // anomalies: "None."; the data quality table always has its four rows.
    assert_eq!(dom.matches("<p class=\"empty\">None.</p>").count(), 8, "{dom}");
    assert!(dom.contains("No server spans with a hash status to chart.") && dom.contains("No spans to chart."));
    assert!(!dom.contains("dependency-graph"));
    let _ = std::fs::remove_dir_all(&dir);
}
