//! A Jaeger query service over HTTP(S), by either of its two HTTP APIs:
//! - **api/v3**, the stable one (Jaeger v2, and v1 since 1.35): `GET /api/v3/services` answers
//!   `{"services": […]}`; `GET /api/v3/traces?query.service_name=&query.operation_name=
//!   &query.start_time_min=&query.start_time_max=&query.num_traces=` answers the traces as OTLP
//!   JSON wrapped in `{"result": {"resourceSpans": […]}}`, or 404 when none matched (Jaeger's
//!   `cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go`). Times are
//!   RFC 3339; `query.num_traces` is the name every version accepts (v2 also calls it
//!   `query.search_depth`).
//! - **the UI's internal API**: `GET /api/services` (`{"data": […]}`), `GET /api/traces?service=
//!   &operation=&lookback=&limit=` answering Jaeger's JSON format, read as a stream by
//!   [`super::jaeger_json`].
//!
//! `auto` asks `/api/v3/services` first and uses the UI's API when the server does not have it
//! (404). A trace that touches several services comes back once per service: it is analysed once.
//! A service whose query fails is recorded in the report and the others are still analysed; an
//! unreachable server is an error. HTTPS is verified against the platform's roots or a given CA.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indicatif::ProgressBar;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde::Deserialize;

use super::{jaeger_json, otlp_json, InputErrors};
use crate::alerts::rules::prometheus_duration;
use crate::analysis::Analyzer;
use crate::http_client::{self, Trust};

/// Which of Jaeger's HTTP query APIs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JaegerApi {
    /// api/v3 when the server has it, else the UI's API.
    Auto,
    /// The stable api/v3 (OTLP JSON).
    V3,
    /// The UI's internal `/api/traces` (Jaeger JSON).
    Ui,
}

/// What to ask the Jaeger query service.
#[derive(Debug, Clone)]
pub struct JaegerQuery {
    /// Base URL, e.g. `https://jaeger.example.com` or `http://localhost:16686`.
    pub base_url: String,
    pub api: JaegerApi,
    /// Traces that started within this time before now.
    pub lookback: Duration,
    /// Traces per service at most.
    pub limit: u32,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub timeout: Duration,
    pub trust: Trust,
}

/// The Jaeger query service could not be used at all.
#[derive(Debug, thiserror::Error)]
#[error("Jaeger query API at {url}: {reason}")]
pub struct JaegerUnavailable {
    pub url: String,
    pub reason: String,
}

/// Bodies read at most from one answer of api/v3 (which is not streamed).
const V3_BODY_LIMIT: u64 = 1 << 30;

#[derive(Debug, Deserialize)]
struct UiServices {
    #[serde(default)]
    data: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct V3Services {
    #[serde(default)]
    services: Vec<String>,
}

/// api/v3's answer: grpc-gateway's wrapper around the OTLP `TracesData`.
#[derive(Debug, Deserialize)]
struct V3Traces {
    result: TracesData,
}

/// Fetches and analyses the traces, one service at a time (`progress` counts services); returns
/// the number of traces read.
pub fn feed(query: &JaegerQuery, analyzer: &mut Analyzer, progress: &ProgressBar) -> Result<u64, JaegerUnavailable> {
    let base = query.base_url.trim_end_matches('/');
    let agent = http_client::agent(query.timeout, &query.trust);
    let (api, listed) = match query.api {
        JaegerApi::Ui => (JaegerApi::Ui, list_services(&agent, base, JaegerApi::Ui, query)?),
        JaegerApi::V3 => (JaegerApi::V3, list_services(&agent, base, JaegerApi::V3, query)?),
        JaegerApi::Auto => match list_services(&agent, base, JaegerApi::V3, query)? {
            Some(services) => (JaegerApi::V3, Some(services)),
            None => (JaegerApi::Ui, list_services(&agent, base, JaegerApi::Ui, query)?),
        },
    };
    let services = listed.ok_or_else(|| JaegerUnavailable {
        url: base.to_owned(),
        reason: format!("no {} API here (HTTP 404)", if api == JaegerApi::V3 { "api/v3" } else { "/api/services" }),
    })?;
    progress.set_length(services.len() as u64);
    let mut seen: HashSet<Arc<str>> = HashSet::new();
    let mut traces = 0;
    for service in services {
        progress.set_message(service.clone());
        traces += match api {
            JaegerApi::V3 => v3_traces(&agent, base, &service, query, analyzer, &mut seen),
            JaegerApi::Ui | JaegerApi::Auto => ui_traces(&agent, base, &service, query, analyzer, &mut seen),
        };
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(traces)
}

/// The services to query: the one asked for, or the server's list; `None` when the server has no
/// such API (404).
fn list_services(
    agent: &ureq::Agent,
    base: &str,
    api: JaegerApi,
    query: &JaegerQuery,
) -> Result<Option<Vec<String>>, JaegerUnavailable> {
    let url = match api {
        JaegerApi::V3 => format!("{base}/api/v3/services"),
        JaegerApi::Ui | JaegerApi::Auto => format!("{base}/api/services"),
    };
    let unavailable = |reason: String| JaegerUnavailable { url: url.clone(), reason };
    let mut response = agent.get(&url).call().map_err(|e| unavailable(e.to_string()))?;
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        status => return Err(unavailable(format!("HTTP {status}"))),
    }
    if let Some(service) = &query.service {
        return Ok(Some(vec![service.clone()]));
    }
    let body = response.body_mut().read_to_vec().map_err(|e| unavailable(e.to_string()))?;
    let services = match api {
        JaegerApi::V3 => serde_json::from_slice::<V3Services>(&body)
            .map(|s| s.services)
            .map_err(|e| unavailable(format!(r#"not an api/v3 services response ({{"services": [...]}}): {e}"#)))?,
        JaegerApi::Ui | JaegerApi::Auto => serde_json::from_slice::<UiServices>(&body)
            .map(|s| s.data.unwrap_or_default())
            .map_err(|e| unavailable(format!(r#"not a Jaeger services response ({{"data": [...]}}): {e}"#)))?,
    };
    Ok(Some(services))
}

fn ui_traces(
    agent: &ureq::Agent,
    base: &str,
    service: &str,
    query: &JaegerQuery,
    analyzer: &mut Analyzer,
    seen: &mut HashSet<Arc<str>>,
) -> u64 {
    // Jaeger parses lookback as a Go duration: `48h`, `90m`, `30s` (Prometheus' syntax).
    let mut request = agent
        .get(format!("{base}/api/traces"))
        .query("service", service)
        .query("lookback", prometheus_duration(query.lookback))
        .query("limit", query.limit.to_string());
    if let Some(operation) = &query.operation {
        request = request.query("operation", operation);
    }
    let what = format!("{base}/api/traces?service={service}");
    match request.call() {
        Ok(response) if response.status() == 200 => {
            let reader = response.into_body().into_reader();
            jaeger_json::feed(reader, &what, analyzer, Some(seen))
        }
        Ok(response) => {
            analyzer.input_error(format!("{what}: HTTP {}", response.status()));
            0
        }
        Err(error) => {
            analyzer.input_error(format!("{what}: {error}"));
            0
        }
    }
}

fn v3_traces(
    agent: &ureq::Agent,
    base: &str,
    service: &str,
    query: &JaegerQuery,
    analyzer: &mut Analyzer,
    seen: &mut HashSet<Arc<str>>,
) -> u64 {
    let now = SystemTime::now();
    let since = now.checked_sub(query.lookback).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut request = agent
        .get(format!("{base}/api/v3/traces"))
        .query("query.service_name", service)
        .query("query.start_time_min", humantime::format_rfc3339_micros(since).to_string())
        .query("query.start_time_max", humantime::format_rfc3339_micros(now).to_string())
        .query("query.num_traces", query.limit.to_string());
    if let Some(operation) = &query.operation {
        request = request.query("query.operation_name", operation);
    }
    let what = format!("{base}/api/v3/traces?query.service_name={service}");
    let mut response = match request.call() {
        Ok(response) => response,
        Err(error) => {
            analyzer.input_error(format!("{what}: {error}"));
            return 0;
        }
    };
    match response.status().as_u16() {
        200 => {}
        // "No traces found" is an answer, not a failure.
        404 => return 0,
        status => {
            analyzer.input_error(format!("{what}: HTTP {status}"));
            return 0;
        }
    }
    let parsed =
        response.body_mut().with_config().limit(V3_BODY_LIMIT).read_to_vec().map_err(|e| e.to_string()).and_then(
            |body| {
                serde_json::from_slice::<V3Traces>(&body).map_err(|e| format!("not an api/v3 traces response ({e})"))
            },
        );
    match parsed {
        Ok(answer) => {
            otlp_json::feed_documents(vec![answer.result], &what, InputErrors::default(), analyzer, Some(seen))
        }
        Err(reason) => {
            analyzer.input_error(format!("{what}: {reason}"));
            0
        }
    }
}
