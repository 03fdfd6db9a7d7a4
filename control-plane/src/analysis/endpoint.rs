//! `GET /api/v1/analysis`: the analysis report over the spans the control plane collected from
//! the filters, as JSON (the same model `analyze --format json` prints). Query parameters:
//! `service`, `operation`, `lookback` (`15m`, `1h`: spans that started within it),
//! `interval` and `baseline` (the anomaly intervals, e.g. `10s`, `5m`), `untracked_service`
//! (comma-separated services out of the hash check's scope, added to those `serve
//! --untracked-service` declares). A bad parameter is a 400 naming it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::anomaly::AnomalyOptions;
use super::{source, AnalysisOptions, Analyzer};
use crate::telemetry::store::TelemetryStore;

#[derive(Debug, Default, Deserialize)]
struct AnalysisQuery {
    service: Option<String>,
    operation: Option<String>,
    lookback: Option<String>,
    interval: Option<String>,
    baseline: Option<String>,
    untracked_service: Option<String>,
}

/// What the route reads: the collected spans, and the services declared out of scope.
#[derive(Clone)]
struct AnalysisState {
    store: Arc<RwLock<TelemetryStore>>,
    untracked_services: Arc<[String]>,
}

/// The route, reading `store`; `untracked_services` are out of the hash check's scope.
pub fn router(store: Arc<RwLock<TelemetryStore>>, untracked_services: Vec<String>) -> Router {
    let state = AnalysisState { store, untracked_services: untracked_services.into() };
    Router::new().route("/api/v1/analysis", get(analysis)).with_state(state)
}

fn duration(name: &str, value: Option<&str>) -> Result<Option<Duration>, String> {
    value
        .map(|text| {
            humantime::parse_duration(text)
                .map_err(|e| format!("query parameter `{name}`: {text:?} is not a duration like 30s, 15m or 1h ({e})"))
        })
        .transpose()
}

/// The options a query asks for, over the services the server declares out of scope.
fn options(query: &AnalysisQuery, untracked_services: &[String]) -> Result<AnalysisOptions, String> {
    let lookback = duration("lookback", query.lookback.as_deref())?;
    let defaults = AnomalyOptions::default();
    let interval = duration("interval", query.interval.as_deref())?.map_or(defaults.interval_secs, |d| d.as_secs());
    let baseline = duration("baseline", query.baseline.as_deref())?.map_or(defaults.baseline_secs, |d| d.as_secs());
    if interval == 0 {
        return Err("query parameter `interval`: must be at least 1s".to_owned());
    }
    Ok(AnalysisOptions {
        service: query.service.clone().filter(|s| !s.is_empty()),
        operation: query.operation.clone().filter(|s| !s.is_empty()),
        since_micros: lookback.map(since_micros),
        anomaly: AnomalyOptions { interval_secs: interval, baseline_secs: baseline },
        untracked_services: untracked_services
            .iter()
            .cloned()
            .chain(
                query
                    .untracked_service
                    .iter()
                    .flat_map(|list| list.split(','))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            )
            .collect(),
        ..AnalysisOptions::default()
    })
}

/// Microseconds since the epoch `lookback` ago.
pub fn since_micros(lookback: Duration) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.saturating_sub(lookback).as_micros()).unwrap_or(u64::MAX)
}

async fn analysis(
    State(AnalysisState { store, untracked_services }): State<AnalysisState>,
    query: Result<Query<AnalysisQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => return (StatusCode::BAD_REQUEST, rejection.body_text()).into_response(),
    };
    let options = match options(&query, &untracked_services) {
        Ok(options) => options,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    let computed = tokio::task::spawn_blocking(move || {
        let mut analyzer = Analyzer::new(options.clone());
        let store = store.read().map_err(|_| "telemetry store unavailable")?;
        source::collected::feed(store.spans(), &mut analyzer);
        drop(store);
        Ok::<_, &str>(analyzer.finish("control plane (collected spans)"))
    })
    .await;
    match computed {
        Ok(Ok(report)) => Json(report).into_response(),
        Ok(Err(message)) => (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
