//! The plugin configuration (WasmPlugin `pluginConfig` / EnvoyFilter `configuration`): parsed
//! and validated once in `on_configure`. Every error names the field it is about with its JSON
//! path (`exempt_paths[0]`, `control_plane.poll_interval_ms`) so an operator can fix it from the
//! Envoy log line alone. Unknown fields are errors (a typo must not silently fall back to a
//! default); an empty configuration means all defaults.

use crate::json::Json;

use crate::sampling::{Strategy, UnknownFields};

pub const DEFAULT_HASH: &str = "cdd01ef066bc6cf2";
pub const DEFAULT_HEADER: &str = "constitutional-hash";
pub const DEFAULT_EXEMPT_PATHS: [&str; 5] = ["/healthz", "/readyz", "/livez", "/metrics", "/health"];
pub const DEFAULT_CONTROL_PLANE_CLUSTER: &str = "outbound|5778||acgs-control-plane.acgs-system.svc.cluster.local";
pub const DEFAULT_CONTROL_PLANE_AUTHORITY: &str = "acgs-control-plane.acgs-system.svc.cluster.local:5778";

/// Bounds on list sizes, to keep a VM's memory predictable.
const MAX_LIST: usize = 1_000;
/// Longest string value accepted.
const MAX_STRING: usize = 1_024;

/// A configuration error: the field (JSON path) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid plugin configuration: field `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn error(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { field: field.to_owned(), reason: reason.into() }
}

/// What happens to requests without the right hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Missing or mismatched → local 403.
    #[default]
    Strict,
    /// Forwarded, counted and traced.
    Permissive,
    /// A missing hash is added; a mismatched one is still refused (a forged hash is never
    /// silently replaced).
    Inject,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Permissive => "permissive",
            Self::Inject => "inject",
        }
    }
}

/// Who records each hop as a trace span, which decides how the filter's sampling decision takes
/// effect (docs/mesh.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracer {
    /// Envoy's tracer records every hop (Istio, envoy/): the filter writes its decision into
    /// span tags and `baggage` for the Collector's tail sampling, leaves `traceparent` to Envoy,
    /// and its own span records are telemetry only.
    #[default]
    Envoy,
    /// No tracer in this Envoy: the filter's span records are the hop's spans (the control plane
    /// exports them), and the forwarded `traceparent` carries its decision to the application.
    None,
}

impl Tracer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Envoy => "envoy",
            Self::None => "none",
        }
    }
}

/// Which requests are constitutional operations (always sampled, category `constitutional`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstitutionalSelector {
    pub services: Vec<String>,
    /// Matched on whole segments: `/v1/constitutional` matches `/v1/constitutional/validate`.
    pub path_prefixes: Vec<String>,
    /// Operation names as the filter names them (`POST /v1/policies/{id}`).
    pub operations: Vec<String>,
}

impl Default for ConstitutionalSelector {
    fn default() -> Self {
        Self {
            services: vec!["constitutional-core".to_owned()],
            path_prefixes: vec!["/v1/constitutional".to_owned()],
            operations: Vec::new(),
        }
    }
}

impl ConstitutionalSelector {
    pub fn matches(&self, service: &str, path: &[u8], operation: &str) -> bool {
        self.services.iter().any(|s| s == service)
            || self.operations.iter().any(|o| o == operation)
            || self.path_prefixes.iter().any(|prefix| {
                let prefix = prefix.as_bytes();
                path.starts_with(prefix) && matches!(path.get(prefix.len()), None | Some(b'/'))
            })
    }
}

/// How the filter reaches the control plane (strategies, telemetry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneConfig {
    /// The Envoy cluster `dispatch_http_call` uses.
    pub cluster: String,
    /// `:authority` of the calls.
    pub authority: String,
    /// Bearer token for telemetry.
    pub token: Option<String>,
    pub poll_interval_ms: u64,
    pub flush_interval_ms: u64,
    pub timeout_ms: u64,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        Self {
            cluster: DEFAULT_CONTROL_PLANE_CLUSTER.to_owned(),
            authority: DEFAULT_CONTROL_PLANE_AUTHORITY.to_owned(),
            token: None,
            poll_interval_ms: 10_000,
            flush_interval_ms: 1_000,
            timeout_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilterConfig {
    pub constitutional_hash: String,
    pub header: String,
    pub mode: Mode,
    pub exempt_paths: Vec<String>,
    /// The workload; from node metadata when absent.
    pub service: Option<String>,
    pub constitutional: ConstitutionalSelector,
    /// Path templates (`/v1/policies/{id}`) that name operations.
    pub operations: Vec<String>,
    /// Most distinct literal operation names one VM tracks; others are `METHOD (other)`.
    pub max_operations: usize,
    pub control_plane: ControlPlaneConfig,
    /// The sampling strategy until the first successful poll.
    pub fallback_strategy: Strategy,
    pub tracer: Tracer,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            constitutional_hash: DEFAULT_HASH.to_owned(),
            header: DEFAULT_HEADER.to_owned(),
            mode: Mode::default(),
            exempt_paths: DEFAULT_EXEMPT_PATHS.iter().map(|p| (*p).to_owned()).collect(),
            service: None,
            constitutional: ConstitutionalSelector::default(),
            operations: Vec::new(),
            max_operations: 200,
            control_plane: ControlPlaneConfig::default(),
            fallback_strategy: Strategy::default(),
            tracer: Tracer::default(),
        }
    }
}

impl FilterConfig {
    /// Parses and validates the configuration bytes Envoy hands to `on_configure`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let text = std::str::from_utf8(bytes).map_err(|e| error("(root)", format!("not UTF-8: {e}")))?;
        let value = Json::parse(text.as_bytes()).map_err(|e| error("(root)", format!("not valid JSON: {e}")))?;
        let Json::Object(fields) = value else {
            return Err(error("(root)", "must be a JSON object"));
        };
        let mut config = Self::default();
        for (key, value) in &fields {
            match key.as_str() {
                "constitutional_hash" => config.constitutional_hash = header_value(key, value)?,
                "header" => config.header = header_name(key, value)?,
                "mode" => config.mode = mode(key, value)?,
                "exempt_paths" => config.exempt_paths = paths(key, value)?,
                "service" => config.service = Some(non_empty(key, value)?),
                "constitutional" => config.constitutional = selector(key, value)?,
                "operations" => config.operations = templates(key, value)?,
                "max_operations" => config.max_operations = integer(key, value, 1, 10_000)? as usize,
                "control_plane" => config.control_plane = control_plane(key, value)?,
                "fallback_strategy" => {
                    config.fallback_strategy =
                        Strategy::from_value(value, UnknownFields::Reject).map_err(|e| error(key, e.to_string()))?;
                }
                "tracer" => config.tracer = tracer(key, value)?,
                _ => return Err(error(key, "unknown field")),
            }
        }
        Ok(config)
    }
}

fn object<'a>(field: &str, value: &'a Json) -> Result<&'a [(String, Json)], ConfigError> {
    value.as_object().ok_or_else(|| error(field, "must be an object"))
}

fn string<'a>(field: &str, value: &'a Json) -> Result<&'a str, ConfigError> {
    let text = value.as_str().ok_or_else(|| error(field, "must be a string"))?;
    if text.len() > MAX_STRING {
        return Err(error(field, format!("longer than {MAX_STRING} bytes")));
    }
    Ok(text)
}

fn non_empty(field: &str, value: &Json) -> Result<String, ConfigError> {
    let text = string(field, value)?;
    if text.is_empty() {
        return Err(error(field, "must not be empty"));
    }
    Ok(text.to_owned())
}

fn header_value(field: &str, value: &Json) -> Result<String, ConfigError> {
    let text = non_empty(field, value)?;
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(error(field, "must be visible ASCII without spaces (it is sent as a header value)"));
    }
    Ok(text)
}

fn header_name(field: &str, value: &Json) -> Result<String, ConfigError> {
    let text = non_empty(field, value)?;
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(error(field, format!("\"{text}\" must be lower-case (Envoy lower-cases header names)")));
    }
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !text.bytes().all(token) {
        return Err(error(field, format!("\"{text}\" is not a valid HTTP header name")));
    }
    Ok(text)
}

fn mode(field: &str, value: &Json) -> Result<Mode, ConfigError> {
    match string(field, value)? {
        "strict" => Ok(Mode::Strict),
        "permissive" => Ok(Mode::Permissive),
        "inject" => Ok(Mode::Inject),
        other => Err(error(field, format!("\"{other}\" is not one of strict, permissive, inject"))),
    }
}

fn tracer(field: &str, value: &Json) -> Result<Tracer, ConfigError> {
    match string(field, value)? {
        "envoy" => Ok(Tracer::Envoy),
        "none" => Ok(Tracer::None),
        other => Err(error(field, format!("\"{other}\" is not one of envoy, none"))),
    }
}

fn integer(field: &str, value: &Json, min: u64, max: u64) -> Result<u64, ConfigError> {
    let number = value.as_u64().ok_or_else(|| error(field, "must be a non-negative integer"))?;
    if !(min..=max).contains(&number) {
        return Err(error(field, format!("{number} is outside {min}..={max}")));
    }
    Ok(number)
}

fn list<'a>(field: &str, value: &'a Json) -> Result<&'a [Json], ConfigError> {
    let items = value.as_array().ok_or_else(|| error(field, "must be an array"))?;
    if items.len() > MAX_LIST {
        return Err(error(field, format!("more than {MAX_LIST} entries")));
    }
    Ok(items)
}

fn strings(
    field: &str,
    value: &Json,
    check: fn(&str, &str) -> Result<(), ConfigError>,
) -> Result<Vec<String>, ConfigError> {
    list(field, value)?
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let item_field = format!("{field}[{index}]");
            let text = non_empty(&item_field, item)?;
            check(&item_field, &text)?;
            Ok(text)
        })
        .collect()
}

fn absolute_path(field: &str, path: &str) -> Result<(), ConfigError> {
    if !path.starts_with('/') {
        return Err(error(field, format!("\"{path}\" must start with '/'")));
    }
    if path.contains(['?', '#']) {
        return Err(error(field, format!("\"{path}\" must not contain a query or fragment")));
    }
    Ok(())
}

fn paths(field: &str, value: &Json) -> Result<Vec<String>, ConfigError> {
    strings(field, value, absolute_path)
}

fn templates(field: &str, value: &Json) -> Result<Vec<String>, ConfigError> {
    strings(field, value, |field, template| {
        absolute_path(field, template)?;
        for segment in template.split('/') {
            let opens = segment.matches('{').count();
            let closes = segment.matches('}').count();
            let whole = segment.starts_with('{') && segment.ends_with('}') && segment.len() > 2;
            if (opens, closes) != (0, 0) && !(whole && opens == 1 && closes == 1) {
                return Err(error(field, format!("\"{template}\": a placeholder must be a whole segment like {{id}}")));
            }
        }
        Ok(())
    })
}

fn selector(field: &str, value: &Json) -> Result<ConstitutionalSelector, ConfigError> {
    let mut selector =
        ConstitutionalSelector { services: Vec::new(), path_prefixes: Vec::new(), operations: Vec::new() };
    for (key, value) in object(field, value)? {
        let nested = format!("{field}.{key}");
        match key.as_str() {
            "services" => selector.services = strings(&nested, value, |_, _| Ok(()))?,
            "path_prefixes" => selector.path_prefixes = paths(&nested, value)?,
            "operations" => selector.operations = strings(&nested, value, |_, _| Ok(()))?,
            _ => return Err(error(&nested, "unknown field")),
        }
    }
    Ok(selector)
}

fn control_plane(field: &str, value: &Json) -> Result<ControlPlaneConfig, ConfigError> {
    let mut config = ControlPlaneConfig::default();
    for (key, value) in object(field, value)? {
        let nested = format!("{field}.{key}");
        match key.as_str() {
            "cluster" => config.cluster = non_empty(&nested, value)?,
            "authority" => config.authority = header_value(&nested, value)?,
            "token" if value.is_null() => config.token = None,
            "token" => config.token = Some(header_value(&nested, value)?),
            "poll_interval_ms" => config.poll_interval_ms = integer(&nested, value, 100, 3_600_000)?,
            "flush_interval_ms" => config.flush_interval_ms = integer(&nested, value, 10, 600_000)?,
            "timeout_ms" => config.timeout_ms = integer(&nested, value, 1, 600_000)?,
            _ => return Err(error(&nested, "unknown field")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests;
