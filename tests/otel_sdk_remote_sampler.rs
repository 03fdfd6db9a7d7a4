//! An unmodified OpenTelemetry SDK sampler follows our strategies: the Rust `opentelemetry_sdk`
//! Jaeger remote sampler, pointed at the real control plane on loopback (its default path,
//! `/sampling`), samples what the strategies file says and follows an edit of it. The findings
//! about its reading of the Jaeger format are in docs/sampling.md.

use std::path::Path;
use std::time::Duration;

use acgs_control_plane::server::{start, ServerConfig};
use acgs_e2e::wait_until;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use serde_json::json;

/// The SDK brings no HTTP client of its own: a blocking ureq call on tokio's blocking pool.
#[derive(Debug)]
struct UreqClient;

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri().to_string();
        tokio::task::spawn_blocking(move || -> Result<Response<Bytes>, HttpError> {
            let mut response = ureq::get(&uri).config().http_status_as_error(false).build().call()?;
            let status = response.status();
            let body = response.body_mut().read_to_vec()?;
            Ok(Response::builder().status(status).body(Bytes::from(body))?)
        })
        .await?
    }
}

fn write(path: &Path, value: serde_json::Value) {
    let staging = path.with_extension("tmp");
    std::fs::write(&staging, value.to_string()).expect("write");
    std::fs::rename(&staging, path).expect("rename");
}

/// How many of 200 spans named `operation` with varied trace ids the sampler keeps.
fn kept(sampler: &Sampler, operation: &str) -> usize {
    (1..=200u128)
        .filter(|n| {
            let trace_id =
                TraceId::from_bytes((n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)).to_be_bytes());
            let result = sampler.should_sample(None, trace_id, operation, &SpanKind::Server, &[], &[]);
            result.decision == SamplingDecision::RecordAndSample
        })
        .count()
}

fn wait_for(sampler: &Sampler, operation: &str, expected: usize) {
    wait_until(&format!("{operation}: the SDK keeps {expected} of 200"), Duration::from_secs(10), || {
        let count = kept(sampler, operation);
        if count == expected {
            Ok(())
        } else {
            Err(format!("{count} kept"))
        }
    });
}

#[test]
fn the_otel_sdk_jaeger_remote_sampler_applies_and_follows_our_strategies() {
    let dir = std::env::temp_dir().join(format!("acgs-otel-sampler-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("strategies.json");
    write(
        &file,
        json!({
            "default_strategy": {"type": "probabilistic", "param": 1.0},
            "service_strategies": [{"service": "groqcloud-policy", "type": "probabilistic", "param": 0.0,
                "operation_strategies": [{"operation": "GET /v1/policies/{id}", "type": "probabilistic", "param": 1.0}]}]
        }),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let server = runtime.block_on(start(ServerConfig::loopback(Some(file.clone())))).expect("control plane starts");
    let sampler =
        Sampler::jaeger_remote(opentelemetry_sdk::runtime::Tokio, UreqClient, Sampler::AlwaysOn, "groqcloud-policy")
            .with_endpoint(format!("http://{}/sampling", server.http_addr))
            .with_update_interval(Duration::from_millis(100))
            .build()
            .expect("sampler builds");

    wait_for(&sampler, "POST /v1/rules", 0);
    assert_eq!(kept(&sampler, "GET /v1/policies/{id}"), 200, "the per-operation strategy applies");

    write(
        &file,
        json!({"service_strategies": [{"service": "groqcloud-policy", "type": "probabilistic", "param": 1.0}]}),
    );
    wait_for(&sampler, "POST /v1/rules", 200);

    write(
        &file,
        json!({"service_strategies": [{"service": "groqcloud-policy", "type": "probabilistic", "param": 0.5}]}),
    );
    wait_until("the SDK applies rate 0.5", Duration::from_secs(10), || {
        let count = kept(&sampler, "POST /v1/rules");
        if (60..=140).contains(&count) {
            Ok(())
        } else {
            Err(format!("{count} of 200 kept"))
        }
    });
    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Strategy requests the control plane at `addr` counted for `service`.
fn strategy_requests(addr: std::net::SocketAddr, service: &str) -> u64 {
    acgs_e2e::metric_sum(addr, &format!("acgs_sampling_requests_total{{service=\"{service}\"}}"))
}

#[test]
fn the_rust_sdk_reads_a_rate_limiting_strategy_only_with_the_compat_spelling() {
    let dir = std::env::temp_dir().join(format!("acgs-otel-ratelimiting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("strategies.json");
    write(&file, json!({"service_strategies": [{"service": "auth-service", "type": "ratelimiting", "param": 2}]}));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let server = runtime.block_on(start(ServerConfig::loopback(Some(file.clone())))).expect("control plane starts");
    // The SDK's bucket holds 100 traces unless told; one second's worth makes a burst show the rate.
    let sampler = |endpoint: String| {
        Sampler::jaeger_remote(opentelemetry_sdk::runtime::Tokio, UreqClient, Sampler::AlwaysOn, "auth-service")
            .with_endpoint(endpoint)
            .with_leaky_bucket_size(2.0)
            .with_update_interval(Duration::from_millis(100))
            .build()
            .expect("sampler builds")
    };

    // Jaeger's spelling: the SDK fetches it, cannot parse RATE_LIMITING, and stays on AlwaysOn.
    let plain = sampler(format!("http://{}/sampling", server.http_addr));
    wait_until("the SDK asks for its strategy", Duration::from_secs(10), || {
        let asked = strategy_requests(server.http_addr, "auth-service");
        if asked >= 3 {
            Ok(())
        } else {
            Err(format!("{asked} requests"))
        }
    });
    assert_eq!(kept(&plain, "POST /v1/auth/token"), 200, "the upstream bug: the strategy is not applied");

    // The opt-in spelling: the SDK applies the rate limit (2 per second: a burst of 200 keeps the
    // bucket's 2, plus 2 per whole second since it was filled).
    let compat = sampler(format!("http://{}/sampling?compat=opentelemetry-rust", server.http_addr));
    let mut count = 200;
    wait_until("the SDK applies the rate-limiting strategy", Duration::from_secs(10), || {
        count = kept(&compat, "POST /v1/auth/token");
        if count < 200 {
            Ok(())
        } else {
            Err("all 200 kept".to_owned())
        }
    });
    assert!((2..=4).contains(&count), "a burst of 200 under 2 traces/s keeps 2 to 4, kept {count}");

    let refused = ureq::get(&format!("http://{}/sampling?service=auth-service&compat=zipkin", server.http_addr))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()));
    assert_eq!(
        refused.ok(),
        Some((400, "'compat' parameter \"zipkin\" is not known; the one value is opentelemetry-rust\n".to_owned()))
    );
    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}
