//! The report as terminal tables (comfy-table): summary, findings, then one table per analysis.
//! Empty sections print one line saying so.

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ColumnConstraint, ContentArrangement, Table};

use super::{percent, utc};
use crate::analysis::report::Report;

/// Columns a table takes when stdout is not a terminal and `COLUMNS` does not say.
const PIPE_COLUMNS: u16 = 120;

/// A terminal table in the product's style (also used by `deploy --dry-run` and `verify`): cells
/// wrap to the terminal's width, or into a pipe or a file to `$COLUMNS` (120 without it).
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        let columns = std::env::var("COLUMNS").ok().and_then(|value| value.parse().ok()).unwrap_or(PIPE_COLUMNS);
        table.set_width(columns);
    }
    table
}

/// The whole report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let summary = &report.summary;
    let _ = writeln!(
        out,
        "Trace analysis of {}: {} traces, {} spans{}; compliance {} ({} spans untracked); {} issues ({} critical, {} warning)",
        summary.source,
        summary.traces_analyzed,
        summary.spans_analyzed,
        match (summary.first_span_micros, summary.last_span_micros) {
            (Some(first), Some(last)) => format!(" from {} to {}", utc(first / 1_000_000), utc(last / 1_000_000)),
            _ => String::new(),
        },
        percent(summary.compliance_rate),
        report.compliance.untracked,
        summary.total_issues,
        summary.critical,
        summary.warning
    );
    section(&mut out, "Findings", report.findings.is_empty(), || {
        // Severity and rule never wrap; the evidence trace id stays whole on its own line.
        let mut t = table(&["severity", "rule", "where", "what (evidence trace)"]);
        for f in &report.findings {
            let place = match &f.operation {
                Some(operation) => format!("{} {operation}", f.service),
                None => f.service.clone(),
            };
            let what = match f.evidence_trace_ids.first() {
                Some(trace) => format!("{}\n{trace}", f.message),
                None => f.message.clone(),
            };
            t.add_row([f.severity.as_str().to_owned(), f.rule.clone(), place, what]);
        }
        for index in [0, 1] {
            if let Some(column) = t.column_mut(index) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        t
    });
    let compliance = &report.compliance;
    section(&mut out, "Compliance per service", compliance.services.is_empty(), || {
        let mut t =
            table(&["service", "spans", "valid", "injected", "missing", "mismatch", "exempt", "untracked", "rate"]);
        for s in &compliance.services {
            t.add_row([
                s.service.clone(),
                s.spans.to_string(),
                s.valid.to_string(),
                s.injected.to_string(),
                s.missing.to_string(),
                s.mismatch.to_string(),
                s.exempt.to_string(),
                s.untracked.to_string(),
                percent(s.compliance_rate),
            ]);
        }
        t
    });
    section(&mut out, "Violations by caller", compliance.violations_by_caller.is_empty(), || {
        let mut t = table(&["caller", "service", "kind", "count"]);
        for v in &compliance.violations_by_caller {
            t.add_row([v.caller.clone(), v.service.clone(), v.kind.clone(), v.count.to_string()]);
        }
        t
    });
    let performance = &report.performance;
    let throughput = performance
        .throughput_rps
        .map_or_else(|| "n/a (under 10 s of data)".to_owned(), |rps| format!("{rps:.1} spans/s"));
    section(
        &mut out,
        &format!(
            "Latency per operation (target p99 < {} ms; throughput {throughput}, target > {} RPS)",
            performance.p99_target_ms, performance.throughput_target_rps
        ),
        performance.operations.is_empty(),
        || {
            let mut t =
                table(&["service", "operation", "count", "errors", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]);
            for r in performance.services.iter().chain(&performance.operations) {
                t.add_row([
                    r.service.clone(),
                    r.operation.clone(),
                    r.count.to_string(),
                    r.errors.to_string(),
                    format!("{:.1}", r.rate_rps),
                    format!("{:.3}", r.p50_ms),
                    format!("{:.3}", r.p95_ms),
                    format!("{:.3}", r.p99_ms),
                    format!("{:.3}", r.max_ms),
                ]);
            }
            t
        },
    );
    let security = &report.security;
    section(&mut out, "401/403 by caller", security.auth_failures.is_empty(), || {
        let mut t = table(&["caller", "service", "401", "403"]);
        for a in &security.auth_failures {
            t.add_row([
                a.caller.clone(),
                a.service.clone(),
                a.unauthorized_401.to_string(),
                a.forbidden_403.to_string(),
            ]);
        }
        t
    });
    section(&mut out, "Sensitive span attributes (values withheld)", security.sensitive_attributes.is_empty(), || {
        let mut t = table(&["service", "attribute", "why", "spans"]);
        for s in &security.sensitive_attributes {
            t.add_row([s.service.clone(), s.key.clone(), s.reason.clone(), s.spans.to_string()]);
        }
        t
    });
    section(&mut out, "Service dependencies", report.dependencies.edges.is_empty(), || {
        let mut t = table(&["from", "to", "calls", "errors", "error rate", "p99 ms"]);
        for e in &report.dependencies.edges {
            t.add_row([
                e.from.clone(),
                if e.external { format!("{} (external)", e.to) } else { e.to.clone() },
                e.calls.to_string(),
                e.errors.to_string(),
                format!("{:.2} %", e.error_rate * 100.0),
                format!("{:.3}", e.p99_ms),
            ]);
        }
        t
    });
    let anomalies = &report.anomalies;
    section(
        &mut out,
        &format!(
            "Anomalies ({} s intervals against the {} s before them)",
            anomalies.interval_secs, anomalies.baseline_secs
        ),
        anomalies.anomalies.is_empty(),
        || {
            let mut t =
                table(&["service", "operation", "metric", "interval", "value", "baseline", "score", "intervals"]);
            for a in &anomalies.anomalies {
                t.add_row([
                    a.service.clone(),
                    a.operation.clone(),
                    a.metric.clone(),
                    utc(a.interval_start_unix_secs),
                    format!("{:.3}", a.value),
                    format!("{:.3}", a.baseline),
                    format!("{:.1}", a.score),
                    a.anomalous_intervals.to_string(),
                ]);
            }
            t
        },
    );
    let quality = &report.data_quality;
    let _ = writeln!(
        out,
        "\nData quality: {} orphan spans, {} duplicate spans, {} with clock skew, {} self-parented",
        quality.orphan_spans, quality.duplicate_spans, quality.clock_skew_spans, quality.self_parent_spans
    );
    if quality.orphan_spans > 0 {
        let _ = writeln!(
            out,
            "  orphan: the span's parent is not among the analysed spans (the trace began in a caller outside \
             them, or the parent was not kept); it is analysed as a root"
        );
    }
    for error in &quality.input_errors {
        let _ = writeln!(out, "input error: {error}");
    }
    out
}

fn section(out: &mut String, title: &str, empty: bool, build: impl FnOnce() -> Table) {
    let _ = writeln!(out, "\n{title}");
    if empty {
        let _ = writeln!(out, "  (none)");
    } else {
        let _ = writeln!(out, "{}", build());
    }
}
