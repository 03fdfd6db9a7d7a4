//! Every YAML document in deploy/ and envoy/ passes the strict schema checks of
//! `acgs_e2e::schemas`, and a misspelled field of each kind of artifact fails them.

use std::collections::BTreeSet;
use std::path::Path;

use acgs_e2e::schemas::{
    check_grafana_dashboard, check_otel_config, files_under, parse_documents, workspace, Document, Validator,
};
use serde_json::{json, Value};

fn documents_of(path: &Path) -> Vec<Document> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let relative = path.strip_prefix(workspace()).unwrap_or(path).display().to_string();
    parse_documents(&relative, &text).unwrap_or_else(|e| panic!("{e}"))
}

fn is_kustomization(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "kustomization.yaml")
}

#[test]
fn no_manifest_takes_a_name_istio_or_a_cluster_uses_by_default() {
    // `default` (a namespace's PeerAuthentication, Sidecar…) and `mesh-default` (the mesh-wide
    // Telemetry of Istio's docs) may already exist in a cluster: applying ours would take them over.
    let mut taken = Vec::new();
    for path in files_under(&workspace().join("deploy"), &[".yaml", ".yml"]) {
        if is_kustomization(&path) {
            continue;
        }
        for document in documents_of(&path) {
            let name = document.value["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            if ["default", "mesh-default"].contains(&name.as_str()) {
                taken.push(format!("{} {} {name}", document.source, document.value["kind"]));
            }
        }
    }
    assert!(taken.is_empty(), "{taken:?}");
}

#[test]
fn every_manifest_in_deploy_passes_its_schema() {
    let validator = Validator::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in files_under(&workspace().join("deploy"), &[".yaml", ".yml"]) {
        if is_kustomization(&path) {
            continue;
        }
        for document in documents_of(&path) {
            checked += 1;
            failures.extend(validator.check_manifest(&document));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 40, "only {checked} documents found under deploy/");
}

#[test]
fn the_envoy_bootstrap_and_the_local_collector_config_pass() {
    let validator = Validator::new();
    let envoy = workspace().join("envoy");
    let bootstrap = documents_of(&envoy.join("envoy.yaml"));
    assert_eq!(bootstrap.len(), 1);
    let failures = validator.check_envoy_bootstrap(&bootstrap[0]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let collector = documents_of(&envoy.join("otel-collector.yaml"));
    let failures = validator.check_collector_config("envoy/otel-collector.yaml", &collector[0].value);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let compose = documents_of(&envoy.join("compose.yaml"));
    let services = compose[0].value["services"].as_object().expect("compose services");
    for (name, service) in services {
        assert!(
            service["image"].as_str().is_some_and(|image| image.contains(':')),
            "compose service {name} names a tagged image"
        );
    }
}

#[test]
fn every_yaml_file_is_reachable_from_an_overlay_and_every_resource_exists() {
    let deploy = workspace().join("deploy");
    let mut referenced = BTreeSet::new();
    for kustomization in files_under(&deploy, &["kustomization.yaml"]) {
        let document = &documents_of(&kustomization)[0].value;
        assert_eq!(document["kind"], "Kustomization", "{}", kustomization.display());
        let dir = kustomization.parent().expect("a directory");
        for resource in document["resources"].as_array().expect("resources") {
            let target = dir.join(resource.as_str().expect("a path"));
            assert!(target.exists(), "{} names {} which does not exist", kustomization.display(), target.display());
            if target.is_file() {
                referenced.insert(target.canonicalize().expect("canonical path"));
            }
        }
    }
    for path in files_under(&deploy, &[".yaml"]) {
        if !is_kustomization(&path) {
            assert!(
                referenced.contains(&path.canonicalize().expect("canonical path")),
                "{} is in no kustomization",
                path.display()
            );
        }
    }
    for overlay in ["default", "envoyfilter", "jaeger-v1"] {
        assert!(deploy.join("overlays").join(overlay).join("kustomization.yaml").is_file(), "overlay {overlay}");
    }
}

fn first_document(path: &str, kind: &str) -> Document {
    documents_of(&workspace().join(path))
        .into_iter()
        .find(|document| document.value["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {path}"))
}

fn assert_fails(failures: Vec<String>, needle: &str) {
    assert!(
        failures.iter().any(|failure| failure.contains(needle)),
        "expected a failure mentioning {needle:?}, got {failures:?}"
    );
}

fn rename_key(value: &mut Value, path: &[&str], from: &str, to: &str) {
    let mut node = value;
    for key in path {
        node = match key.parse::<usize>() {
            Ok(index) => &mut node[index],
            Err(_) => &mut node[*key],
        };
    }
    let object = node.as_object_mut().expect("an object");
    let moved = object.remove(from).unwrap_or_else(|| panic!("no field {from}"));
    object.insert(to.to_owned(), moved);
}

#[test]
fn a_misspelled_field_fails_for_every_kind_of_manifest() {
    let validator = Validator::new();
    let cases: &[(&str, &str, &[&str], &str, &str)] = &[
        ("deploy/base/control-plane/deployment.yaml", "Deployment", &["spec"], "replicas", "replica"),
        ("deploy/base/control-plane/service.yaml", "Service", &["spec"], "selector", "selectr"),
        ("deploy/base/elasticsearch/statefulset.yaml", "StatefulSet", &["spec"], "serviceName", "servicename"),
        ("deploy/base/control-plane/rbac.yaml", "ClusterRole", &["rules", "0"], "verbs", "verb"),
        ("deploy/filter/wasmplugin/wasmplugin.yaml", "WasmPlugin", &["spec"], "failStrategy", "failstrategy"),
        (
            "deploy/filter/envoyfilter/envoyfilter.yaml",
            "EnvoyFilter",
            &["spec", "configPatches", "0"],
            "applyTo",
            "apply_to",
        ),
        ("deploy/base/mesh/telemetry.yaml", "Telemetry", &["spec", "tracing", "0"], "customTags", "customtags"),
        ("deploy/base/mesh/peerauthentication.yaml", "PeerAuthentication", &["spec", "mtls"], "mode", "mod"),
        ("deploy/base/monitoring/prometheusrule.yaml", "PrometheusRule", &["spec"], "groups", "group"),
        (
            "deploy/base/monitoring/podmonitor.yaml",
            "PodMonitor",
            &["spec", "podMetricsEndpoints", "0"],
            "relabelings",
            "relabelling",
        ),
        (
            "deploy/base/control-plane/destinationrule.yaml",
            "DestinationRule",
            &["spec", "trafficPolicy", "loadBalancer"],
            "consistentHash",
            "consistenthash",
        ),
        ("deploy/base/control-plane/samplingpolicy-seed.yaml", "SamplingPolicy", &["spec"], "services", "service"),
        ("deploy/base/crds/samplingpolicy.yaml", "CustomResourceDefinition", &["spec"], "scope", "scop"),
    ];
    for (path, kind, at, from, to) in cases {
        let mut document = first_document(path, kind);
        assert!(validator.check_manifest(&document).is_empty(), "{path} {kind} is valid before the typo");
        rename_key(&mut document.value, at, from, to);
        assert_fails(validator.check_manifest(&document), to);
    }
}

#[test]
fn wrong_values_fail_the_schemas() {
    let validator = Validator::new();
    let mut policy = first_document("deploy/base/control-plane/samplingpolicy-seed.yaml", "SamplingPolicy");
    policy.value["spec"]["services"][0]["type"] = json!("adaptive");
    assert_fails(validator.check_manifest(&policy), "at '/spec/services/0/type'");
    let mut policy = first_document("deploy/base/control-plane/samplingpolicy-seed.yaml", "SamplingPolicy");
    policy.value["spec"]["services"][0]["param"] = json!(-0.5);
    assert_fails(validator.check_manifest(&policy), "at '/spec/services/0/param'");
    let mut auth = first_document("deploy/base/mesh/peerauthentication.yaml", "PeerAuthentication");
    auth.value["spec"]["mtls"]["mode"] = json!("STRICTER");
    assert_fails(validator.check_manifest(&auth), "at '/spec/mtls/mode'");
    let mut deployment = first_document("deploy/base/control-plane/deployment.yaml", "Deployment");
    deployment.value["spec"]["replicas"] = json!("two");
    assert_fails(validator.check_manifest(&deployment), "replicas");
    let mut unknown = first_document("deploy/base/control-plane/deployment.yaml", "Deployment");
    unknown.value["kind"] = json!("Deploymnet");
    assert_fails(validator.check_manifest(&unknown), "no schema");
}

#[test]
fn the_envoy_protos_reject_typos_unknown_types_and_bad_filter_configs() {
    let validator = Validator::new();
    let bootstrap = documents_of(&workspace().join("envoy/envoy.yaml")).remove(0);
    let mut typo = bootstrap.clone();
    rename_key(&mut typo.value, &[], "static_resources", "static_resource");
    assert_fails(validator.check_envoy_bootstrap(&typo), "static_resource");

    let mut unknown_type = bootstrap.clone();
    let filter = &mut unknown_type.value["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0];
    filter["typed_config"]["@type"] =
        json!("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConectionManager");
    assert_fails(validator.check_envoy_bootstrap(&unknown_type), "HttpConectionManager");

    let mut nested = bootstrap.clone();
    let wasm = &mut nested.value["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"][0]["typed_config"]["config"];
    rename_key(wasm, &[], "vm_config", "vm_confg");
    assert_fails(validator.check_envoy_bootstrap(&nested), "vm_confg");

    let mut bad_config = bootstrap;
    let wasm = &mut bad_config.value["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"];
    wasm["configuration"]["value"] = json!(r#"{"mode":"strictest"}"#);
    assert_fails(validator.check_envoy_bootstrap(&bad_config), "mode");

    let mut envoy_filter = first_document("deploy/filter/envoyfilter/envoyfilter.yaml", "EnvoyFilter");
    let value = &mut envoy_filter.value["spec"]["configPatches"][0]["patch"]["value"];
    rename_key(value, &["typed_config", "config"], "failure_policy", "failure_polcy");
    assert_fails(validator.check_manifest(&envoy_filter), "failure_polcy");

    let mut plugin = first_document("deploy/filter/wasmplugin/wasmplugin.yaml", "WasmPlugin");
    plugin.value["spec"]["pluginConfig"]["constitutional_hsh"] = json!("cdd01ef066bc6cf2");
    assert_fails(validator.check_manifest(&plugin), "constitutional_hsh");
}

#[test]
fn broken_collector_configs_dashboards_and_promql_fail() {
    let config = json!({
        "receivers": {"otlp": {}},
        "exporters": {"otlp/jaeger": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp/jeager"]}}}
    });
    assert_fails(check_otel_config("c", &config), "\"otlp/jeager\" is not defined");
    let config = json!({"receivers": {}, "exporter": {}, "service": {"pipelines": {}}});
    assert_fails(check_otel_config("c", &config), "unknown top-level section \"exporter\"");

    let dashboard_doc = first_document("deploy/base/monitoring/grafana-dashboard.yaml", "ConfigMap");
    let text = dashboard_doc.value["data"]["acgs-tracing.json"].as_str().expect("dashboard JSON");
    let dashboard: Value = serde_json::from_str(text).expect("JSON");
    assert!(check_grafana_dashboard("d", &dashboard).is_empty());
    let mut duplicate = dashboard.clone();
    duplicate["panels"][1]["id"] = json!(1);
    assert_fails(check_grafana_dashboard("d", &duplicate), "duplicate id 1");
    let mut wide = dashboard.clone();
    wide["panels"][1]["gridPos"]["w"] = json!(13);
    assert_fails(check_grafana_dashboard("d", &wide), "x + w <= 24");
    let mut misspelt = dashboard.clone();
    misspelt["panels"][0]["targets"][0]["expr"] = json!("sum(rate(acgs_requests_total{service=~\"$servce\"}[5m]))");
    assert_fails(check_grafana_dashboard("d", &misspelt), "template variable $servce is not in templating");
    let mut bad_query = dashboard;
    bad_query["panels"][0]["targets"][0]["expr"] = json!("sum(rate(acgs_requests_total[5m])");
    assert_fails(check_grafana_dashboard("d", &bad_query), "PromQL");

    let validator = Validator::new();
    let sampler = first_document("deploy/base/otel-collector/sampler-configmap.yaml", "ConfigMap");
    assert!(validator.check_manifest(&sampler).is_empty(), "the sampling tier passes as deployed");
    let text = sampler.value["data"]["config.yaml"].as_str().expect("config text");
    for (from, to, expected) in [
        ("decision_wait: 10s", "decison_wait: 10s", "decison_wait"),
        ("num_traces: 200000", "num_traces: lots", "num_traces"),
        ("type: string_attribute", "type: string_atribute", "/policies/0/type"),
        ("invert_match: true", "invert: true", "invert"),
    ] {
        let mut broken = sampler.clone();
        broken.value["data"]["config.yaml"] = json!(text.replacen(from, to, 1));
        assert_fails(validator.check_manifest(&broken), expected);
    }
    let routing = first_document("deploy/base/otel-collector/configmap.yaml", "ConfigMap");
    let text = routing.value["data"]["config.yaml"].as_str().expect("config text");
    for (from, to, expected) in [
        ("routing_key: traceID", "routing_key: traceId", "routing_key"),
        ("hostname: otel-sampler", "host: otel-sampler", "host"),
        ("zipkin:", "zipkn:", "no schema for receiver type \"zipkn\""),
    ] {
        let mut broken = routing.clone();
        broken.value["data"]["config.yaml"] = json!(text.replacen(from, to, 1));
        assert_fails(validator.check_manifest(&broken), expected);
    }
    let mut rule = first_document("deploy/base/monitoring/prometheusrule.yaml", "PrometheusRule");
    rule.value["spec"]["groups"][0]["rules"][0]["expr"] = json!("sum by (service (x)");
    assert_fails(validator.check_manifest(&rule), "PromQL");
}
