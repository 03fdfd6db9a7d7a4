//! The deploy follows docs/scale-out.md: with more than one control-plane replica the built-in
//! alert evaluator is off, the control plane's cluster balances by consistent hash (so each
//! filter VM reports to one replica), and a PodMonitor scrapes every replica where the pod's
//! Prometheus annotations point; the Collector's metrics are scraped too, and no count twice.

use acgs_e2e::schemas::{parse_documents, workspace, Document};
use serde_json::Value;

fn document(path: &str, kind: &str) -> Value {
    let full = workspace().join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()));
    let documents: Vec<Document> = parse_documents(path, &text).unwrap_or_else(|e| panic!("{e}"));
    documents.into_iter().find(|d| d.value["kind"] == kind).unwrap_or_else(|| panic!("{path} has no {kind}")).value
}

fn deployment() -> Value {
    document("deploy/base/control-plane/deployment.yaml", "Deployment")
}

fn container_env(deployment: &Value, name: &str) -> Option<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

#[test]
fn several_replicas_run_with_the_built_in_alert_evaluator_off() {
    let deployment = deployment();
    let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
    assert!(replicas > 1, "the shipped control plane runs {replicas} replicas");
    assert_eq!(container_env(&deployment, "ACGS_BUILTIN_ALERTS").as_deref(), Some("off"));
}

#[test]
fn a_stopping_replica_waits_for_one_more_scrape_within_its_termination_grace() {
    let deployment = deployment();
    let wait = container_env(&deployment, "ACGS_FINAL_SCRAPE_WAIT").expect("ACGS_FINAL_SCRAPE_WAIT");
    let wait = humantime::parse_duration(&wait).expect("a duration").as_secs();
    let monitor = document("deploy/base/monitoring/podmonitor.yaml", "PodMonitor");
    let interval = monitor["spec"]["podMetricsEndpoints"][0]["interval"].as_str().expect("interval");
    let interval = humantime::parse_duration(interval).expect("a duration").as_secs();
    assert!(wait > interval, "the wait ({wait}s) covers a scrape interval ({interval}s)");
    let grace = container_env(&deployment, "ACGS_SHUTDOWN_GRACE_SECONDS").map_or(10, |g| g.parse().expect("seconds"));
    let termination = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().expect("set");
    assert!(wait + grace < termination, "{wait}s + {grace}s fit in terminationGracePeriodSeconds {termination}");
}

#[test]
fn the_control_plane_cluster_balances_by_consistent_hash_on_the_service_the_filter_calls() {
    let rule = document("deploy/base/control-plane/destinationrule.yaml", "DestinationRule");
    let service = document("deploy/base/control-plane/service.yaml", "Service");
    let fqdn = format!(
        "{}.{}.svc.cluster.local",
        service["metadata"]["name"].as_str().expect("name"),
        service["metadata"]["namespace"].as_str().expect("namespace")
    );
    assert_eq!(rule["spec"]["host"], fqdn.as_str());
    assert_eq!(rule["metadata"]["namespace"], service["metadata"]["namespace"]);
    assert!(rule["spec"]["exportTo"].is_null(), "visible to every namespace's sidecars");
    assert!(rule["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"].is_object(), "{rule}");
    assert_eq!(
        acgs_filter::config::DEFAULT_CONTROL_PLANE_CLUSTER,
        format!("outbound|5778||{fqdn}"),
        "the filter's default cluster is the one the rule shapes"
    );
}

fn pod_monitor(name: &str) -> Value {
    let path = "deploy/base/monitoring/podmonitor.yaml";
    let text = std::fs::read_to_string(workspace().join(path)).expect("reads");
    let documents = parse_documents(path, &text).unwrap_or_else(|e| panic!("{e}"));
    documents.into_iter().map(|d| d.value).find(|v| v["metadata"]["name"] == name).expect("the PodMonitor")
}

/// Checks that `monitor` selects the pods of `workload` on a declared port and follows their
/// annotations; returns the annotated port.
fn scrapes_where_the_annotations_point(monitor: &Value, workload: &Value) -> String {
    let pod = &workload["spec"]["template"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"].as_object().expect("matchLabels") {
        assert_eq!(&pod["metadata"]["labels"][key], value, "the selector matches the pods on {key}");
    }
    assert_eq!(monitor["spec"]["namespaceSelector"]["matchNames"][0], workload["metadata"]["namespace"]);
    let endpoint = &monitor["spec"]["podMetricsEndpoints"][0];
    let port = endpoint["port"].as_str().expect("port");
    let ports = pod["spec"]["containers"][0]["ports"].as_array().expect("ports");
    let declared = ports.iter().find(|p| p["name"] == port).unwrap_or_else(|| panic!("the pod declares port {port}"));
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], declared["containerPort"].to_string(), "the annotation names {port}");
    let relabeled: Vec<&str> = endpoint["relabelings"]
        .as_array()
        .expect("relabelings")
        .iter()
        .filter_map(|r| r["targetLabel"].as_str())
        .collect();
    assert_eq!(relabeled, ["__metrics_path__", "__address__", "pod"]);
    let path_from = &endpoint["relabelings"][0]["sourceLabels"][0];
    assert_eq!(path_from, "__meta_kubernetes_pod_annotation_prometheus_io_path");
    assert_eq!(annotations["prometheus.io/path"], "/metrics", "without Istio the app's own page is scraped");
    declared["containerPort"].to_string()
}

#[test]
fn the_pod_monitor_scrapes_every_replica_where_its_annotations_point() {
    let port = scrapes_where_the_annotations_point(&pod_monitor("acgs-control-plane"), &deployment());
    assert_eq!(port, "5778");
}

/// The Collector's metrics pipeline ends in a Prometheus exporter that a PodMonitor scrapes, and
/// the control plane does not send its counts there too (they would reach Prometheus twice).
#[test]
fn every_count_reaches_prometheus_once() {
    let collector = document("deploy/base/otel-collector/deployment.yaml", "Deployment");
    let port = scrapes_where_the_annotations_point(&pod_monitor("otel-collector"), &collector);
    let config_map = document("deploy/base/otel-collector/configmap.yaml", "ConfigMap");
    let config: Value =
        serde_norway::from_str(config_map["data"]["config.yaml"].as_str().expect("config")).expect("YAML");
    let exporters = config["service"]["pipelines"]["metrics"]["exporters"].as_array().expect("a metrics pipeline");
    assert_eq!(exporters, &[Value::from("prometheus")], "every metric goes where Prometheus scrapes");
    assert_eq!(config["exporters"]["prometheus"]["endpoint"], format!("0.0.0.0:{port}").as_str());

    let deployment = deployment();
    let otlp = container_env(&deployment, "ACGS_OTLP_ENDPOINT").expect("the control plane exports spans");
    assert!(otlp.starts_with("http://otel-collector."), "{otlp}");
    assert_eq!(
        container_env(&deployment, "ACGS_OTLP_METRICS").as_deref(),
        Some("off"),
        "the control plane's counts are scraped from it, so it sends spans only"
    );
}
