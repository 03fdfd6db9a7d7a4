//! The demo's tracing pipeline as it runs in a mesh (docs/mesh.md): each sidecar's Envoy records
//! every request it traces (the host's tracing model, configured from the rendered Telemetry),
//! the filters decide and tag, and the spans go through the rendered Collector tiers
//! ([`crate::collector`]); what the sampling tier keeps is what Jaeger would store. Counted per
//! seed service, next to its strategy.

use std::time::{Duration, Instant};

use acgs_wasm_host::{Proxy, RecordedSpan, SpanKind};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::percent;
use crate::collector::tail_sampling::ModelError;
use crate::collector::CollectorStandIn;
use crate::mesh::seed::SEED_SERVICES;
use crate::rollout::bundle::Manifest;

/// The storages of the sampling tier's pipelines.
pub const PRIMARY_STORE: &str = "otlp/jaeger";
pub const CONSTITUTIONAL_STORE: &str = "otlp/jaeger-constitutional";

/// Per seed service: what Envoy recorded and what the Collector kept.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Hops Envoy recorded (SERVER spans of the service's sidecar).
    pub recorded: u64,
    /// Of those, the ones whose filter tagged `keep`.
    pub decided_keep: u64,
    /// Kept by the sampling tier (Jaeger, 7 days).
    pub kept: u64,
    /// Also kept for the constitutional storage (30 days).
    pub kept_constitutional: u64,
}

/// The Collector stand-in fed from the sidecars, and its counts.
#[derive(Debug)]
pub struct Pipeline {
    collector: CollectorStandIn<RecordedSpan>,
    started: Instant,
    counts: Vec<Counts>,
    counted: [usize; 2],
    /// Spans the sidecars' tracers dropped for want of buffer room.
    dropped: u64,
}

/// The seed service a span of Envoy's belongs to (its `service.name` is `<app>.<namespace>`).
fn service_index(span: &RecordedSpan) -> Option<usize> {
    let app = span.service_name.split('.').next()?;
    SEED_SERVICES.iter().position(|seed| seed.name == app)
}

impl Pipeline {
    pub fn new(manifests: &[Manifest]) -> Result<Self, ModelError> {
        Ok(Self {
            collector: CollectorStandIn::from_render(manifests)?,
            started: Instant::now(),
            counts: vec![Counts::default(); SEED_SERVICES.len()],
            counted: [0, 0],
            dropped: 0,
        })
    }

    /// Takes the spans the sidecars' Envoys finished and sends them to the first tier.
    pub fn collect(&mut self, sidecars: &[Proxy]) {
        let now = self.started.elapsed();
        self.dropped = sidecars.iter().map(Proxy::spans_dropped).sum();
        for sidecar in sidecars {
            for span in sidecar.take_spans() {
                if let (Some(index), SpanKind::Server) = (service_index(&span), span.kind) {
                    self.counts[index].recorded += 1;
                    self.counts[index].decided_keep +=
                        u64::from(span.attribute("acgs.sampling.decision") == Some("keep"));
                }
                self.collector.receive(&span, now);
            }
        }
        self.collector.tick(now);
        self.count_stored();
    }

    /// Decides every trace still waiting (as if `decision_wait` had passed).
    pub fn finish(&mut self, sidecars: &[Proxy]) {
        self.collect(sidecars);
        self.collector.tick(self.started.elapsed() + self.collector.decision_wait() + Duration::from_secs(1));
        self.count_stored();
    }

    fn count_stored(&mut self) {
        for (slot, store) in [PRIMARY_STORE, CONSTITUTIONAL_STORE].into_iter().enumerate() {
            let stored = self.collector.stored(store);
            for (span, _) in &stored[self.counted[slot]..] {
                if let (Some(index), SpanKind::Server) = (service_index(span), span.kind) {
                    let counts = &mut self.counts[index];
                    if slot == 0 {
                        counts.kept += 1;
                    } else {
                        counts.kept_constitutional += 1;
                    }
                }
            }
            self.counted[slot] = stored.len();
        }
    }

    pub fn counts(&self) -> &[Counts] {
        &self.counts
    }

    /// Spans the sidecars' tracers could not buffer.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The decision wait of the sampling tier.
    pub fn decision_wait(&self) -> Duration {
        self.collector.decision_wait()
    }

    /// The pipeline per service, next to its strategy.
    pub fn print(&self, strategies: &[String]) {
        let mut table = Table::new();
        table.load_style(UTF8_FULL_CONDENSED).set_header([
            "service",
            "strategy",
            "Envoy recorded",
            "filter: keep",
            "Collector kept",
            "kept 30 days",
        ]);
        for ((seed, counts), strategy) in SEED_SERVICES.iter().zip(&self.counts).zip(strategies) {
            table.add_row([
                seed.name.to_owned(),
                strategy.clone(),
                counts.recorded.to_string(),
                counts.decided_keep.to_string(),
                format!("{} ({:.1} %)", counts.kept, percent(counts.kept, counts.recorded)),
                counts.kept_constitutional.to_string(),
            ]);
        }
        println!("{table}");
    }
}
