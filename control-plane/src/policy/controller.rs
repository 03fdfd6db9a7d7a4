//! The `SamplingPolicy` controller of `serve --kubernetes`: watches every policy in the cluster
//! (kube-runtime's watcher: list, then watch from the list's resourceVersion; a closed watch is
//! resumed, a `410 Gone` re-lists, with kube's default backoff), merges them with the strategies
//! file on every change and serves the result at once, then reports each policy's verdict: the
//! `Accepted` status condition (True, or False with reason `Invalid`/`Conflict` and a message
//! naming the field) and an event when the verdict changes.
//!
//! Status is written only when it differs from what the policy already says (a status write is
//! itself a watch event), as a merge patch of the status subresource.
//!
//! After each merge, the Istio `Telemetry` resources of head sampling are made to match the served
//! policies ([`super::head_sampling`]); when that fails, it is tried again on the next event.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource, ResourceExt};

use super::head_sampling::{self, apply::TelemetryWriter};
use super::merge::{decide, PolicyInput, Verdict};
use super::resource::{PolicyKey, SamplingPolicy, SamplingPolicyStatus};
use crate::sampling::metrics::SamplingMetrics;
use crate::sampling::sources::Sources;

/// The `source` label of policy reloads, and the event reporter's name.
pub const POLICY_SOURCE: &str = "samplingpolicy";
/// The `source` label of head-sampling Telemetry writes.
pub const HEAD_SAMPLING_SOURCE: &str = "headsampling";
/// The name events are reported under.
pub const CONTROLLER_NAME: &str = "acgs-tracing";
/// The status condition this controller owns.
pub const ACCEPTED: &str = "Accepted";

/// The watch loop's state: the policies the API server last told us about and, per policy, the
/// last spec that was accepted.
struct Controller {
    api: Api<SamplingPolicy>,
    recorder: Recorder,
    sources: Arc<Sources>,
    metrics: SamplingMetrics,
    policies: BTreeMap<PolicyKey, SamplingPolicy>,
    relisted: BTreeMap<PolicyKey, SamplingPolicy>,
    last_good: HashMap<PolicyKey, super::resource::SamplingPolicySpec>,
    telemetries: TelemetryWriter,
    /// Whether the last Telemetry sync failed (it is retried on the next event).
    telemetries_pending: bool,
}

fn key_of(policy: &SamplingPolicy) -> PolicyKey {
    PolicyKey { namespace: policy.namespace().unwrap_or_default(), name: policy.name_any() }
}

/// Runs until the task is dropped; watch errors are logged and retried with backoff.
pub async fn run(client: Client, sources: Arc<Sources>, metrics: SamplingMetrics) {
    let api: Api<SamplingPolicy> = Api::all(client.clone());
    let reporter = Reporter { controller: CONTROLLER_NAME.to_owned(), instance: std::env::var("POD_NAME").ok() };
    let mut controller = Controller {
        api: api.clone(),
        telemetries: TelemetryWriter::new(client.clone()),
        telemetries_pending: false,
        recorder: Recorder::new(client, reporter),
        sources,
        metrics,
        policies: BTreeMap::new(),
        relisted: BTreeMap::new(),
        last_good: HashMap::new(),
    };
    let stream = watcher(api).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => controller.handle(event).await,
            Err(error) => tracing::warn!(source = POLICY_SOURCE, "watching SamplingPolicy resources: {error}"),
        }
    }
}

fn watcher(api: Api<SamplingPolicy>) -> impl futures::Stream<Item = Result<Event<SamplingPolicy>, watcher::Error>> {
    watcher::watcher(api, watcher::Config::default())
}

impl Controller {
    async fn handle(&mut self, event: Event<SamplingPolicy>) {
        match event {
            Event::Init => self.relisted.clear(),
            Event::InitApply(policy) => {
                self.relisted.insert(key_of(&policy), policy);
            }
            Event::InitDone => {
                self.policies = std::mem::take(&mut self.relisted);
                self.last_good.retain(|key, _| self.policies.contains_key(key));
                tracing::info!(policies = self.policies.len(), "SamplingPolicy resources listed");
                self.reconcile().await;
            }
            Event::Apply(policy) => {
                let key = key_of(&policy);
                let changed = self.policies.get(&key).is_none_or(|known| known.spec != policy.spec);
                self.policies.insert(key, policy);
                if changed {
                    self.reconcile().await;
                } else {
                    self.write_statuses_only().await;
                }
            }
            Event::Delete(policy) => {
                let key = key_of(&policy);
                self.policies.remove(&key);
                self.last_good.remove(&key);
                tracing::info!(policy = %key, "SamplingPolicy deleted");
                self.reconcile().await;
            }
        }
    }

    fn inputs(&self) -> Vec<PolicyInput> {
        self.policies
            .iter()
            .map(|(key, policy)| PolicyInput {
                key: key.clone(),
                spec: policy.spec.clone(),
                last_good: self.last_good.get(key).cloned(),
            })
            .collect()
    }

    /// Serves the merge of the current policies, then reports every verdict.
    async fn reconcile(&mut self) {
        let (layer, verdicts) = decide(&self.inputs());
        self.sources.set_overlay(Box::new(layer));
        let all_accepted = verdicts.values().all(Verdict::is_accepted);
        self.metrics.reload(POLICY_SOURCE, all_accepted);
        for (key, verdict) in &verdicts {
            if verdict.is_accepted() {
                if let Some(policy) = self.policies.get(key) {
                    self.last_good.insert(key.clone(), policy.spec.clone());
                }
            } else {
                tracing::warn!(policy = %key, reason = verdict.reason(), "SamplingPolicy refused: {}", verdict.message());
            }
        }
        self.report(&verdicts).await;
        self.sync_telemetries(&verdicts).await;
    }

    /// A status-only change (often our own write): the served set is unchanged; make sure every
    /// policy's status says what the current verdicts say, and retry a failed Telemetry sync.
    async fn write_statuses_only(&mut self) {
        let (_, verdicts) = decide(&self.inputs());
        self.report(&verdicts).await;
        if self.telemetries_pending {
            self.sync_telemetries(&verdicts).await;
        }
    }

    /// Writes the head-sampling Telemetries of the served specs and deletes the others.
    async fn sync_telemetries(&mut self, verdicts: &BTreeMap<PolicyKey, Verdict>) {
        let served = verdicts
            .iter()
            .filter(|(_, verdict)| verdict.is_served())
            .filter_map(|(key, _)| self.last_good.get(key).map(|spec| (key, spec)));
        let desired = head_sampling::desired(served);
        let ok = self.telemetries.sync(&desired).await;
        self.metrics.reload(HEAD_SAMPLING_SOURCE, ok);
        self.telemetries_pending = !ok;
    }

    async fn report(&self, verdicts: &BTreeMap<PolicyKey, Verdict>) {
        for (key, verdict) in verdicts {
            let Some(policy) = self.policies.get(key) else {
                continue;
            };
            if status_says(policy, verdict) {
                continue;
            }
            self.write_status(key, policy, verdict).await;
        }
    }

    async fn write_status(&self, key: &PolicyKey, policy: &SamplingPolicy, verdict: &Verdict) {
        let status = SamplingPolicyStatus {
            observed_generation: policy.metadata.generation,
            conditions: vec![Condition {
                type_: ACCEPTED.to_owned(),
                status: if verdict.is_accepted() { "True" } else { "False" }.to_owned(),
                reason: verdict.reason().to_owned(),
                message: verdict.message(),
                observed_generation: policy.metadata.generation,
                last_transition_time: Time(Timestamp::now()),
            }],
        };
        let api: Api<SamplingPolicy> = Api::namespaced(self.api.clone().into_client(), &key.namespace);
        let patch = serde_json::json!({ "status": status });
        if let Err(error) = api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(policy = %key, "writing SamplingPolicy status: {error}");
        }
        let event = KubeEvent {
            type_: if verdict.is_accepted() { EventType::Normal } else { EventType::Warning },
            reason: verdict.reason().to_owned(),
            note: Some(verdict.message()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &policy.object_ref(&())).await {
            tracing::warn!(policy = %key, "publishing an event: {error}");
        }
    }
}

/// Whether the policy's status already states `verdict` for its current generation.
fn status_says(policy: &SamplingPolicy, verdict: &Verdict) -> bool {
    let Some(status) = &policy.status else {
        return false;
    };
    let accepted = if verdict.is_accepted() { "True" } else { "False" };
    status.observed_generation == policy.metadata.generation
        && status.conditions.iter().any(|condition| {
            condition.type_ == ACCEPTED
                && condition.status == accepted
                && condition.reason == verdict.reason()
                && condition.message == verdict.message()
        })
}
