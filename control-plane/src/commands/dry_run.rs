//! `acgs-tracing dry-run`: runs a filter .wasm (ours by default) in the embedded proxy-wasm host
//! over requests read from a JSONL file or stdin, and shows what the filter did to each: the
//! status the client got, the hash status, the sampling decision, and the headers it added or
//! removed on the way to the upstream and back.
//!
//! Input, one JSON object per line: `{"method":"GET","path":"/v1/policies/7","authority":"…",
//! "headers":{"constitutional-hash":"…"},"body":"…","upstream_status":200}` (only `path` is
//! required). A line that is not such an object is reported with its line number and skipped;
//! the other lines still run, and the exit code is then 1.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use acgs_wasm_host::{Headers, HttpRequest, HttpResponse, StreamOutcome};
use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::{Deserialize, Serialize};

use crate::cli::{UsageError, EXIT_FAILED};
use crate::mesh::sidecar::{load_filter, SidecarSpec};

/// Run the real filter over requests from a file and print its decisions.
#[derive(Debug, Args)]
pub struct DryRun {
    /// JSONL file of requests; `-` reads standard input.
    #[arg(long, short = 'r', default_value = "-")]
    pub requests: String,

    /// The filter .wasm to run (default: the filter built into this binary).
    #[arg(long)]
    pub wasm: Option<PathBuf>,

    /// The filter's JSON configuration file (default: the filter's defaults).
    #[arg(long, conflicts_with = "config_json")]
    pub config: Option<PathBuf>,

    /// The filter's JSON configuration, inline.
    #[arg(long)]
    pub config_json: Option<String>,

    /// Workload name the sidecar runs for (node metadata WORKLOAD_NAME).
    #[arg(long, default_value = "dry-run")]
    pub service: String,

    /// Output format: a table, or one JSON object per request.
    #[arg(long, value_enum, default_value_t = super::bench::OutputFormat::Text)]
    pub format: super::bench::OutputFormat,
}

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestLine {
    #[serde(default = "default_method")]
    method: String,
    path: String,
    #[serde(default = "default_authority")]
    authority: String,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    #[serde(default = "default_upstream_status")]
    upstream_status: u16,
}

fn default_method() -> String {
    "GET".to_owned()
}
fn default_authority() -> String {
    "dry-run.local".to_owned()
}
fn default_upstream_status() -> u16 {
    200
}

/// What the filter did to one request.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// 1-based line number of the request in the input.
    pub line: usize,
    pub method: String,
    pub path: String,
    /// The status the client received.
    pub status: u16,
    /// `x-acgs-hash-status` as forwarded, or the status named in a rejection body.
    pub hash_status: String,
    /// Sampled flag of the forwarded traceparent (`None` when not forwarded).
    pub sampled: Option<bool>,
    /// Whether the filter answered itself (local reply) instead of forwarding.
    pub local_reply: bool,
    /// Request headers added or changed on the way upstream, as `name: value`.
    pub request_headers_set: Vec<String>,
    /// Request headers removed on the way upstream.
    pub request_headers_removed: Vec<String>,
    /// Response headers added or changed on the way back, as `name: value`.
    pub response_headers_set: Vec<String>,
    /// A contained Wasm failure, if the filter trapped.
    pub failure: Option<String>,
}

impl DryRun {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let plugin_config = self.plugin_config()?;
        let module = load_filter(self.wasm.as_deref()).map_err(|e| UsageError(format!("{e:#}")))?;
        let spec = SidecarSpec::new(&self.service, plugin_config);
        let mut proxy = spec.start(&module).map_err(|e| UsageError(e.to_string()))?;
        let worker = proxy.workers_mut().first_mut().context("the sidecar started without a worker")?;

        let input: Box<dyn Read> = if self.requests == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(
                std::fs::File::open(&self.requests)
                    .map_err(|e| UsageError(format!("cannot open requests file {}: {e}", self.requests)))?,
            )
        };
        let mut verdicts = Vec::new();
        let mut bad_lines = Vec::new();
        for (index, line) in BufReader::new(input).lines().enumerate() {
            let line_no = index + 1;
            let line = line.with_context(|| format!("reading {} line {line_no}", self.requests))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<RequestLine>(&line) {
                Ok(request) => {
                    let upstream_status = request.upstream_status;
                    let (http, sent) = to_http_request(&request);
                    let mut upstream = |_: &Headers, _: &[u8]| upstream_response(upstream_status);
                    let outcome = worker.handle(http, &mut upstream);
                    verdicts.push(verdict(line_no, &request, &sent, &outcome));
                }
                Err(error) => bad_lines.push(format!("{} line {line_no}: {error}", self.requests)),
            }
        }
        match self.format {
            super::bench::OutputFormat::Text => print_table(&verdicts),
            super::bench::OutputFormat::Json => {
                for verdict in &verdicts {
                    println!("{}", serde_json::to_string(verdict)?);
                }
            }
        }
        for bad in &bad_lines {
            eprintln!("error: {bad}");
        }
        Ok(if bad_lines.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }

    fn plugin_config(&self) -> anyhow::Result<serde_json::Value> {
        let text = match (&self.config, &self.config_json) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read filter config {}: {e}", path.display())))?,
            (None, Some(inline)) => inline.clone(),
            (None, None) => return Ok(serde_json::json!({})),
        };
        serde_json::from_str(&text).map_err(|e| UsageError(format!("filter config is not JSON: {e}")).into())
    }
}

fn to_http_request(line: &RequestLine) -> (HttpRequest, Headers) {
    let mut headers = Headers::new();
    headers.push(":method", line.method.as_str());
    headers.push(":path", line.path.as_str());
    headers.push(":authority", line.authority.as_str());
    headers.push(":scheme", "http");
    for (name, value) in &line.headers {
        headers.push(&name.to_ascii_lowercase(), value.as_str());
    }
    let sent = headers.clone();
    let request = HttpRequest {
        headers,
        body: line.body.clone().into_bytes(),
        trailers: Headers::new(),
        source_address: std::net::SocketAddr::from(([127, 0, 0, 1], 40_000)),
        peer_principal: None,
    };
    (request, sent)
}

fn upstream_response(status: u16) -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "text/plain");
    HttpResponse { status, headers, body: b"ok".to_vec(), trailers: Headers::new() }
}

fn verdict(line: usize, request: &RequestLine, sent: &Headers, outcome: &StreamOutcome) -> Verdict {
    let (hash_status, sampled, set, removed) = match &outcome.forwarded {
        Some(forwarded) => {
            let hash_status = forwarded.get_str("x-acgs-hash-status").unwrap_or("-").to_owned();
            let sampled = forwarded.get("traceparent").and_then(sampled_flag);
            (hash_status, sampled, changed(sent, forwarded), missing(sent, forwarded))
        }
        None => (rejection_status(&outcome.response.body), None, Vec::new(), Vec::new()),
    };
    let upstream = upstream_response(outcome.response.status);
    Verdict {
        line,
        method: request.method.clone(),
        path: request.path.clone(),
        status: outcome.response.status,
        hash_status,
        sampled,
        local_reply: outcome.local_reply.is_some(),
        request_headers_set: set,
        request_headers_removed: removed,
        response_headers_set: changed(&upstream.headers, &outcome.response.headers),
        failure: outcome.failure.clone(),
    }
}

/// `name: value` for each header of `after` that `before` lacks or has with another value.
fn changed(before: &Headers, after: &Headers) -> Vec<String> {
    after
        .iter()
        .filter(|(name, value)| before.get(&String::from_utf8_lossy(name)) != Some(*value))
        .map(|(name, value)| format!("{}: {}", String::from_utf8_lossy(name), String::from_utf8_lossy(value)))
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

fn print_table(verdicts: &[Verdict]) {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "#",
        "request",
        "status",
        "hash",
        "sampled",
        "request headers set / removed",
        "response headers set",
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
        let status = match (&v.failure, v.local_reply) {
            (Some(_), _) => format!("{} (wasm failure)", v.status),
            (None, true) => format!("{} (local reply)", v.status),
            (None, false) => v.status.to_string(),
        };
        table.add_row([
            v.line.to_string(),
            format!("{} {}", v.method, v.path),
            status,
            v.hash_status.clone(),
            sampled.to_owned(),
            request_changes,
            v.response_headers_set.join("\n"),
        ]);
    }
    println!("{table}");
}
