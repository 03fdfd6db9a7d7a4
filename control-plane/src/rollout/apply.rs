//! `deploy`: server-side apply of a plan through kube (field manager `acgs-tracing`; a field
//! another manager owns is a conflict that stops the deploy, unless conflicts are forced as
//! `kubectl apply --server-side --force-conflicts` does), phase by phase; the CRDs must be
//! established before anything else is applied; then every Deployment, StatefulSet and DaemonSet
//! is waited for until rolled out (observed generation current, every replica updated and ready),
//! with a progress bar on a terminal and one line per event otherwise. Create-only objects
//! (generated secrets) are applied only when they do not exist yet.

use std::time::{Duration, Instant};

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::Value;

use super::plan::{Step, PHASES};

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "acgs-tracing";
const POLL: Duration = Duration::from_millis(250);

/// Why a deploy stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The API server cannot be reached.
    #[error("the Kubernetes API server cannot be reached while applying {step}: {error}")]
    Unreachable { step: String, error: kube::Error },
    /// The API server refused a manifest.
    #[error("applying {step} failed: {error}")]
    Refused { step: String, error: kube::Error },
    /// Another field manager owns fields the manifest sets: someone else manages the object.
    #[error(
        "applying {step}: another field manager owns fields it sets ({error}); check who manages it \
         (kubectl get -o yaml --show-managed-fields), then `acgs-tracing deploy --force-conflicts` takes \
         them over, as kubectl apply --server-side --force-conflicts does"
    )]
    Conflict { step: String, error: kube::Error },
    /// A manifest is not a Kubernetes object.
    #[error("{step}: {error}")]
    Malformed { step: String, error: serde_json::Error },
    /// Not everything became ready in time.
    #[error("not ready after {timeout:?}:\n{waiting}")]
    Timeout { timeout: Duration, waiting: String },
}

fn api(client: &Client, step: &Step) -> Api<DynamicObject> {
    match &step.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &step.resource),
        None => Api::all_with(client.clone(), &step.resource),
    }
}

fn classify(step: &Step, error: kube::Error) -> DeployError {
    let step = step.label();
    match error {
        kube::Error::Api(ref response) if response.code == 409 => DeployError::Conflict { step, error },
        kube::Error::Api(_) => DeployError::Refused { step, error },
        error => DeployError::Unreachable { step, error },
    }
}

/// What an apply did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Applied,
    /// A create-only object that exists already, left as it is.
    Kept,
}

async fn apply(client: &Client, step: &Step, force_conflicts: bool) -> Result<Applied, DeployError> {
    if step.is_create_only() && api(client, step).get_opt(&step.name).await.map_err(|e| classify(step, e))?.is_some() {
        tracing::info!(kind = step.kind(), name = %step.name, namespace = ?step.namespace, "exists; kept (create-only)");
        return Ok(Applied::Kept);
    }
    let object: DynamicObject = serde_json::from_value(step.manifest.value.clone())
        .map_err(|error| DeployError::Malformed { step: step.label(), error })?;
    let params = PatchParams::apply(FIELD_MANAGER);
    let params = if force_conflicts { params.force() } else { params };
    api(client, step).patch(&step.name, &params, &Patch::Apply(&object)).await.map_err(|e| classify(step, e))?;
    tracing::info!(kind = step.kind(), name = %step.name, namespace = ?step.namespace, "applied");
    Ok(Applied::Applied)
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// Whether the object's status says it is ready, and a short summary of that status.
pub fn readiness(kind: &str, object: &Value) -> (bool, String) {
    let status = &object["status"];
    let current = int(&status["observedGeneration"]) >= int(&object["metadata"]["generation"]);
    match kind {
        "CustomResourceDefinition" => {
            let established = status["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
            (established, if established { "established" } else { "not established" }.to_owned())
        }
        "Deployment" | "StatefulSet" => {
            let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            let updated = int(&status["updatedReplicas"]);
            (current && ready == wanted && updated == wanted, format!("{ready}/{wanted} ready, {updated} updated"))
        }
        "DaemonSet" => {
            let wanted = int(&status["desiredNumberScheduled"]);
            let ready = int(&status["numberReady"]);
            let updated = int(&status["updatedNumberScheduled"]);
            (current && ready == wanted && updated == wanted, format!("{ready}/{wanted} ready, {updated} updated"))
        }
        _ => (true, "applied".to_owned()),
    }
}

/// Polls until every step in `waiting` is ready; reports each as it becomes ready.
async fn wait_ready(
    client: &Client,
    waiting: Vec<&Step>,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), DeployError> {
    let bar = indicatif::ProgressBar::new(waiting.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} ready {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut pending: Vec<(&Step, String)> = waiting.into_iter().map(|step| (step, "not seen yet".to_owned())).collect();
    loop {
        let mut still = Vec::new();
        for (step, _) in pending {
            let state = match api(client, step).get(&step.name).await {
                Ok(object) => {
                    let value = serde_json::to_value(&object).unwrap_or_default();
                    readiness(step.kind(), &value)
                }
                Err(kube::Error::Api(response)) => (false, format!("{} ({})", response.message, response.code)),
                Err(error) => return Err(classify(step, error)),
            };
            if state.0 {
                bar.inc(1);
                bar.println(format!("  ready    {} ({})", step.label(), state.1));
            } else {
                still.push((step, state.1));
            }
        }
        pending = still;
        if pending.is_empty() {
            bar.finish_and_clear();
            return Ok(());
        }
        bar.set_message(pending.iter().map(|(step, _)| step.name.as_str()).collect::<Vec<_>>().join(", "));
        if Instant::now() >= deadline {
            bar.abandon();
            let waiting = pending
                .iter()
                .map(|(step, state)| {
                    let namespace = step.namespace.as_deref().map(|ns| format!(" -n {ns}")).unwrap_or_default();
                    format!(
                        "  {}: {state} (kubectl{namespace} describe {}/{})",
                        step.label(),
                        step.kind().to_lowercase(),
                        step.name
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            return Err(DeployError::Timeout { timeout, waiting });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Objects applied (the plan's, less the kept ones).
    pub applied: usize,
    pub workloads: usize,
    /// Create-only objects that existed and were left as they are (`Kind namespace/name`).
    pub kept: Vec<String>,
}

/// Applies the plan in order and waits for it; `timeout` bounds all the waiting.
pub async fn deploy(
    client: &Client,
    steps: &[Step],
    timeout: Duration,
    force_conflicts: bool,
) -> Result<Deployed, DeployError> {
    let deadline = Instant::now() + timeout;
    let mut deployed = Deployed { applied: steps.len(), workloads: 0, kept: Vec::new() };
    let mut phase = None;
    for (index, step) in steps.iter().enumerate() {
        if phase != Some(step.phase) {
            phase = Some(step.phase);
            println!("phase {}: {}", step.phase + 1, PHASES[usize::from(step.phase)]);
        }
        let verb = match apply(client, step, force_conflicts).await? {
            Applied::Applied => "applied ",
            Applied::Kept => {
                deployed.kept.push(step.label());
                "kept    "
            }
        };
        println!("  {verb} {} [{}/{}]", step.label(), index + 1, steps.len());
        let last_crd = step.phase == 0 && steps.get(index + 1).is_none_or(|next| next.phase != 0);
        if last_crd {
            let crds: Vec<&Step> = steps.iter().filter(|s| s.phase == 0).collect();
            println!("waiting for {} CRD(s) to be established", crds.len());
            wait_ready(client, crds, deadline, timeout).await?;
        }
    }
    let workloads: Vec<&Step> = steps.iter().filter(|step| step.is_workload()).collect();
    let count = workloads.len();
    println!("waiting for {count} workloads to roll out (timeout {timeout:?})");
    wait_ready(client, workloads, deadline, timeout).await?;
    deployed.workloads = count;
    deployed.applied = steps.len() - deployed.kept.len();
    Ok(deployed)
}
