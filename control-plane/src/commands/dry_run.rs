//! `acgs-tracing dry-run`: runs a filter .wasm (ours by default) in the embedded proxy-wasm host
//! over requests read from a JSONL file or stdin, and shows what the filter did to each: the
//! status and body the client got, the hash status, the sampling decision, the headers it added
//! or removed on the way to the upstream and back, the body the upstream received, and what the
//! filter logged.
//!
//! Each line says everything a request needs ([`input`]): its headers, body and trailers, the
//! connection facts (`source_address`, `peer_principal`), the upstream's answer (`upstream`:
//! status, headers, body, trailers), and what happens before it (`advance_ms` runs the sidecar
//! for that long so ticks fire and callout answers arrive; `ticks` calls `on_tick` that many
//! times at once). The command line gives the sidecar: the filter's configuration (JSON, or
//! `--config-raw` bytes as they are), node metadata (`--node-metadata`), and the clusters its
//! callouts may reach (`--cluster NAME=HOST:PORT`, loopback servers for HTTP and gRPC callouts).
//!
//! A line that is not a valid request is reported with its line number and skipped; the other
//! lines still run. The exit code is 1 when a line was bad or the filter's VM failed (a trap: its
//! reason is in that request's verdict, with the filter's log, where a panic message lands).

mod input;
mod output;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use acgs_wasm_host::{Cluster, Headers, HttpResponse};
use anyhow::Context as _;
use clap::Args;

use self::input::RequestLine;
pub use self::output::Verdict;
use self::output::{print_table, verdict, Forwarded};
use crate::commands::args::OutputFormat;
use crate::exit::{UsageError, EXIT_FAILED};
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
    #[arg(long, conflicts_with_all = ["config_json", "config_raw"])]
    pub config: Option<PathBuf>,

    /// The filter's JSON configuration, inline.
    #[arg(long, conflicts_with = "config_raw")]
    pub config_json: Option<String>,

    /// A file whose bytes are the plugin configuration exactly as given (any format).
    #[arg(long)]
    pub config_raw: Option<PathBuf>,

    /// Workload name the sidecar runs for (node metadata WORKLOAD_NAME).
    #[arg(long, default_value = "dry-run")]
    pub service: String,

    /// Node metadata entry KEY=VALUE (repeatable; replaces Istio's defaults of the same key).
    #[arg(long = "node-metadata", value_name = "KEY=VALUE", value_parser = parse_metadata)]
    pub node_metadata: Vec<(String, String)>,

    /// A cluster the filter's callouts may reach, NAME=HOST:PORT (repeatable).
    #[arg(long = "cluster", value_name = "NAME=HOST:PORT", value_parser = parse_cluster)]
    pub clusters: Vec<(String, SocketAddr)>,

    /// Output format: a table, or one JSON object per request.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

fn parse_metadata(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_cluster(text: &str) -> Result<(String, SocketAddr), String> {
    let (name, address) = text.rsplit_once('=').ok_or_else(|| format!("{text:?} is not NAME=HOST:PORT"))?;
    if name.is_empty() {
        return Err(format!("{text:?} has no cluster name"));
    }
    let resolved = address
        .to_socket_addrs()
        .map_err(|error| format!("{address:?} is not HOST:PORT ({error})"))?
        .next()
        .ok_or_else(|| format!("{address:?} resolves to no address"))?;
    Ok((name.to_owned(), resolved))
}

impl DryRun {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let (plugin_config, raw_configuration) = self.plugin_config()?;
        let module = load_filter(self.wasm.as_deref()).map_err(|e| UsageError(format!("{e:#}")))?;
        let spec = SidecarSpec::new(&self.service, plugin_config);
        let metadata: BTreeMap<String, String> = self.node_metadata.iter().cloned().collect();
        let clusters: BTreeMap<String, Cluster> =
            self.clusters.iter().map(|(name, addr)| (name.clone(), Cluster::from(*addr))).collect();
        let mut proxy = spec
            .start_with(&module, |plugin, config| {
                if let Some(raw) = raw_configuration {
                    plugin.configuration = raw;
                }
                config.node.metadata.extend(metadata);
                config.clusters.extend(clusters);
            })
            .map_err(|e| UsageError(e.to_string()))?;
        let worker = proxy.workers_mut().first_mut().context("the sidecar started without a worker")?;
        // What the filter logged while starting belongs to no request.
        worker.take_logs();

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
        for (index, line) in BufReader::new(input).split(b'\n').enumerate() {
            let line_no = index + 1;
            let line = line.with_context(|| format!("reading {} line {line_no}", self.requests))?;
            let line = match String::from_utf8(line) {
                Ok(line) => line,
                Err(error) => {
                    let at = error.utf8_error().valid_up_to();
                    bad_lines.push(format!(
                        "{} line {line_no}: not UTF-8 (invalid byte at column {})",
                        self.requests,
                        at + 1
                    ));
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let request = match RequestLine::parse(&line) {
                Ok(request) => request,
                Err(error) => {
                    bad_lines.push(format!("{} line {line_no}: {error}", self.requests));
                    continue;
                }
            };
            if request.advance_ms > 0 {
                worker.run_for(Duration::from_millis(request.advance_ms));
            }
            let ticks_fired = worker.fire_ticks(request.ticks);
            let http = request.request();
            let sent = http.headers.clone();
            let answer = request.upstream_response();
            let mut forwarded: Option<Forwarded> = None;
            let mut upstream = |_: &Headers, body: &[u8]| -> HttpResponse {
                forwarded = Some(Forwarded { body: body.to_vec(), response: answer.clone() });
                answer.clone()
            };
            let outcome = worker.handle(http, &mut upstream);
            let logs = worker.take_logs();
            verdicts.push(verdict(line_no, &request, &sent, &outcome, forwarded.as_ref(), ticks_fired, logs));
        }
        match self.format {
            OutputFormat::Text => print_table(&verdicts),
            OutputFormat::Json => {
                for verdict in &verdicts {
                    println!("{}", serde_json::to_string(verdict)?);
                }
            }
        }
        for bad in &bad_lines {
            eprintln!("error: {bad}");
        }
        let trapped = verdicts.iter().any(|verdict| verdict.failure.is_some()) || worker.is_failed();
        if trapped {
            eprintln!("error: the filter's VM failed (the verdicts say where and why)");
        }
        Ok(if bad_lines.is_empty() && !trapped { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }

    /// The JSON configuration for the sidecar, and the raw bytes that replace it when given.
    fn plugin_config(&self) -> anyhow::Result<(serde_json::Value, Option<Vec<u8>>)> {
        if let Some(path) = &self.config_raw {
            let bytes = std::fs::read(path)
                .map_err(|e| UsageError(format!("cannot read plugin configuration {}: {e}", path.display())))?;
            return Ok((serde_json::json!({}), Some(bytes)));
        }
        let text = match (&self.config, &self.config_json) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read filter config {}: {e}", path.display())))?,
            (None, Some(inline)) => inline.clone(),
            (None, None) => return Ok((serde_json::json!({}), None)),
        };
        let value = serde_json::from_str(&text).map_err(|e| UsageError(format!("filter config is not JSON: {e}")))?;
        Ok((value, None))
    }
}
