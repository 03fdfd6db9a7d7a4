//! `acgs-tracing analyze`: the trace analysis report from one source — the control plane's
//! collected telemetry (`--from`), a Jaeger query service (`--jaeger`, api/v3 or the UI's API),
//! or a file (`--file`: a Jaeger JSON export or OTLP/JSON, told apart by content) — as terminal
//! tables, JSON (`--format json`) and optionally an HTML page (`--html`). Servers may be HTTPS
//! (the platform's roots, or `--ca-file`). Reading shows a progress bar on stderr when stderr is a
//! terminal.
//!
//! Exit codes: 0 the report covers all the input; 1 part of the input could not be read (the
//! report covers the rest and lists what was skipped); 66 the file cannot be opened; 69 the
//! server cannot be reached or answers something else than a report.

use std::fs::File;
use std::io::{BufReader, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use indicatif::ProgressBar;

use crate::analysis::anomaly::AnomalyOptions;
use crate::analysis::endpoint::since_micros;
use crate::analysis::render::{html, table};
use crate::analysis::report::Report;
use crate::analysis::source::jaeger_api::{self, JaegerApi, JaegerQuery};
use crate::analysis::source::{jaeger_json, otlp_json};
use crate::analysis::{AnalysisOptions, Analyzer};
use crate::commands::args::OutputFormat;
use crate::commands::progress;
use crate::exit::{NoInput, Unavailable, UsageError, EXIT_FAILED};
use crate::http_client::{self, Trust};

/// Analyse traces: compliance, performance, security, dependencies, anomalies.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["from", "jaeger", "file"])))]
pub struct Analyze {
    /// A running control plane (its collected telemetry), e.g. http://localhost:5778.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,

    /// A Jaeger query service, e.g. http://localhost:16686 or https://jaeger.example.com.
    #[arg(long, value_name = "URL")]
    pub jaeger: Option<String>,

    /// Which of Jaeger's HTTP APIs to read: the stable api/v3 (OTLP JSON), the UI's internal
    /// /api/traces, or auto (api/v3 when the server has it).
    #[arg(long, value_enum, default_value_t = JaegerApi::Auto)]
    pub jaeger_api: JaegerApi,

    /// Trust only the CA certificates in this PEM file for HTTPS to --from and --jaeger (a
    /// private CA); without it, the platform's trust store.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// A Jaeger JSON export (as the Jaeger UI downloads it) or an OTLP/JSON file, either of them
    /// gzip-compressed or not.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Only this service's spans.
    #[arg(long)]
    pub service: Option<String>,

    /// Only this operation's spans.
    #[arg(long)]
    pub operation: Option<String>,

    /// Only spans that started within this time before now (e.g. 15m, 1h, 2d). With --jaeger
    /// it is passed to the query API and defaults to 1h.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lookback: Option<Duration>,

    /// Traces per service asked from Jaeger.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub limit: u32,

    /// Width of the anomaly intervals.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// How far back each interval's baseline reaches.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub baseline: Duration,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// A service out of the hash check's scope (repeatable): its server spans without a hash are
    /// untracked, not violations.
    #[arg(long, value_name = "NAME")]
    pub untracked_service: Vec<String>,

    /// Also write the report as a self-contained HTML page here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// A Jaeger UI (e.g. https://jaeger.example.com) the HTML page's trace ids link to
    /// (`<URL>/trace/<id>`).
    #[arg(long, value_name = "URL", value_parser = web_url)]
    pub jaeger_ui: Option<String>,

    /// How long to wait for a server (`30s`, `2m`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl Analyze {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        if self.timeout.is_zero() {
            return Err(UsageError("--timeout must be more than 0s".to_owned()).into());
        }
        if self.interval.as_secs() == 0 {
            return Err(UsageError("--interval must be at least 1s".to_owned()).into());
        }
        let report = self.report()?;
        match self.format {
            OutputFormat::Text => print!("{}", table::render(&report)),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        if let Some(path) = &self.html {
            let links = html::PageLinks { jaeger_ui: self.jaeger_ui.clone() };
            std::fs::write(path, html::render(&report, &links))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("HTML report written to {}", path.display());
        }
        Ok(if report.data_quality.input_errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }

    fn options(&self) -> AnalysisOptions {
        AnalysisOptions {
            service: self.service.clone(),
            operation: self.operation.clone(),
            since_micros: self.lookback.map(since_micros),
            anomaly: AnomalyOptions { interval_secs: self.interval.as_secs(), baseline_secs: self.baseline.as_secs() },
            untracked_services: self.untracked_service.clone(),
            ..AnalysisOptions::default()
        }
    }

    fn report(&self) -> anyhow::Result<Report> {
        let timeout = self.timeout;
        let trust = match &self.ca_file {
            Some(path) => Trust::ca_bundle(path).map_err(|e| UsageError(format!("--ca-file {e}")))?,
            None => Trust::default(),
        };
        if let Some(url) = &self.from {
            return fetch_report(url, self, &http_client::agent(timeout, &trust));
        }
        let options = self.options();
        let mut analyzer = Analyzer::new(options.clone());
        if let Some(url) = &self.jaeger {
            let query = JaegerQuery {
                base_url: url.clone(),
                api: self.jaeger_api,
                lookback: self.lookback.unwrap_or(Duration::from_secs(3_600)),
                limit: self.limit,
                service: self.service.clone(),
                operation: self.operation.clone(),
                timeout,
                trust,
            };
            let progress = progress::bar("{spinner} {pos}/{len} services {wide_msg}", 0);
            jaeger_api::feed(&query, &mut analyzer, &progress).map_err(|e| Unavailable(e.to_string()))?;
            return Ok(analyzer.finish(url));
        }
        let path = self.file.as_ref().ok_or_else(|| UsageError("no source given".to_owned()))?;
        let what = path.display().to_string();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let progress = progress::bar("{spinner} {bytes}/{total_bytes} {wide_bar} {eta}", size);
        let (head, mut file) = open_export(path, &progress).map_err(|e| NoInput(format!("{what}: {e}")))?;
        if otlp_json::looks_like_otlp(&head) {
            let mut text = head;
            file.read_to_end(&mut text).map_err(|e| NoInput(format!("{what}: {e}")))?;
            otlp_json::feed(&text, &what, &mut analyzer);
        } else {
            let reader = BufReader::with_capacity(1 << 20, std::io::Cursor::new(head).chain(file));
            jaeger_json::feed(reader, &what, &mut analyzer, None);
        }
        progress.finish_and_clear();
        Ok(analyzer.finish(&what))
    }
}

/// An http(s) URL, as clap's value parser.
fn web_url(value: &str) -> Result<String, String> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(value.to_owned()),
        _ => Err(format!("{value:?} is not an http:// or https:// URL with a host")),
    }
}

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The first bytes of the export at `path` (to tell its format) and a reader of what follows them:
/// decompressed when the file is gzip, by its magic bytes whatever its name (Jaeger's UI and
/// `curl --compressed` users keep `.json.gz` files; concatenated members are read as one).
/// `progress` counts the file's bytes as they are read.
fn open_export(path: &std::path::Path, progress: &ProgressBar) -> std::io::Result<(Vec<u8>, Box<dyn std::io::Read>)> {
    fn head_of(mut reader: Box<dyn std::io::Read>) -> std::io::Result<(Vec<u8>, Box<dyn std::io::Read>)> {
        let mut head = Vec::with_capacity(4_096);
        (&mut reader).take(4_096).read_to_end(&mut head)?;
        Ok((head, reader))
    }
    let (head, rest) = head_of(Box::new(progress.wrap_read(File::open(path)?)))?;
    if !head.starts_with(&GZIP_MAGIC) {
        return Ok((head, rest));
    }
    let compressed = BufReader::with_capacity(1 << 16, std::io::Cursor::new(head).chain(rest));
    head_of(Box::new(flate2::read::MultiGzDecoder::new(compressed)))
}

/// Asks a control plane for its report (`GET /api/v1/analysis`).
fn fetch_report(base: &str, command: &Analyze, agent: &ureq::Agent) -> anyhow::Result<Report> {
    let url = format!("{}/api/v1/analysis", base.trim_end_matches('/'));
    let mut request = agent.get(&url);
    let durations =
        [("interval", Some(command.interval)), ("baseline", Some(command.baseline)), ("lookback", command.lookback)];
    for (name, value) in durations {
        if let Some(value) = value {
            request = request.query(name, format!("{}s", value.as_secs()));
        }
    }
    for (name, value) in [("service", &command.service), ("operation", &command.operation)] {
        if let Some(value) = value {
            request = request.query(name, value);
        }
    }
    if !command.untracked_service.is_empty() {
        request = request.query("untracked_service", command.untracked_service.join(","));
    }
    let mut response = request.call().map_err(|e| Unavailable(format!("{url}: {e}")))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .map_err(|e| Unavailable(format!("{url}: {e}")))?;
    if status != 200 {
        return Err(Unavailable(format!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body).trim())).into());
    }
    serde_json::from_slice(&body).map_err(|e| Unavailable(format!("{url}: not an analysis report ({e})")).into())
}
