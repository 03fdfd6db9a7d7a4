//! `acgs-tracing demo`: the product on embedded defaults, with no cluster and no external server,
//! in under a minute. A real control plane runs in-process on loopback (strategies from a file,
//! telemetry in 1 s windows, the four alerts evaluated every 250 ms over the last 4 s); the real
//! filter .wasm runs in a sidecar (the embedded proxy-wasm host) in front of each seed service,
//! polls its strategy and reports its telemetry. The show, one function per step:
//!
//! - [`set_up`]: the control plane, the rendered manifests' Collector model, the sidecars;
//! - the traffic phases ([`phases`]): 1. normal traffic with valid hashes and health probes;
//!   half-way the strategies file is edited (groqcloud-policy 1 → 0.25) and the sampled fraction
//!   follows; 2. faults: 10 % missing and 10 % forged hashes, auth-service 8 ms slower, traffic
//!   down to 50 requests/s — until all four alerts fire; 3. recovery: normal traffic until every
//!   alert has resolved;
//! - [`wind_down`]: the filters' last telemetry, the pipeline's last spans, the analysis;
//! - [`print_results`]: the summary of the filters' decisions checked against what was sent, the
//!   tracing pipeline as in a mesh (what each sidecar's Envoy recorded, what the filters decided,
//!   what the rendered Collector tiers kept, next to each strategy: [`pipeline`]), the alert
//!   timeline, and the trace analysis report over the spans the control plane collected, also
//!   written as an HTML page whose path is printed.
//!
//! Exit code 1 when a check fails. `--format json` sends the story to stderr and prints one
//! object with every check on stdout, for scripts. `--otlp-endpoint` also exports the request
//! metrics to a collector.

mod alert_watch;
mod phases;
mod pipeline;
mod tally;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use acgs_wasm_host::{FilterModule, Proxy};
use anyhow::Context as _;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::alerts::rules::AlertConfig;
use crate::analysis::anomaly::AnomalyOptions;
use crate::analysis::render::{html, table};
use crate::analysis::report::Report;
use crate::analysis::{source, AnalysisOptions, Analyzer};
use crate::commands::args::OutputFormat;
use crate::exit::{UsageError, EXIT_FAILED};
use crate::mesh::istio::{tracing_for, ProxyRole};
use crate::mesh::seed::{plugin_config_polling, strategies_with, SEED_SERVICES};
use crate::mesh::sidecar::{load_filter, SidecarSpec};
use crate::mesh::traffic::{TrafficGenerator, TrafficMix};
use crate::rollout::bundle::Manifest;
use crate::rollout::render::{render, RenderOptions, DEFAULT_NAMESPACE};
use crate::server::{start, RunningServer, ServerConfig};
use crate::telemetry::otlp::OtlpConfig;
use crate::telemetry::store::StoreLimits;
use crate::telemetry::TelemetryConfig;
use alert_watch::AlertWatch;
use phases::Mesh;
use pipeline::Pipeline;
use tally::{PhaseSampling, ServiceTally};

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

    /// Output format. json: the story goes to stderr, and stdout gets one object with every check
    /// (`{"checks":[{"passed","check"}],"passed","failed","requests","seconds","html_report"}`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Where the log lines went when not to stderr (set by the command line, not an argument).
    #[arg(skip)]
    pub log_file: Option<PathBuf>,
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

impl Demo {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        // JSON: the story's lines go to stderr, stdout keeps only the result.
        let result_out = match self.format {
            OutputFormat::Json => Some(story_to_stderr()?),
            OutputFormat::Text => None,
        };
        let module = load_filter(None)?;
        let workers = usize::try_from(self.workers).map_err(|e| UsageError(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let dir = std::env::temp_dir().join(format!("acgs-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let strategies = dir.join("strategies.json");
        std::fs::write(&strategies, strategies_with(CHANGED_SERVICE, 1.0))?;
        let (server, sidecars, pipeline) = set_up(&runtime, &module, &strategies, workers, self.otlp_endpoint.clone())?;

        let bars = MultiProgress::new();
        let (progress, live) = progress_views(&bars)?;
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
        let started = Instant::now();
        let sampling = phases::normal(&mut mesh, &mut traffic, self.requests, &strategies)?;
        let fired = phases::faults(&mut mesh, self.seed + 1);
        let resolved = phases::recovery(&mut mesh, &mut traffic);
        progress.finish_with_message("done");
        let elapsed = started.elapsed();
        let ended = wind_down(mesh, &bars);
        runtime.block_on(server.shutdown());
        let _ = std::fs::remove_dir_all(&dir);

        let outcome = Outcome { sampling, fired, resolved, elapsed };
        let checks = print_results(&ended, &outcome, &self.html)?;
        if let Some(log) = &self.log_file {
            println!("The control plane's log lines are in {} (`--log warn` prints them here instead).", log.display());
        }
        let failed = checks.iter().filter(|(passed, _)| !passed).count();
        if let Some(mut out) = result_out {
            let result = serde_json::json!({
                "checks": checks.iter().map(|(passed, check)| serde_json::json!({"passed": passed, "check": check})).collect::<Vec<_>>(),
                "passed": checks.len() - failed,
                "failed": failed,
                "requests": ended.sent,
                "seconds": outcome.elapsed.as_secs_f64(),
                "html_report": self.html,
            });
            writeln!(out, "{result}").context("writing the result")?;
        }
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED) })
    }
}

/// Sends what the demo prints for people to stderr from now on; returns the original stdout, for
/// the result alone.
fn story_to_stderr() -> anyhow::Result<std::fs::File> {
    std::io::stdout().flush()?;
    let result = rustix::io::dup(std::io::stdout()).context("keeping stdout for the result")?;
    rustix::stdio::dup2_stdout(std::io::stderr()).context("sending the story to stderr")?;
    Ok(std::fs::File::from(result))
}

/// Starts the in-process control plane (strategies from `strategies`, the demo's telemetry
/// windows and alerting), models the rendered Collector tiers, starts a sidecar running `module`
/// in front of each seed service, and prints what runs.
fn set_up(
    runtime: &tokio::runtime::Runtime,
    module: &FilterModule,
    strategies: &Path,
    workers: usize,
    otlp_endpoint: Option<String>,
) -> anyhow::Result<(RunningServer, Vec<Proxy>, Pipeline)> {
    let telemetry = TelemetryConfig {
        export: otlp_endpoint.map(OtlpConfig::new),
        limits: StoreLimits { window: Duration::from_secs(1), ..StoreLimits::default() },
        ..TelemetryConfig::default()
    };
    let config = ServerConfig {
        grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        telemetry,
        alerts: demo_alerts(),
        ..ServerConfig::loopback(Some(strategies.to_path_buf()))
    };
    let server = runtime.block_on(start(config)).context("starting the in-process control plane")?;
    let manifests = render(&RenderOptions::default()).context("rendering the rollout's manifests")?;
    let pipeline = Pipeline::new(&manifests).context("modelling the rendered Collector tiers")?;
    let sidecars = start_sidecars(module, &manifests, &server, workers)?;
    println!(
        "ACGS mesh tracing demo: control plane on {} (gRPC {}), {} seed services with {} filter VMs each, filter .wasm {} KB",
        server.http_addr,
        server.grpc_addr.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        SEED_SERVICES.len(),
        workers,
        module.wasm_bytes_len() / 1024
    );
    Ok((server, sidecars, pipeline))
}

/// A sidecar per seed service: the filter polling `server` and flushing to it at the demo's
/// pace, with the tracing the rendered Telemetry configures.
fn start_sidecars(
    module: &FilterModule,
    manifests: &[Manifest],
    server: &RunningServer,
    workers: usize,
) -> anyhow::Result<Vec<Proxy>> {
    SEED_SERVICES
        .iter()
        .map(|service| {
            let mut plugin = plugin_config_polling(service, service.sampling_rate, POLL_INTERVAL_MS);
            plugin["control_plane"]["flush_interval_ms"] = FLUSH_INTERVAL_MS.into();
            let mut spec = SidecarSpec::new(service.name, plugin);
            spec.workers = workers;
            spec.control_plane = Some(server.http_addr);
            let host = format!("{}.{DEFAULT_NAMESPACE}.svc.cluster.local", service.name);
            let tracing =
                tracing_for(manifests, ProxyRole::SidecarInbound, service.name, DEFAULT_NAMESPACE, &host, 8080)
                    .map_err(|e| anyhow::anyhow!("the rendered Telemetry: {e}"))?;
            spec.tracing = Some(tracing);
            spec.start(module).with_context(|| format!("starting the sidecar of {}", service.name))
        })
        .collect()
}

/// The progress line and one live line per seed service.
fn progress_views(bars: &MultiProgress) -> anyhow::Result<(ProgressBar, Vec<ProgressBar>)> {
    let progress = bars.add(
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg:<34} {pos} requests ({per_sec})")
                .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?,
        ),
    );
    let live = SEED_SERVICES
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
    Ok((progress, live))
}

/// What the traffic phases found.
struct Outcome {
    /// The changed service's sampling before and after the strategy change.
    sampling: [PhaseSampling; 2],
    /// All four alerts fired during the faults.
    fired: bool,
    /// Every alert resolved after them.
    resolved: bool,
    /// How long the three phases took.
    elapsed: Duration,
}

/// What is left once the traffic stopped: the tallies, the pipeline, the alerts seen, what the
/// control plane counted, and the analysis of the spans it collected.
struct Ended {
    tallies: Vec<ServiceTally>,
    watch: AlertWatch,
    pipeline: Pipeline,
    sent: u64,
    counted: u64,
    report: Report,
}

/// After the traffic: waits for the filters' last telemetry, takes the sidecars' last spans into
/// the pipeline, shows the final live counts, and analyses what the control plane collected.
fn wind_down(mut mesh: Mesh<'_>, bars: &MultiProgress) -> Ended {
    let server = mesh.server;
    let sent = mesh.sent;
    let counted = flush_telemetry(&mut mesh.sidecars, server, sent);
    mesh.pipeline.finish(&mesh.sidecars);
    phases::show_live_counts(server, &mesh.live);
    for bar in &mesh.live {
        bar.finish();
    }
    if bars.is_hidden() {
        for bar in &mesh.live {
            println!("{}", bar.message().trim_end());
        }
    }
    let report = analyse_collected(server);
    let Mesh { tallies, watch, pipeline, .. } = mesh;
    Ended { tallies, watch, pipeline, sent, counted, report }
}

/// Prints the summary, the pipeline, the alert timeline and the analysis (also written as HTML to
/// `html`), then every check with ✓/✗; returns the checks (passed, what was checked).
fn print_results(ended: &Ended, outcome: &Outcome, html_path: &Path) -> anyhow::Result<Vec<(bool, String)>> {
    let Ended { tallies, watch, pipeline, sent, counted, report } = ended;
    let (sent, counted) = (*sent, *counted);
    tally::print_summary(tallies);
    println!(
        "\nTracing as in the mesh: each sidecar's Envoy records every request, the filters decide and tag, the \
         Collector keeps what they decided (decision_wait {} s):",
        pipeline.decision_wait().as_secs()
    );
    pipeline.print(&tally::strategies());
    let incoming = TrafficMix::default().with_traceparent * 100.0;
    println!(
        "Parent-based, on the filter's decision: {incoming:.0} % of the requests arrive with a caller's traceparent\n\
         flagged sampled (the calling sidecar's Envoy records every hop: the flag says \"recorded\", not \"kept\").\n\
         The filter decides with its service's strategy where the trace enters the mesh and carries the decision\n\
         in baggage; later hops follow it (docs/mesh.md). groqcloud-policy's share lies between its two strategies\n\
         because its strategy changed half-way (the checks below take each half). The parents of those requests'\n\
         spans live in the callers, outside the demo: they are the analysis' orphan spans."
    );
    println!(
        "{sent} requests in {:.2} s ({:.0} requests/s through the filters on average)",
        outcome.elapsed.as_secs_f64(),
        sent as f64 / outcome.elapsed.as_secs_f64().max(1e-9)
    );
    println!("\nAlerts (evaluated every 250 ms over the last 4 s of telemetry):");
    watch.print_table();
    println!("\n{}", table::render(report));
    std::fs::write(html_path, html::render(report, &html::PageLinks::default()))
        .with_context(|| format!("writing {}", html_path.display()))?;
    println!("HTML report: {}", html_path.display());
    let mut checks = tally::checks(tallies, &outcome.sampling, pipeline.counts());
    let dropped = pipeline.dropped();
    checks.extend([
        (dropped == 0, format!("no span dropped by the sidecars' tracers ({dropped})")),
        (counted == sent, format!("control plane counted {counted} of {sent} requests from the filters' telemetry")),
        (outcome.fired, "all four alerts fired during the faults".to_owned()),
        (outcome.resolved, "every alert resolved after the faults ended".to_owned()),
        (
            report.findings.iter().any(|f| f.rule == "ConstitutionalHashViolation"),
            format!("the analysis found the forged hashes ({} issues in total)", report.summary.total_issues),
        ),
    ]);
    for (passed, check) in &checks {
        println!("{} {check}", if *passed { "✓" } else { "✗" });
    }
    Ok(checks)
}

/// The analysis report over the spans the control plane collected (1 s anomaly intervals).
fn analyse_collected(server: &RunningServer) -> Report {
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

/// `part` of `whole` (0 when there is none).
fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `part` of `whole` in percent.
fn percent(part: u64, whole: u64) -> f64 {
    fraction(part, whole) * 100.0
}

#[cfg(test)]
mod tests;
