//! `GET /sampling?service=` and `GET /api/sampling?service=`: the Jaeger remote-sampling HTTP
//! endpoints (agent and collector spellings), serving the resolved JSON with a strong `ETag`;
//! `If-None-Match` with the current tag answers `304`. A missing, repeated or empty `service`
//! is `400` with Jaeger's message; before the first valid strategies load, `503`.
//! `&compat=opentelemetry-rust` spells a rate-limiting type `RATELIMITING`, the one spelling
//! the Rust OpenTelemetry SDK reads (an upstream bug: docs/sampling.md).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::json::{self, TypeSpelling};
use super::metrics::SamplingMetrics;
use super::store::StrategyStore;

#[derive(Debug, Clone)]
pub struct SamplingState {
    pub store: Arc<StrategyStore>,
    pub metrics: SamplingMetrics,
}

pub fn router(state: SamplingState) -> Router {
    Router::new().route("/sampling", get(strategy)).route("/api/sampling", get(strategy)).with_state(state)
}

/// The `compat` query parameter: how the strategy type is spelled (Jaeger's unless asked).
pub fn compat_param(query: Option<&str>) -> Result<TypeSpelling, String> {
    let mut spelling = TypeSpelling::Jaeger;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key == "compat" {
            spelling = match value.as_ref() {
                "opentelemetry-rust" => TypeSpelling::OpenTelemetryRust,
                other => {
                    return Err(format!(
                        "'compat' parameter {other:?} is not known; the one value is opentelemetry-rust"
                    ))
                }
            };
        }
    }
    Ok(spelling)
}

/// The one `service` query parameter.
pub fn service_param(query: Option<&str>) -> Result<String, String> {
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key == "service" {
            if found.is_some() {
                return Err("'service' parameter must be provided once".to_owned());
            }
            found = Some(value.into_owned());
        }
    }
    let service = found.ok_or_else(|| "'service' parameter must be provided once".to_owned())?;
    super::check_service_name("'service' parameter", &service)?;
    Ok(service)
}

fn text(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response()
}

async fn strategy(State(state): State<SamplingState>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let (service, spelling) = match (service_param(query.as_deref()), compat_param(query.as_deref())) {
        (Ok(service), Ok(spelling)) => (service, spelling),
        (Err(message), _) | (_, Err(message)) => return text(StatusCode::BAD_REQUEST, &message),
    };
    let Some(set) = state.store.current() else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no valid sampling strategies loaded yet");
    };
    state.metrics.request(&service, set.knows(&service));
    let served = set.lookup(&service);
    // The Rust SDK's spelling: its own body, and an entity tag of its own.
    let (body, served_etag) = match spelling {
        TypeSpelling::Jaeger => (served.json.clone(), served.etag.clone()),
        TypeSpelling::OpenTelemetryRust => (
            bytes::Bytes::from(json::encode_spelled(&served.response, spelling)),
            format!("{}-otel-rust\"", served.etag.trim_end_matches('"')),
        ),
    };
    let etag = HeaderValue::from_str(&served_etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == served_etag || tag == "*");
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::ETAG, etag);
    response
}
