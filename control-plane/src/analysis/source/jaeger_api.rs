//! A Jaeger query service's HTTP API (what the Jaeger UI calls): `GET /api/services` lists the
//! services (`{"data": ["svc", …]}`), `GET /api/traces?service=&operation=&lookback=&limit=`
//! answers traces in Jaeger's JSON format, read as a stream by [`super::jaeger_json`]. A trace that
//! touches several services comes back once per service: it is analysed once. A service whose
//! query fails is recorded in the report and the others are still analysed; an unreachable
//! server is an error.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::jaeger_json;
use crate::analysis::Analyzer;

/// What to ask the Jaeger query service.
#[derive(Debug, Clone)]
pub struct JaegerQuery {
    /// Base URL, e.g. `http://localhost:16686`.
    pub base_url: String,
    /// Jaeger's lookback (`1h`, `2d`, …).
    pub lookback: String,
    /// Traces per service at most.
    pub limit: u32,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub timeout: Duration,
}

/// The Jaeger query service could not be used at all.
#[derive(Debug, thiserror::Error)]
#[error("Jaeger query API at {url}: {reason}")]
pub struct JaegerUnavailable {
    pub url: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
struct Services {
    #[serde(default)]
    data: Option<Vec<String>>,
}

/// Fetches and analyses the traces; returns the number of traces read.
pub fn feed(query: &JaegerQuery, analyzer: &mut Analyzer) -> Result<u64, JaegerUnavailable> {
    let base = query.base_url.trim_end_matches('/');
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(query.timeout)).http_status_as_error(false).build().into();
    let services = match &query.service {
        Some(service) => vec![service.clone()],
        None => {
            let url = format!("{base}/api/services");
            let unavailable = |reason: String| JaegerUnavailable { url: url.clone(), reason };
            let mut response = agent.get(&url).call().map_err(|e| unavailable(e.to_string()))?;
            if response.status() != 200 {
                return Err(unavailable(format!("HTTP {}", response.status())));
            }
            let body = response.body_mut().read_to_vec().map_err(|e| unavailable(e.to_string()))?;
            let services: Services = serde_json::from_slice(&body)
                .map_err(|e| unavailable(format!(r#"not a Jaeger services response ({{"data": [...]}}): {e}"#)))?;
            services.data.unwrap_or_default()
        }
    };
    let mut seen: HashSet<Arc<str>> = HashSet::new();
    let mut traces = 0;
    for service in services {
        let mut request = agent
            .get(format!("{base}/api/traces"))
            .query("service", &service)
            .query("lookback", &query.lookback)
            .query("limit", query.limit.to_string());
        if let Some(operation) = &query.operation {
            request = request.query("operation", operation);
        }
        let what = format!("{base}/api/traces?service={service}");
        match request.call() {
            Ok(response) if response.status() == 200 => {
                let reader = response.into_body().into_reader();
                traces += jaeger_json::feed(reader, &what, analyzer, Some(&mut seen));
            }
            Ok(response) => analyzer.input_error(format!("{what}: HTTP {}", response.status())),
            Err(error) => analyzer.input_error(format!("{what}: {error}")),
        }
    }
    Ok(traces)
}
