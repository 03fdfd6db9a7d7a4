//! `verify`: is the rollout working? Each check calls one endpoint and says pass or fail, what it
//! saw, and what to do about a failure: the control plane is ready and samples constitutional
//! operations at 100 %, the collector is healthy, Jaeger's query answers, Elasticsearch's cluster
//! is not red, and through the mesh a request without the constitutional hash is refused (403
//! from the filter) while one with it passes and carries the hash back.
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
    /// A URL of a service in the mesh (behind the filter); `None`: the mesh checks are skipped.
    pub mesh: Option<String>,
    pub hash: String,
    pub timeout: Duration,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One check.
#[derive(Debug, Clone, PartialEq)]
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

fn get(agent: &ureq::Agent, url: &str, header: Option<(&str, &str)>) -> Result<Seen, String> {
    let mut request = agent.get(url);
    if let Some((name, value)) = header {
        request = request.header(name, value);
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(endpoints.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let control_plane = trim(&endpoints.control_plane);
    let mut checks = Vec::new();

    let url = format!("{control_plane}/readyz");
    let result = expect_ok(get(&agent, &url, None)).map(|_| "ready: strategies loaded".to_owned());
    checks.push(check(
        "control plane ready",
        url,
        "kubectl -n acgs-system rollout status deploy/acgs-control-plane; kubectl -n acgs-system logs deploy/acgs-control-plane",
        result,
    ));

    let url = format!("{control_plane}/api/sampling?service=constitutional-core");
    let result = expect_ok(get(&agent, &url, None)).and_then(|seen| {
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
    let result = expect_ok(get(&agent, &url, None)).map(|seen| {
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
    let result = expect_ok(get(&agent, &url, None)).and_then(|seen| {
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
    let result = expect_ok(get(&agent, &url, None)).and_then(|seen| {
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
            let result = get(&agent, mesh, None).and_then(|seen| {
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
            let result = get(&agent, mesh, Some(("constitutional-hash", &endpoints.hash))).and_then(|seen| {
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
            checks.push(check(
                "request with the hash passes",
                mesh.clone(),
                "compare the filter's constitutional_hash (pluginConfig) with --hash; check the service itself answers",
                result,
            ));
        }
        None => {
            for name in ["request without the hash is refused", "request with the hash passes"] {
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
