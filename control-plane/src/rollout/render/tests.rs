use super::*;

fn find<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a Value {
    &manifests.iter().find(|m| is(m, kind, name)).unwrap_or_else(|| panic!("no {kind}/{name}")).value
}

fn all_text(manifests: &[Manifest]) -> String {
    manifests.iter().map(|m| m.value.to_string()).collect()
}

#[test]
fn defaults_render_the_default_overlay_as_committed() {
    let manifests = render(&RenderOptions::default()).expect("renders");
    let plugin = find(&manifests, "WasmPlugin", "acgs-constitutional-header");
    assert_eq!(plugin["spec"]["url"], "oci://ghcr.io/acgs/acgs-filter:0.1.0");
    assert_eq!(plugin["spec"].get("sha256"), None, "a tag is not pinned by digest");
    assert_eq!(plugin["metadata"]["annotations"][SHA256_ANNOTATION], filter_sha256());
    let cleaner = find(&manifests, "CronJob", "es-index-cleaner");
    assert_eq!(cleaner["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0], "7");
    let constitutional = find(&manifests, "CronJob", "es-index-cleaner-constitutional");
    assert_eq!(constitutional["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0], "30");
    assert!(!manifests.iter().any(|m| m.value["kind"] == "EnvoyFilter"));
    assert_eq!(filter_sha256().len(), 64);
}

#[test]
fn namespaces_hash_images_sampling_and_retention_are_applied_everywhere() {
    let options = RenderOptions {
        variant: Variant::Envoyfilter,
        namespace: "tenant-a".to_owned(),
        jaeger_namespace: "tenant-a-traces".to_owned(),
        hash: "0123456789abcdef".to_owned(),
        image: "registry.example/acgs/acgs-tracing:1.2.3".to_owned(),
        filter_image: format!("registry.example/acgs/acgs-filter@sha256:{}", "a".repeat(64)),
        sampling: 0.25,
        retention_days: 3,
        constitutional_retention_days: 90,
        telemetry_token: Some("tenant-a-token-0123456789".to_owned()),
    };
    let manifests = render(&options).expect("renders");
    let text = all_text(&manifests);
    assert!(!text.contains("acgs-system"), "no default namespace is left");
    assert!(!text.contains(PLACEHOLDER_TOKEN), "no placeholder token is left");
    assert_eq!(text.matches("tenant-a-token-0123456789").count(), 2, "the Secret and the EnvoyFilter's configuration");
    assert!(!text.contains("jaeger-system"), "no default Jaeger namespace is left");
    assert!(!text.contains(DEFAULT_HASH), "no default hash is left");
    assert!(text.contains("otel-collector.tenant-a.svc.cluster.local:4317"));
    assert!(text.contains("jaeger-collector.tenant-a-traces.svc.cluster.local:4317"));
    let binding = find(&manifests, "ClusterRoleBinding", "acgs-control-plane");
    assert_eq!(binding["subjects"][0]["namespace"], "tenant-a");
    let filter = find(&manifests, "EnvoyFilter", "acgs-constitutional-header");
    assert_eq!(filter["metadata"]["namespace"], "tenant-a");
    let config = &filter["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["config"];
    assert_eq!(config["vm_config"]["code"]["remote"]["sha256"], filter_sha256());
    let plugin_config: Value =
        serde_json::from_str(config["configuration"]["value"].as_str().expect("a string")).expect("JSON");
    assert_eq!(plugin_config["constitutional_hash"], "0123456789abcdef");
    assert_eq!(
        plugin_config["control_plane"]["cluster"],
        "outbound|5778||acgs-control-plane.tenant-a.svc.cluster.local"
    );
    let deployment = find(&manifests, "Deployment", "acgs-control-plane");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/acgs/acgs-tracing:1.2.3"
    );
    let policy = find(&manifests, "SamplingPolicy", "seed");
    assert_eq!(policy["spec"]["defaultStrategy"]["param"], 0.25);
    let sampler = find(&manifests, "ConfigMap", SAMPLER_CONFIG);
    let sampler = sampler["data"]["config.yaml"].as_str().expect("config text");
    assert_eq!(sampler.matches("sampling_percentage: 25\n").count(), 1, "undecided traces at the default rate");
    assert!(!sampler.contains("sampling_percentage: 100"));
    let cleaner = find(&manifests, "CronJob", "es-index-cleaner-constitutional");
    assert_eq!(cleaner["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0], "90");
    let telemetry = find(&manifests, "Telemetry", "acgs-mesh-tracing");
    assert_eq!(
        telemetry["spec"]["tracing"][0]["customTags"]["acgs.sampling.decision"]["header"]["name"],
        "x-acgs-sampling-decision"
    );
    assert_eq!(telemetry["spec"]["tracing"][0]["customTags"]["constitutional.hash"], Value::Null, "no literal hash");

    let pinned = render(&RenderOptions { variant: Variant::Default, ..options }).expect("renders");
    let plugin = find(&pinned, "WasmPlugin", "acgs-constitutional-header");
    assert_eq!(plugin["spec"]["sha256"], "a".repeat(64), "a digest pins the image and Istio verifies it");
    assert_eq!(plugin["spec"]["url"], format!("oci://registry.example/acgs/acgs-filter@sha256:{}", "a".repeat(64)));
}

#[test]
fn bad_values_are_refused_naming_the_option() {
    let cases: Vec<(RenderOptions, &str)> = vec![
        (
            RenderOptions { namespace: "ACGS".to_owned(), ..Default::default() },
            "--namespace: \"ACGS\" is not a DNS-1123 label",
        ),
        (
            RenderOptions { jaeger_namespace: "acgs-system".to_owned(), ..Default::default() },
            "--jaeger-namespace: must differ",
        ),
        (
            RenderOptions { hash: "not-hex".to_owned(), ..Default::default() },
            "--hash: \"not-hex\" is not 8 to 64 lowercase hex digits",
        ),
        (
            RenderOptions { image: "ghcr.io/acgs/acgs-tracing".to_owned(), ..Default::default() },
            "--image: \"ghcr.io/acgs/acgs-tracing\" has neither a tag nor a digest",
        ),
        (
            RenderOptions { filter_image: "oci://ghcr.io/x:1".to_owned(), ..Default::default() },
            "--filter-image: \"oci://ghcr.io/x:1\": give the image without a scheme",
        ),
        (
            RenderOptions { filter_image: "ghcr.io/x@sha256:abc".to_owned(), ..Default::default() },
            "--filter-image: \"ghcr.io/x@sha256:abc\": a sha256 digest is 64 lowercase hex digits",
        ),
        (RenderOptions { sampling: 1.5, ..Default::default() }, "--sampling: 1.5 is not a probability in [0, 1]"),
        (RenderOptions { retention_days: 0, ..Default::default() }, "--retention-days: must be at least 1"),
        (
            RenderOptions { constitutional_retention_days: 3, ..Default::default() },
            "--constitutional-retention-days: 3 is shorter than --retention-days 7",
        ),
    ];
    for (options, expected) in cases {
        let error = render(&options).expect_err("refused").to_string();
        assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
    }
}

#[test]
fn only_whole_names_are_renamed() {
    assert_eq!(replace_token("acgs-system", "acgs-system", "x"), "x");
    assert_eq!(replace_token("svc.acgs-system.svc|acgs-system", "acgs-system", "x"), "svc.x.svc|x");
    assert_eq!(
        replace_token("acgs-system-extra my-acgs-system", "acgs-system", "x"),
        "acgs-system-extra my-acgs-system"
    );
}
