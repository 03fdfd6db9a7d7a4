//! `render` and `deploy --dry-run` from the command line: files written, exit codes, the plan.

use std::process::Command;

use acgs_control_plane::rollout::bundle;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
}

#[test]
fn render_writes_yaml_and_the_wasm_and_refuses_bad_values_with_exit_64() {
    let dir = std::env::temp_dir().join(format!("acgs-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let output = dir.join("rollout.yaml");
    let wasm = dir.join("acgs_filter.wasm");
    let status = binary()
        .args(["render", "--variant", "envoyfilter", "--namespace", "tenant-b", "-o"])
        .arg(&output)
        .arg("--filter-wasm-out")
        .arg(&wasm)
        .status()
        .expect("runs");
    assert!(status.success());
    let text = std::fs::read_to_string(&output).expect("written");
    let documents = text.matches("\n---\n").count() + usize::from(text.starts_with("---\n"));
    assert_eq!(documents, bundle::build("overlays/envoyfilter").expect("builds").len());
    assert!(text.contains("# Source: deploy/filter/envoyfilter/envoyfilter.yaml"));
    assert!(!text.contains("acgs-system"));
    assert_eq!(std::fs::read(&wasm).expect("wasm written"), acgs_filter_artifacts::FILTER_WASM);

    let refused = binary().args(["render", "--sampling", "2"]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(64));
    assert_eq!(String::from_utf8_lossy(&refused.stderr).trim(), "error: --sampling: 2 is not a probability in [0, 1]");
    let refused =
        binary().args(["deploy", "--hash", "XYZ", "--kubernetes-api", "http://127.0.0.1:9"]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(64), "a bad value fails before any API call");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deploy_dry_run_prints_the_plan_as_json_for_scripts() {
    let output = binary()
        .args(["deploy", "--dry-run", "--format", "json", "--kubernetes-api", "http://127.0.0.1:9"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 45);
    assert_eq!(steps[0]["kind"], "CustomResourceDefinition");
    assert_eq!(
        steps[0]["path"],
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/samplingpolicies.tracing.acgs.io"
    );
    assert_eq!(plan["crds_to_establish"], 1);
    assert_eq!(plan["workloads_to_roll_out"].as_array().map(Vec::len), Some(6));
}

#[test]
fn deploy_dry_run_prints_the_ordered_plan_and_calls_nothing() {
    // Wide enough that no API path wraps (tables wrap at $COLUMNS when stdout is not a terminal).
    let output = binary()
        .args(["deploy", "--dry-run", "--kubernetes-api", "http://127.0.0.1:9"])
        .env("COLUMNS", "400")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("dry run: 45 resources would be applied in this order (nothing is changed)\n"), "{text}");
    let crd = text
        .find("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/samplingpolicies.tracing.acgs.io")
        .expect("CRD");
    let namespace = text.find("/api/v1/namespaces/acgs-system ").expect("namespace");
    let deployment =
        text.find("/apis/apps/v1/namespaces/acgs-system/deployments/acgs-control-plane").expect("deployment");
    let policy =
        text.find("/apis/tracing.acgs.io/v1alpha1/namespaces/acgs-system/samplingpolicies/seed").expect("policy");
    assert!(crd < namespace && namespace < deployment && deployment < policy, "dependency order");
    assert!(text.contains("wait for 1 CRD(s) to be established"));
    assert!(text.contains("wait for 6 workloads to roll out"), "{text}");
}

#[test]
fn validate_checks_samplingpolicy_manifests_as_the_api_server_and_controller_would() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/control-plane/samplingpolicy-seed.yaml");
    let output = binary().args(["validate", seed]).output().expect("runs");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("SamplingPolicy seed: valid: 4 service strategies\n"));

    let dir = std::env::temp_dir().join(format!("acgs-validate-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("policy.yaml");
    std::fs::write(
        &bad,
        "apiVersion: tracing.acgs.io/v1alpha1\nkind: SamplingPolicy\nmetadata: {name: typo}\nspec:\n  services:\n    - {service: a, type: probabilistic, param: 0.5, operationStrategy: []}\n",
    )
    .expect("write");
    let output = binary().arg("validate").arg(&bad).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "invalid: {}: SamplingPolicy typo: spec.services[0].operationStrategy: unknown field (the API server would drop it)\n",
            bad.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_kubernetes_without_a_cluster_exits_69_saying_where_it_looked() {
    let home = std::env::temp_dir().join(format!("acgs-no-kube-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("temp dir");
    let output = binary()
        .args(["serve", "--kubernetes", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("KUBECONFIG", home.join("missing-kubeconfig"))
        .env("HOME", &home)
        .env("ACGS_TELEMETRY_TOKEN", "a-real-token-for-this-test")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(69), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with(
        "error: finding the Kubernetes API server (in-cluster service account, then KUBECONFIG or ~/.kube/config):"
    ));
    let _ = std::fs::remove_dir_all(&home);
}

/// The telemetry token of each rendered document that carries one: the Secret's and the filter
/// configuration's.
fn rendered_tokens(args: &[&str]) -> (Vec<String>, String) {
    let output = binary().arg("render").args(args).env_remove("ACGS_TELEMETRY_TOKEN").output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut tokens = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document).expect("YAML document");
        if value["kind"] == "Secret" && value["metadata"]["name"] == "acgs-telemetry-token" {
            tokens.push(value["stringData"]["token"].as_str().expect("token").to_owned());
        }
        if value["kind"] == "WasmPlugin" {
            tokens.push(value["spec"]["pluginConfig"]["control_plane"]["token"].as_str().expect("token").to_owned());
        }
    }
    (tokens, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn render_sets_one_telemetry_token_in_the_secret_and_the_filters_and_warns_about_the_placeholder() {
    let (generated, quiet) = rendered_tokens(&["--generate-telemetry-token"]);
    assert_eq!(generated.len(), 2, "the Secret and the WasmPlugin");
    assert_eq!(generated[0], generated[1], "the filters present what the control plane expects");
    assert!(generated[0].len() == 64 && generated[0].bytes().all(|b| b.is_ascii_hexdigit()), "{generated:?}");
    assert!(!quiet.contains("WARN"), "nothing to warn about: {quiet}");
    let (again, _) = rendered_tokens(&["--generate-telemetry-token"]);
    assert_ne!(again[0], generated[0], "a new token each time");

    let (given, _) = rendered_tokens(&["--telemetry-token", "tok-from-our-vault-0123"]);
    assert_eq!(given, vec!["tok-from-our-vault-0123".to_owned(); 2]);

    let (placeholder, warning) = rendered_tokens(&[]);
    assert_eq!(placeholder, vec!["change-me-acgs-telemetry-token".to_owned(); 2]);
    assert!(warning.contains("WARN") && warning.contains("--generate-telemetry-token"), "{warning}");

    let refused = binary().args(["render", "--telemetry-token", "short"]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(64));
    assert_eq!(String::from_utf8_lossy(&refused.stderr).trim(), "error: --telemetry-token: is 5 bytes; give 16 to 512");
    let refused = binary().args(["render", "--telemetry-token", "a-token-with-a-\"quote\""]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--telemetry-token: contains '\"'"));
}

#[test]
fn uninstall_dry_run_lists_the_reverse_order_and_what_it_keeps() {
    let output = binary()
        .args(["uninstall", "--dry-run", "--format", "json", "--kubernetes-api", "http://127.0.0.1:9"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let deleted = listed["would_delete"].as_array().expect("would_delete");
    assert_eq!(deleted.len(), 40);
    assert_eq!(deleted[0], "PodMonitor acgs-system/otel-collector", "the last applied goes first");
    assert_eq!(
        listed["kept"],
        serde_json::json!([
            "Secret jaeger-system/elasticsearch-transport-tls",
            "Secret jaeger-system/elasticsearch-credentials",
            "Namespace jaeger-system",
            "Namespace acgs-system",
            "CustomResourceDefinition samplingpolicies.tracing.acgs.io"
        ])
    );
    let purge = binary()
        .args(["uninstall", "--dry-run", "--purge", "--format", "json", "--kubernetes-api", "http://127.0.0.1:9"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&purge.stdout).expect("one JSON object");
    assert_eq!(listed["would_delete"].as_array().map(Vec::len), Some(45));
    assert_eq!(listed["kept"], serde_json::json!([]));
}
