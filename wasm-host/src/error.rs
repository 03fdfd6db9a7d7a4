//! Why the host could not load a module or start a proxy. Errors that come from the guest carry
//! the guest's log lines, because that is where a filter says what was wrong with its
//! configuration.

use crate::logs::LogRecord;

/// A failure to load a filter or to start its VMs.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The file could not be read.
    #[error("reading the Wasm module {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a proxy-wasm module this host can run.
    #[error("invalid proxy-wasm module: {reason}")]
    InvalidModule { reason: String },
    /// The proxy configuration cannot be used.
    #[error("invalid proxy configuration: {reason}")]
    InvalidProxyConfig { reason: String },
    /// Instantiating the module or its start functions failed.
    #[error("worker {worker}: starting the Wasm VM failed: {reason}")]
    VmStart { worker: usize, reason: String, logs: Vec<LogRecord> },
    /// `proxy_on_configure` returned false: Envoy rejects the plugin.
    #[error("worker {worker}: the plugin rejected its configuration{}", last_error(logs))]
    ConfigurationRejected { worker: usize, logs: Vec<LogRecord> },
}

fn last_error(logs: &[LogRecord]) -> String {
    logs.iter()
        .rev()
        .find(|record| record.level >= crate::logs::LogLevel::Warn)
        .map(|record| format!(": {}", record.message))
        .unwrap_or_default()
}
