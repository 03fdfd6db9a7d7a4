//! Envoy stats the filter defines (`proxy_define_metric`): requests per hash status and local
//! rejections, counted in every VM whatever the control plane does. Envoy keeps Wasm-defined
//! metrics in its custom stat namespace `wasmcustom` (envoyproxy/envoy#17357), so its admin
//! Prometheus endpoint shows them under these names, without the `envoy_` prefix.

use super::host;
use crate::hash::HashStatus;

/// Counter ids, defined once per VM in `on_configure`.
#[derive(Debug, Clone, Copy)]
pub(super) struct FilterStats {
    by_status: [u32; HashStatus::ALL.len()],
    rejected: u32,
}

impl FilterStats {
    /// Defines the counters; `None` when the host refuses (the filter then runs without stats).
    pub(super) fn define() -> Option<Self> {
        let mut by_status = [0; HashStatus::ALL.len()];
        for (slot, status) in by_status.iter_mut().zip(HashStatus::ALL) {
            let name = format!("acgs_filter_requests_{}_total", status.as_str());
            *slot = host::define_counter(&name)?;
        }
        let rejected = host::define_counter("acgs_filter_rejected_total")?;
        Some(Self { by_status, rejected })
    }

    pub(super) fn count(&self, status: HashStatus, rejected: bool) {
        if let Some(id) = HashStatus::ALL.iter().position(|s| *s == status).and_then(|i| self.by_status.get(i)) {
            host::increment(*id);
        }
        if rejected {
            host::increment(self.rejected);
        }
    }
}
