//! The rollout's production basics, for every overlay as `render` produces it: every workload that
//! runs more than one replica has a PodDisruptionBudget that selects its pods and lets one go at a
//! time; every job's pod can end (in the mesh with Istio's native sidecar, or out of it); and
//! Elasticsearch starts on nodes whose `vm.max_map_count` nobody raised.

use acgs_control_plane::rollout::bundle::Manifest;
use acgs_control_plane::rollout::render::{render, RenderOptions, Variant};
use serde_json::Value;

const VARIANTS: [Variant; 3] = [Variant::Default, Variant::Envoyfilter, Variant::JaegerV1];

fn rendered(variant: Variant) -> Vec<Value> {
    render(&RenderOptions { variant, ..RenderOptions::default() })
        .expect("renders")
        .into_iter()
        .map(|m: Manifest| m.value)
        .collect()
}

fn name(object: &Value) -> String {
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn selects(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|wanted| !wanted.is_empty() && wanted.iter().all(|(k, v)| &labels[k] == v))
}

#[test]
fn every_replicated_workload_has_a_disruption_budget_of_one_pod_at_a_time() {
    for variant in VARIANTS {
        let manifests = rendered(variant);
        let budgets: Vec<&Value> = manifests.iter().filter(|m| m["kind"] == "PodDisruptionBudget").collect();
        let mut covered = Vec::new();
        for workload in manifests.iter().filter(|m| m["kind"] == "Deployment" || m["kind"] == "StatefulSet") {
            if workload["spec"]["replicas"].as_u64().unwrap_or(1) < 2 {
                continue;
            }
            let labels = &workload["spec"]["template"]["metadata"]["labels"];
            let budget = budgets
                .iter()
                .find(|b| {
                    b["metadata"]["namespace"] == workload["metadata"]["namespace"]
                        && selects(&b["spec"]["selector"], labels)
                })
                .unwrap_or_else(|| {
                    panic!("{variant:?}: {} runs several replicas without a PodDisruptionBudget", name(workload))
                });
            let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
            let one_at_a_time =
                budget["spec"]["maxUnavailable"] == 1 || budget["spec"]["minAvailable"].as_u64() == Some(replicas - 1);
            assert!(one_at_a_time, "{variant:?}: {} lets more than one of {replicas} go", name(budget));
            covered.push(name(workload));
        }
        for expected in [
            "Deployment acgs-system/acgs-control-plane",
            "Deployment acgs-system/otel-collector",
            "StatefulSet jaeger-system/elasticsearch",
        ] {
            assert!(covered.iter().any(|c| c == expected), "{variant:?}: {expected} in {covered:?}");
        }
    }
}

#[test]
fn every_job_can_end_in_or_out_of_the_mesh() {
    for variant in VARIANTS {
        let manifests = rendered(variant);
        let jobs: Vec<&Value> = manifests.iter().filter(|m| m["kind"] == "CronJob" || m["kind"] == "Job").collect();
        assert!(jobs.len() >= 3, "{variant:?}: the retention jobs");
        for job in jobs {
            let template = if job["kind"] == "CronJob" {
                &job["spec"]["jobTemplate"]["spec"]["template"]
            } else {
                &job["spec"]["template"]
            };
            let annotations = &template["metadata"]["annotations"];
            // An injected sidecar as a native sidecar (an init container with restartPolicy
            // Always) stops with the job; a classic one keeps the pod running for ever.
            let ends = annotations["sidecar.istio.io/nativeSidecar"] == "true"
                || annotations["sidecar.istio.io/inject"] == "false";
            assert!(ends, "{variant:?}: {} never ends once Istio injects its sidecar", name(job));
            assert_eq!(template["spec"]["restartPolicy"], "OnFailure", "{variant:?}: {}", name(job));
        }
    }
}

#[test]
fn elasticsearch_needs_no_raised_vm_max_map_count() {
    for variant in VARIANTS {
        let manifests = rendered(variant);
        let statefulset = manifests
            .iter()
            .find(|m| m["kind"] == "StatefulSet" && m["metadata"]["name"] == "elasticsearch")
            .expect("Elasticsearch");
        let spec = &statefulset["spec"]["template"]["spec"];
        let env = spec["containers"][0]["env"].as_array().expect("env");
        let mmap_off = env.iter().any(|e| e["name"] == "node.store.allow_mmap" && e["value"] == "false");
        let sets_sysctl = spec["initContainers"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c.to_string().contains("vm.max_map_count")));
        assert!(mmap_off || sets_sysctl, "{variant:?}: Elasticsearch's bootstrap check fails on a default node");
        assert!(!sets_sysctl, "{variant:?}: no privileged init container in the shipped manifests");
    }
}
