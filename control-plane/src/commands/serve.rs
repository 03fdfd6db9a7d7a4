//! `acgs-tracing serve`: the control plane server. Every flag can also be set by environment
//! variable (for Kubernetes manifests). SIGTERM or Ctrl-C stops it gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::alerts::rules::AlertConfig;
use crate::server::{start, KubernetesSource, RunningServer, ServerConfig};
use crate::telemetry::otlp::OtlpConfig;
use crate::telemetry::TelemetryConfig;

/// Serve sampling strategies (HTTP :5778, gRPC :14250), telemetry ingest, metrics and health.
#[derive(Debug, Args)]
pub struct Serve {
    /// HTTP listen address: /sampling, /api/sampling, /metrics, /healthz, /readyz.
    #[arg(long, env = "ACGS_HTTP_ADDR", default_value = "0.0.0.0:5778")]
    pub http_addr: SocketAddr,

    /// gRPC listen address: jaeger.api_v2.SamplingManager.
    #[arg(long, env = "ACGS_GRPC_ADDR", default_value = "0.0.0.0:14250")]
    pub grpc_addr: SocketAddr,

    /// Strategies file in Jaeger's format (JSON, or YAML by extension), reloaded when it changes.
    /// Without it the embedded seed strategies are served.
    #[arg(long, env = "ACGS_STRATEGIES_FILE")]
    pub strategies: Option<PathBuf>,

    /// Also serve `SamplingPolicy` resources (tracing.acgs.io/v1alpha1) from the cluster: in-cluster
    /// service account, else the kubeconfig. Policies override the strategies file per service
    /// (see docs/sampling.md); without a file, only the policies (and Jaeger's defaults) are served.
    #[arg(long, env = "ACGS_KUBERNETES")]
    pub kubernetes: bool,

    /// Kubernetes API server URL to use instead (plain HTTP, unauthenticated: `kubectl proxy`).
    #[arg(long, env = "ACGS_KUBERNETES_API", requires = "kubernetes")]
    pub kubernetes_api: Option<String>,

    /// Bearer token the filters must present on POST /v1/telemetry (unset: no authentication).
    #[arg(long, env = "ACGS_TELEMETRY_TOKEN", hide_env_values = true)]
    pub telemetry_token: Option<String>,

    /// OTLP/gRPC endpoint of an OpenTelemetry Collector to export sampled spans and request
    /// metrics to, e.g. http://otel-collector.acgs-system:4317 (unset: no export).
    #[arg(long, env = "ACGS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Export the request metrics over OTLP as well as the spans. Turn it off where Prometheus
    /// scrapes /metrics (the shipped Deployment does): the counts would arrive twice, and the
    /// replicas' cumulative sums would clash in the Collector's exporter.
    #[arg(long, env = "ACGS_OTLP_METRICS", value_enum, default_value_t = Switch::On)]
    pub otlp_metrics: Switch,

    /// Alertmanager base URL to push alerts to (POST /api/v2/alerts), e.g. http://alertmanager:9093.
    #[arg(long, env = "ACGS_ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// A service out of the hash check's scope (repeatable, or comma-separated in the
    /// environment): in GET /api/v1/analysis its server spans without a hash are untracked, not
    /// violations.
    #[arg(long, env = "ACGS_UNTRACKED_SERVICES", value_name = "NAME", value_delimiter = ',')]
    pub untracked_service: Vec<String>,

    /// After SIGTERM, how long to wait for Prometheus to scrape once more (telemetry is refused
    /// meanwhile, so the filters send it to another replica) before stopping, so that what this
    /// replica counted is not lost with it; 0s: stop at once. The shipped Deployment sets 20s
    /// (its PodMonitor scrapes every 15s). Keep it plus the grace below under the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "ACGS_FINAL_SCRAPE_WAIT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub final_scrape_wait: Duration,

    /// Seconds after SIGTERM (and the final scrape) for in-flight requests to finish and queued
    /// telemetry to reach the collector (keep it below the pod's terminationGracePeriodSeconds).
    #[arg(long, env = "ACGS_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
}

impl Serve {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        check_telemetry_token(self.telemetry_token.as_deref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let telemetry = TelemetryConfig {
                token: self.telemetry_token,
                export: self.otlp_endpoint.map(|endpoint| OtlpConfig {
                    metrics: self.otlp_metrics == Switch::On,
                    ..OtlpConfig::new(endpoint)
                }),
                ..TelemetryConfig::default()
            };
            let config = ServerConfig {
                http_addr: self.http_addr,
                grpc_addr: Some(self.grpc_addr),
                strategies: self.strategies,
                telemetry,
                alerts: self.alerts.config(),
                alertmanager: self.alertmanager_url,
                kubernetes: match (self.kubernetes, self.kubernetes_api) {
                    (false, _) => None,
                    (true, Some(url)) => Some(KubernetesSource::Url(url)),
                    (true, None) => Some(KubernetesSource::Infer),
                },
                untracked_services: self.untracked_service,
            };
            // Listened for before anything says the server is up: a SIGTERM right after start
            // (a rolling update stopping a pod just started) must drain, not kill.
            let stop = StopSignals::listen();
            let server = start(config).await?;
            let grpc = server.grpc_addr.map_or_else(|| "-".to_owned(), |addr| addr.to_string());
            eprintln!("acgs-tracing serving: HTTP {} gRPC {grpc}", server.http_addr);
            stop.received().await;
            if !self.final_scrape_wait.is_zero() {
                drain_until_scraped(&server, self.final_scrape_wait).await;
            }
            tracing::info!("shutting down");
            let grace = Duration::from_secs(self.shutdown_grace_seconds);
            let telemetry = server.telemetry.clone();
            match tokio::time::timeout(grace, server.shutdown()).await {
                Ok(()) => tracing::info!("stopped: in-flight requests answered, queued telemetry exported"),
                Err(_) => tracing::warn!(
                    unexported_spans = telemetry.unexported_spans(),
                    "stopped after the {grace:?} grace period: in-flight requests or the export to the collector \
                     had not finished; the spans not exported are lost"
                ),
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

/// Refuses telemetry from now on, applies what was admitted, and waits (at most `wait`) until
/// `/metrics` has been scraped with all of it.
async fn drain_until_scraped(server: &RunningServer, wait: Duration) {
    server.drain.begin();
    tracing::info!(?wait, "draining: telemetry refused (503), waiting for a last scrape of /metrics");
    let scraped = tokio::time::timeout(wait, async {
        server.telemetry.apply_admitted().await;
        server.drain.wait_for_next_scrape().await;
    })
    .await;
    match scraped {
        Ok(()) => tracing::info!("the last scrape has every counted request"),
        Err(_) => tracing::warn!(
            ?wait,
            "no scrape of /metrics within the final scrape wait: the requests counted since the last scrape are lost \
             to Prometheus"
        ),
    }
}

/// Says at start-up what the telemetry token means for who may post telemetry: an empty token
/// would refuse every batch (401, retried by every filter for ever), so it is refused here; no
/// token (anyone may post) and the shipped placeholder (everyone knows it) are served with a WARN.
fn check_telemetry_token(token: Option<&str>) -> Result<(), crate::exit::UsageError> {
    use crate::rollout::render::PLACEHOLDER_TOKEN;
    match token {
        Some("") => {
            return Err(crate::exit::UsageError(
                "--telemetry-token (ACGS_TELEMETRY_TOKEN) is empty: every filter's batch would be refused with 401; \
                 set the token the filters send, or unset it to accept telemetry without authentication"
                    .to_owned(),
            ))
        }
        None => tracing::warn!(
            "no --telemetry-token (ACGS_TELEMETRY_TOKEN): anyone who reaches this port may post telemetry to POST /v1/telemetry"
        ),
        Some(PLACEHOLDER_TOKEN) => tracing::warn!(
            "the telemetry token is the shipped placeholder {PLACEHOLDER_TOKEN:?}: replace it in the \
             acgs-telemetry-token Secret and the filters' configuration (`acgs-tracing render --generate-telemetry-token`)"
        ),
        Some(_) => {}
    }
    Ok(())
}

/// SIGTERM and Ctrl-C (SIGINT), listened for from the moment this is made: until then, either
/// signal would end the process at once.
struct StopSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!("cannot listen for {name}: {error}");
                    None
                }
            };
            Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for either signal.
    async fn received(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(self.terminate) => {}
                () = next(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Alert thresholds and timing (the four rules of docs/contracts.md).
#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// Evaluate the four alert rules in this process. Turn it off when more than one replica
    /// runs (each sees only the VMs that report to it): Prometheus evaluates the PrometheusRule
    /// over all replicas instead. The shipped Deployment (2 replicas) sets it off.
    #[arg(long, env = "ACGS_BUILTIN_ALERTS", value_enum, default_value_t = Switch::On)]
    pub builtin_alerts: Switch,

    /// Telemetry each evaluation looks back over.
    #[arg(long, env = "ACGS_ALERT_RANGE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub alert_range: Duration,

    /// How often the alert rules are evaluated.
    #[arg(long, env = "ACGS_ALERT_EVAL_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub alert_eval_interval: Duration,

    /// How long a hash violation must hold before ConstitutionalHashViolation fires.
    #[arg(long, env = "ACGS_ALERT_FOR_VIOLATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub alert_for_violation: Duration,

    /// How long the other conditions must hold before their alerts fire.
    #[arg(long, env = "ACGS_ALERT_FOR", default_value = "1m", value_parser = humantime::parse_duration)]
    pub alert_for: Duration,

    /// ConstitutionalComplianceRate fires below this compliant fraction.
    #[arg(long, env = "ACGS_ALERT_MIN_COMPLIANCE", default_value_t = 0.95)]
    pub alert_min_compliance: f64,

    /// HighTraceLatency fires above this p99, in milliseconds.
    #[arg(long, env = "ACGS_ALERT_MAX_P99_MS", default_value_t = 5.0)]
    pub alert_max_p99_ms: f64,

    /// LowTraceThroughput fires below this many requests per second (whole mesh).
    #[arg(long, env = "ACGS_ALERT_MIN_RPS", default_value_t = 100.0)]
    pub alert_min_rps: f64,

    /// How often firing alerts are sent to Alertmanager again (as Prometheus' resend delay).
    #[arg(long, env = "ACGS_ALERT_RESEND_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub alert_resend_interval: Duration,
}

impl AlertArgs {
    pub fn config(&self) -> AlertConfig {
        AlertConfig {
            builtin: self.builtin_alerts == Switch::On,
            range: self.alert_range,
            eval_interval: self.alert_eval_interval,
            for_violation: self.alert_for_violation,
            for_others: self.alert_for,
            min_compliance: self.alert_min_compliance,
            max_p99_ms: self.alert_max_p99_ms,
            min_rps: self.alert_min_rps,
            resend_interval: self.alert_resend_interval,
            ..AlertConfig::default()
        }
    }
}
