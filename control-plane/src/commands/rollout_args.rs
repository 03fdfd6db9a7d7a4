//! The render options shared by `render` and `deploy` (what to roll out and with which values).

use clap::Args;

use crate::exit::UsageError;
use crate::rollout::bundle::Manifest;
use crate::rollout::render::{
    render, RenderError, RenderOptions, Variant, DEFAULT_FILTER_IMAGE, DEFAULT_HASH, DEFAULT_IMAGE,
    DEFAULT_JAEGER_NAMESPACE, DEFAULT_NAMESPACE,
};

#[derive(Debug, Clone, Args)]
pub struct RolloutArgs {
    /// Which overlay of deploy/: the filter as a WasmPlugin or an EnvoyFilter, Jaeger v2 or v1.
    #[arg(long, value_enum, default_value_t = Variant::Default)]
    pub variant: Variant,
    /// Namespace of the control plane, the collector and the filter resources.
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Namespace of Jaeger and Elasticsearch.
    #[arg(long, default_value = DEFAULT_JAEGER_NAMESPACE)]
    pub jaeger_namespace: String,
    /// The constitutional hash the filters enforce.
    #[arg(long, default_value = DEFAULT_HASH)]
    pub hash: String,
    /// The control plane image (tag or @sha256 digest).
    #[arg(long, default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// The filter's OCI image for the WasmPlugin (a digest also sets spec.sha256).
    #[arg(long, default_value = DEFAULT_FILTER_IMAGE)]
    pub filter_image: String,
    /// Default sampling probability of the seed SamplingPolicy.
    #[arg(long, default_value_t = 1.0)]
    pub sampling: f64,
    /// Days traces are kept in Elasticsearch.
    #[arg(long, default_value_t = 7)]
    pub retention_days: u32,
    /// Days constitutional traces are kept.
    #[arg(long, default_value_t = 30)]
    pub constitutional_retention_days: u32,
}

impl RolloutArgs {
    pub fn options(&self) -> RenderOptions {
        RenderOptions {
            variant: self.variant,
            namespace: self.namespace.clone(),
            jaeger_namespace: self.jaeger_namespace.clone(),
            hash: self.hash.clone(),
            image: self.image.clone(),
            filter_image: self.filter_image.clone(),
            sampling: self.sampling,
            retention_days: self.retention_days,
            constitutional_retention_days: self.constitutional_retention_days,
        }
    }

    /// The rendered manifests; a bad value is a usage error (exit 64).
    pub fn render(&self) -> anyhow::Result<Vec<Manifest>> {
        render(&self.options()).map_err(|error| match error {
            RenderError::Invalid { .. } => anyhow::Error::new(UsageError(error.to_string())),
            RenderError::Bundle(_) => anyhow::Error::new(error),
        })
    }
}
