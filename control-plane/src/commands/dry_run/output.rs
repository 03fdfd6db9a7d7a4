//! What `dry-run` prints for each request: a JSON object per request (`--format json`) or a
//! table, then the trapped lines with the filter's log.

use acgs_wasm_host::{Headers, HttpResponse, LogLevel, LogRecord, StreamOutcome};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use super::input::RequestLine;

/// Longest body shown in a table cell (the JSON carries it whole).
const TABLE_BODY_CHARS: usize = 120;

/// What the filter did to one request.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// 1-based line number of the request in the input.
    pub line: usize,
    pub method: String,
    pub path: String,
    /// `on_tick` calls made before the request (`ticks`).
    pub ticks_fired: usize,
    /// The status the client received.
    pub status: u16,
    /// `x-acgs-hash-status` as forwarded, or the status named in a rejection body.
    pub hash_status: String,
    /// The filter's sampling decision on the forwarded request (`x-acgs-sampling-decision`, or
    /// for another filter the sampled flag of the forwarded `traceparent`; `None` when not
    /// forwarded).
    pub sampled: Option<bool>,
    /// The rule that decided (`x-acgs-sampling-rule`).
    pub sampling_rule: Option<String>,
    /// Whether the response is a local reply (the filter's or the proxy's) instead of the upstream's.
    pub local_reply: bool,
    /// Envoy's response code details of a local reply (`http1.too_many_headers`, the filter's).
    pub response_code_details: Option<String>,
    /// Request headers added or changed on the way upstream, as `name: value`.
    pub request_headers_set: Vec<String>,
    /// Request headers removed on the way upstream.
    pub request_headers_removed: Vec<String>,
    /// The request body as it reached the upstream (`None` when it never did).
    pub forwarded_body: Option<String>,
    /// Response headers added or changed on the way back (all of a local reply's), as `name: value`.
    pub response_headers_set: Vec<String>,
    /// The body the client received.
    pub response_body: String,
    /// The trailers the client received, as `name: value`.
    pub response_trailers: Vec<String>,
    /// The reason the filter's VM failed (a trap), if it did during or before this request.
    pub failure: Option<String>,
    /// What the filter logged while this line ran (`level: message`; panics included).
    pub logs: Vec<String>,
}

/// What the upstream saw of a forwarded request.
pub(super) struct Forwarded {
    pub(super) body: Vec<u8>,
    pub(super) response: HttpResponse,
}

pub(super) fn verdict(
    line: usize,
    request: &RequestLine,
    sent: &Headers,
    outcome: &StreamOutcome,
    forwarded: Option<&Forwarded>,
    ticks_fired: usize,
    logs: Vec<LogRecord>,
) -> Verdict {
    let (hash_status, sampled, set, removed) = match &outcome.forwarded {
        Some(headers) => {
            let hash_status = headers.get_str("x-acgs-hash-status").unwrap_or("-").to_owned();
            let sampled = match headers.get_str("x-acgs-sampling-decision") {
                Some(decision) => Some(decision == "keep"),
                None => headers.get("traceparent").and_then(sampled_flag),
            };
            (hash_status, sampled, changed(sent, headers), missing(sent, headers))
        }
        None => (rejection_status(&outcome.response.body), None, Vec::new(), Vec::new()),
    };
    let sampling_rule =
        outcome.forwarded.as_ref().and_then(|headers| headers.get_str("x-acgs-sampling-rule")).map(str::to_owned);
    let upstream_headers = match (forwarded, &outcome.local_reply) {
        (Some(forwarded), None) => forwarded.response.headers.clone(),
        _ => Headers::new(),
    };
    Verdict {
        line,
        method: request.method.clone(),
        path: request.path.clone(),
        ticks_fired,
        status: outcome.response.status,
        hash_status,
        sampled,
        sampling_rule,
        local_reply: outcome.local_reply.is_some(),
        response_code_details: outcome.local_reply.as_ref().map(|reply| reply.details.clone()),
        request_headers_set: set,
        request_headers_removed: removed,
        forwarded_body: forwarded.map(|forwarded| text(&forwarded.body)),
        response_headers_set: changed(&upstream_headers, &outcome.response.headers),
        response_body: text(&outcome.response.body),
        response_trailers: outcome.response.trailers.iter().map(header_line).collect(),
        failure: outcome.failure.clone(),
        logs: logs.iter().map(log_line).collect(),
    }
}

/// `level: message`.
fn log_line(record: &LogRecord) -> String {
    let level = match record.level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
        LogLevel::Critical => "critical",
    };
    format!("{level}: {}", record.message)
}

/// Bodies as text (bytes that are not UTF-8 become U+FFFD).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn header_line((name, value): (&[u8], &[u8])) -> String {
    format!("{}: {}", String::from_utf8_lossy(name), String::from_utf8_lossy(value))
}

/// `name: value` for each header of `after` that `before` lacks or has with another value.
fn changed(before: &Headers, after: &Headers) -> Vec<String> {
    after
        .iter()
        .filter(|(name, value)| before.get(&String::from_utf8_lossy(name)) != Some(*value))
        .map(header_line)
        .collect()
}

/// Names of the headers of `before` that `after` lacks.
fn missing(before: &Headers, after: &Headers) -> Vec<String> {
    before
        .iter()
        .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
        .filter(|name| after.get(name).is_none())
        .collect()
}

/// The sampled flag of a W3C traceparent value (`00-<trace>-<span>-<flags>`).
fn sampled_flag(traceparent: &[u8]) -> Option<bool> {
    let flags = std::str::from_utf8(traceparent.get(53..55)?).ok()?;
    u8::from_str_radix(flags, 16).ok().map(|flags| flags & 1 == 1)
}

/// The `status` field of the filter's 403 body, or `-`.
fn rejection_status(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|body| body.get("status").and_then(|s| s.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

fn shortened(body: &str) -> String {
    match body.char_indices().nth(TABLE_BODY_CHARS) {
        Some((at, _)) => format!("{}…", &body[..at]),
        None => body.to_owned(),
    }
}

pub(super) fn print_table(verdicts: &[Verdict]) {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "#",
        "request",
        "status",
        "hash",
        "sampled",
        "request headers set / removed",
        "response headers set",
        "bodies (→ upstream, ← client)",
    ]);
    for v in verdicts {
        let sampled = match v.sampled {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let mut request_changes = v.request_headers_set.join("\n");
        for name in &v.request_headers_removed {
            request_changes.push_str(&format!("\n- {name}"));
        }
        let status = match (&v.failure, v.response_code_details.as_deref()) {
            (Some(_), _) => format!("{} (wasm failure)", v.status),
            (None, Some("")) => format!("{} (local reply)", v.status),
            (None, Some(details)) => format!("{} (local reply: {details})", v.status),
            (None, None) => v.status.to_string(),
        };
        let mut request = format!("{} {}", v.method, v.path);
        if v.ticks_fired > 0 {
            request.push_str(&format!("\n(after {} ticks)", v.ticks_fired));
        }
        let forwarded = v
            .forwarded_body
            .as_deref()
            .map_or_else(|| "→ (not forwarded)".to_owned(), |b| format!("→ {}", shortened(b)));
        table.add_row([
            v.line.to_string(),
            request,
            status,
            v.hash_status.clone(),
            sampled.to_owned(),
            request_changes,
            v.response_headers_set
                .iter()
                .cloned()
                .chain(v.response_trailers.iter().map(|trailer| format!("(trailer) {trailer}")))
                .collect::<Vec<_>>()
                .join("\n"),
            format!("{forwarded}\n← {}", shortened(&v.response_body)),
        ]);
    }
    println!("{table}");
    for v in verdicts.iter().filter(|v| v.failure.is_some()) {
        println!("line {}: the filter's VM failed: {}", v.line, v.failure.as_deref().unwrap_or_default());
        for log in &v.logs {
            println!("  {log}");
        }
    }
}
