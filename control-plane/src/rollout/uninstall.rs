//! `uninstall`: deletes what `deploy` applied, in the reverse of the plan's order (policies and
//! alerts first, the workloads, then services, configuration and identities), so nothing is left
//! pointing at something already gone. The CustomResourceDefinition, the namespaces and the
//! generated Elasticsearch secrets are kept unless purging: deleting the CRD deletes every
//! SamplingPolicy in the cluster, deleting a namespace deletes the data in it (Elasticsearch's
//! volumes, the telemetry token), and the volumes' data only opens with the stored password. An
//! object already gone counts as removed.

use kube::api::{Api, DeleteParams, DynamicObject};
use kube::Client;

use super::plan::Step;

/// What an uninstall did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub deleted: usize,
    pub already_gone: usize,
    /// Left in place (CRDs, namespaces and generated secrets without `purge`), as `Kind name`.
    pub kept: Vec<String>,
}

/// Why an uninstall stopped.
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    #[error("the Kubernetes API server cannot be reached while deleting {step}: {error}")]
    Unreachable { step: String, error: kube::Error },
    #[error("deleting {step} failed: {error}")]
    Refused { step: String, error: kube::Error },
}

/// Whether `uninstall` leaves this step's object in place unless purging: the CRDs, the
/// namespaces, and the create-only secrets Elasticsearch's data needs (its stored password).
pub fn kept_unless_purging(step: &Step) -> bool {
    matches!(step.kind(), "CustomResourceDefinition" | "Namespace") || step.is_create_only()
}

/// Deletes the plan's objects in reverse order; `purge` also deletes the CRDs and namespaces.
pub async fn uninstall(client: &Client, steps: &[Step], purge: bool) -> Result<Removed, UninstallError> {
    let mut removed = Removed::default();
    for step in steps.iter().rev() {
        if !purge && kept_unless_purging(step) {
            removed.kept.push(step.label());
            continue;
        }
        let api: Api<DynamicObject> = match &step.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &step.resource),
            None => Api::all_with(client.clone(), &step.resource),
        };
        match api.delete(&step.name, &DeleteParams::background()).await {
            Ok(_) => {
                removed.deleted += 1;
                println!("  deleted  {}", step.label());
            }
            Err(kube::Error::Api(response)) if response.code == 404 => {
                removed.already_gone += 1;
                println!("  gone     {}", step.label());
            }
            Err(error @ kube::Error::Api(_)) => return Err(UninstallError::Refused { step: step.label(), error }),
            Err(error) => return Err(UninstallError::Unreachable { step: step.label(), error }),
        }
    }
    Ok(removed)
}
