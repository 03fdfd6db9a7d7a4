//! Alerts: the four rules of docs/contracts.md ([`rules`]) evaluated every `eval_interval` over the
//! telemetry windows of this process (unless `builtin` is off: with several replicas the
//! PrometheusRule is the alerting path, docs/scale-out.md), with Prometheus-style state ([`book`]), served at `GET /api/v1/alerts`
//! (Prometheus' response shape, plus recently resolved alerts with `state: "resolved"`) and, when
//! an Alertmanager URL is configured, pushed to its `POST /api/v2/alerts`: on every change, and
//! firing alerts again every `resend_interval` with `endsAt` ahead so Alertmanager keeps them
//! active. A failed push is logged and counted (`acgs_alertmanager_notifications_total{result}`)
//! and tried again at the next evaluation, with the resolutions it carried (up to
//! [`MAX_UNSENT_RESOLVED`] of them), so an Alertmanager that was down learns both what fires and
//! what resolved meanwhile.

pub mod book;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;

use book::{AlertBook, AlertInstance, Change};
use rules::AlertConfig;

use crate::telemetry::store::TelemetryStore;

/// Resolutions kept for Alertmanager while its pushes fail (the oldest are let go beyond it:
/// their `endsAt` passes in Alertmanager anyway).
pub const MAX_UNSENT_RESOLVED: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug)]
struct AlertsShared {
    config: AlertConfig,
    alertmanager: Option<String>,
    book: Mutex<AlertBook>,
    notifications: Family<ResultLabel, Counter>,
}

/// The running alert evaluator (cheap to clone).
#[derive(Debug, Clone)]
pub struct Alerts {
    shared: Arc<AlertsShared>,
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn rfc3339(secs: f64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0))).to_string()
}

impl Alerts {
    /// Starts evaluating on the current tokio runtime.
    pub fn start(config: AlertConfig, alertmanager: Option<String>, store: Arc<RwLock<TelemetryStore>>) -> Self {
        let shared = Arc::new(AlertsShared {
            config,
            alertmanager: alertmanager.map(|url| url.trim_end_matches('/').to_owned()),
            book: Mutex::new(AlertBook::default()),
            notifications: Family::default(),
        });
        if shared.config.builtin {
            tokio::spawn(evaluate_forever(Arc::clone(&shared), store));
        }
        Self { shared }
    }

    /// `GET /api/v1/alerts`.
    pub fn router(&self) -> Router {
        Router::new().route("/api/v1/alerts", get(list)).with_state(Arc::clone(&self.shared))
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "acgs_alertmanager_notifications",
            "Pushes of alerts to Alertmanager, by result",
            self.shared.notifications.clone(),
        );
    }

    /// The alerts listed now.
    pub fn snapshot(&self) -> Vec<AlertInstance> {
        self.shared.book.lock().map(|book| book.alerts().cloned().collect()).unwrap_or_default()
    }
}

async fn evaluate_forever(shared: Arc<AlertsShared>, store: Arc<RwLock<TelemetryStore>>) {
    let mut ticker = tokio::time::interval(shared.config.eval_interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_push = f64::MIN;
    let mut retry = false;
    let mut unsent_resolved: Vec<AlertInstance> = Vec::new();
    loop {
        ticker.tick().await;
        let now = now_secs();
        // The store's lock is a std lock: it is waited for on the blocking pool, never on a
        // runtime worker, where a long write (or a test holding it) would stall the tasks queued
        // behind this one, HTTP requests included.
        let evaluated = {
            let (store, shared) = (Arc::clone(&store), Arc::clone(&shared));
            tokio::task::spawn_blocking(move || {
                let store = store.read().ok()?;
                Some(rules::evaluate(store.windows(), now, !store.totals().is_empty(), &shared.config))
            })
            .await
        };
        let Ok(Some(active)) = evaluated else { continue };
        let (changes, firing) = match shared.book.lock() {
            Ok(mut book) => {
                let changes = book.update(now, active, &shared.config);
                let firing: Vec<AlertInstance> =
                    book.alerts().filter(|a| a.state == book::State::Firing).cloned().collect();
                (changes, firing)
            }
            Err(_) => continue,
        };
        for (alert, change) in &changes {
            let service = alert.service.as_deref().unwrap_or("*");
            match change {
                Change::Fired => {
                    tracing::warn!(alert = alert.rule.name(), service, value = alert.value, "alert firing")
                }
                Change::Resolved => tracing::info!(alert = alert.rule.name(), service, "alert resolved"),
            }
        }
        let Some(url) = shared.alertmanager.clone() else { continue };
        unsent_resolved.extend(changes.iter().filter(|(_, c)| *c == Change::Resolved).map(|(a, _)| a.clone()));
        let overflow = unsent_resolved.len().saturating_sub(MAX_UNSENT_RESOLVED);
        unsent_resolved.drain(..overflow);
        let resend = !firing.is_empty() && now - last_push >= shared.config.resend_interval.as_secs_f64();
        if changes.is_empty() && !resend && !retry {
            continue;
        }
        let mut batch: Vec<PostableAlert> = firing.iter().map(|a| postable(&shared.config, a, now)).collect();
        batch.extend(unsent_resolved.iter().map(|a| postable(&shared.config, a, now)));
        let pushed = tokio::task::spawn_blocking(move || push(&url, &batch)).await;
        let result = match pushed {
            Ok(Ok(())) => {
                last_push = now;
                retry = false;
                unsent_resolved.clear();
                "sent"
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "pushing alerts to Alertmanager failed (tried again at the next evaluation)");
                retry = true;
                "failed"
            }
            Err(_) => {
                retry = true;
                "failed"
            }
        };
        shared.notifications.get_or_create(&ResultLabel { result }).inc();
    }
}

/// Alertmanager's `postableAlert` (API v2).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

fn labels(alert: &AlertInstance) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("alertname".to_owned(), alert.rule.name().to_owned()),
        ("severity".to_owned(), alert.rule.severity().to_owned()),
    ]);
    if let Some(service) = &alert.service {
        labels.insert("service".to_owned(), service.clone());
    }
    labels
}

fn annotations(config: &AlertConfig, alert: &AlertInstance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("summary".to_owned(), config.summary_for(alert.rule, alert.service.as_deref())),
        ("description".to_owned(), config.description_for(alert.rule, alert.service.as_deref(), alert.value)),
        ("runbook_url".to_owned(), alert.rule.runbook_url()),
    ])
}

fn postable(config: &AlertConfig, alert: &AlertInstance, now: f64) -> PostableAlert {
    let ends_at =
        alert.resolved_at.unwrap_or(now + 4.0 * config.resend_interval.max(config.eval_interval).as_secs_f64());
    PostableAlert {
        labels: labels(alert),
        annotations: annotations(config, alert),
        starts_at: rfc3339(alert.fired_at.unwrap_or(alert.active_at)),
        ends_at: rfc3339(ends_at),
        generator_url: "/api/v1/alerts".to_owned(),
    }
}

fn push(base: &str, alerts: &[PostableAlert]) -> anyhow::Result<()> {
    let agent = crate::http_client::agent(Duration::from_secs(5), &crate::http_client::Trust::default());
    let body = serde_json::to_vec(alerts)?;
    let response = agent
        .post(format!("{base}/api/v2/alerts"))
        .header("content-type", "application/json")
        .send(&body[..])
        .map_err(|e| anyhow::anyhow!("{base}/api/v2/alerts: {e}"))?;
    anyhow::ensure!(response.status() == 200, "{base}/api/v2/alerts answered HTTP {}", response.status());
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertView {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: book::State,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_at: Option<String>,
    value: String,
}

async fn list(State(shared): State<Arc<AlertsShared>>) -> (StatusCode, Json<serde_json::Value>) {
    if !shared.config.builtin {
        let error = "built-in alert evaluation is off on this replica (--builtin-alerts off): with several \
                     replicas each sees part of the mesh, so the alerts come from Prometheus with the \
                     PrometheusRule; ask Prometheus or Alertmanager";
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "status": "error", "errorType": "unavailable", "error": error })),
        );
    }
    let alerts: Vec<AlertView> = shared
        .book
        .lock()
        .map(|book| {
            book.alerts()
                .map(|a| AlertView {
                    labels: labels(a),
                    annotations: annotations(&shared.config, a),
                    state: a.state,
                    active_at: rfc3339(a.active_at),
                    fired_at: a.fired_at.map(rfc3339),
                    resolved_at: a.resolved_at.map(rfc3339),
                    value: a.value.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    (StatusCode::OK, Json(serde_json::json!({ "status": "success", "data": { "alerts": alerts } })))
}
