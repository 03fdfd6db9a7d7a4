//! `acgs-tracing serve`: the control plane server. Every flag can also be set by environment
//! variable (for Kubernetes manifests). SIGTERM or Ctrl-C stops it gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::server::{start, ServerConfig};
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

    /// Bearer token the filters must present on POST /v1/telemetry (unset: no authentication).
    #[arg(long, env = "ACGS_TELEMETRY_TOKEN", hide_env_values = true)]
    pub telemetry_token: Option<String>,

    /// OTLP/gRPC endpoint of an OpenTelemetry Collector to export sampled spans and request
    /// metrics to, e.g. http://otel-collector.acgs-system:4317 (unset: no export).
    #[arg(long, env = "ACGS_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "ACGS_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,
}

impl Serve {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let telemetry = TelemetryConfig {
                token: self.telemetry_token,
                export: self.otlp_endpoint.map(OtlpConfig::new),
                ..TelemetryConfig::default()
            };
            let config = ServerConfig {
                http_addr: self.http_addr,
                grpc_addr: Some(self.grpc_addr),
                strategies: self.strategies,
                telemetry,
            };
            let server = start(config).await?;
            let grpc = server.grpc_addr.map_or_else(|| "-".to_owned(), |addr| addr.to_string());
            eprintln!("acgs-tracing serving: HTTP {} gRPC {grpc}", server.http_addr);
            wait_for_signal().await;
            tracing::info!("shutting down");
            let grace = Duration::from_secs(self.shutdown_grace_seconds);
            if tokio::time::timeout(grace, server.shutdown()).await.is_err() {
                tracing::warn!("in-flight requests did not finish within {grace:?}");
            }
            Ok(ExitCode::SUCCESS)
        })
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!("cannot listen for SIGTERM: {error}");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
