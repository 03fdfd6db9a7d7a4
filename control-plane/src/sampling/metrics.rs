//! The sampling service's Prometheus metrics (docs/contracts.md names): `acgs_sampling_requests_total`
//! by service and `acgs_strategy_reloads_total` by source and result. Services the strategies do
//! not name are counted under `_default`, so arbitrary query strings cannot grow the label set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The label value for a service the strategies do not name.
pub const DEFAULT_SERVICE_LABEL: &str = "_default";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    source: String,
    result: String,
}

#[derive(Debug, Clone, Default)]
pub struct SamplingMetrics {
    requests: Family<ServiceLabel, Counter>,
    reloads: Family<ReloadLabels, Counter>,
}

impl SamplingMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "acgs_sampling_requests",
            "Sampling strategy requests served, by service",
            metrics.requests.clone(),
        );
        registry.register(
            "acgs_strategy_reloads",
            "Strategy source loads, by source and result",
            metrics.reloads.clone(),
        );
        metrics
    }

    /// Counts a strategy request; `known` says whether the strategies name the service.
    pub fn request(&self, service: &str, known: bool) {
        let service = if known { service } else { DEFAULT_SERVICE_LABEL };
        self.requests.get_or_create(&ServiceLabel { service: service.to_owned() }).inc();
    }

    pub fn reload(&self, source: &str, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&ReloadLabels { source: source.to_owned(), result: result.to_owned() }).inc();
    }
}
