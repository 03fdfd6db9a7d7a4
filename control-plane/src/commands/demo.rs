//! `acgs-tracing demo`: the product on embedded defaults, with no cluster and no external server.
//! The real filter .wasm runs in a sidecar (the embedded proxy-wasm host) in front of each seed
//! service; simulated clients send a few thousand requests, some with missing or forged hashes and
//! health probes; then a summary shows what the filters decided and checks it against what was
//! sent (exit code 1 when a check fails).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use acgs_wasm_host::{Headers, HttpResponse, Proxy, StreamOutcome};
use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{UsageError, EXIT_FAILED};
use crate::mesh::seed::{plugin_config, SEED_SERVICES};
use crate::mesh::sidecar::{load_filter, SidecarSpec};
use crate::mesh::traffic::{HashPresented, TrafficGenerator, TrafficMix};

/// Run the whole product on embedded defaults and show what it does.
#[derive(Debug, Args)]
pub struct Demo {
    /// Number of requests the simulated clients send.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub requests: u64,

    /// Envoy worker threads (filter VMs) per sidecar.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,

    /// Seed of the simulated traffic (same seed, same requests).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// What one service's sidecar decided, counted.
#[derive(Debug, Default, Clone)]
struct ServiceTally {
    requests: u64,
    by_hash_status: BTreeMap<String, u64>,
    rejected: u64,
    forwarded: u64,
    sampled: u64,
    /// Requests whose outcome did not match what the client sent (should stay 0).
    wrong_decisions: u64,
}

impl Demo {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let module = load_filter(None)?;
        let workers = usize::try_from(self.workers).map_err(|e| UsageError(e.to_string()))?;
        let mut sidecars = SEED_SERVICES
            .iter()
            .map(|service| {
                let mut spec = SidecarSpec::new(service.name, plugin_config(service, service.sampling_rate));
                spec.workers = workers;
                spec.start(&module).with_context(|| format!("starting the sidecar of {}", service.name))
            })
            .collect::<anyhow::Result<Vec<Proxy>>>()?;

        println!(
            "ACGS mesh tracing demo: {} seed services, {} filter VMs each, filter .wasm {} KB",
            SEED_SERVICES.len(),
            workers,
            module.wasm_bytes_len() / 1024
        );
        let progress = ProgressBar::new(self.requests).with_style(
            ProgressStyle::with_template("{spinner} {msg:<12} [{bar:40}] {pos}/{len} requests ({per_sec})")
                .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?
                .progress_chars("=> "),
        );
        progress.set_message("traffic");

        let mut traffic = TrafficGenerator::new(self.seed, TrafficMix::default());
        let mut tallies = vec![ServiceTally::default(); SEED_SERVICES.len()];
        let started = Instant::now();
        for n in 0..self.requests {
            let planned = traffic.next_request();
            let sidecar = &mut sidecars[planned.service];
            let worker_index = usize::try_from(n).unwrap_or(0) % workers;
            let worker = &mut sidecar.workers_mut()[worker_index];
            let mut upstream = |_: &Headers, _: &[u8]| seed_service_response();
            let outcome = worker.handle(planned.request, &mut upstream);
            tally(&mut tallies[planned.service], planned.presented, &outcome);
            progress.inc(1);
        }
        progress.finish_with_message("done");
        let elapsed = started.elapsed();

        print_summary(&tallies);
        println!(
            "{} requests in {:.2} s ({:.0} requests/s through the filter, single thread)",
            self.requests,
            elapsed.as_secs_f64(),
            self.requests as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        let failed = print_checks(&tallies);
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

fn seed_service_response() -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "application/json");
    HttpResponse { status: 200, headers, body: br#"{"ok":true}"#.to_vec(), trailers: Headers::new() }
}

fn tally(tally: &mut ServiceTally, presented: HashPresented, outcome: &StreamOutcome) {
    tally.requests += 1;
    let hash_status = match &outcome.forwarded {
        Some(forwarded) => {
            tally.forwarded += 1;
            if forwarded.get("traceparent").and_then(|tp| tp.get(53..55)) == Some(b"01") {
                tally.sampled += 1;
            }
            forwarded.get_str("x-acgs-hash-status").unwrap_or("-").to_owned()
        }
        None => {
            tally.rejected += 1;
            serde_json::from_slice::<serde_json::Value>(&outcome.response.body)
                .ok()
                .and_then(|body| body.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "-".to_owned())
        }
    };
    let expected = match presented {
        HashPresented::Valid => ("valid", 200),
        HashPresented::Missing => ("missing", 403),
        HashPresented::Forged => ("mismatch", 403),
        HashPresented::Probe => ("exempt", 200),
    };
    if (hash_status.as_str(), outcome.response.status) != expected {
        tally.wrong_decisions += 1;
    }
    *tally.by_hash_status.entry(hash_status).or_default() += 1;
}

fn print_summary(tallies: &[ServiceTally]) {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "service", "strategy", "requests", "valid", "missing", "mismatch", "exempt", "403", "forwarded", "sampled",
    ]);
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let count = |status: &str| tally.by_hash_status.get(status).copied().unwrap_or(0).to_string();
        table.add_row([
            service.name.to_owned(),
            format!("probabilistic {}", service.sampling_rate),
            tally.requests.to_string(),
            count("valid"),
            count("missing"),
            count("mismatch"),
            count("exempt"),
            tally.rejected.to_string(),
            tally.forwarded.to_string(),
            format!("{} ({:.1} %)", tally.sampled, percent(tally.sampled, tally.forwarded)),
        ]);
    }
    println!("{table}");
}

/// Prints each check with ✓/✗ and returns how many failed.
fn print_checks(tallies: &[ServiceTally]) -> usize {
    let mut checks = Vec::new();
    let wrong: u64 = tallies.iter().map(|t| t.wrong_decisions).sum();
    checks.push((wrong == 0, format!("strict mode: every missing/forged hash got 403, every other request was forwarded ({wrong} wrong)")));
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let observed = fraction(tally.sampled, tally.forwarded);
        let ok = if service.name == "constitutional-core" {
            tally.sampled == tally.forwarded
        } else if service.sampling_rate < 1.0 {
            within_binomial(observed, service.sampling_rate, tally.forwarded)
        } else {
            continue;
        };
        checks.push((
            ok,
            format!(
                "{}: {:.2} % of forwarded requests sampled (strategy {} %)",
                service.name,
                observed * 100.0,
                service.sampling_rate * 100.0
            ),
        ));
    }
    for (ok, text) in &checks {
        println!("{} {text}", if *ok { "✓" } else { "✗" });
    }
    checks.iter().filter(|(ok, _)| !ok).count()
}

/// Whether `observed` is within 4.5 standard deviations of a binomial(n, p) proportion.
fn within_binomial(observed: f64, p: f64, n: u64) -> bool {
    if n == 0 {
        return false;
    }
    let sigma = (p * (1.0 - p) / n as f64).sqrt();
    (observed - p).abs() <= 4.5 * sigma + f64::EPSILON
}

fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn percent(part: u64, whole: u64) -> f64 {
    fraction(part, whole) * 100.0
}
