//! One Envoy process with one HTTP Wasm plugin: a VM per worker thread, and the process-wide
//! state they share.

use std::sync::Arc;

use crate::config::{PluginConfig, ProxyConfig};
use crate::envoy_tracing::RecordedSpan;
use crate::error::HostError;
use crate::module::FilterModule;
use crate::process::{ProcessState, Stats};
use crate::state::Environment;
use crate::worker::Worker;

/// Most worker VMs one proxy may run.
const MAX_WORKERS: usize = 256;

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    workers: Vec<Worker>,
    process: Arc<ProcessState>,
}

impl Proxy {
    /// Starts one VM per worker and configures the plugin in each; fails as Envoy would refuse
    /// the plugin (a VM that cannot start, a configuration the filter rejects).
    pub fn start(module: &FilterModule, plugin: PluginConfig, config: ProxyConfig) -> Result<Self, HostError> {
        if config.workers == 0 || config.workers > MAX_WORKERS {
            return Err(HostError::InvalidProxyConfig {
                reason: format!("workers must be between 1 and {MAX_WORKERS}, got {}", config.workers),
            });
        }
        if let Some(reason) = config.invalid() {
            return Err(HostError::InvalidProxyConfig { reason });
        }
        let workers = config.workers;
        let env = Arc::new(Environment { plugin, proxy: config });
        let process = Arc::new(ProcessState::default());
        let workers = (0..workers)
            .map(|index| Worker::start(module, Arc::clone(&env), Arc::clone(&process), index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { workers, process })
    }

    pub fn workers_mut(&mut self) -> &mut [Worker] {
        &mut self.workers
    }

    /// The workers, to run on threads of the embedder's choosing.
    pub fn into_workers(self) -> Vec<Worker> {
        self.workers
    }

    /// Runs every worker's due events (callout responses, queue notifications, ticks).
    pub fn run_due(&mut self) {
        for worker in &mut self.workers {
            worker.run_due();
        }
    }

    /// The Wasm-defined stats, summed over the workers as Envoy's stats are.
    pub fn stats(&self) -> Stats {
        self.process.stats()
    }

    /// The spans Envoy's tracer finished since the last call (every worker's), as it would export
    /// them to its collector; empty without [`crate::ProxyConfig::tracing`].
    pub fn take_spans(&self) -> Vec<RecordedSpan> {
        self.process.take_spans()
    }

    /// Spans dropped because nobody took them (the buffer holds a million).
    pub fn spans_dropped(&self) -> u64 {
        self.process.spans_dropped()
    }

    /// A shared-data entry (value, cas), as the VMs see it.
    pub fn shared_data(&self, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        self.process.get_shared(key).ok()
    }
}
