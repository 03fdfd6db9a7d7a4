//! `acgs-tracing demo`: the product on embedded defaults, with no cluster and no external server.
//! A real control plane runs in-process on loopback, serving the seed strategies from a file; the
//! real filter .wasm runs in a sidecar (the embedded proxy-wasm host) in front of each seed
//! service and polls it; simulated clients send a few thousand requests at a steady pace, some
//! with missing or forged hashes and health probes. Half-way, the strategies file is edited
//! (groqcloud-policy 1 → 0.25) and the sampled fraction follows. Then a summary shows what the
//! filters decided and checks it against what was sent, and that the control plane counted every
//! request from the filters' telemetry, shown live while traffic runs (exit code 1 when a check
//! fails). `--otlp-endpoint` also exports the sampled spans to a collector.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use acgs_filter::poll::STRATEGY_KEY;

use acgs_wasm_host::{Headers, HttpResponse, Proxy, StreamOutcome};
use anyhow::Context as _;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::{UsageError, EXIT_FAILED};
use crate::mesh::seed::{plugin_config_polling, strategies_with, SEED_SERVICES};
use crate::mesh::sidecar::{load_filter, SidecarSpec};
use crate::mesh::traffic::{HashPresented, TrafficGenerator, TrafficMix};
use crate::server::{start, RunningServer, ServerConfig};
use crate::telemetry::otlp::OtlpConfig;
use crate::telemetry::TelemetryConfig;

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

    /// Export sampled spans and request metrics to this OTLP/gRPC collector (off by default).
    #[arg(long, env = "ACGS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
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

/// The strategy change the demo makes half-way: this service's rate goes from its seed value
/// to this one.
const CHANGED_SERVICE: &str = "groqcloud-policy";
const CHANGED_RATE: f64 = 0.25;
/// How often the sidecars poll the control plane in the demo.
const POLL_INTERVAL_MS: u64 = 250;
/// The pace of the simulated clients.
const REQUESTS_PER_SECOND: f64 = 2_500.0;

/// Sampling of requests the filter decided itself (no incoming traceparent), before and after
/// the mid-run strategy change.
#[derive(Debug, Default, Clone, Copy)]
struct PhaseSampling {
    decided: u64,
    sampled: u64,
}

impl Demo {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let module = load_filter(None)?;
        let workers = usize::try_from(self.workers).map_err(|e| UsageError(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let dir = std::env::temp_dir().join(format!("acgs-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let strategies = dir.join("strategies.json");
        std::fs::write(&strategies, strategies_with(CHANGED_SERVICE, 1.0))?;
        let telemetry =
            TelemetryConfig { export: self.otlp_endpoint.clone().map(OtlpConfig::new), ..TelemetryConfig::default() };
        let config = ServerConfig {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            telemetry,
            ..ServerConfig::loopback(Some(strategies.clone()))
        };
        let server = runtime.block_on(start(config)).context("starting the in-process control plane")?;
        let mut sidecars = SEED_SERVICES
            .iter()
            .map(|service| {
                let mut spec = SidecarSpec::new(
                    service.name,
                    plugin_config_polling(service, service.sampling_rate, POLL_INTERVAL_MS),
                );
                spec.workers = workers;
                spec.control_plane = Some(server.http_addr);
                spec.start(&module).with_context(|| format!("starting the sidecar of {}", service.name))
            })
            .collect::<anyhow::Result<Vec<Proxy>>>()?;

        println!(
            "ACGS mesh tracing demo: control plane on {} (gRPC {}), {} seed services with {} filter VMs each, filter .wasm {} KB",
            server.http_addr,
            server.grpc_addr.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            SEED_SERVICES.len(),
            workers,
            module.wasm_bytes_len() / 1024
        );
        let bars = MultiProgress::new();
        let progress = bars.add(
            ProgressBar::new(self.requests).with_style(
                ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos}/{len} requests ({per_sec})")
                    .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?
                    .progress_chars("=> "),
            ),
        );
        let live: Vec<ProgressBar> = SEED_SERVICES
            .iter()
            .map(|_| {
                bars.add(
                    ProgressBar::new_spinner().with_style(
                        ProgressStyle::default_spinner()
                            .template("  {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    ),
                )
            })
            .collect();
        let mut traffic = TrafficGenerator::new(self.seed, TrafficMix::default());
        let mut tallies = vec![ServiceTally::default(); SEED_SERVICES.len()];
        let mut phases = [PhaseSampling::default(); 2];
        let changed_index = SEED_SERVICES.iter().position(|s| s.name == CHANGED_SERVICE).unwrap_or(0);
        let started = Instant::now();
        let half = self.requests / 2;
        for (phase, counts) in phases.iter_mut().enumerate() {
            let (from, to) = if phase == 0 { (0, half) } else { (half, self.requests) };
            progress.set_message(if phase == 0 { "seed strategies" } else { "after the strategy change" });
            let phase_started = Instant::now();
            for n in from..to {
                let planned = traffic.next_request();
                let decided_by_filter = planned.request.headers.get("traceparent").is_none();
                let sidecar = &mut sidecars[planned.service];
                let worker = &mut sidecar.workers_mut()[usize::try_from(n).unwrap_or(0) % workers];
                let mut upstream = |_: &Headers, _: &[u8]| seed_service_response();
                let outcome = worker.handle(planned.request, &mut upstream);
                if planned.service == changed_index && decided_by_filter && outcome.forwarded.is_some() {
                    counts.decided += 1;
                    counts.sampled += u64::from(is_sampled(&outcome));
                }
                tally(&mut tallies[planned.service], planned.presented, &outcome);
                progress.inc(1);
                if n % 250 == 0 {
                    show_live_counts(&server, &live);
                }
                pace(phase_started, n - from);
            }
            if phase == 0 {
                progress.suspend(|| {
                    println!("→ strategies file edited: {CHANGED_SERVICE} probabilistic 1 → {CHANGED_RATE}")
                });
                std::fs::write(&strategies, strategies_with(CHANGED_SERVICE, CHANGED_RATE))?;
                let applied = wait_until_applied(&mut sidecars[changed_index], Duration::from_secs(10));
                progress.suspend(|| match applied {
                    Some(took) => println!(
                        "→ every {CHANGED_SERVICE} filter VM applies it {:.0} ms after the edit",
                        took.as_secs_f64() * 1e3
                    ),
                    None => println!("→ the filters did not apply the change within 10 s"),
                });
            }
        }
        progress.finish_with_message("done");
        let elapsed = started.elapsed();
        let counted = flush_telemetry(&mut sidecars, &server, self.requests);
        show_live_counts(&server, &live);
        for bar in &live {
            bar.finish();
        }
        if bars.is_hidden() {
            for bar in &live {
                println!("{}", bar.message().trim_end());
            }
        }
        runtime.block_on(server.shutdown());
        let _ = std::fs::remove_dir_all(&dir);

        print_summary(&tallies);
        println!(
            "{} requests in {:.2} s ({:.0} requests/s through the filters)",
            self.requests,
            elapsed.as_secs_f64(),
            self.requests as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        let mut failed = print_checks(&tallies, &phases);
        let all_counted = counted == self.requests;
        println!(
            "{} control plane counted {counted} of {} requests from the filters' telemetry",
            if all_counted { "✓" } else { "✗" },
            self.requests
        );
        failed += usize::from(!all_counted);
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

/// The control plane's counts per service and hash status, from the filters' telemetry.
fn show_live_counts(server: &RunningServer, lines: &[ProgressBar]) {
    let Ok(store) = server.telemetry.store().read().map(|store| store.requests_by_service_and_status()) else {
        return;
    };
    for (service, line) in SEED_SERVICES.iter().zip(lines) {
        let counts: Vec<String> = ["valid", "missing", "mismatch", "exempt", "injected"]
            .iter()
            .filter_map(|status| store.get(&(service.name.to_owned(), *status)).map(|n| format!("{status} {n}")))
            .collect();
        line.set_message(format!("{:<20} control plane counts: {}", service.name, counts.join(" · ")));
    }
}

/// Gives the filters time to flush their last batches; returns what the control plane counted.
fn flush_telemetry(sidecars: &mut [Proxy], server: &RunningServer, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted: u64 = server
            .telemetry
            .store()
            .read()
            .map(|store| store.requests_by_service_and_status().values().sum())
            .unwrap_or(0);
        if counted >= expected || Instant::now() > deadline {
            return counted;
        }
        for sidecar in sidecars.iter_mut() {
            for worker in sidecar.workers_mut() {
                worker.run_for(Duration::from_millis(20));
            }
        }
    }
}

/// Keeps the clients at [`REQUESTS_PER_SECOND`], so that sidecars poll during the run.
fn pace(phase_started: Instant, sent: u64) {
    let due = Duration::from_secs_f64(sent as f64 / REQUESTS_PER_SECOND);
    if let Some(ahead) = due.checked_sub(phase_started.elapsed()) {
        std::thread::sleep(ahead);
    }
}

/// Runs the sidecar's VMs until the strategy the control plane now serves is in force in all of
/// them: its shared strategy record changes and one tick per VM passes.
fn wait_until_applied(sidecar: &mut Proxy, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let before = sidecar.shared_data(STRATEGY_KEY.as_bytes()).map(|(record, _)| record);
    while started.elapsed() < limit {
        for worker in sidecar.workers_mut() {
            worker.run_for(Duration::from_millis(10));
        }
        let now = sidecar.shared_data(STRATEGY_KEY.as_bytes()).map(|(record, _)| record);
        if now.is_some() && now != before {
            for worker in sidecar.workers_mut() {
                worker.run_for(Duration::from_millis(POLL_INTERVAL_MS.min(1_000) + 10));
            }
            return Some(started.elapsed());
        }
    }
    None
}

fn is_sampled(outcome: &StreamOutcome) -> bool {
    outcome.forwarded.as_ref().and_then(|f| f.get("traceparent")).and_then(|tp| tp.get(53..55)) == Some(b"01")
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
        "service",
        "strategy",
        "requests",
        "valid",
        "missing",
        "mismatch",
        "exempt",
        "403",
        "forwarded",
        "sampled",
    ]);
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let count = |status: &str| tally.by_hash_status.get(status).copied().unwrap_or(0).to_string();
        table.add_row([
            service.name.to_owned(),
            if service.name == CHANGED_SERVICE {
                format!("probabilistic {} → {CHANGED_RATE}", service.sampling_rate)
            } else {
                format!("probabilistic {}", service.sampling_rate)
            },
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
fn print_checks(tallies: &[ServiceTally], phases: &[PhaseSampling; 2]) -> usize {
    let mut checks = Vec::new();
    let wrong: u64 = tallies.iter().map(|t| t.wrong_decisions).sum();
    checks.push((
        wrong == 0,
        format!("strict mode: every missing/forged hash got 403, every other request was forwarded ({wrong} wrong)"),
    ));
    for (service, tally) in SEED_SERVICES.iter().zip(tallies) {
        let observed = fraction(tally.sampled, tally.forwarded);
        let ok = if service.name == "constitutional-core" {
            tally.sampled == tally.forwarded
        } else if service.sampling_rate < 1.0 && service.name != CHANGED_SERVICE {
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
    for (phase, (rate, when)) in phases.iter().zip([(1.0, "before"), (CHANGED_RATE, "after")]) {
        let observed = fraction(phase.sampled, phase.decided);
        checks.push((
            within_binomial(observed, rate, phase.decided),
            format!(
                "{CHANGED_SERVICE} {when} the change: {:.1} % of {} filter-decided requests sampled (strategy {} %)",
                observed * 100.0,
                phase.decided,
                rate * 100.0
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
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    fraction(part, whole) * 100.0
}
