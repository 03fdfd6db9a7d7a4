//! One workload's sidecar: the filter .wasm loaded in the embedded proxy-wasm host with the node
//! metadata Istio would set (WORKLOAD_NAME, NAMESPACE) and the plugin name Istio gives a
//! WasmPlugin (`<namespace>.<name>`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use acgs_wasm_host::{FailurePolicy, FilterModule, NodeInfo, PluginConfig, Proxy, ProxyConfig, TracingConfig};

/// Namespace the control plane and the filter's resources live in (docs/contracts.md).
pub const SYSTEM_NAMESPACE: &str = "acgs-system";
/// The plugin's name as Istio reports it for the WasmPlugin / EnvoyFilter of docs/contracts.md.
pub const PLUGIN_NAME: &str = "acgs-system.acgs-constitutional-header";
/// The Envoy cluster name the filter's configuration uses to reach the control plane.
pub const CONTROL_PLANE_CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";

/// What it takes to start one sidecar.
#[derive(Debug, Clone)]
pub struct SidecarSpec {
    /// The workload (Istio's WORKLOAD_NAME node metadata).
    pub workload: String,
    /// The workload's namespace.
    pub namespace: String,
    /// The filter's JSON configuration (WasmPlugin `pluginConfig`).
    pub plugin_config: serde_json::Value,
    /// Envoy worker threads, one filter VM each.
    pub workers: usize,
    /// Where the control plane listens, when the filter should reach it.
    pub control_plane: Option<SocketAddr>,
    /// Envoy's tracing (off: no spans recorded).
    pub tracing: Option<TracingConfig>,
}

impl SidecarSpec {
    /// A one-worker sidecar for `workload` in the `default` namespace with the given config.
    pub fn new(workload: &str, plugin_config: serde_json::Value) -> Self {
        Self {
            workload: workload.to_owned(),
            namespace: "default".to_owned(),
            plugin_config,
            workers: 1,
            control_plane: None,
            tracing: None,
        }
    }

    /// Starts the sidecar: instantiates one VM per worker and configures the filter in each.
    pub fn start(&self, module: &FilterModule) -> Result<Proxy, acgs_wasm_host::HostError> {
        self.start_with(module, |_, _| {})
    }

    /// Starts the sidecar after `adjust` has changed the plugin and proxy configuration it would
    /// run with (dry-run's raw plugin configuration, node metadata and clusters).
    pub fn start_with(
        &self,
        module: &FilterModule,
        adjust: impl FnOnce(&mut PluginConfig, &mut ProxyConfig),
    ) -> Result<Proxy, acgs_wasm_host::HostError> {
        let mut metadata = BTreeMap::new();
        metadata.insert("WORKLOAD_NAME".to_owned(), self.workload.clone());
        metadata.insert("NAME".to_owned(), format!("{}-7d9f8c6b5-x2x4q", self.workload));
        metadata.insert("NAMESPACE".to_owned(), self.namespace.clone());
        metadata.insert("CLUSTER_ID".to_owned(), "Kubernetes".to_owned());
        let mut clusters = BTreeMap::new();
        if let Some(addr) = self.control_plane {
            clusters.insert(CONTROL_PLANE_CLUSTER.to_owned(), addr.into());
        }
        let mut plugin = PluginConfig {
            name: PLUGIN_NAME.to_owned(),
            root_id: "acgs_constitutional_header".to_owned(),
            vm_id: "acgs".to_owned(),
            configuration: self.plugin_config.to_string().into_bytes(),
            vm_configuration: Vec::new(),
            failure_policy: FailurePolicy::FailClosed,
        };
        let mut config = ProxyConfig {
            workers: self.workers,
            node: NodeInfo {
                id: format!(
                    "sidecar~10.0.0.1~{}.{}~{}.svc.cluster.local",
                    self.workload, self.namespace, self.namespace
                ),
                cluster: format!("{}.{}", self.workload, self.namespace),
                metadata,
            },
            clusters,
            tracing: self.tracing.clone(),
            ..ProxyConfig::default()
        };
        adjust(&mut plugin, &mut config);
        Proxy::start(module, plugin, config)
    }
}

/// Loads the filter: the given .wasm file, or the one built into this binary.
pub fn load_filter(path: Option<&std::path::Path>) -> anyhow::Result<FilterModule> {
    use anyhow::Context as _;
    match path {
        Some(path) => FilterModule::load(path).with_context(|| format!("loading filter module {}", path.display())),
        None => {
            FilterModule::from_bytes(acgs_filter_artifacts::FILTER_WASM).context("loading the embedded filter module")
        }
    }
}
