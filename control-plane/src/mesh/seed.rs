//! The seed deployment the product ships with: the four services of the system description,
//! their sampling rates, the operations they serve, and the filter configuration each sidecar
//! gets. The embedded defaults of `demo` and the example strategies file say the same.

use serde_json::json;

/// The constitutional hash every request in the mesh must carry (docs/contracts.md).
pub const CONSTITUTIONAL_HASH: &str = "cdd01ef066bc6cf2";
/// The header it travels in.
pub const HASH_HEADER: &str = "constitutional-hash";

/// One seed service.
#[derive(Debug, Clone, Copy)]
pub struct SeedService {
    /// Workload name (Istio WORKLOAD_NAME, Jaeger service name).
    pub name: &'static str,
    /// Probabilistic sampling rate of its strategy.
    pub sampling_rate: f64,
    /// Path templates of the operations it serves (the filter names operations after them).
    pub operations: &'static [&'static str],
    /// Concrete paths the simulated clients call, matching `operations` one to one.
    pub example_paths: &'static [&'static str],
}

/// The seed services: constitutional-core, groqcloud-policy and auth-service sampled at 1.0,
/// health-check at 0.01.
pub const SEED_SERVICES: [SeedService; 4] = [
    SeedService {
        name: "constitutional-core",
        sampling_rate: 1.0,
        operations: &["/v1/constitutional/validate", "/v1/constitutional/amendments/{id}"],
        example_paths: &["/v1/constitutional/validate", "/v1/constitutional/amendments/42"],
    },
    SeedService {
        name: "groqcloud-policy",
        sampling_rate: 1.0,
        operations: &["/v1/policies/{id}", "/v1/external/groq/completions"],
        example_paths: &["/v1/policies/7", "/v1/external/groq/completions"],
    },
    SeedService {
        name: "auth-service",
        sampling_rate: 1.0,
        operations: &["/v1/auth/token", "/v1/auth/verify"],
        example_paths: &["/v1/auth/token", "/v1/auth/verify"],
    },
    SeedService {
        name: "health-check",
        sampling_rate: 0.01,
        operations: &["/v1/status"],
        example_paths: &["/healthz", "/readyz"],
    },
];

/// The filter configuration (WasmPlugin `pluginConfig`) of a seed service's sidecar, with a
/// probabilistic fallback strategy at `sampling_rate`.
pub fn plugin_config(service: &SeedService, sampling_rate: f64) -> serde_json::Value {
    json!({
        "constitutional_hash": CONSTITUTIONAL_HASH,
        "mode": "strict",
        "service": service.name,
        "operations": service.operations,
        "fallback_strategy": {
            "strategyType": "PROBABILISTIC",
            "probabilisticSampling": { "samplingRate": sampling_rate }
        }
    })
}

/// A seed service's filter configuration that polls the control plane of the sidecar's
/// `CONTROL_PLANE_CLUSTER` every `poll_interval_ms`.
pub fn plugin_config_polling(service: &SeedService, fallback_rate: f64, poll_interval_ms: u64) -> serde_json::Value {
    let mut config = plugin_config(service, fallback_rate);
    config["control_plane"] = json!({
        "cluster": super::sidecar::CONTROL_PLANE_CLUSTER,
        "authority": "acgs-control-plane.acgs-system.svc.cluster.local:5778",
        "poll_interval_ms": poll_interval_ms,
        "timeout_ms": 1000
    });
    config
}

/// The seed's strategies file (Jaeger format) with `service`'s probabilistic rate replaced.
pub fn strategies_with(service: &str, rate: f64) -> String {
    let services: Vec<serde_json::Value> = SEED_SERVICES
        .iter()
        .map(|seed| {
            let param = if seed.name == service { rate } else { seed.sampling_rate };
            json!({"service": seed.name, "type": "probabilistic", "param": param})
        })
        .collect();
    json!({
        "default_strategy": {"type": "probabilistic", "param": 1.0},
        "service_strategies": services,
        "constitutional": {"services": ["constitutional-core"], "operations": ["POST /v1/constitutional/validate"]}
    })
    .to_string()
}
