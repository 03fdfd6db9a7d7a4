//! What an embedder configures: the plugin (Envoy's `PluginConfig`: name, root id, VM id,
//! configuration bytes, failure policy) and the proxy process (workers, node identity and
//! metadata, the clusters callouts may reach, log level, stream timeout, the codec's request
//! header limits, request ids and tracing).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::envoy_tracing::TracingConfig;
use crate::logs::LogLevel;

/// What happens to traffic when the filter's VM has failed (a trap), as Envoy's
/// `PluginConfig.failure_policy` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The failed VM's streams get a local 503 (`wasm_fail_stream`), as Envoy's default.
    #[default]
    FailClosed,
    /// Requests pass unfiltered (Envoy's `fail_open: true` / `FAIL_OPEN`).
    FailOpen,
    /// The stream that hit the failure fails closed; the next stream gets a fresh VM
    /// (`FAIL_RELOAD`).
    FailReload,
}

/// The plugin as Envoy's `envoy.extensions.wasm.v3.PluginConfig` describes it.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// `name`; Istio sets `<namespace>.<WasmPlugin name>`. Exposed as the `plugin_name` property.
    pub name: String,
    /// `root_id`, passed to the guest's root context (`plugin_root_id` property).
    pub root_id: String,
    /// `vm_config.vm_id` (`plugin_vm_id` property).
    pub vm_id: String,
    /// `configuration`: the bytes `on_configure` reads.
    pub configuration: Vec<u8>,
    /// `vm_config.configuration`: the bytes `on_vm_start` reads.
    pub vm_configuration: Vec<u8>,
    /// `failure_policy`.
    pub failure_policy: FailurePolicy,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            name: "wasm-plugin".to_owned(),
            root_id: String::new(),
            vm_id: String::new(),
            configuration: Vec::new(),
            vm_configuration: Vec::new(),
            failure_policy: FailurePolicy::default(),
        }
    }
}

/// The Envoy node this proxy runs as (`node.*` / `xds.node.*` properties).
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// `node.id`, e.g. Istio's `sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local`.
    pub id: String,
    /// `node.cluster`.
    pub cluster: String,
    /// `node.metadata` string entries (Istio sets WORKLOAD_NAME, NAME, NAMESPACE, CLUSTER_ID…).
    pub metadata: BTreeMap<String, String>,
}

/// Envoy's default `max_request_headers_kb`.
pub const DEFAULT_MAX_REQUEST_HEADERS_KB: u32 = 60;
/// The largest `max_request_headers_kb` Envoy accepts (the field's `lte: 8192`).
pub const MAX_REQUEST_HEADERS_KB_LIMIT: u32 = 8192;
/// Envoy's default `max_headers_count`.
pub const DEFAULT_MAX_HEADERS_COUNT: u32 = 100;

/// The proxy process.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Envoy worker threads: one VM each (`--concurrency`).
    pub workers: usize,
    /// The node identity and metadata.
    pub node: NodeInfo,
    /// Cluster name → its loopback endpoints and load balancing, for `proxy_http_call` and the
    /// gRPC callouts.
    pub clusters: BTreeMap<String, Cluster>,
    /// The Wasm log level (`--component-log-level wasm:…`): lower guest logs are dropped.
    pub log_level: LogLevel,
    /// How long a paused stream may wait for `proxy_continue_stream` before the host answers
    /// it as Envoy's stream idle timeout would.
    pub stream_timeout: Duration,
    /// The upstream host address streams are routed to (`upstream.address` property).
    pub upstream_address: SocketAddr,
    /// The listener address (`destination.address` property).
    pub listener_address: SocketAddr,
    /// The connection manager's `max_request_headers_kb` (Envoy's default 60, at most 8192):
    /// a request whose HTTP/1 header block is larger gets the codec's 431.
    pub max_request_headers_kb: u32,
    /// `common_http_protocol_options.max_headers_count` (Envoy's default 100, at least 1): a
    /// request with more headers gets the codec's 431.
    pub max_headers_count: u32,
    /// The connection manager's `generate_request_id` (Envoy's default: on): a request without
    /// `x-request-id` gets one before the filters run.
    pub generate_request_id: bool,
    /// The connection manager's tracing with the OpenTelemetry tracer; off when `None`.
    pub tracing: Option<TracingConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            node: NodeInfo::default(),
            clusters: BTreeMap::new(),
            log_level: LogLevel::Info,
            stream_timeout: Duration::from_secs(15),
            upstream_address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listener_address: SocketAddr::from(([10, 0, 0, 1], 15006)),
            max_request_headers_kb: DEFAULT_MAX_REQUEST_HEADERS_KB,
            max_headers_count: DEFAULT_MAX_HEADERS_COUNT,
            generate_request_id: true,
            tracing: None,
        }
    }
}

impl ProxyConfig {
    /// What Envoy's configuration validation would refuse in these settings.
    pub(crate) fn invalid(&self) -> Option<String> {
        if !(1..=MAX_REQUEST_HEADERS_KB_LIMIT).contains(&self.max_request_headers_kb) {
            return Some(format!(
                "max_request_headers_kb must be between 1 and {MAX_REQUEST_HEADERS_KB_LIMIT}, got {}",
                self.max_request_headers_kb
            ));
        }
        if self.max_headers_count == 0 {
            return Some("max_headers_count must be at least 1".to_owned());
        }
        None
    }
}
