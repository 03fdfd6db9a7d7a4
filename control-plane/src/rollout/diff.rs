//! `deploy --diff`: what applying the rollout would change in the live cluster, as
//! `kubectl diff --server-side` shows it: each manifest is applied with `dryRun=All` (the API
//! server runs defaulting, admission and the field-ownership merge, and stores nothing), and the
//! result is compared with the live object field by field. Fields the server owns
//! (`resourceVersion`, `managedFields`, `status`…) are left out of the comparison, and a Secret's
//! values are shown as `(redacted)`.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Client;
use serde_json::Value;

use super::apply::FIELD_MANAGER;
use super::plan::Step;

/// What applying one manifest would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The object does not exist yet.
    Create,
    Unchanged,
    /// Leaf fields that would change: (path, live value, value after the apply); `null` for absent.
    Update(Vec<(String, String, String)>),
}

/// One object's difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDiff {
    /// `Kind namespace/name`.
    pub object: String,
    pub change: Change,
}

/// Why a diff could not be computed.
#[derive(Debug, thiserror::Error)]
#[error("diffing {object}: {error}")]
pub struct DiffError {
    pub object: String,
    #[source]
    pub error: kube::Error,
}

impl DiffError {
    pub fn unreachable(&self) -> bool {
        !matches!(self.error, kube::Error::Api(_))
    }
}

/// Fields of `metadata` the server writes.
const SERVER_METADATA: &[&str] =
    &["resourceVersion", "managedFields", "uid", "creationTimestamp", "generation", "selfLink"];

fn comparable(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_METADATA {
                metadata.remove(*field);
            }
        }
    }
    object
}

/// Leaf paths whose values differ between `live` and `applied`.
fn leaf_changes(path: &str, live: &Value, applied: &Value, out: &mut Vec<(String, String, String)>) {
    match (live, applied) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                leaf_changes(&child, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
            }
        }
        (a, b) if a != b => out.push((path.to_owned(), a.to_string(), b.to_string())),
        _ => {}
    }
}

/// A Secret's values never reach the terminal: a changed key shows as changed, not its value.
fn redact_secret_values(changes: &mut [(String, String, String)]) {
    for (path, live, applied) in changes {
        if path.starts_with("data.") || path.starts_with("stringData.") {
            for value in [live, applied] {
                if value != "null" {
                    *value = "(redacted)".to_owned();
                }
            }
        }
    }
}

/// The difference each step would make, in plan order (create-only objects that exist are
/// unchanged: deploy keeps them).
pub async fn diff(client: &Client, steps: &[Step]) -> Result<Vec<ObjectDiff>, DiffError> {
    let mut diffs = Vec::with_capacity(steps.len());
    for step in steps {
        let object = step.label();
        let api: Api<DynamicObject> = match &step.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &step.resource),
            None => Api::all_with(client.clone(), &step.resource),
        };
        let fail = |error| DiffError { object: object.clone(), error };
        let Some(live) = api.get_opt(&step.name).await.map_err(fail)? else {
            diffs.push(ObjectDiff { object, change: Change::Create });
            continue;
        };
        if step.is_create_only() {
            // deploy keeps it as it is (generated secrets).
            diffs.push(ObjectDiff { object, change: Change::Unchanged });
            continue;
        }
        let manifest: DynamicObject =
            serde_json::from_value(step.manifest.value.clone()).map_err(|e| fail(kube::Error::SerdeError(e)))?;
        let params = PatchParams::apply(FIELD_MANAGER).dry_run();
        let applied = api.patch(&step.name, &params, &Patch::Apply(&manifest)).await.map_err(fail)?;
        let to_value = |o: DynamicObject| serde_json::to_value(o).map(comparable);
        let (live, applied) = match (to_value(live), to_value(applied)) {
            (Ok(live), Ok(applied)) => (live, applied),
            (Err(e), _) | (_, Err(e)) => return Err(fail(kube::Error::SerdeError(e))),
        };
        let mut changes = Vec::new();
        leaf_changes("", &live, &applied, &mut changes);
        if step.kind() == "Secret" {
            redact_secret_values(&mut changes);
        }
        let change = if changes.is_empty() { Change::Unchanged } else { Change::Update(changes) };
        diffs.push(ObjectDiff { object, change });
    }
    Ok(diffs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{comparable, leaf_changes, redact_secret_values};

    #[test]
    fn only_changed_leaves_are_listed_and_server_fields_are_ignored() {
        let live = comparable(
            json!({"metadata": {"name": "a", "resourceVersion": "7"}, "spec": {"replicas": 2, "x": [1]}, "status": {"ready": 1}}),
        );
        let applied = comparable(
            json!({"metadata": {"name": "a", "resourceVersion": "8"}, "spec": {"replicas": 3, "x": [1], "y": "new"}}),
        );
        let mut changes = Vec::new();
        leaf_changes("", &live, &applied, &mut changes);
        assert_eq!(
            changes,
            [
                ("spec.replicas".to_owned(), "2".to_owned(), "3".to_owned()),
                ("spec.y".to_owned(), "null".to_owned(), "\"new\"".to_owned())
            ]
        );
    }

    #[test]
    fn a_secrets_values_are_redacted_but_the_changed_keys_are_named() {
        let mut changes = vec![
            ("data.token".to_owned(), "\"b2xk\"".to_owned(), "\"bmV3\"".to_owned()),
            ("stringData.password".to_owned(), "null".to_owned(), "\"hunter2\"".to_owned()),
            ("metadata.labels.team".to_owned(), "\"a\"".to_owned(), "\"b\"".to_owned()),
        ];
        redact_secret_values(&mut changes);
        assert_eq!(
            changes,
            [
                ("data.token".to_owned(), "(redacted)".to_owned(), "(redacted)".to_owned()),
                ("stringData.password".to_owned(), "null".to_owned(), "(redacted)".to_owned()),
                ("metadata.labels.team".to_owned(), "\"a\"".to_owned(), "\"b\"".to_owned()),
            ]
        );
    }
}
