//! The control plane's servers, as `serve` runs them and as `demo` and the tests embed them:
//! HTTP (Jaeger sampling endpoints, `POST /v1/telemetry`, `GET /api/v1/analysis`, `GET /api/v1/alerts`,
//! `GET /v1/filter/acgs_filter.wasm`, `/metrics`,
//! `/healthz`, `/readyz`) and
//! gRPC (`SamplingManager`), both on loopback or any address, both stopped gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use acgs_proto::jaeger::api_v2::sampling_manager_server::SamplingManagerServer;
use anyhow::Context as _;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::rules::AlertConfig;
use crate::alerts::Alerts;
use crate::drain::Drain;
use crate::exit::{NoInput, UsageError};
use crate::sampling::grpc::SamplingGrpc;
use crate::sampling::http::{router as sampling_router, SamplingState};
use crate::sampling::metrics::SamplingMetrics;
use crate::sampling::sources::Sources;
use crate::sampling::store::StrategyStore;
use crate::sampling::watch::{load_into, watch as watch_file, FileWatch, StartupError};
use crate::telemetry::{Telemetry, TelemetryConfig};

/// Where to listen and what to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http_addr: SocketAddr,
    /// `None`: no gRPC listener.
    pub grpc_addr: Option<SocketAddr>,
    /// The strategies file (watched); `None`: the embedded seed strategies.
    pub strategies: Option<PathBuf>,
    /// Telemetry ingest and export.
    pub telemetry: TelemetryConfig,
    /// Alert thresholds and timing.
    pub alerts: AlertConfig,
    /// Alertmanager base URL alerts are pushed to; `None`: not pushed.
    pub alertmanager: Option<String>,
    /// Where `SamplingPolicy` resources are watched; `None`: they are not.
    pub kubernetes: Option<KubernetesSource>,
    /// Services out of the hash check's scope in `GET /api/v1/analysis` (as `analyze
    /// --untracked-service`).
    pub untracked_services: Vec<String>,
}

/// How the Kubernetes API server is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubernetesSource {
    /// In-cluster service account, else the kubeconfig (`KUBECONFIG`, ~/.kube/config).
    Infer,
    /// This API server URL, unauthenticated (tests' mock API server, `kubectl proxy`).
    Url(String),
}

impl KubernetesSource {
    /// A client for this API server.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        match self {
            Self::Infer => kube::Client::try_default().await.map_err(|error| {
                anyhow::Error::new(crate::exit::Unavailable(format!(
                    "finding the Kubernetes API server (in-cluster service account, then KUBECONFIG or ~/.kube/config): {error}"
                )))
            }),
            Self::Url(url) => {
                let uri = url.parse().with_context(|| format!("Kubernetes API server URL {url:?}"))?;
                kube::Client::try_from(kube::Config::new(uri)).context("building the Kubernetes client")
            }
        }
    }
}

impl ServerConfig {
    /// HTTP on an ephemeral loopback port, no gRPC, default telemetry (for demos and tests).
    pub fn loopback(strategies: Option<PathBuf>) -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_addr: None,
            strategies,
            telemetry: TelemetryConfig::default(),
            alerts: AlertConfig::default(),
            alertmanager: None,
            kubernetes: None,
            untracked_services: Vec::new(),
        }
    }
}

/// A running control plane.
#[derive(Debug)]
pub struct RunningServer {
    pub http_addr: SocketAddr,
    pub grpc_addr: Option<SocketAddr>,
    pub store: Arc<StrategyStore>,
    pub metrics: SamplingMetrics,
    pub telemetry: Telemetry,
    pub alerts: Alerts,
    /// Draining before a stop: `serve` begins it on SIGTERM.
    pub drain: Drain,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    policies: Option<JoinHandle<()>>,
    _watch: Option<FileWatch>,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(policies) = &self.policies {
            policies.abort();
        }
    }
}

/// The filter module this binary embeds, for EnvoyFilter remote code (Envoy checks its sha256).
async fn filter_wasm() -> impl IntoResponse {
    let etag = format!("\"{}\"", crate::rollout::render::filter_sha256());
    ([(header::CONTENT_TYPE, "application/wasm".to_owned()), (header::ETAG, etag)], acgs_filter_artifacts::FILTER_WASM)
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the listeners and starts serving. A strategies file that cannot be read at start-up is a
/// [`NoInput`] error, an invalid one a [`UsageError`] naming the field (as Jaeger refuses to start
/// on a bad file); once running, a bad edit keeps the last good set.
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let mut registry = Registry::default();
    let metrics = SamplingMetrics::register(&mut registry);
    let store = Arc::new(StrategyStore::new());
    let sources = Arc::new(Sources::new(Arc::clone(&store), config.kubernetes.is_some()));
    let file_watch = match &config.strategies {
        Some(path) => {
            let loaded = load_into(path, &sources, &metrics).map_err(|error| match error {
                StartupError::Unreadable(_) => anyhow::Error::new(NoInput(error.to_string())),
                StartupError::Invalid(_) => anyhow::Error::new(UsageError(error.to_string())),
            })?;
            Some(
                watch_file(path.clone(), loaded, Arc::clone(&sources), metrics.clone())
                    .with_context(|| format!("watching {}", path.display()))?,
            )
        }
        None if config.kubernetes.is_none() => {
            store.replace(crate::sampling::seed()?);
            None
        }
        None => None,
    };
    let policies = match &config.kubernetes {
        Some(source) => {
            let client = source.client().await?;
            Some(tokio::spawn(crate::policy::controller::run(client, Arc::clone(&sources), metrics.clone())))
        }
        None => None,
    };
    let drain = Drain::default();
    let telemetry = Telemetry::start(config.telemetry.clone(), drain.clone()).context("starting telemetry export")?;
    telemetry.register(&mut registry);
    let alerts = Alerts::start(config.alerts.clone(), config.alertmanager.clone(), telemetry.store());
    alerts.register(&mut registry);
    let registry = Arc::new(registry);
    let (shutdown, stopped) = watch::channel(false);
    let ready_store = Arc::clone(&store);
    let (ready_drain, scrape_drain) = (drain.clone(), drain.clone());
    let app = Router::new()
        .merge(sampling_router(SamplingState { store: Arc::clone(&store), metrics: metrics.clone() }))
        .merge(telemetry.router())
        .merge(crate::analysis::endpoint::router(telemetry.store(), config.untracked_services.clone()))
        .merge(alerts.router())
        .route("/v1/filter/acgs_filter.wasm", get(filter_wasm))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let (ready, draining) = (ready_store.is_ready(), ready_drain.is_draining());
                async move {
                    if draining {
                        (StatusCode::SERVICE_UNAVAILABLE, "draining: this replica is stopping\n")
                    } else if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "no valid sampling strategies loaded yet\n")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let (registry, drain) = (Arc::clone(&registry), scrape_drain.clone());
                async move {
                    let scrape = drain.scrape_begins();
                    // Encoding reads the telemetry store under its std lock: on the blocking pool.
                    let encoded = tokio::task::spawn_blocking(move || {
                        let mut text = String::new();
                        prometheus_client::encoding::text::encode(&mut text, &registry).map(|()| text)
                    })
                    .await;
                    match encoded {
                        Ok(Ok(text)) => {
                            drain.scrape_answered(scrape);
                            ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
                        }
                        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    let mut http_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        });
        if let Err(error) = served.await {
            tracing::error!("HTTP server failed: {error}");
        }
    }));
    let grpc_addr = match config.grpc_addr {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding gRPC on {addr}"))?;
            let bound = listener.local_addr()?;
            let service =
                SamplingManagerServer::new(SamplingGrpc { store: Arc::clone(&store), metrics: metrics.clone() });
            let mut grpc_stop = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let served = tonic::transport::Server::builder().add_service(service).serve_with_incoming_shutdown(
                    incoming,
                    async move {
                        let _ = grpc_stop.wait_for(|stop| *stop).await;
                    },
                );
                if let Err(error) = served.await {
                    tracing::error!("gRPC server failed: {error}");
                }
            }));
            Some(bound)
        }
        None => None,
    };
    tracing::info!(%http_addr, grpc_addr = ?grpc_addr, "control plane listening");
    Ok(RunningServer {
        http_addr,
        grpc_addr,
        store,
        metrics,
        telemetry,
        alerts,
        drain,
        shutdown,
        tasks,
        policies,
        _watch: file_watch,
    })
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, then applies every admitted telemetry
    /// batch and exports what is queued for the collector (spans, and the request metrics as
    /// they are now). Bound it with a timeout; [`Telemetry::unexported_spans`] then says what a
    /// shutdown cut short lost.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(policies) = &self.policies {
            policies.abort();
        }
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.telemetry.flush().await;
    }
}
