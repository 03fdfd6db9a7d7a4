//! The SamplingPolicy CRD in deploy/ is generated from the Rust types: this fails when the
//! committed YAML differs (regenerate it with `cargo run --release -p acgs-control-plane --example regenerate`).

use acgs_control_plane::policy::resource::crd_yaml;

const CRD_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/crds/samplingpolicy.yaml");

#[test]
fn the_committed_crd_is_generated_from_the_types() {
    let generated = crd_yaml().expect("the CRD serializes");
    let committed = std::fs::read_to_string(CRD_FILE).expect("deploy/base/crds/samplingpolicy.yaml");
    assert_eq!(
        committed, generated,
        "deploy/base/crds/samplingpolicy.yaml is stale: cargo run --release -p acgs-control-plane --example regenerate"
    );
}

#[test]
fn the_crd_names_the_group_version_scope_and_the_status_subresource() {
    let crd: serde_json::Value = serde_norway::from_str(&crd_yaml().expect("the CRD serializes")).expect("YAML");
    assert_eq!(crd["metadata"]["name"], "samplingpolicies.tracing.acgs.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["kind"], "SamplingPolicy");
    assert_eq!(crd["spec"]["names"]["shortNames"], serde_json::json!(["sp"]));
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["services"]["x-kubernetes-list-type"], "map");
    assert_eq!(spec["services"]["x-kubernetes-list-map-keys"], serde_json::json!(["service"]));
    let service = &spec["services"]["items"];
    assert_eq!(service["properties"]["type"]["enum"], serde_json::json!(["probabilistic", "ratelimiting"]));
    assert_eq!(service["properties"]["param"]["minimum"], 0.0);
    assert_eq!(service["x-kubernetes-validations"][0]["rule"], "self.type != 'probabilistic' || self.param <= 1.0");
    assert_eq!(
        service["x-kubernetes-validations"][1]["rule"],
        "self.type == 'probabilistic' || !has(self.headSampling)"
    );
    let head = &service["properties"]["headSampling"];
    assert_eq!(head["required"], serde_json::json!(["matchLabels"]));
    assert_eq!(head["properties"]["matchLabels"]["minProperties"], 1);
    assert_eq!(head["properties"]["matchLabels"]["additionalProperties"]["type"], "string");
}
