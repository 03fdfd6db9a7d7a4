//! The strategies file in Jaeger's own format (`default_strategy`, `service_strategies[]`,
//! `operation_strategies[]`, `type` probabilistic | ratelimiting, `param`), JSON or YAML, so a file
//! that `jaeger --sampling.strategies-file` reads works unchanged, plus the project's
//! `constitutional` selector (services and operations that are always sampled at 1.0).
//!
//! Stricter than Jaeger where Jaeger silently guesses: unknown fields, rates out of range,
//! duplicate services or operations and empty names are errors naming the file and the path of the
//! field. Where Jaeger's own behaviour is defined, it is kept and reported as a warning: a missing
//! or unknown `type` makes that entry probabilistic 0.001 (see [`unknown_type`]), a `ratelimiting`
//! operation strategy is ignored (Jaeger's per-operation sampling is probabilistic only) and a
//! fractional `ratelimiting` param is truncated to an integer.

use std::collections::HashSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest strategies file accepted (a 10,000-service file is well under 1 MB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategiesFile {
    #[serde(default)]
    pub default_strategy: Option<DefaultStrategy>,
    #[serde(default)]
    pub service_strategies: Vec<ServiceStrategy>,
    #[serde(default)]
    pub constitutional: Option<Constitutional>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultStrategy {
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    pub param: f64,
    #[serde(default)]
    pub operation_strategies: Vec<OperationStrategy>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceStrategy {
    pub service: String,
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    pub param: f64,
    #[serde(default)]
    pub operation_strategies: Vec<OperationStrategy>,
}

/// A per-operation override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type != 'probabilistic' || self.param <= 1.0",
    "message": "a probabilistic param is a probability in [0, 1]"
}]))]
pub struct OperationStrategy {
    #[schemars(length(min = 1))]
    pub operation: String,
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    #[schemars(range(min = 0.0))]
    pub param: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    Probabilistic,
    Ratelimiting,
}

/// The project's addition: services and operations always sampled at 1.0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Constitutional {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
}

/// Why a strategies source was refused: the source (file name), the path of the field, the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {path}: {reason}")]
pub struct StrategiesError {
    pub source_name: String,
    pub path: String,
    pub reason: String,
}

/// How a source is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// YAML for `.yaml`/`.yml`, JSON otherwise.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Json,
        }
    }
}

/// A parsed, validated file and the warnings about what Jaeger would ignore in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub file: StrategiesFile,
    pub warnings: Vec<String>,
}

/// Reads a strategies file's bytes (at most [`MAX_FILE_BYTES`]).
pub fn read(path: &Path) -> Result<Vec<u8>, StrategiesError> {
    let fail =
        |reason: String| StrategiesError { source_name: path.display().to_string(), path: "(file)".to_owned(), reason };
    let metadata = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(fail(format!("{} bytes is over the {MAX_FILE_BYTES}-byte limit", metadata.len())));
    }
    std::fs::read(path).map_err(|e| fail(e.to_string()))
}

/// Reads and validates a strategies file.
pub fn load(path: &Path) -> Result<Validated, StrategiesError> {
    parse(&path.display().to_string(), &read(path)?, Format::of(path))
}

/// Parses and validates strategies from bytes.
pub fn parse(source_name: &str, bytes: &[u8], format: Format) -> Result<Validated, StrategiesError> {
    let error = |path: String, reason: String| StrategiesError { source_name: source_name.to_owned(), path, reason };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(error(
            "(file)".to_owned(),
            format!("{} bytes is over the {MAX_FILE_BYTES}-byte limit", bytes.len()),
        ));
    }
    let mut document: serde_json::Value = match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::from_slice(bytes).map_err(|e| e.to_string()),
    }
    .map_err(|reason| error("(root)".to_owned(), reason))?;
    let mut warnings = Vec::new();
    unknown_type::default_unknown_types(&mut document, &mut warnings);
    let file: StrategiesFile =
        serde_path_to_error::deserialize(document).map_err(|e| error(path_of(e.path()), e.inner().to_string()))?;
    warnings.extend(check(&file).map_err(|(path, reason)| error(path, reason))?);
    Ok(Validated { file, warnings })
}

fn path_of(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." || text == "?" {
        "(root)".to_owned()
    } else {
        text
    }
}

/// Where a source is invalid (the path of the field) and why.
pub type Invalid = (String, String);

fn check_param(path: &str, kind: StrategyKind, param: f64, warnings: &mut Vec<String>) -> Result<(), Invalid> {
    let bad = |reason: String| Err((format!("{path}.param"), reason));
    if !param.is_finite() {
        return bad(format!("{param} is not a number"));
    }
    match kind {
        StrategyKind::Probabilistic if !(0.0..=1.0).contains(&param) => {
            bad(format!("probability {param} is outside [0, 1]"))
        }
        StrategyKind::Ratelimiting if param < 0.0 => bad(format!("rate {param} is negative")),
        StrategyKind::Ratelimiting if param > f64::from(i32::MAX) => bad(format!("rate {param} is above {}", i32::MAX)),
        StrategyKind::Ratelimiting if param.fract() != 0.0 => {
            warnings.push(format!(
                "{path}.param: rate {param} is truncated to {} traces per second, as Jaeger does",
                param.trunc()
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_operations(path: &str, operations: &[OperationStrategy], warnings: &mut Vec<String>) -> Result<(), Invalid> {
    let mut seen = HashSet::new();
    for (index, operation) in operations.iter().enumerate() {
        let item = format!("{path}.operation_strategies[{index}]");
        if operation.operation.trim().is_empty() {
            return Err((format!("{item}.operation"), "must not be empty".to_owned()));
        }
        if !seen.insert(operation.operation.as_str()) {
            return Err((format!("{item}.operation"), format!("duplicate operation {:?}", operation.operation)));
        }
        check_param(&item, operation.kind, operation.param, warnings)?;
        if operation.kind == StrategyKind::Ratelimiting {
            warnings
                .push(format!("{item}: ratelimiting is not supported per operation; Jaeger ignores it, and so do we"));
        }
    }
    Ok(())
}

/// Checks the rules serde cannot express (ranges, duplicates, empty names); returns the warnings
/// about what Jaeger would ignore, or the first error.
pub fn check(file: &StrategiesFile) -> Result<Vec<String>, Invalid> {
    let mut warnings = Vec::new();
    if let Some(default) = &file.default_strategy {
        check_param("default_strategy", default.kind, default.param, &mut warnings)?;
        check_operations("default_strategy", &default.operation_strategies, &mut warnings)?;
    }
    let mut services = HashSet::new();
    for (index, strategy) in file.service_strategies.iter().enumerate() {
        let path = format!("service_strategies[{index}]");
        if strategy.service.trim().is_empty() {
            return Err((format!("{path}.service"), "must not be empty".to_owned()));
        }
        if !services.insert(strategy.service.as_str()) {
            return Err((format!("{path}.service"), format!("duplicate service {:?}", strategy.service)));
        }
        check_param(&path, strategy.kind, strategy.param, &mut warnings)?;
        check_operations(&path, &strategy.operation_strategies, &mut warnings)?;
    }
    if let Some(constitutional) = &file.constitutional {
        for (field, names) in [("services", &constitutional.services), ("operations", &constitutional.operations)] {
            if let Some(index) = names.iter().position(|name| name.trim().is_empty()) {
                return Err((format!("constitutional.{field}[{index}]"), "must not be empty".to_owned()));
            }
        }
    }
    Ok(warnings)
}

mod unknown_type;

#[cfg(test)]
mod tests;
