//! Elasticsearch runs with security on: the generated transport certificates are a valid chain as
//! the real `openssl` checks it, every client of Elasticsearch in every overlay authenticates with
//! the generated password, and `deploy` creates the two secrets once: a later deploy, its diff
//! and `uninstall` leave them (and the data they open) as they are, until `--purge`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use acgs_control_plane::rollout::apply::deploy;
use acgs_control_plane::rollout::bundle::Manifest;
use acgs_control_plane::rollout::diff::{diff, Change};
use acgs_control_plane::rollout::elasticsearch_secrets::{
    generate, ElasticsearchSecrets, CREDENTIALS_SECRET, TRANSPORT_TLS_SECRET, USERNAME,
};
use acgs_control_plane::rollout::plan::plan;
use acgs_control_plane::rollout::render::{render, RenderOptions, Variant};
use acgs_control_plane::rollout::uninstall::uninstall;
use acgs_e2e::kube_api::MockApiServer;
use serde_json::Value;

const INSTALL: &str = "apt-get install openssl (scripts/test installs it)";
const SECRETS: &str = "/api/v1/secrets";

fn openssl(args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("openssl cannot run ({error}): {INSTALL}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path.to_string_lossy().into_owned()
}

#[test]
fn the_transport_certificates_form_a_chain_openssl_accepts_for_every_node() {
    let dir = std::env::temp_dir().join(format!("acgs-es-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let secrets = generate("tenant-traces").expect("generates");
    let ca = write(&dir, "ca.crt", &secrets.ca_pem);
    let cert = write(&dir, "tls.crt", &secrets.cert_pem);
    let key = write(&dir, "tls.key", &secrets.key_pem);

    let (ok, text) = openssl(&["verify", "-purpose", "sslserver", "-CAfile", &ca, &cert]);
    assert!(ok && text.contains(": OK"), "{text}");
    let (ok, text) = openssl(&["verify", "-purpose", "sslclient", "-CAfile", &ca, &cert]);
    assert!(ok, "every node is also a client of the others: {text}");
    let (_, names) = openssl(&["x509", "-in", &cert, "-noout", "-ext", "subjectAltName"]);
    for name in
        ["DNS:elasticsearch-headless.tenant-traces.svc", "DNS:*.elasticsearch-headless.tenant-traces.svc.cluster.local"]
    {
        assert!(names.contains(name), "{name} in {names}");
    }
    let (_, constraints) = openssl(&["x509", "-in", &ca, "-noout", "-ext", "basicConstraints"]);
    assert!(constraints.contains("CA:TRUE"), "{constraints}");
    let (_, from_key) = openssl(&["pkey", "-in", &key, "-pubout"]);
    let (_, from_cert) = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert, "the key is the certificate's");
    assert!(secrets.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8, which Elasticsearch reads");
    let (_, dates) = openssl(&["x509", "-in", &cert, "-noout", "-checkend", &(9 * 365 * 24 * 3600).to_string()]);
    assert!(dates.contains("will not expire"), "valid for years: {dates}");

    // Another cluster's certificate does not join this one.
    let other = generate("tenant-traces").expect("generates");
    let foreign = write(&dir, "other.crt", &other.cert_pem);
    let (ok, text) = openssl(&["verify", "-CAfile", &ca, &foreign]);
    assert!(!ok, "{text}");
    assert_ne!(secrets.password, other.password);
    assert_eq!(secrets.password.len(), 32);
    assert!(secrets.password.bytes().all(|b| b.is_ascii_alphanumeric()), "no shell or YAML quoting needed");
    std::fs::remove_dir_all(&dir).expect("cleans up");
}

fn rendered(variant: Variant, secrets: &ElasticsearchSecrets) -> Vec<Manifest> {
    render(&RenderOptions { variant, elasticsearch: Some(secrets.clone()), ..RenderOptions::default() })
        .expect("renders")
}

fn find<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a Value {
    manifests
        .iter()
        .map(|m| &m.value)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"))
}

fn pod_spec(object: &Value) -> Option<&Value> {
    [&object["spec"]["template"]["spec"], &object["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
        .into_iter()
        .find(|spec| spec.is_object())
}

fn env_from_secret<'a>(container: &'a Value, variable: &str) -> Option<&'a Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == variable).map(|e| &e["valueFrom"]["secretKeyRef"])
}

fn credentials_ref(secret_ref: Option<&Value>, key: &str) -> bool {
    secret_ref.is_some_and(|r| r["name"] == CREDENTIALS_SECRET && r["key"] == key)
}

/// How `container` authenticates to Elasticsearch, if it does: by the environment variables Jaeger
/// v1 and its jobs read, or by Jaeger v2's `password_file` on a mount of the credentials Secret.
fn authenticates(container: &Value, volumes: &[Value], config_text: &str) -> bool {
    let by_env = credentials_ref(env_from_secret(container, "ES_USERNAME"), "username")
        && credentials_ref(env_from_secret(container, "ES_PASSWORD"), "password");
    let mounted = container["volumeMounts"].as_array().into_iter().flatten().any(|mount| {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]);
        let secret = volume.is_some_and(|v| v["secret"]["secretName"] == CREDENTIALS_SECRET);
        let path = format!("password_file: {}/password", mount["mountPath"].as_str().unwrap_or_default());
        secret && config_text.contains(&path) && config_text.contains(&format!("username: {USERNAME}"))
    });
    by_env || mounted
}

#[test]
fn every_client_of_elasticsearch_authenticates_and_the_nodes_use_the_transport_tls() {
    let secrets = generate("jaeger-system").expect("generates");
    for variant in [Variant::Default, Variant::Envoyfilter, Variant::JaegerV1] {
        let manifests = rendered(variant, &secrets);
        let credentials = find(&manifests, "Secret", CREDENTIALS_SECRET);
        assert_eq!(credentials["stringData"]["password"], secrets.password.as_str());
        assert_eq!(credentials["stringData"]["username"], USERNAME);
        let tls = find(&manifests, "Secret", TRANSPORT_TLS_SECRET);
        assert_eq!(tls["stringData"]["tls.key"], secrets.key_pem.as_str());

        // The nodes: security on, transport TLS from files the Secret's mount provides.
        let statefulset = find(&manifests, "StatefulSet", "elasticsearch");
        let spec = pod_spec(statefulset).expect("pod spec");
        let container = &spec["containers"][0];
        let env = |name: &str| {
            container["env"].as_array().and_then(|e| e.iter().find(|e| e["name"] == name)).map(|e| e["value"].clone())
        };
        assert_eq!(env("xpack.security.enabled"), Some(Value::from("true")));
        assert_eq!(env("xpack.security.transport.ssl.enabled"), Some(Value::from("true")));
        assert!(credentials_ref(env_from_secret(container, "ELASTIC_PASSWORD"), "password"));
        let mount = container["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == "transport-tls"))
            .expect("the TLS Secret is mounted");
        assert_eq!(mount["mountPath"], "/usr/share/elasticsearch/config/certs");
        let volume = spec["volumes"].as_array().and_then(|v| v.iter().find(|v| v["name"] == "transport-tls"));
        assert_eq!(volume.map(|v| &v["secret"]["secretName"]), Some(&Value::from(TRANSPORT_TLS_SECRET)));
        for (setting, key) in [
            ("xpack.security.transport.ssl.key", "tls.key"),
            ("xpack.security.transport.ssl.certificate", "tls.crt"),
            ("xpack.security.transport.ssl.certificate_authorities", "ca.crt"),
        ] {
            // Relative paths resolve against the config directory, where the Secret is mounted.
            assert_eq!(env(setting), Some(Value::from(format!("certs/{key}"))), "{setting}");
            assert!(tls["stringData"][key].is_string(), "{key} in the Secret");
        }

        // Every other pod that names Elasticsearch's address authenticates.
        let config_maps: String = manifests
            .iter()
            .filter(|m| m.value["kind"] == "ConfigMap")
            .flat_map(|m| {
                m.value["data"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, v)| v.as_str().unwrap_or_default().to_owned())
            })
            .collect();
        let mut clients = Vec::new();
        for manifest in &manifests {
            let Some(spec) = pod_spec(&manifest.value) else { continue };
            let name = manifest.value["metadata"]["name"].as_str().unwrap_or_default();
            if name == "elasticsearch" {
                continue;
            }
            let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
            for container in spec["containers"].as_array().into_iter().flatten() {
                let own_config: String = container["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str()?.strip_prefix("--config=/etc/jaeger/"))
                    .filter_map(|file| manifests.iter().find_map(|m| m.value["data"][file].as_str().map(str::to_owned)))
                    .collect();
                let talks_to_es = container.to_string().contains("elasticsearch.jaeger-system.svc.cluster.local:9200")
                    || own_config.contains("elasticsearch.jaeger-system.svc.cluster.local:9200");
                if talks_to_es {
                    assert!(
                        authenticates(container, &volumes, &own_config),
                        "{variant:?}: {name}/{} reaches Elasticsearch without the credentials",
                        container["name"]
                    );
                    clients.push(name.to_owned());
                }
            }
        }
        assert!(!config_maps.is_empty());
        clients.sort();
        let expected: &[&str] = match variant {
            Variant::JaegerV1 => &[
                "es-index-cleaner",
                "es-index-cleaner-constitutional",
                "es-index-refresh",
                "jaeger-collector",
                "jaeger-collector-constitutional",
                "jaeger-query",
            ],
            _ => &[
                "es-index-cleaner",
                "es-index-cleaner-constitutional",
                "es-index-refresh",
                "jaeger-collector",
                "jaeger-query",
            ],
        };
        assert_eq!(clients, expected, "{variant:?}");
        // The refresh job's curl sends the password Kubernetes expands from its environment.
        let refresh = pod_spec(find(&manifests, "CronJob", "es-index-refresh")).expect("job");
        let args = refresh["containers"][0]["args"].to_string();
        assert!(args.contains(r#""--user","elastic:$(ES_PASSWORD)""#), "{args}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_creates_the_secrets_once_and_uninstall_keeps_them_until_purged() {
    let api = MockApiServer::start().await;
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    let first = generate("jaeger-system").expect("generates");
    let steps = plan(rendered(Variant::Default, &first)).expect("plans");
    let done = deploy(&client, &steps, Duration::from_secs(20), false).await.expect("deploys");
    assert!(done.kept.is_empty(), "{:?}", done.kept);
    let password = |api: &MockApiServer| {
        api.get(SECRETS, "jaeger-system", CREDENTIALS_SECRET).map(|s| s["stringData"]["password"].clone())
    };
    assert_eq!(password(&api), Some(Value::from(first.password.as_str())));

    // An upgrade renders new secrets; the cluster keeps the ones its data was created with.
    let second = generate("jaeger-system").expect("generates");
    let steps = plan(rendered(Variant::Default, &second)).expect("plans");
    let changes = diff(&client, &steps).await.expect("diffs");
    let secrets: Vec<_> = changes.iter().filter(|d| d.object.starts_with("Secret jaeger-system/")).collect();
    assert_eq!(secrets.len(), 2);
    assert!(secrets.iter().all(|d| d.change == Change::Unchanged), "{secrets:?}");
    let again = deploy(&client, &steps, Duration::from_secs(20), false).await.expect("deploys");
    assert_eq!(again.applied, steps.len() - 2, "everything but the two kept Secrets");
    assert_eq!(
        again.kept,
        [format!("Secret jaeger-system/{CREDENTIALS_SECRET}"), format!("Secret jaeger-system/{TRANSPORT_TLS_SECRET}")]
    );
    assert_eq!(password(&api), Some(Value::from(first.password.as_str())), "the first password stays");
    let tls = api.get(SECRETS, "jaeger-system", TRANSPORT_TLS_SECRET).expect("kept");
    assert_eq!(tls["stringData"]["ca.crt"], first.ca_pem.as_str(), "the first CA stays");
    let secret_writes = api
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && !r.query.contains("dryRun") && r.path.contains("/secrets/elasticsearch-"))
        .count();
    assert_eq!(secret_writes, 2, "each written once, by the first deploy");

    // The telemetry token is not create-only: a changed one shows in the diff, its value hidden.
    let mut token = api.get(SECRETS, "acgs-system", "acgs-telemetry-token").expect("deployed");
    token["stringData"]["token"] = Value::from("someone-else-set-this-token-value");
    api.apply(SECRETS, token);
    let changes = diff(&client, &steps).await.expect("diffs");
    let token = changes.iter().find(|d| d.object == "Secret acgs-system/acgs-telemetry-token").expect("diffed");
    assert_eq!(
        token.change,
        Change::Update(vec![("stringData.token".to_owned(), "(redacted)".to_owned(), "(redacted)".to_owned())])
    );

    let removed = uninstall(&client, &steps, false).await.expect("uninstalls");
    assert!(removed.kept.contains(&format!("Secret jaeger-system/{CREDENTIALS_SECRET}")), "{:?}", removed.kept);
    assert_eq!(password(&api), Some(Value::from(first.password.as_str())), "kept with the data");
    uninstall(&client, &steps, true).await.expect("purges");
    assert_eq!(password(&api), None, "--purge removes them");
}
