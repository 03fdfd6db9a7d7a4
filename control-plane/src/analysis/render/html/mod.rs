//! The report as one self-contained HTML page: every section of the terminal report, in the same
//! order, each a `<section>` with a stable id (`summary`, `findings`, `compliance`,
//! `violations-by-caller`, `performance`, `auth-failures`, `sensitive-attributes`,
//! `dependencies`, `anomalies`, `data-quality`); charts as inline SVG ([`charts`], [`graph`]);
//! tables sortable by a click on a column header (a few lines of inline script, no external
//! assets). Every text taken from the data is HTML-escaped; trace ids link to a Jaeger UI when one
//! is given.

mod charts;
mod graph;

use std::fmt::Write as _;

use super::{percent, utc};
use crate::analysis::report::{Report, Severity};

/// What the page links to.
#[derive(Debug, Clone, Default)]
pub struct PageLinks {
    /// A Jaeger UI's base URL (`https://jaeger.example.com`): trace ids link to `<base>/trace/<id>`.
    pub jaeger_ui: Option<String>,
}

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

const STYLE: &str =
    "body{font-family:'DejaVu Sans','Liberation Sans',Arial,sans-serif;margin:2rem;color:#1f2933;background:#f7f9fb}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem}\
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border-radius:8px;padding:1rem 1.4rem;\
box-shadow:0 1px 3px #0002;min-width:9rem}.card b{display:block;font-size:1.6rem}\
table{border-collapse:collapse;background:#fff;margin:.5rem 0;font-size:.9rem}\
td,th{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}\
th{background:#eef2f7;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:' ▲'}\
th[aria-sort=descending]::after{content:' ▼'}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.critical{color:#b42318;font-weight:600}.warning{color:#b54708;font-weight:600}.info{color:#175cd3}\
svg{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;margin:.5rem .5rem .5rem 0}\
.charts{display:flex;flex-wrap:wrap}.scroll{overflow-x:auto}.muted,.empty{color:#7b8794}";

/// Sorts a table by the clicked header's column: by each cell's `data-sort` number when it has
/// one, else by its text; a second click reverses.
const SORT_SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){\
th.tabIndex=0;th.addEventListener('click',function(){var table=th.closest('table'),body=table.tBodies[0],\
column=Array.prototype.indexOf.call(th.parentNode.children,th),up=th.getAttribute('aria-sort')!=='ascending';\
table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});\
th.setAttribute('aria-sort',up?'ascending':'descending');\
var key=function(row){var cell=row.cells[column];return cell.dataset.sort!==undefined?parseFloat(cell.dataset.sort):cell.textContent};\
Array.prototype.slice.call(body.rows).sort(function(a,b){var x=key(a),y=key(b);\
var order=typeof x==='number'?x-y:x.localeCompare(y);return up?order:-order})\
.forEach(function(row){body.appendChild(row)})})});";

/// One table cell.
enum Cell {
    /// Text, escaped when written.
    Text(String),
    /// A number shown as the string, sorted by the value.
    Number(f64, String),
    /// Markup already escaped (links).
    Markup(String),
}

fn count(value: u64) -> Cell {
    Cell::Number(value as f64, value.to_string())
}

fn millis(value: f64) -> Cell {
    Cell::Number(value, format!("{value:.3}"))
}

fn rate(value: Option<f64>) -> Cell {
    Cell::Number(value.unwrap_or(-1.0), percent(value))
}

/// A sortable table, or a line saying there is nothing to show.
fn table(page: &mut String, headers: &[&str], rows: Vec<Vec<Cell>>) {
    if rows.is_empty() {
        page.push_str("<p class=\"empty\">None.</p>");
        return;
    }
    page.push_str("<table class=\"sortable\"><thead><tr>");
    for header in headers {
        let _ = write!(page, "<th>{}</th>", escape(header));
    }
    page.push_str("</tr></thead><tbody>");
    for row in rows {
        page.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(text) => {
                    let _ = write!(page, "<td>{}</td>", escape(&text));
                }
                Cell::Number(value, shown) => {
                    let _ = write!(page, "<td class=\"n\" data-sort=\"{value}\">{}</td>", escape(&shown));
                }
                Cell::Markup(markup) => {
                    let _ = write!(page, "<td>{markup}</td>");
                }
            }
        }
        page.push_str("</tr>");
    }
    page.push_str("</tbody></table>");
}

fn open_section(page: &mut String, id: &str, title: &str) {
    let _ = write!(page, "<section id=\"{id}\"><h2>{}</h2>", escape(title));
}

/// The page.
pub fn render(report: &Report, links: &PageLinks) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>ACGS trace analysis</title>\
<style>{STYLE}</style></head><body><h1>ACGS trace analysis</h1>"
    );
    summary(&mut page, report);
    findings(&mut page, report, links);
    compliance(&mut page, report);
    performance(&mut page, report);
    security(&mut page, report);
    dependencies(&mut page, report);
    anomalies(&mut page, report);
    data_quality(&mut page, report);
    let _ = writeln!(page, "<script>{SORT_SCRIPT}</script></body></html>");
    page
}

fn summary(page: &mut String, report: &Report) {
    let s = &report.summary;
    open_section(page, "summary", "Summary");
    let _ = write!(
        page,
        "<p class=\"muted\">{}{}</p><div class=\"cards\">",
        escape(&s.source),
        match (s.first_span_micros, s.last_span_micros) {
            (Some(a), Some(b)) => format!(" · {} → {}", utc(a / 1_000_000), utc(b / 1_000_000)),
            _ => String::new(),
        }
    );
    let throughput = report.performance.throughput_rps.map_or_else(|| "n/a".to_owned(), |rps| format!("{rps:.1}/s"));
    for (label, value) in [
        ("traces", s.traces_analyzed.to_string()),
        ("spans", s.spans_analyzed.to_string()),
        ("span throughput", throughput),
        ("compliance", percent(s.compliance_rate)),
        ("untracked spans", report.compliance.untracked.to_string()),
        ("issues", s.total_issues.to_string()),
        ("critical", s.critical.to_string()),
        ("warning", s.warning.to_string()),
    ] {
        let _ = write!(page, "<div class=\"card\">{label}<b>{}</b></div>", escape(&value));
    }
    page.push_str("</div></section>");
}

/// Trace ids as links to the Jaeger UI, or as code.
fn trace_ids(ids: &[String], links: &PageLinks) -> String {
    let base = links.jaeger_ui.as_deref().map(|base| base.trim_end_matches('/'));
    ids.iter()
        .map(|id| match base {
            Some(base) => format!("<a href=\"{}/trace/{}\"><code>{}</code></a>", escape(base), escape(id), escape(id)),
            None => format!("<code>{}</code>", escape(id)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn findings(page: &mut String, report: &Report, links: &PageLinks) {
    open_section(page, "findings", "Findings");
    let rows = report
        .findings
        .iter()
        .map(|f| {
            let class = match f.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            vec![
                Cell::Markup(format!("<span class=\"{class}\">{}</span>", f.severity.as_str())),
                Cell::Text(f.rule.clone()),
                Cell::Text(f.service.clone()),
                Cell::Text(f.operation.clone().unwrap_or_default()),
                Cell::Text(f.message.clone()),
                Cell::Markup(trace_ids(&f.evidence_trace_ids, links)),
            ]
        })
        .collect();
    table(page, &["severity", "rule", "service", "operation", "what", "evidence traces"], rows);
    page.push_str("</section>");
}

fn compliance(page: &mut String, report: &Report) {
    let c = &report.compliance;
    open_section(page, "compliance", "Compliance");
    let _ = write!(
        page,
        "<p>Rate = compliant / (compliant + missing + mismatch) over server spans: {} compliant, {} missing, \
{} mismatch → <b>{}</b>. <b>{} spans untracked</b> are on neither side (client and internal spans, spans \
behind a checked hop, services declared out of scope).</p>",
        c.compliant,
        c.missing,
        c.mismatch,
        percent(c.overall_rate),
        c.untracked
    );
    charts::compliance_over_time(page, c);
    page.push_str("<h3>Per service</h3>");
    let rows = c
        .services
        .iter()
        .map(|s| {
            vec![
                Cell::Text(s.service.clone()),
                count(s.spans),
                count(s.valid),
                count(s.injected),
                count(s.missing),
                count(s.mismatch),
                count(s.exempt),
                count(s.untracked),
                rate(s.compliance_rate),
            ]
        })
        .collect();
    table(page, &["service", "spans", "valid", "injected", "missing", "mismatch", "exempt", "untracked", "rate"], rows);
    page.push_str("</section>");
    open_section(page, "violations-by-caller", "Violations by caller");
    let rows = c
        .violations_by_caller
        .iter()
        .map(|v| {
            vec![
                Cell::Text(v.caller.clone()),
                Cell::Text(v.service.clone()),
                Cell::Text(v.kind.clone()),
                count(v.count),
            ]
        })
        .collect();
    table(page, &["caller", "service", "kind", "count"], rows);
    page.push_str("</section>");
}

fn performance(page: &mut String, report: &Report) {
    let p = &report.performance;
    open_section(page, "performance", "Latency and throughput");
    let throughput =
        p.throughput_rps.map_or_else(|| "n/a (under 10 s of data)".to_owned(), |rps| format!("{rps:.1} spans/s"));
    let _ = write!(
        page,
        "<p>Target p99 &lt; {} ms; throughput {} (target &gt; {} RPS), over the 10-second windows that had spans.</p>",
        p.p99_target_ms,
        escape(&throughput),
        p.throughput_target_rps
    );
    charts::latency_histograms(page, p);
    let rows = p
        .services
        .iter()
        .chain(&p.operations)
        .map(|r| {
            vec![
                Cell::Text(r.service.clone()),
                Cell::Text(r.operation.clone()),
                count(r.count),
                count(r.errors),
                Cell::Number(r.rate_rps, format!("{:.1}", r.rate_rps)),
                millis(r.p50_ms),
                millis(r.p95_ms),
                millis(r.p99_ms),
                millis(r.max_ms),
            ]
        })
        .collect();
    table(page, &["service", "operation", "count", "errors", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows);
    page.push_str("</section>");
}

fn security(page: &mut String, report: &Report) {
    let s = &report.security;
    open_section(page, "auth-failures", "401/403 by caller");
    let rows = s
        .auth_failures
        .iter()
        .map(|a| {
            vec![
                Cell::Text(a.caller.clone()),
                Cell::Text(a.service.clone()),
                count(a.unauthorized_401),
                count(a.forbidden_403),
            ]
        })
        .collect();
    table(page, &["caller", "service", "401", "403"], rows);
    page.push_str("</section>");
    open_section(page, "sensitive-attributes", "Sensitive span attributes (values withheld)");
    let rows = s
        .sensitive_attributes
        .iter()
        .map(|a| {
            vec![Cell::Text(a.service.clone()), Cell::Text(a.key.clone()), Cell::Text(a.reason.clone()), count(a.spans)]
        })
        .collect();
    table(page, &["service", "attribute", "why", "spans"], rows);
    page.push_str("</section>");
}

fn dependencies(page: &mut String, report: &Report) {
    let edges = &report.dependencies.edges;
    open_section(page, "dependencies", "Service dependencies");
    if !edges.is_empty() {
        graph::dependency_graph(page, edges);
        page.push_str(
            "<p class=\"muted\">Callers left of callees; a call back to an earlier column curves under the row. \
Blue: traced services; yellow: external APIs; red edges: error rate above 5 %; line width grows with calls.</p>",
        );
    }
    let rows = edges
        .iter()
        .map(|e| {
            vec![
                Cell::Text(e.from.clone()),
                Cell::Text(if e.external { format!("{} (external)", e.to) } else { e.to.clone() }),
                count(e.calls),
                count(e.errors),
                rate(Some(e.error_rate)),
                millis(e.p99_ms),
            ]
        })
        .collect();
    table(page, &["from", "to", "calls", "errors", "error rate", "p99 ms"], rows);
    page.push_str("</section>");
}

fn anomalies(page: &mut String, report: &Report) {
    let a = &report.anomalies;
    open_section(page, "anomalies", "Anomalies");
    let _ = write!(
        page,
        "<p class=\"muted\">{} s intervals, each against the {} s before it.</p>",
        a.interval_secs, a.baseline_secs
    );
    let rows = a
        .anomalies
        .iter()
        .map(|x| {
            vec![
                Cell::Text(x.service.clone()),
                Cell::Text(x.operation.clone()),
                Cell::Text(x.metric.clone()),
                Cell::Number(x.interval_start_unix_secs as f64, utc(x.interval_start_unix_secs)),
                Cell::Number(x.value, format!("{:.3}", x.value)),
                Cell::Number(x.baseline, format!("{:.3}", x.baseline)),
                Cell::Number(x.score, format!("{:.1}", x.score)),
                count(x.anomalous_intervals),
            ]
        })
        .collect();
    table(page, &["service", "operation", "metric", "interval", "value", "baseline", "score", "intervals"], rows);
    page.push_str("</section>");
}

fn data_quality(page: &mut String, report: &Report) {
    let q = &report.data_quality;
    open_section(page, "data-quality", "Data quality");
    let rows = vec![
        vec![Cell::Text("orphan spans (parent not in the trace; analysed as roots)".to_owned()), count(q.orphan_spans)],
        vec![Cell::Text("duplicate spans (only the first analysed)".to_owned()), count(q.duplicate_spans)],
        vec![Cell::Text("children starting before their parent (clock skew)".to_owned()), count(q.clock_skew_spans)],
        vec![Cell::Text("self-parented spans (analysed as roots)".to_owned()), count(q.self_parent_spans)],
    ];
    table(page, &["what", "spans"], rows);
    if q.input_errors.is_empty() {
        page.push_str("<p>All input was read.</p>");
    } else {
        page.push_str("<h3>Input that could not be read</h3><ul>");
        for error in &q.input_errors {
            let _ = write!(page, "<li>{}</li>", escape(error));
        }
        page.push_str("</ul>");
    }
    page.push_str("</section>");
}

#[cfg(test)]
mod tests;
