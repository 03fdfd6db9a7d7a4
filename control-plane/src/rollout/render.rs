//! `render`: the manifests of one deploy/ overlay with the operator's values: namespaces, the
//! constitutional hash, images, default sampling and retention. Every value is checked before
//! anything is produced (an error names the option and says why); the output is what `deploy`
//! applies and what the schema tests validate.
//!
//! The filter's sha256 is the one of the .wasm embedded in this binary, set on both filter
//! resources (annotation `tracing.acgs.io/filter-wasm-sha256`, and the EnvoyFilter's remote-code
//! `sha256`, which Envoy verifies); deploy/ carries the same value (a test checks it).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::bundle::{self, BundleError, Manifest};
use super::elasticsearch_secrets::{ElasticsearchSecrets, CREDENTIALS_SECRET, TRANSPORT_TLS_SECRET};

/// The defaults deploy/ is written with.
pub const DEFAULT_NAMESPACE: &str = "acgs-system";
pub const DEFAULT_JAEGER_NAMESPACE: &str = "jaeger-system";
pub const DEFAULT_HASH: &str = "cdd01ef066bc6cf2";
pub const DEFAULT_IMAGE: &str = "ghcr.io/acgs/acgs-tracing:0.1.0";
pub const DEFAULT_FILTER_IMAGE: &str = "ghcr.io/acgs/acgs-filter:0.1.0";
/// The sampling tier's Collector config, and its line with the default strategy's probability
/// (the rate of traces no filter decided about).
pub const SAMPLER_CONFIG: &str = "otel-sampler-config";
const DEFAULT_STRATEGY_LINE: &str = "sampling_percentage: 100\n";
/// The telemetry token deploy/ ships with (in the `acgs-telemetry-token` Secret and the filters'
/// configuration), to be replaced: `serve` warns when it runs with it.
pub const PLACEHOLDER_TOKEN: &str = "change-me-acgs-telemetry-token";
/// The annotation carrying the filter module's sha256.
pub const SHA256_ANNOTATION: &str = "tracing.acgs.io/filter-wasm-sha256";

/// Which overlay of deploy/.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// The filter as an Istio WasmPlugin, Jaeger v2.
    Default,
    /// The filter as an EnvoyFilter, Jaeger v2.
    Envoyfilter,
    /// The filter as a WasmPlugin, Jaeger 1.49 with its agent DaemonSet.
    JaegerV1,
}

impl Variant {
    pub fn overlay(self) -> &'static str {
        match self {
            Self::Default => "overlays/default",
            Self::Envoyfilter => "overlays/envoyfilter",
            Self::JaegerV1 => "overlays/jaeger-v1",
        }
    }
}

/// The operator's values.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    pub variant: Variant,
    pub namespace: String,
    pub jaeger_namespace: String,
    pub hash: String,
    pub image: String,
    pub filter_image: String,
    /// The default sampling probability: of the seed SamplingPolicy, and of the sampling tier's
    /// policy for traces no filter decided about.
    pub sampling: f64,
    pub retention_days: u32,
    pub constitutional_retention_days: u32,
    /// The bearer token the filters present on `POST /v1/telemetry`, set in the Secret the control
    /// plane reads and in the filters' configuration; `None` keeps [`PLACEHOLDER_TOKEN`].
    pub telemetry_token: Option<String>,
    /// Elasticsearch's password and transport TLS, set in its two create-only Secrets; `None`
    /// keeps deploy/'s placeholders (`render` and `deploy` always generate them).
    pub elasticsearch: Option<ElasticsearchSecrets>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            variant: Variant::Default,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            jaeger_namespace: DEFAULT_JAEGER_NAMESPACE.to_owned(),
            hash: DEFAULT_HASH.to_owned(),
            image: DEFAULT_IMAGE.to_owned(),
            filter_image: DEFAULT_FILTER_IMAGE.to_owned(),
            sampling: 1.0,
            retention_days: 7,
            constitutional_retention_days: 30,
            telemetry_token: None,
            elasticsearch: None,
        }
    }
}

/// A bad value (the option and why) or a packaging bug.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("--{option}: {reason}")]
    Invalid { option: &'static str, reason: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

fn invalid(option: &'static str, reason: impl Into<String>) -> RenderError {
    RenderError::Invalid { option, reason: reason.into() }
}

/// A DNS-1123 label, as Kubernetes requires of namespace names.
fn check_namespace(option: &'static str, name: &str) -> Result<(), RenderError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(invalid(option, format!("{name:?} is not a DNS-1123 label (a-z, 0-9, '-', at most 63, alphanumeric ends)")))
    }
}

/// A bearer token (RFC 6750's token characters) long enough not to be guessed.
fn check_token(token: &str) -> Result<(), RenderError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    if token.len() < 16 || token.len() > 512 {
        return Err(invalid("telemetry-token", format!("is {} bytes; give 16 to 512", token.len())));
    }
    if let Some(bad) = token.bytes().find(|b| !allowed(*b)) {
        return Err(invalid(
            "telemetry-token",
            format!("contains {:?}; use letters, digits and -._~+/= only", char::from(bad)),
        ));
    }
    if token == PLACEHOLDER_TOKEN {
        return Err(invalid(
            "telemetry-token",
            "is the shipped placeholder; give your own or --generate-telemetry-token",
        ));
    }
    Ok(())
}

/// An image reference with a tag or a sha256 digest; returns the digest's hex if any.
fn check_image(option: &'static str, image: &str) -> Result<Option<String>, RenderError> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_ascii_uppercase()) {
        return Err(invalid(option, format!("{image:?} is not an image reference (lowercase, no spaces)")));
    }
    if image.starts_with("oci://") || image.contains("://") {
        return Err(invalid(option, format!("{image:?}: give the image without a scheme (oci:// is added)")));
    }
    if let Some((_, digest)) = image.split_once("@sha256:") {
        if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Ok(Some(digest.to_owned()));
        }
        return Err(invalid(option, format!("{image:?}: a sha256 digest is 64 lowercase hex digits")));
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if !last.contains(':') {
        return Err(invalid(
            option,
            format!("{image:?} has neither a tag nor a digest (pin one; never rely on :latest)"),
        ));
    }
    Ok(None)
}

impl RenderOptions {
    /// Checks every value; the first bad one is the error.
    pub fn validate(&self) -> Result<Option<String>, RenderError> {
        check_namespace("namespace", &self.namespace)?;
        check_namespace("jaeger-namespace", &self.jaeger_namespace)?;
        if self.namespace == self.jaeger_namespace {
            return Err(invalid("jaeger-namespace", "must differ from --namespace"));
        }
        let hash_ok = (8..=64).contains(&self.hash.len())
            && self.hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hash_ok {
            return Err(invalid("hash", format!("{:?} is not 8 to 64 lowercase hex digits", self.hash)));
        }
        check_image("image", &self.image)?;
        let digest = check_image("filter-image", &self.filter_image)?;
        if !(0.0..=1.0).contains(&self.sampling) {
            return Err(invalid("sampling", format!("{} is not a probability in [0, 1]", self.sampling)));
        }
        if self.retention_days == 0 {
            return Err(invalid("retention-days", "must be at least 1"));
        }
        if let Some(token) = &self.telemetry_token {
            check_token(token)?;
        }
        if self.constitutional_retention_days < self.retention_days {
            return Err(invalid(
                "constitutional-retention-days",
                format!(
                    "{} is shorter than --retention-days {}: constitutional traces are kept at least as long",
                    self.constitutional_retention_days, self.retention_days
                ),
            ));
        }
        Ok(digest)
    }
}

/// The sha256 of the filter .wasm this binary embeds (and serves at /v1/filter/acgs_filter.wasm).
pub fn filter_sha256() -> String {
    Sha256::digest(acgs_filter_artifacts::FILTER_WASM).iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces whole-token occurrences of `from` (not part of a longer DNS name segment).
fn replace_token(text: &str, from: &str, to: &str) -> String {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find(from) {
        let start = search + found;
        let end = start + from.len();
        let before_ok = start == 0 || !is_name_byte(bytes[start - 1]);
        let after_ok = end == bytes.len() || !is_name_byte(bytes[end]);
        if before_ok && after_ok {
            out.push_str(&text[rest..start]);
            out.push_str(to);
            rest = end;
        }
        search = end;
    }
    out.push_str(&text[rest..]);
    out
}

fn map_strings(value: &mut Value, edit: &dyn Fn(&str) -> String) {
    match value {
        Value::String(text) => *text = edit(text),
        Value::Array(items) => items.iter_mut().for_each(|item| map_strings(item, edit)),
        Value::Object(fields) => fields.values_mut().for_each(|field| map_strings(field, edit)),
        _ => {}
    }
}

fn is(manifest: &Manifest, kind: &str, name: &str) -> bool {
    manifest.value["kind"] == kind && manifest.value["metadata"]["name"] == name
}

/// The manifests of the chosen overlay with the options applied.
pub fn render(options: &RenderOptions) -> Result<Vec<Manifest>, RenderError> {
    let digest = options.validate()?;
    let sha256 = filter_sha256();
    let mut manifests = bundle::build(options.variant.overlay())?;
    for manifest in &mut manifests {
        map_strings(&mut manifest.value, &|text| {
            let text = replace_token(text, DEFAULT_NAMESPACE, &options.namespace);
            let text = replace_token(&text, DEFAULT_JAEGER_NAMESPACE, &options.jaeger_namespace);
            let text = match &options.telemetry_token {
                Some(token) => text.replace(PLACEHOLDER_TOKEN, token),
                None => text,
            };
            text.replace(DEFAULT_HASH, &options.hash)
        });
        let kind = manifest.value["kind"].as_str().unwrap_or_default().to_owned();
        if kind == "WasmPlugin" || kind == "EnvoyFilter" {
            manifest.value["metadata"]["annotations"][SHA256_ANNOTATION] = json!(sha256);
        }
        if kind == "WasmPlugin" {
            manifest.value["spec"]["url"] = json!(format!("oci://{}", options.filter_image));
            if let Some(digest) = &digest {
                manifest.value["spec"]["sha256"] = json!(digest);
            }
        }
        if kind == "EnvoyFilter" {
            for patch in manifest.value["spec"]["configPatches"].as_array_mut().into_iter().flatten() {
                let code = &mut patch["patch"]["value"]["typed_config"]["config"]["vm_config"]["code"];
                if code["remote"].is_object() {
                    code["remote"]["sha256"] = json!(sha256);
                }
            }
        }
        if is(manifest, "Deployment", "acgs-control-plane") {
            for container in
                manifest.value["spec"]["template"]["spec"]["containers"].as_array_mut().into_iter().flatten()
            {
                container["image"] = json!(options.image);
            }
        }
        if let Some(secrets) = &options.elasticsearch {
            if is(manifest, "Secret", CREDENTIALS_SECRET) {
                manifest.value["stringData"]["password"] = json!(secrets.password);
            }
            if is(manifest, "Secret", TRANSPORT_TLS_SECRET) {
                let data = &mut manifest.value["stringData"];
                data["ca.crt"] = json!(secrets.ca_pem);
                data["tls.crt"] = json!(secrets.cert_pem);
                data["tls.key"] = json!(secrets.key_pem);
            }
        }
        if is(manifest, "SamplingPolicy", "seed") {
            manifest.value["spec"]["defaultStrategy"]["param"] = json!(options.sampling);
        }
        if is(manifest, "ConfigMap", SAMPLER_CONFIG) {
            let config = &mut manifest.value["data"]["config.yaml"];
            let text = config.as_str().unwrap_or_default();
            let percent = (options.sampling * 100.0 * 1e6).round() / 1e6;
            let edited = text.replacen(DEFAULT_STRATEGY_LINE, &format!("sampling_percentage: {percent}\n"), 1);
            if edited == text && options.sampling != 1.0 {
                return Err(RenderError::Bundle(BundleError::Missing(format!(
                    "{SAMPLER_CONFIG}: the default strategy's `{}`",
                    DEFAULT_STRATEGY_LINE.trim()
                ))));
            }
            *config = json!(edited);
        }
        for (name, days) in [
            ("es-index-cleaner", options.retention_days),
            ("es-index-cleaner-constitutional", options.constitutional_retention_days),
        ] {
            if is(manifest, "CronJob", name) {
                let containers = &mut manifest.value["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"];
                containers[0]["args"][0] = json!(days.to_string());
            }
        }
    }
    Ok(manifests)
}

/// The manifests as one multi-document YAML stream, each document headed by its source file.
pub fn to_yaml(manifests: &[Manifest]) -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for manifest in manifests {
        out.push_str(&format!("---\n# Source: deploy/{}\n", manifest.source));
        out.push_str(&serde_norway::to_string(&manifest.value)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
