use super::*;
use crate::analysis::report::{Analysis, Finding};

fn with_finding(trace_ids: &[&str]) -> Report {
    Report {
        findings: vec![Finding {
            analysis: Analysis::Compliance,
            rule: "MissingConstitutionalHash".to_owned(),
            severity: Severity::Warning,
            service: "auth-service".to_owned(),
            operation: None,
            message: "5 requests carried no constitutional hash".to_owned(),
            evidence_trace_ids: trace_ids.iter().map(|t| (*t).to_owned()).collect(),
        }],
        ..Report::default()
    }
}

#[test]
fn escape_covers_every_character_that_can_end_text_or_an_attribute() {
    assert_eq!(
        escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
    );
}

#[test]
fn trace_ids_link_to_the_jaeger_ui_when_one_is_given() {
    let report = with_finding(&["abc123"]);
    let linked = render(&report, &PageLinks { jaeger_ui: Some("https://jaeger.example.com/".to_owned()) });
    assert!(linked.contains("<a href=\"https://jaeger.example.com/trace/abc123\"><code>abc123</code></a>"), "{linked}");
    let plain = render(&report, &PageLinks::default());
    assert!(plain.contains("<td><code>abc123</code></td>") && !plain.contains("<a href"), "{plain}");
}

#[test]
fn numbers_sort_by_value_and_unknown_rates_sort_first() {
    let mut page = String::new();
    table(&mut page, &["rate", "count"], vec![vec![rate(None), count(12_345)], vec![rate(Some(0.5)), millis(1.5)]]);
    assert_eq!(
        page,
        "<table class=\"sortable\"><thead><tr><th>rate</th><th>count</th></tr></thead><tbody>\
<tr><td class=\"n\" data-sort=\"-1\">-</td><td class=\"n\" data-sort=\"12345\">12345</td></tr>\
<tr><td class=\"n\" data-sort=\"0.5\">50.00 %</td><td class=\"n\" data-sort=\"1.5\">1.500</td></tr></tbody></table>"
    );
}

#[test]
fn the_compliance_section_states_the_untracked_spans_beside_the_rate() {
    let mut report = Report::default();
    report.compliance.compliant = 99;
    report.compliance.missing = 1;
    report.compliance.overall_rate = Some(0.99);
    report.compliance.untracked = 17;
    let page = render(&report, &PageLinks::default());
    assert!(page.contains("99 compliant, 1 missing, 0 mismatch → <b>99.00 %</b>. <b>17 spans untracked</b>"), "{page}");
    assert!(page.contains("<div class=\"card\">untracked spans<b>17</b></div>"), "{page}");
}
