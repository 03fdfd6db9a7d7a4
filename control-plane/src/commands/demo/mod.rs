//! `acgs-tracing demo`: the product on embedded defaults, with no cluster and no external server,
//! in under a minute. A real control plane runs in-process on loopback (strategies from a file,
//! telemetry in 1 s windows, the four alerts evaluated every 250 ms over the last 4 s); the real
//! filter .wasm runs in a sidecar (the embedded proxy-wasm host) in front of each seed service,
//! polls its strategy and reports its telemetry. The show, in phases:
//!
//! 1. normal traffic with valid hashes and health probes; half-way the strategies file is edited
//!    (groqcloud-policy 1 → 0.25) and the sampled fraction follows;
//! 2. faults: 10 % missing and 10 % forged hashes, auth-service 8 ms slower, traffic down to
//!    50 requests/s — until all four alerts fire;
//! 3. recovery: normal traffic until every alert has resolved;
//!
//! then the summary of the filters' decisions checked against what was sent, the tracing pipeline
//! as in a mesh (what each sidecar's Envoy recorded, what the filters decided, what the rendered
//! Collector tiers kept, next to each strategy: [`pipeline`]), the alert timeline, and the trace
//! analysis report over the spans the control plane collected, also written as an HTML page whose
//! path is printed. Exit code 1 when a check fails. `--otlp-endpoint` also exports the request
//! metrics to a collector.

mod alert_watch;
mod pipeline;
mod tally;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use acgs_filter::poll::STRATEGY_KEY;
use acgs_proto::telemetry::HashStatus;

use acgs_wasm_host::{Headers, HttpResponse, Proxy};
use anyhow::Context as _;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::alerts::rules::AlertConfig;
use crate::analysis::anomaly::AnomalyOptions;
use crate::analysis::render::{html, table};
use crate::analysis::{source, AnalysisOptions, Analyzer};
use crate::exit::{UsageError, EXIT_FAILED};
use crate::mesh::istio::{tracing_for, ProxyRole};
use crate::mesh::seed::{plugin_config_polling, strategies_with, SEED_SERVICES};
use crate::mesh::sidecar::{load_filter, SidecarSpec};
use crate::mesh::traffic::{TrafficGenerator, TrafficMix};
use crate::rollout::render::{render, RenderOptions, DEFAULT_NAMESPACE};
use crate::server::{start, RunningServer, ServerConfig};
use crate::telemetry::otlp::OtlpConfig;
use crate::telemetry::store::StoreLimits;
use crate::telemetry::TelemetryConfig;
use alert_watch::AlertWatch;
use pipeline::Pipeline;

/// Run the whole product on embedded defaults and show what it does.
#[derive(Debug, Args)]
pub struct Demo {
    /// Number of requests the simulated clients send in the normal phase.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub requests: u64,

    /// Envoy worker threads (filter VMs) per sidecar.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,

    /// Seed of the simulated traffic (same seed, same requests).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Export the request metrics to this OTLP/gRPC collector (off by default).
    #[arg(long, env = "ACGS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Where the HTML analysis report is written.
    #[arg(long, value_name = "PATH", default_value_os_t = std::env::temp_dir().join("acgs-demo-report.html"))]
    pub html: PathBuf,
}

/// What one service's sidecar decided, counted.
#[derive(Debug, Default, Clone)]
struct ServiceTally {
    requests: u64,
    by_hash_status: BTreeMap<HashStatus, u64>,
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
/// How often the sidecars poll the control plane and flush telemetry in the demo.
const POLL_INTERVAL_MS: u64 = 250;
const FLUSH_INTERVAL_MS: u64 = 250;
/// The pace of the simulated clients in the normal and recovery phases.
const REQUESTS_PER_SECOND: f64 = 2_500.0;
/// The pace during the fault phase (a traffic drop below the 100 RPS target).
const FAULT_REQUESTS_PER_SECOND: f64 = 50.0;
/// The service that gets slow during the fault phase, and by how much.
const SLOW_SERVICE: &str = "auth-service";
const SLOWDOWN: Duration = Duration::from_millis(8);
/// The longest the fault and recovery phases wait for the alerts.
const ALERT_WAIT: Duration = Duration::from_secs(20);

/// Sampling of requests the filter decided itself (no incoming traceparent), before and after
/// the mid-run strategy change.
#[derive(Debug, Default, Clone, Copy)]
struct PhaseSampling {
    decided: u64,
    sampled: u64,
}

/// The demo's alerting: short windows so faults show and clear within seconds.
fn demo_alerts() -> AlertConfig {
    AlertConfig {
        range: Duration::from_secs(4),
        eval_interval: Duration::from_millis(250),
        for_violation: Duration::ZERO,
        for_others: Duration::from_secs(1),
        ..AlertConfig::default()
    }
}

/// Everything one request needs: the sidecars, the tallies, the live views.
struct Mesh<'a> {
    sidecars: Vec<Proxy>,
    workers: usize,
    tallies: Vec<ServiceTally>,
    server: &'a RunningServer,
    live: Vec<ProgressBar>,
    progress: ProgressBar,
    watch: AlertWatch,
    pipeline: Pipeline,
    sent: u64,
}

impl Mesh<'_> {
    /// Sends one request; returns whether the filter decided to keep it (`None` when the
    /// request was refused).
    fn send(&mut self, traffic: &mut TrafficGenerator, slow: Option<usize>) -> (usize, Option<bool>) {
        let planned = traffic.next_request();
        let worker =
            &mut self.sidecars[planned.service].workers_mut()[usize::try_from(self.sent).unwrap_or(0) % self.workers];
        let delay = if slow == Some(planned.service) { SLOWDOWN } else { Duration::ZERO };
        let mut upstream = |_: &Headers, _: &[u8]| {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            seed_service_response()
        };
        let outcome = worker.handle(planned.request, &mut upstream);
        let sampled = outcome.forwarded.is_some().then(|| tally::decided_keep(&outcome));
        tally::tally(&mut self.tallies[planned.service], planned.presented, &outcome);
        self.sent += 1;
        self.progress.inc(1);
        if self.sent.is_multiple_of(50) {
            self.pipeline.collect(&self.sidecars);
            show_live_counts(self.server, &self.live);
            let progress = self.progress.clone();
            self.watch.observe(&self.server.alerts, |line| progress.suspend(|| println!("{line}")));
        }
        (planned.service, sampled)
    }

    /// Sends at `rate` until `done` says so or `limit` passes; returns whether `done` was met.
    fn send_until(
        &mut self,
        traffic: &mut TrafficGenerator,
        rate: f64,
        slow: Option<usize>,
        limit: Duration,
        done: impl Fn(&AlertWatch) -> bool,
    ) -> bool {
        let started = Instant::now();
        let mut n: u64 = 0;
        while started.elapsed() < limit {
            self.send(traffic, slow);
            n += 1;
            if n.is_multiple_of(10) {
                let progress = self.progress.clone();
                self.watch.observe(&self.server.alerts, |line| progress.suspend(|| println!("{line}")));
                if done(&self.watch) {
                    return true;
                }
            }
            pace_at(started, n, rate);
        }
        false
    }
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
        let telemetry = TelemetryConfig {
            export: self.otlp_endpoint.clone().map(OtlpConfig::new),
            limits: StoreLimits { window: Duration::from_secs(1), ..StoreLimits::default() },
            ..TelemetryConfig::default()
        };
        let config = ServerConfig {
            grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            telemetry,
            alerts: demo_alerts(),
            ..ServerConfig::loopback(Some(strategies.clone()))
        };
        let server = runtime.block_on(start(config)).context("starting the in-process control plane")?;
        let manifests = render(&RenderOptions::default()).context("rendering the rollout's manifests")?;
        let pipeline = Pipeline::new(&manifests).context("modelling the rendered Collector tiers")?;
        let sidecars = SEED_SERVICES
            .iter()
            .map(|service| {
                let mut plugin = plugin_config_polling(service, service.sampling_rate, POLL_INTERVAL_MS);
                plugin["control_plane"]["flush_interval_ms"] = FLUSH_INTERVAL_MS.into();
                let mut spec = SidecarSpec::new(service.name, plugin);
                spec.workers = workers;
                spec.control_plane = Some(server.http_addr);
                let host = format!("{}.{DEFAULT_NAMESPACE}.svc.cluster.local", service.name);
                let tracing =
                    tracing_for(&manifests, ProxyRole::SidecarInbound, service.name, DEFAULT_NAMESPACE, &host, 8080)
                        .map_err(|e| anyhow::anyhow!("the rendered Telemetry: {e}"))?;
                spec.tracing = Some(tracing);
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
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg:<34} {pos} requests ({per_sec})")
                    .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?,
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
        let mut mesh = Mesh {
            sidecars,
            workers,
            tallies: vec![ServiceTally::default(); SEED_SERVICES.len()],
            server: &server,
            live,
            progress: progress.clone(),
            watch: AlertWatch::new(),
            pipeline,
            sent: 0,
        };
        let clean = TrafficMix { missing: 0.0, forged: 0.0, ..TrafficMix::default() };
        let mut traffic = TrafficGenerator::new(self.seed, clean);
        let mut phases = [PhaseSampling::default(); 2];
        let changed_index = SEED_SERVICES.iter().position(|s| s.name == CHANGED_SERVICE).unwrap_or(0);
        let slow_index = SEED_SERVICES.iter().position(|s| s.name == SLOW_SERVICE);
        let started = Instant::now();
        let half = self.requests / 2;
        for (phase, counts) in phases.iter_mut().enumerate() {
            let count = if phase == 0 { half } else { self.requests - half };
            progress.set_message(if phase == 0 {
                "1. normal traffic, seed strategies"
            } else {
                "1. normal traffic, changed strategy"
            });
            let phase_started = Instant::now();
            for n in 0..count {
                let (service, sampled) = mesh.send(&mut traffic, None);
                if let (true, Some(sampled)) = (service == changed_index, sampled) {
                    counts.decided += 1;
                    counts.sampled += u64::from(sampled);
                }
                pace_at(phase_started, n + 1, REQUESTS_PER_SECOND);
            }
            if phase == 0 {
                progress.suspend(|| {
                    println!("→ strategies file edited: {CHANGED_SERVICE} probabilistic 1 → {CHANGED_RATE}")
                });
                std::fs::write(&strategies, strategies_with(CHANGED_SERVICE, CHANGED_RATE))?;
                let applied = wait_until_applied(&mut mesh.sidecars[changed_index], Duration::from_secs(10));
                progress.suspend(|| match applied {
                    Some(took) => println!(
                        "→ every {CHANGED_SERVICE} filter VM applies it {:.0} ms after the edit",
                        took.as_secs_f64() * 1e3
                    ),
                    None => println!("→ the filters did not apply the change within 10 s"),
                });
            }
        }
        progress.set_message("2. faults: bad hashes, slow auth, low traffic");
        progress.suspend(|| {
            println!("→ faults injected: 10 % missing and 10 % forged hashes, {SLOW_SERVICE} +{} ms, traffic down to {FAULT_REQUESTS_PER_SECOND} requests/s", SLOWDOWN.as_millis())
        });
        let mut faulty =
            TrafficGenerator::new(self.seed + 1, TrafficMix { missing: 0.1, forged: 0.1, ..TrafficMix::default() });
        let fired =
            mesh.send_until(&mut faulty, FAULT_REQUESTS_PER_SECOND, slow_index, ALERT_WAIT, AlertWatch::all_fired);
        progress.set_message("3. recovery: normal traffic");
        progress.suspend(|| println!("→ faults ended: normal traffic again"));
        let resolved = mesh.send_until(&mut traffic, REQUESTS_PER_SECOND, None, ALERT_WAIT, AlertWatch::all_resolved);
        progress.finish_with_message("done");
        let elapsed = started.elapsed();
        let sent = mesh.sent;
        let counted = flush_telemetry(&mut mesh.sidecars, &server, sent);
        mesh.pipeline.finish(&mesh.sidecars);
        show_live_counts(&server, &mesh.live);
        for bar in &mesh.live {
            bar.finish();
        }
        if bars.is_hidden() {
            for bar in &mesh.live {
                println!("{}", bar.message().trim_end());
            }
        }
        let report = analyse_collected(&server);
        let Mesh { tallies, watch, pipeline, .. } = mesh;
        runtime.block_on(server.shutdown());
        let _ = std::fs::remove_dir_all(&dir);

        tally::print_summary(&tallies);
        println!(
            "\nTracing as in the mesh: each sidecar's Envoy records every request, the filters decide and tag, the \
             Collector keeps what they decided (decision_wait {} s):",
            pipeline.decision_wait().as_secs()
        );
        pipeline.print(&tally::strategies());
        println!(
            "{sent} requests in {:.2} s ({:.0} requests/s through the filters on average)",
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        println!("\nAlerts (evaluated every 250 ms over the last 4 s of telemetry):");
        watch.print_table();
        println!("\n{}", table::render(&report));
        std::fs::write(&self.html, html::render(&report))
            .with_context(|| format!("writing {}", self.html.display()))?;
        println!("HTML report: {}", self.html.display());
        let mut failed = tally::print_checks(&tallies, &phases, pipeline.counts());
        let dropped = pipeline.dropped();
        println!("{} no span dropped by the sidecars' tracers ({dropped})", if dropped == 0 { "✓" } else { "✗" });
        failed += usize::from(dropped > 0);
        let all_counted = counted == sent;
        let checks = [
            (all_counted, format!("control plane counted {counted} of {sent} requests from the filters' telemetry")),
            (fired, "all four alerts fired during the faults".to_owned()),
            (resolved, "every alert resolved after the faults ended".to_owned()),
            (
                report.findings.iter().any(|f| f.rule == "ConstitutionalHashViolation"),
                format!("the analysis found the forged hashes ({} issues in total)", report.summary.total_issues),
            ),
        ];
        for (ok, text) in &checks {
            println!("{} {text}", if *ok { "✓" } else { "✗" });
        }
        failed += checks.iter().filter(|(ok, _)| !ok).count();
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

/// The analysis report over the spans the control plane collected (1 s anomaly intervals).
fn analyse_collected(server: &RunningServer) -> crate::analysis::report::Report {
    let options = AnalysisOptions {
        anomaly: AnomalyOptions { interval_secs: 1, baseline_secs: 10 },
        ..AnalysisOptions::default()
    };
    let mut analyzer = Analyzer::new(options.clone());
    if let Ok(store) = server.telemetry.store().read() {
        source::collected::feed(store.spans(), &mut analyzer);
    }
    analyzer.finish("the demo's control plane (collected spans)")
}

/// The control plane's counts per service and hash status, from the filters' telemetry.
fn show_live_counts(server: &RunningServer, lines: &[ProgressBar]) {
    let Ok(store) = server.telemetry.store().read().map(|store| store.requests_by_service_and_status()) else {
        return;
    };
    for (service, line) in SEED_SERVICES.iter().zip(lines) {
        let counts: Vec<String> = HashStatus::ALL
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

/// Keeps the clients at `rate` requests per second, so that sidecars poll and flush during the run.
fn pace_at(phase_started: Instant, sent: u64, rate: f64) {
    let due = Duration::from_secs_f64(sent as f64 / rate);
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

fn seed_service_response() -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "application/json");
    HttpResponse { status: 200, headers, body: br#"{"ok":true}"#.to_vec(), trailers: Headers::new() }
}
