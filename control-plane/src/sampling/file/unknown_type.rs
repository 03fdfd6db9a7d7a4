//! Jaeger's answer for a strategy whose `type` is missing or a name it does not know: its file
//! provider (`parseStrategy` in `internal/sampling/samplingstrategy/file/provider.go`) logs a
//! warning and serves probabilistic sampling at its default probability (0.001) for that entry,
//! whatever the `param`. We do the same, before the file is read into its types, and say so in a
//! warning naming the entry; a `type` that is not a string at all is left to be refused, as
//! Jaeger's JSON decoding refuses the whole file.

use serde_json::{Map, Value};

use crate::sampling::resolve::JAEGER_DEFAULT_PROBABILITY;

/// The `type` names Jaeger knows.
const KNOWN: [&str; 2] = ["probabilistic", "ratelimiting"];

/// Replaces every missing or unknown `type` in `document` (default, service and operation
/// strategies) by probabilistic at Jaeger's default probability; one warning per entry replaced.
pub fn default_unknown_types(document: &mut Value, warnings: &mut Vec<String>) {
    if let Some(default) = document.get_mut("default_strategy").and_then(Value::as_object_mut) {
        default_entry("default_strategy", default, warnings);
    }
    if let Some(services) = document.get_mut("service_strategies").and_then(Value::as_array_mut) {
        for (index, service) in services.iter_mut().enumerate() {
            if let Some(service) = service.as_object_mut() {
                default_entry(&format!("service_strategies[{index}]"), service, warnings);
            }
        }
    }
}

/// One strategy entry and its operation strategies.
fn default_entry(path: &str, entry: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    default_type(path, entry, warnings);
    if let Some(operations) = entry.get_mut("operation_strategies").and_then(Value::as_array_mut) {
        for (index, operation) in operations.iter_mut().enumerate() {
            if let Some(operation) = operation.as_object_mut() {
                default_type(&format!("{path}.operation_strategies[{index}]"), operation, warnings);
            }
        }
    }
}

fn default_type(path: &str, entry: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let found = match entry.get("type") {
        None => "missing".to_owned(),
        Some(Value::String(name)) if !KNOWN.contains(&name.as_str()) => {
            format!("{name:?} is not probabilistic or ratelimiting")
        }
        Some(_) => return,
    };
    warnings.push(format!(
        "{path}.type: {found}; Jaeger serves probabilistic {JAEGER_DEFAULT_PROBABILITY} for this entry, \
         and so do we"
    ));
    entry.insert("type".to_owned(), Value::from("probabilistic"));
    entry.insert("param".to_owned(), Value::from(JAEGER_DEFAULT_PROBABILITY));
}
