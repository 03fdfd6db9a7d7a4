//! Writes the head-sampling Telemetries: server-side apply of every desired one (field manager
//! `acgs-tracing`, conflicts forced: the controller owns them, hand edits are undone), then a list
//! of the managed ones in every namespace (labels `app.kubernetes.io/managed-by=acgs-tracing` and
//! `tracing.acgs.io/policy`) and a delete of each no longer desired. A failure is logged and
//! reported to the caller, which tries again on the next event; it never stops the watch.
//! Without Istio's CRD (a 404 on the list) nothing can be managed, which is only an error when a
//! Telemetry is desired.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::{TelemetryKey, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POLICY_LABEL};
use crate::rollout::apply::FIELD_MANAGER;

/// Istio's `Telemetry` (telemetry.istio.io/v1).
pub fn telemetry_resource() -> ApiResource {
    ApiResource {
        group: "telemetry.istio.io".to_owned(),
        version: "v1".to_owned(),
        api_version: "telemetry.istio.io/v1".to_owned(),
        kind: "Telemetry".to_owned(),
        plural: "telemetries".to_owned(),
    }
}

/// Whether the labels say the controller wrote it (the list's selector says so too).
fn is_managed(object: &DynamicObject) -> bool {
    let labels = object.labels();
    labels.get(MANAGED_BY_LABEL).is_some_and(|value| value == MANAGED_BY_VALUE) && labels.contains_key(POLICY_LABEL)
}

/// Applies and prunes the Telemetries through one client.
#[derive(Clone)]
pub struct TelemetryWriter {
    client: Client,
    resource: ApiResource,
}

impl std::fmt::Debug for TelemetryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryWriter").field("resource", &self.resource.api_version).finish_non_exhaustive()
    }
}

impl TelemetryWriter {
    pub fn new(client: Client) -> Self {
        Self { client, resource: telemetry_resource() }
    }

    fn namespaced(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &self.resource)
    }

    /// Makes the cluster's managed Telemetries exactly `desired`; returns whether every call
    /// succeeded (each failure is logged).
    pub async fn sync(&self, desired: &BTreeMap<TelemetryKey, Value>) -> bool {
        let mut ok = true;
        for ((namespace, name), manifest) in desired {
            let params = PatchParams::apply(FIELD_MANAGER).force();
            match self.namespaced(namespace).patch(name, &params, &Patch::Apply(manifest)).await {
                Ok(_) => tracing::debug!(%namespace, %name, "head-sampling Telemetry applied"),
                Err(error) => {
                    ok = false;
                    let policy = manifest["metadata"]["labels"][POLICY_LABEL].as_str().unwrap_or_default();
                    tracing::warn!(%namespace, %name, %policy, %error, "applying a head-sampling Telemetry failed");
                }
            }
        }
        let managed = match self.managed().await {
            Ok(managed) => managed,
            Err(error) => {
                tracing::warn!(%error, "listing the head-sampling Telemetries failed");
                return false;
            }
        };
        for (namespace, name) in managed.iter().filter(|key| !desired.contains_key(*key)) {
            match self.namespaced(namespace).delete(name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(%namespace, %name, "head-sampling Telemetry deleted (no policy asks for it)"),
                Err(kube::Error::Api(status)) if status.is_not_found() => {}
                Err(error) => {
                    ok = false;
                    tracing::warn!(%namespace, %name, %error, "deleting a head-sampling Telemetry failed");
                }
            }
        }
        ok
    }

    /// The managed Telemetries in every namespace (none when the API server has no such type).
    async fn managed(&self) -> Result<BTreeSet<TelemetryKey>, kube::Error> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &self.resource);
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{POLICY_LABEL}");
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => Ok(list
                .items
                .iter()
                .filter(|object| is_managed(object))
                .map(|object| (object.namespace().unwrap_or_default(), object.name_any()))
                .collect()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(BTreeSet::new()),
            Err(error) => Err(error),
        }
    }
}
