//! A stand-in for the rendered OpenTelemetry Collector tiers (docs/mesh.md), built from the very
//! ConfigMaps `render` produces, for the demo and the tests (no Collector binary runs here):
//!
//! - the first tier's traces pipeline must export through `loadbalancing` with
//!   `routing_key: traceID`, which sends every span of a trace to the same sampling instance
//!   (collector-contrib `exporter/loadbalancingexporter`: CRC-32 of the trace id onto a ring of
//!   100 points per resolved endpoint); the model routes by a hash of the trace id over the
//!   sampling Deployment's replicas, which keeps that property;
//! - each traces pipeline of the sampling tier runs its `tail_sampling` processor
//!   ([`tail_sampling`]) in every instance, and what it keeps is what its exporter's Jaeger
//!   storage receives.

pub mod tail_sampling;

use std::time::Duration;

use serde_json::Value;

use crate::rollout::bundle::Manifest;
use tail_sampling::{ModelError, SpanView, TailSampler, TailSamplingConfig};

/// The first tier's and the sampling tier's ConfigMaps and the sampling Deployment.
pub const ROUTING_CONFIG: &str = "otel-collector-config";
pub const SAMPLING_CONFIG: &str = crate::rollout::render::SAMPLER_CONFIG;
pub const SAMPLING_DEPLOYMENT: &str = "otel-sampler";

/// One traces pipeline of the sampling tier, across its instances.
#[derive(Debug)]
struct Pipeline<S> {
    exporter: String,
    instances: Vec<TailSampler<S>>,
    stored: Vec<(S, String)>,
}

/// The Collector tiers of a render: spans in, kept spans per storage out.
#[derive(Debug)]
pub struct CollectorStandIn<S> {
    pipelines: Vec<Pipeline<S>>,
    decision_wait: Duration,
}

fn manifest<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> Result<&'a Value, ModelError> {
    manifests
        .iter()
        .map(|m| &m.value)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .ok_or_else(|| ModelError { path: format!("{kind}/{name}"), reason: "not in the render".into() })
}

fn collector_config(manifests: &[Manifest], name: &str) -> Result<Value, ModelError> {
    let text = manifest(manifests, "ConfigMap", name)?["data"]["config.yaml"].as_str().unwrap_or_default().to_owned();
    serde_norway::from_str(&text)
        .map_err(|e| ModelError { path: format!("ConfigMap/{name} config.yaml"), reason: e.to_string() })
}

/// Which instance of `instances` the first tier sends a trace to.
fn route(trace_id: &[u8; 16], instances: usize) -> usize {
    let hash = trace_id
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3));
    usize::try_from(hash % instances.max(1) as u64).unwrap_or(0)
}

impl<S: SpanView + Clone> CollectorStandIn<S> {
    /// The tiers as `render` configured them.
    pub fn from_render(manifests: &[Manifest]) -> Result<Self, ModelError> {
        let routing = collector_config(manifests, ROUTING_CONFIG)?;
        let exporters: Vec<&str> = routing["service"]["pipelines"]["traces"]["exporters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if exporters != ["loadbalancing"] || routing["exporters"]["loadbalancing"]["routing_key"] != "traceID" {
            return Err(ModelError {
                path: format!("ConfigMap/{ROUTING_CONFIG} service.pipelines.traces"),
                reason: "must export only through `loadbalancing` with routing_key traceID".into(),
            });
        }
        let replicas =
            manifest(manifests, "Deployment", SAMPLING_DEPLOYMENT)?["spec"]["replicas"].as_u64().unwrap_or(1);
        let sampling = collector_config(manifests, SAMPLING_CONFIG)?;
        let mut pipelines = Vec::new();
        let mut decision_wait = Duration::ZERO;
        for (id, pipeline) in sampling["service"]["pipelines"].as_object().into_iter().flatten() {
            if !id.starts_with("traces") {
                continue;
            }
            let processors: Vec<&str> =
                pipeline["processors"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let samplers: Vec<&str> = processors.iter().copied().filter(|p| p.starts_with("tail_sampling")).collect();
            let [processor] = samplers.as_slice() else {
                return Err(ModelError {
                    path: format!("ConfigMap/{SAMPLING_CONFIG} service.pipelines.{id}"),
                    reason: format!("needs exactly one tail_sampling processor, has {samplers:?}"),
                });
            };
            let config =
                TailSamplingConfig::parse(&format!("processors.{processor}"), &sampling["processors"][processor])?;
            decision_wait = decision_wait.max(config.decision_wait);
            let exporter = pipeline["exporters"][0].as_str().unwrap_or_default().to_owned();
            let instances = (0..replicas).map(|_| TailSampler::new(config.clone())).collect();
            pipelines.push(Pipeline { exporter, instances, stored: Vec::new() });
        }
        Ok(Self { pipelines, decision_wait })
    }

    /// The longest `decision_wait` of the pipelines.
    pub fn decision_wait(&self) -> Duration {
        self.decision_wait
    }

    /// A span reaches the first tier at `now` (time since the stand-in started).
    pub fn receive(&mut self, span: &S, now: Duration) {
        for pipeline in &mut self.pipelines {
            let instances = pipeline.instances.len();
            let instance = &mut pipeline.instances[route(&span.trace_id(), instances)];
            if let Some(kept) = instance.ingest(span.clone(), now) {
                pipeline.stored.push((kept, "(decided earlier)".to_owned()));
            }
        }
    }

    /// Runs the samplers' decisions due at `now`.
    pub fn tick(&mut self, now: Duration) {
        for pipeline in &mut self.pipelines {
            for instance in &mut pipeline.instances {
                pipeline.stored.extend(instance.tick(now));
            }
        }
    }

    /// What the storage behind `exporter` (e.g. `otlp/jaeger`) received: each span with the
    /// policy that kept its trace.
    pub fn stored(&self, exporter: &str) -> &[(S, String)] {
        self.pipelines.iter().find(|p| p.exporter == exporter).map_or(&[], |p| p.stored.as_slice())
    }

    /// The exporters of the sampling tier's traces pipelines, in config order.
    pub fn exporters(&self) -> Vec<&str> {
        self.pipelines.iter().map(|p| p.exporter.as_str()).collect()
    }

    /// Traces waiting for a decision, over all pipelines and instances.
    pub fn waiting(&self) -> usize {
        self.pipelines.iter().flat_map(|p| p.instances.iter()).map(TailSampler::waiting).sum()
    }
}

#[cfg(feature = "wasm-runtime")]
/// A span of Envoy's as its OpenTelemetry tracer exports it (OTLP): ids, name, kind, times, string
/// attributes, ERROR status.
pub fn otlp_span(span: &acgs_wasm_host::RecordedSpan) -> opentelemetry_proto::tonic::trace::v1::Span {
    use opentelemetry_proto::tonic::trace::v1::{span::SpanKind as Kind, status::StatusCode, Span, Status};
    let kind = match span.kind {
        acgs_wasm_host::SpanKind::Server => Kind::Server,
        acgs_wasm_host::SpanKind::Client => Kind::Client,
    };
    Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        parent_span_id: span.parent_span_id.map(|id| id.to_vec()).unwrap_or_default(),
        name: span.name.clone(),
        kind: kind as i32,
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos,
        attributes: span.attributes.iter().map(|(key, value)| crate::telemetry::otlp::string_kv(key, value)).collect(),
        status: span.error.then(|| Status { code: StatusCode::Error as i32, ..Status::default() }),
        ..Span::default()
    }
}

/// Envoy's spans, as the sampler sees them.
#[cfg(feature = "wasm-runtime")]
impl SpanView for acgs_wasm_host::RecordedSpan {
    fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    fn attribute(&self, key: &str) -> Option<&str> {
        acgs_wasm_host::RecordedSpan::attribute(self, key)
    }

    fn resource_attribute(&self, key: &str) -> Option<&str> {
        (key == "service.name").then_some(self.service_name.as_str())
    }
}

#[cfg(test)]
mod tests;
