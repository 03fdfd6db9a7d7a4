//! `/metrics` families computed from the telemetry store at scrape time (a prometheus-client
//! `Collector`), so ingest only touches the store and a scrape sees one consistent state:
//!
//! - `acgs_requests_total{service,operation,code_class,hash_status}`
//! - `acgs_request_duration_seconds{service,operation}` (histogram, the filter's fixed buckets)
//! - `acgs_constitutional_hash_mismatch_total{service,source}`
//! - `acgs_constitutional_compliance_ratio{service}`: compliant / (compliant + non-compliant)
//!   requests over the last [`COMPLIANCE_LOOKBACK`] of windows; exempt requests count on neither
//!   side; a service with no such request in that span is not exported.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use acgs_proto::telemetry::{Compliance, LATENCY_BUCKET_BOUNDS_MICROS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::histogram::LatencyHistogram;
use super::store::TelemetryStore;

/// Span of windows the compliance ratio gauge looks back over.
pub const COMPLIANCE_LOOKBACK: Duration = Duration::from_secs(300);

/// Encodes the store's families on each scrape.
#[derive(Debug)]
pub struct TelemetryCollector {
    store: Arc<RwLock<TelemetryStore>>,
}

impl TelemetryCollector {
    pub fn new(store: Arc<RwLock<TelemetryStore>>) -> Self {
        Self { store }
    }
}

impl Collector for TelemetryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Ok(store) = self.store.read() else { return Ok(()) };

        let mut requests = encoder.encode_descriptor(
            "acgs_requests",
            "Requests seen by the filters, by service, operation, HTTP status class and constitutional-hash status.",
            None,
            MetricType::Counter,
        )?;
        let mut durations: BTreeMap<(&str, &str), LatencyHistogram> = BTreeMap::new();
        let mut series: Vec<_> = store.totals().iter().collect();
        series.sort_by(|a, b| a.0.cmp(b.0));
        for (key, histogram) in &series {
            let code_class = if key.code_class == 0 { "none".to_owned() } else { format!("{}xx", key.code_class) };
            let labels = [
                ("service", key.service.as_ref()),
                ("operation", key.operation.as_ref()),
                ("code_class", code_class.as_str()),
                ("hash_status", key.hash_status.as_str()),
            ];
            requests
                .encode_family(&labels.as_slice())?
                .encode_counter::<NoLabelSet, _, u64>(&histogram.count(), None)?;
            durations.entry((key.service.as_ref(), key.operation.as_ref())).or_default().merge(histogram);
        }

        let mut duration_metric = encoder.encode_descriptor(
            "acgs_request_duration_seconds",
            "Request latency seen by the filters (request headers to end of stream).",
            None,
            MetricType::Histogram,
        )?;
        for ((service, operation), histogram) in &durations {
            let labels = [("service", *service), ("operation", *operation)];
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKET_BOUNDS_MICROS
                .iter()
                .map(|bound| *bound as f64 / 1e6)
                .chain(std::iter::once(f64::INFINITY))
                .zip(histogram.buckets().iter().copied())
                .collect();
            duration_metric.encode_family(&labels.as_slice())?.encode_histogram::<NoLabelSet>(
                histogram.sum_micros() as f64 / 1e6,
                histogram.count(),
                &buckets,
                None,
            )?;
        }

        let mut mismatch = encoder.encode_descriptor(
            "acgs_constitutional_hash_mismatch",
            "Requests whose constitutional-hash header did not match, by service and calling source.",
            None,
            MetricType::Counter,
        )?;
        let mut mismatches: Vec<_> = store.mismatches().iter().collect();
        mismatches.sort();
        for ((service, source), count) in mismatches {
            let labels = [("service", service.as_ref()), ("source", source.as_ref())];
            mismatch.encode_family(&labels.as_slice())?.encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }

        let mut ratio = encoder.encode_descriptor(
            "acgs_constitutional_compliance_ratio",
            "Share of compliant requests (valid or injected hash) among compliant and non-compliant ones, last 5 minutes.",
            None,
            MetricType::Gauge,
        )?;
        for (service, value) in compliance_ratios(&store, super::unix_now_secs(), COMPLIANCE_LOOKBACK) {
            let labels = [("service", service.as_str())];
            ratio.encode_family(&labels.as_slice())?.encode_gauge(&value)?;
        }
        Ok(())
    }
}

/// Compliance ratio per service over the windows that overlap the `lookback` before `now`.
pub fn compliance_ratios(store: &TelemetryStore, now_unix_secs: u64, lookback: Duration) -> BTreeMap<String, f64> {
    let since = now_unix_secs.saturating_sub(lookback.as_secs());
    let mut tallies: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for window in store.windows().since(since) {
        for (key, histogram) in &window.series {
            let tally = match key.hash_status.compliance() {
                Compliance::Compliant => &mut tallies.entry(key.service.to_string()).or_default().0,
                Compliance::NonCompliant => &mut tallies.entry(key.service.to_string()).or_default().1,
                Compliance::Exempt => continue,
            };
            *tally += histogram.count();
        }
    }
    tallies
        .into_iter()
        .filter(|(_, (good, bad))| good + bad > 0)
        .map(|(service, (good, bad))| (service, good as f64 / (good + bad) as f64))
        .collect()
}
