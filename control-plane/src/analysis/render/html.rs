//! The report as one self-contained HTML page (no scripts, no external assets; inline CSS and
//! SVG): summary cards, findings, and three charts — latency distribution per service,
//! compliance over time, and the dependency graph — followed by the tables. Every text taken
//! from the data is HTML-escaped.

use std::f64::consts::PI;
use std::fmt::Write as _;

use super::{percent, utc};
use crate::analysis::report::{Report, Severity};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933;background:#f7f9fb}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}\
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border-radius:8px;padding:1rem 1.4rem;\
box-shadow:0 1px 3px #0002;min-width:9rem}.card b{display:block;font-size:1.6rem}\
table{border-collapse:collapse;background:#fff;margin:.5rem 0;font-size:.9rem}\
td,th{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left}th{background:#eef2f7}\
.critical{color:#b42318;font-weight:600}.warning{color:#b54708;font-weight:600}.info{color:#175cd3}\
svg{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;margin:.5rem 0}\
.muted{color:#7b8794}";

/// The page.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ACGS trace analysis</title>\
<style>{STYLE}</style></head><body><h1>ACGS trace analysis</h1><p class=\"muted\">{}{}</p><div class=\"cards\">",
        escape(&s.source),
        match (s.first_span_micros, s.last_span_micros) {
            (Some(a), Some(b)) => format!(" · {} → {}", utc(a / 1_000_000), utc(b / 1_000_000)),
            _ => String::new(),
        }
    );
    for (label, value) in [
        ("traces", s.traces_analyzed.to_string()),
        ("spans", s.spans_analyzed.to_string()),
        ("compliance", percent(s.compliance_rate)),
        ("untracked spans", report.compliance.untracked.to_string()),
        ("issues", s.total_issues.to_string()),
        ("critical", s.critical.to_string()),
    ] {
        let _ = write!(page, "<div class=\"card\">{label}<b>{}</b></div>", escape(&value));
    }
    page.push_str("</div><h2>Findings</h2>");
    if report.findings.is_empty() {
        page.push_str("<p>No issues found.</p>");
    } else {
        page.push_str("<table><tr><th>severity</th><th>rule</th><th>service</th><th>operation</th><th>what</th><th>evidence traces</th></tr>");
        for f in &report.findings {
            let class = match f.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            let _ = write!(
                page,
                "<tr><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                f.severity.as_str(),
                escape(&f.rule),
                escape(&f.service),
                escape(f.operation.as_deref().unwrap_or("")),
                escape(&f.message),
                escape(&f.evidence_trace_ids.join(" "))
            );
        }
        page.push_str("</table>");
    }
    page.push_str("<h2>Latency distribution per service</h2>");
    latency_chart(&mut page, report);
    page.push_str("<h2>Compliance over time</h2>");
    compliance_chart(&mut page, report);
    page.push_str("<h2>Service dependencies</h2>");
    dependency_graph(&mut page, report);
    tables(&mut page, report);
    page.push_str("</body></html>\n");
    page
}

const PALETTE: [&str; 8] = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/// One row of bars per service: the share of its spans in each latency bucket.
fn latency_chart(page: &mut String, report: &Report) {
    let distributions = &report.performance.distributions;
    if distributions.is_empty() {
        page.push_str("<p>No spans.</p>");
        return;
    }
    let buckets = distributions[0].counts.len().max(1);
    let (left, bar_w, row_h) = (170.0, 34.0, 70.0);
    let width = left + bar_w * buckets as f64 + 20.0;
    let height = row_h * distributions.len() as f64 + 50.0;
    let _ =
        write!(page, "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"latency distribution\">");
    for (row, distribution) in distributions.iter().enumerate() {
        let total: u64 = distribution.counts.iter().sum();
        let top = 10.0 + row_h * row as f64;
        let _ = write!(
            page,
            "<text x=\"8\" y=\"{}\" font-size=\"12\">{}</text><text x=\"8\" y=\"{}\" font-size=\"10\" fill=\"#7b8794\">{total} spans</text>",
            top + 28.0,
            escape(&distribution.service),
            top + 42.0
        );
        for (index, count) in distribution.counts.iter().enumerate() {
            let share = if total == 0 { 0.0 } else { *count as f64 / total as f64 };
            let h = (row_h - 18.0) * share;
            let x = left + bar_w * index as f64;
            let color = PALETTE[row % PALETTE.len()];
            let _ = write!(
                page,
                "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{h:.1}\" fill=\"{color}\"><title>{count} spans</title></rect>",
                top + row_h - 18.0 - h,
                bar_w - 4.0
            );
        }
    }
    let axis_y = height - 22.0;
    for (index, upper) in distributions[0].bucket_upper_ms.iter().enumerate().step_by(2) {
        let _ = write!(
            page,
            "<text x=\"{}\" y=\"{axis_y}\" font-size=\"9\" fill=\"#52606d\">≤{upper}</text>",
            left + bar_w * index as f64
        );
    }
    let _ = write!(
        page,
        "<text x=\"{left}\" y=\"{}\" font-size=\"10\" fill=\"#52606d\">latency bucket upper bound (ms); last bucket unbounded</text></svg>",
        height - 6.0
    );
}

/// Compliance rate per time slice as a line, violations as bars.
fn compliance_chart(page: &mut String, report: &Report) {
    let points = &report.compliance.timeline;
    if points.is_empty() {
        page.push_str("<p>No spans with a hash status.</p>");
        return;
    }
    let (width, height, left, bottom) = (760.0, 240.0, 50.0, 40.0);
    let plot_w = width - left - 20.0;
    let plot_h = height - bottom - 20.0;
    let step = plot_w / points.len().max(1) as f64;
    let most = points.iter().map(|p| p.violations).max().unwrap_or(0).max(1);
    let _ =
        write!(page, "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"compliance over time\">");
    for pct in [0, 50, 95, 100] {
        let y = 20.0 + plot_h * (1.0 - f64::from(pct) / 100.0);
        let _ = write!(
            page,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#e4e7eb\"/><text x=\"8\" y=\"{}\" font-size=\"10\">{pct} %</text>",
            left + plot_w,
            y + 3.0
        );
    }
    let mut line = String::new();
    for (index, point) in points.iter().enumerate() {
        let x = left + step * index as f64;
        let bar = plot_h * point.violations as f64 / most as f64 * 0.5;
        let _ = write!(
            page,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"#fca5a5\"><title>{} violations at {}</title></rect>",
            20.0 + plot_h - bar,
            (step - 1.0).max(1.0),
            point.violations,
            utc(point.start_unix_secs)
        );
        let total = point.compliant + point.violations;
        if total > 0 {
            let rate = point.compliant as f64 / total as f64;
            let _ = write!(line, "{:.1},{:.1} ", x + step / 2.0, 20.0 + plot_h * (1.0 - rate));
        }
    }
    let _ = write!(
        page,
        "<polyline points=\"{line}\" fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2\"/>\
<text x=\"{left}\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\
<text x=\"{left}\" y=\"{}\" font-size=\"10\" fill=\"#52606d\">blue: compliance rate; red bars: violations (missing or forged hash)</text></svg>",
        height - 22.0,
        utc(points[0].start_unix_secs),
        left + plot_w,
        height - 22.0,
        utc(points[points.len() - 1].start_unix_secs),
        height - 6.0
    );
}

/// Services on a circle, edges as arrows labelled with calls, error rate and p99.
fn dependency_graph(page: &mut String, report: &Report) {
    let edges = &report.dependencies.edges;
    if edges.is_empty() {
        page.push_str("<p>No calls between services in the data.</p>");
        return;
    }
    let mut nodes: Vec<(&str, bool)> = Vec::new();
    for edge in edges {
        for (name, external) in [(edge.from.as_str(), false), (edge.to.as_str(), edge.external)] {
            match nodes.iter_mut().find(|(n, _)| *n == name) {
                Some(node) => node.1 &= external,
                None => nodes.push((name, external)),
            }
        }
    }
    let (width, height) = (760.0, 520.0);
    let (cx, cy, radius) = (width / 2.0, height / 2.0, 190.0);
    let position = |index: usize| {
        let angle = 2.0 * PI * index as f64 / nodes.len() as f64 - PI / 2.0;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let _ = write!(
        page,
        "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"service dependency graph\"><defs>\
<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
<path d=\"M0,0L10,5L0,10z\" fill=\"#52606d\"/></marker></defs>"
    );
    for edge in edges {
        let (Some(from), Some(to)) =
            (nodes.iter().position(|(n, _)| *n == edge.from), nodes.iter().position(|(n, _)| *n == edge.to))
        else {
            continue;
        };
        let ((x1, y1), (x2, y2)) = (position(from), position(to));
        let length = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
        let (ux, uy) = ((x2 - x1) / length, (y2 - y1) / length);
        let color = if edge.error_rate > 0.05 { "#dc2626" } else { "#52606d" };
        let _ = write!(
            page,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"{:.1}\" marker-end=\"url(#arrow)\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#323f4b\">{} calls · {:.1} % err · p99 {:.2} ms</text>",
            x1 + ux * 34.0,
            y1 + uy * 34.0,
            x2 - ux * 34.0,
            y2 - uy * 34.0,
            1.0 + (edge.calls as f64).log10().max(0.0),
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 4.0,
            edge.calls,
            edge.error_rate * 100.0,
            edge.p99_ms
        );
    }
    for (index, (name, external)) in nodes.iter().enumerate() {
        let (x, y) = position(index);
        let fill = if *external { "#fde68a" } else { "#bfdbfe" };
        let _ = write!(
            page,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"32\" fill=\"{fill}\" stroke=\"#1f2933\"/>\
<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            y + 48.0,
            escape(name)
        );
    }
    page.push_str("<text x=\"10\" y=\"510\" font-size=\"10\" fill=\"#52606d\">blue: traced services; yellow: external APIs; red edges: error rate above 5 %</text></svg>");
}

fn tables(page: &mut String, report: &Report) {
    page.push_str("<h2>Compliance per service</h2><table><tr><th>service</th><th>spans</th><th>valid</th><th>injected</th><th>missing</th><th>mismatch</th><th>exempt</th><th>untracked</th><th>rate</th></tr>");
    for s in &report.compliance.services {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.service),
            s.spans,
            s.valid,
            s.injected,
            s.missing,
            s.mismatch,
            s.exempt,
            s.untracked,
            percent(s.compliance_rate)
        );
    }
    page.push_str("</table><h2>Latency per operation</h2><table><tr><th>service</th><th>operation</th><th>count</th><th>errors</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>");
    for r in report.performance.services.iter().chain(&report.performance.operations) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            escape(&r.service),
            escape(&r.operation),
            r.count,
            r.errors,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms
        );
    }
    page.push_str("</table>");
}
