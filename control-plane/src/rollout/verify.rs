//! `verify`: is the rollout working? Each check calls one endpoint and says pass or fail, what it
//! saw, and what to do about a failure: the control plane is ready and samples constitutional
//! operations at 100 %, the collector is healthy, Jaeger's query answers, Elasticsearch's cluster
//! is not red, and through the mesh a request without the constitutional hash is refused (403
//! from the filter) while one with it passes and carries the hash back, and that request's trace
//! reaches Jaeger with the filter's tags. The traced request carries its own `traceparent`
//! (sampled, so Envoy records the hop) and a propagated `keep` decision in `baggage` (so the
//! Collector's tail sampling keeps it whatever the service's strategy); Jaeger's query API is
//! polled for it until `trace_wait` has passed (decision_wait, batching and Elasticsearch's
//! refresh interval all delay it).
//!
//! The defaults are the in-cluster service addresses; from outside the cluster, port-forward and
//! pass the local URLs (deploy/README.md shows how). Plain HTTP: the mesh encrypts the hop.

use std::time::Duration;

use serde_json::Value;

/// Where to check.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    pub control_plane: String,
    pub collector_health: String,
    pub jaeger_query: String,
    pub elasticsearch: String,
    /// The `elastic` user's password (Elasticsearch runs with security on); `None` asks without
    /// credentials, which a secured cluster answers with 401.
    pub elasticsearch_password: Option<String>,
    /// A URL of a service in the mesh (behind the filter); `None`: the mesh checks are skipped.
    pub mesh: Option<String>,
    pub hash: String,
    pub timeout: Duration,
    /// How long the traced request may take to show up in Jaeger.
    pub trace_wait: Duration,
}

/// The rule the traced request's decision carries.
pub const VERIFY_RULE: &str = "verify@acgs-tracing";

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub target: String,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do when it did not pass.
    pub remedy: &'static str,
}

struct Seen {
    status: u16,
    hash_header: Option<String>,
    body: String,
}

fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Result<Seen, String> {
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().map_err(|error| format!("unreachable: {error}"))?;
    let status = response.status().as_u16();
    let hash_header = response.headers().get("constitutional-hash").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.body_mut().with_config().limit(1024 * 1024).read_to_string().unwrap_or_default();
    Ok(Seen { status, hash_header, body })
}

fn check(name: &'static str, target: String, remedy: &'static str, result: Result<String, String>) -> Check {
    let (outcome, detail) = match result {
        Ok(detail) => (Outcome::Pass, detail),
        Err(detail) => (Outcome::Fail, detail),
    };
    Check { name, target, outcome, detail, remedy }
}

fn json_of(seen: &Seen) -> Result<Value, String> {
    serde_json::from_str(&seen.body).map_err(|_| format!("HTTP {} with a body that is not JSON", seen.status))
}

fn expect_ok(seen: Result<Seen, String>) -> Result<Seen, String> {
    let seen = seen?;
    if seen.status == 200 {
        Ok(seen)
    } else {
        Err(format!("HTTP {}: {}", seen.status, seen.body.trim()))
    }
}

fn trim(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Runs every check, in order.
pub fn verify(endpoints: &Endpoints) -> Vec<Check> {
    let agent = crate::http_client::agent(endpoints.timeout, &crate::http_client::Trust::default());
    let control_plane = trim(&endpoints.control_plane);
    let mut checks = Vec::new();

    let url = format!("{control_plane}/readyz");
    let result = expect_ok(get(&agent, &url, &[])).map(|_| "ready: strategies loaded".to_owned());
    checks.push(check(
        "control plane ready",
        url,
        "kubectl -n acgs-system rollout status deploy/acgs-control-plane; kubectl -n acgs-system logs deploy/acgs-control-plane",
        result,
    ));

    let url = format!("{control_plane}/api/sampling?service=constitutional-core");
    let result = expect_ok(get(&agent, &url, &[])).and_then(|seen| {
        let body = json_of(&seen)?;
        match body["probabilisticSampling"]["samplingRate"].as_f64() {
            Some(1.0) => Ok("constitutional-core sampled at 1.0".to_owned()),
            Some(rate) => Err(format!("constitutional-core sampled at {rate}, not 1.0")),
            None => Err(format!("not a probabilistic strategy: {}", seen.body.trim())),
        }
    });
    checks.push(check(
        "constitutional operations sampled at 100 %",
        url,
        "kubectl get samplingpolicies -A (look for Accepted=False); the constitutional selector must name constitutional-core",
        result,
    ));

    let url = format!("{}/", trim(&endpoints.collector_health));
    let result = expect_ok(get(&agent, &url, &[])).map(|seen| {
        let status = json_of(&seen).ok().and_then(|b| b["status"].as_str().map(str::to_owned));
        status.unwrap_or_else(|| "healthy".to_owned())
    });
    checks.push(check(
        "OTel Collector healthy",
        url,
        "kubectl -n acgs-system logs deploy/otel-collector (memory_limiter refusals, exporter errors)",
        result,
    ));

    let url = format!("{}/api/services", trim(&endpoints.jaeger_query));
    let result = expect_ok(get(&agent, &url, &[])).and_then(|seen| {
        let body = json_of(&seen)?;
        let services = body["data"].as_array().ok_or("no data array in the answer")?;
        Ok(format!("{} services with traces", services.len()))
    });
    checks.push(check(
        "Jaeger query answers",
        url,
        "kubectl -n jaeger-system rollout status deploy/jaeger-query; check its Elasticsearch connection in the logs",
        result,
    ));

    let url = format!("{}/_cluster/health", trim(&endpoints.elasticsearch));
    let authorization = endpoints.elasticsearch_password.as_ref().map(|password| {
        use base64::Engine;
        let credentials = format!("{}:{password}", super::elasticsearch_secrets::USERNAME);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    });
    let headers: Vec<(&str, &str)> = authorization.iter().map(|value| ("authorization", value.as_str())).collect();
    let result = get(&agent, &url, &headers).and_then(|seen| match seen.status {
        401 if endpoints.elasticsearch_password.is_some() => {
            Err("HTTP 401: the password was refused (is it the one in the elasticsearch-credentials Secret?)"
                .to_owned())
        }
        401 => Err("HTTP 401: Elasticsearch runs with security on; pass --elasticsearch-password (or \
                    ACGS_ELASTICSEARCH_PASSWORD) from the elasticsearch-credentials Secret"
            .to_owned()),
        _ => expect_ok(Ok(seen)),
    });
    let result = result.and_then(|seen| {
        let body = json_of(&seen)?;
        let nodes = body["number_of_nodes"].as_u64().unwrap_or(0);
        match body["status"].as_str() {
            Some("green") => Ok(format!("green, {nodes} nodes")),
            Some("yellow") => Ok(format!("yellow (replicas unassigned), {nodes} nodes")),
            Some(status) => Err(format!("{status}, {nodes} nodes: primary shards are unassigned")),
            None => Err("no status in the answer".to_owned()),
        }
    });
    checks.push(check(
        "Elasticsearch cluster health",
        url,
        "kubectl -n jaeger-system get pods -l app.kubernetes.io/name=elasticsearch; check PVCs are bound (20Gi each)",
        result,
    ));

    match &endpoints.mesh {
        Some(mesh) => {
            let result = get(&agent, mesh, &[]).and_then(|seen| {
                let body = json_of(&seen).unwrap_or_default();
                if seen.status == 403 && body["error"] == "constitutional_hash_invalid" {
                    Ok(format!("403, status {}", body["status"].as_str().unwrap_or("?")))
                } else {
                    Err(format!("HTTP {} (expected the filter's 403): {}", seen.status, seen.body.trim()))
                }
            });
            checks.push(check(
                "request without the hash is refused",
                mesh.clone(),
                "the filter is not running in that sidecar: kubectl -n acgs-system get wasmplugin,envoyfilter; check the sidecar's logs for the Wasm plugin",
                result,
            ));
            let trace_id = format!("{:032x}", rand::random::<u128>().max(1));
            let traceparent = format!("00-{trace_id}-{:016x}-01", rand::random::<u64>().max(1));
            let baggage = format!("acgs.sampling=keep:{VERIFY_RULE}");
            let traced = [
                ("constitutional-hash", endpoints.hash.as_str()),
                ("traceparent", traceparent.as_str()),
                ("baggage", baggage.as_str()),
            ];
            let result = get(&agent, mesh, &traced).and_then(|seen| {
                if seen.status == 403 {
                    return Err(format!("403 with the hash: {} (is the hash the rollout's?)", seen.body.trim()));
                }
                match seen.hash_header {
                    Some(hash) if hash == endpoints.hash => Ok(format!("HTTP {}, hash echoed", seen.status)),
                    other => {
                        Err(format!("HTTP {} but the response carries constitutional-hash {other:?}", seen.status))
                    }
                }
            });
            let passed = result.is_ok();
            checks.push(check(
                "request with the hash passes",
                mesh.clone(),
                "compare the filter's constitutional_hash (pluginConfig) with --hash; check the service itself answers",
                result,
            ));
            let url = format!("{}/api/traces/{trace_id}", trim(&endpoints.jaeger_query));
            let result = if passed {
                wait_for_tagged_trace(&agent, &url, endpoints.trace_wait)
            } else {
                Err("the request did not pass the filter".to_owned())
            };
            checks.push(check(
                "its trace reaches Jaeger with the filter's tags",
                url,
                "Envoy exports to the Collector (mesh config extensionProviders acgs-otel, Telemetry customTags), \
                 the first tier routes to otel-sampler-headless, the sampler's tail_sampling keeps it: \
                 kubectl -n acgs-system logs deploy/otel-collector deploy/otel-sampler",
                result,
            ));
        }
        None => {
            for name in [
                "request without the hash is refused",
                "request with the hash passes",
                "its trace reaches Jaeger with the filter's tags",
            ] {
                checks.push(Check {
                    name,
                    target: "-".to_owned(),
                    outcome: Outcome::Skip,
                    detail: "no --mesh-url given".to_owned(),
                    remedy: "pass --mesh-url with a URL of a service in the mesh",
                });
            }
        }
    }
    checks
}

/// Polls Jaeger's `GET /api/traces/{id}` until the trace has a span with the filter's tags.
fn wait_for_tagged_trace(agent: &ureq::Agent, url: &str, wait: Duration) -> Result<String, String> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let last = match get(agent, url, &[]) {
            Ok(seen) if seen.status == 200 => match tagged_span(&seen.body) {
                Ok(found) => return Ok(found),
                Err(why) => why,
            },
            Ok(seen) => format!("HTTP {} (not stored yet?)", seen.status),
            Err(error) => error,
        };
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "not found with the filter's tags within {}: {last}",
                humantime::format_duration(wait)
            ));
        }
        std::thread::sleep(Duration::from_secs(1).min(wait));
    }
}

/// The first span of a Jaeger trace answer that carries the filter's tags, described.
fn tagged_span(body: &str) -> Result<String, String> {
    let trace: Value = serde_json::from_str(body).map_err(|_| "the answer is not JSON".to_owned())?;
    let spans = trace["data"][0]["spans"].as_array().ok_or("no spans in the answer")?;
    let tag = |span: &Value, key: &str| -> Option<String> {
        span["tags"].as_array()?.iter().find(|t| t["key"] == key).and_then(|t| t["value"].as_str().map(str::to_owned))
    };
    for span in spans {
        if let (Some(status), Some(decision), Some(rule)) = (
            tag(span, "constitutional.hash.status"),
            tag(span, "acgs.sampling.decision"),
            tag(span, "acgs.sampling.rule"),
        ) {
            let process = span["processID"].as_str().unwrap_or_default();
            let service = trace["data"][0]["processes"][process]["serviceName"].as_str().unwrap_or("?");
            return Ok(format!(
                "{} spans; {service}: constitutional.hash.status={status}, acgs.sampling.decision={decision} ({rule})",
                spans.len()
            ));
        }
    }
    Err(format!(
        "{} spans, none with constitutional.hash.status, acgs.sampling.decision and acgs.sampling.rule",
        spans.len()
    ))
}
