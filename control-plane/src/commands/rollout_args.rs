//! The render options shared by `render` and `deploy` (what to roll out and with which values).

use clap::Args;

use crate::exit::UsageError;
use crate::rollout::bundle::Manifest;
use crate::rollout::elasticsearch_secrets::{self, GenerateError};
use crate::rollout::render::{
    render, RenderError, RenderOptions, Variant, DEFAULT_FILTER_IMAGE, DEFAULT_HASH, DEFAULT_IMAGE,
    DEFAULT_JAEGER_NAMESPACE, DEFAULT_NAMESPACE, PLACEHOLDER_TOKEN,
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
    /// The bearer token the filters present to the control plane, set in the
    /// `acgs-telemetry-token` Secret and in the filters' configuration (unset: the shipped
    /// placeholder, with a warning).
    #[arg(long, env = "ACGS_TELEMETRY_TOKEN", hide_env_values = true)]
    pub telemetry_token: Option<String>,
    /// Generate a random telemetry token (256 bits) for the Secret and the filters instead.
    #[arg(long, conflicts_with = "telemetry_token")]
    pub generate_telemetry_token: bool,
}

impl RolloutArgs {
    /// The render options; a generated token and Elasticsearch's secrets are drawn here, once
    /// per call.
    pub fn options(&self) -> Result<RenderOptions, GenerateError> {
        let telemetry_token = if self.generate_telemetry_token {
            Some(rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect())
        } else {
            self.telemetry_token.clone()
        };
        Ok(RenderOptions {
            elasticsearch: Some(elasticsearch_secrets::generate(&self.jaeger_namespace)?),
            variant: self.variant,
            namespace: self.namespace.clone(),
            jaeger_namespace: self.jaeger_namespace.clone(),
            hash: self.hash.clone(),
            image: self.image.clone(),
            filter_image: self.filter_image.clone(),
            sampling: self.sampling,
            retention_days: self.retention_days,
            constitutional_retention_days: self.constitutional_retention_days,
            telemetry_token,
        })
    }

    /// The rendered manifests; a bad value is a usage error (exit 64).
    /// Warns when the manifests keep the placeholder token.
    pub fn render(&self) -> anyhow::Result<Vec<Manifest>> {
        let options = self.options()?;
        let manifests = render(&options).map_err(|error| match error {
            RenderError::Invalid { .. } => anyhow::Error::new(UsageError(error.to_string())),
            RenderError::Bundle(_) => anyhow::Error::new(error),
        })?;
        if options.telemetry_token.is_none() {
            tracing::warn!(
                "the manifests carry the placeholder telemetry token {PLACEHOLDER_TOKEN:?}: anyone who knows it may post \
                 telemetry; pass --generate-telemetry-token or --telemetry-token"
            );
        }
        Ok(manifests)
    }
}
