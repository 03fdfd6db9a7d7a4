//! Offline checks of deployment artifacts against the official schemas the project carries in
//! schemas/ (sources in schemas/README.md): Kubernetes kinds (kubernetes-validate's strict 1.37
//! schemas), the Istio CRDs and the PrometheusRule CRD (strict JSON Schema), the SamplingPolicy CRD
//! (our own generated schema, made strict), the Envoy bootstrap and EnvoyFilter patches (Envoy's
//! API protos, unknown fields and unknown `@type`s rejected), the filter's plugin configuration (the
//! filter's own parser), PromQL (the installed `promtool`, Prometheus's own parser), the OTel Collector configs (their structure, and
//! each component's settings against strict schemas of the component's Go config struct, in
//! schemas/otelcol/), and the Grafana dashboard's structure, for which no schema exists.
//!
//! Every check returns the failures as `source#doc Kind/name: where: what` lines; empty means valid.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage};
use serde_json::{Map, Value};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One YAML document and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: String,
    pub value: Value,
}

impl Document {
    fn label(&self) -> String {
        let kind = self.value["kind"].as_str().unwrap_or("?");
        let name = self.value["metadata"]["name"].as_str().unwrap_or("?");
        format!("{} {kind}/{name}", self.source)
    }
}

/// Parses a multi-document YAML text; a text that does not parse is an error naming it.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Document>, String> {
    let values = acgs_control_plane::rollout::bundle::parse_documents(text).map_err(|e| format!("{source}: {e}"))?;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(index, value)| Document { source: format!("{source}#{index}"), value })
        .collect())
}

/// Every file under `dir` (recursively) whose name ends with one of `extensions`, sorted.
pub fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if extensions.iter().any(|ext| path.to_string_lossy().ends_with(ext)) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

const K8S_SCHEMAS: &[(&str, &str, &str)] = &[
    ("v1", "Namespace", "namespace-v1"),
    ("v1", "ServiceAccount", "serviceaccount-v1"),
    ("v1", "Service", "service-v1"),
    ("v1", "ConfigMap", "configmap-v1"),
    ("v1", "Secret", "secret-v1"),
    ("apps/v1", "Deployment", "deployment-apps-v1"),
    ("apps/v1", "StatefulSet", "statefulset-apps-v1"),
    ("apps/v1", "DaemonSet", "daemonset-apps-v1"),
    ("batch/v1", "CronJob", "cronjob-batch-v1"),
    ("batch/v1", "Job", "job-batch-v1"),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudget-policy-v1"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterrole-rbac-v1"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebinding-rbac-v1"),
    ("rbac.authorization.k8s.io/v1", "Role", "role-rbac-v1"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebinding-rbac-v1"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinition-apiextensions-v1"),
];

const CRD_SCHEMAS: &[(&str, &str, &str)] = &[
    ("extensions.istio.io/v1alpha1", "WasmPlugin", "istio/istio-wasmplugin.schema.json"),
    ("networking.istio.io/v1alpha3", "EnvoyFilter", "istio/istio-envoyfilter.schema.json"),
    ("telemetry.istio.io/v1", "Telemetry", "istio/istio-telemetry.schema.json"),
    ("security.istio.io/v1", "PeerAuthentication", "istio/istio-peerauthentication.schema.json"),
    ("networking.istio.io/v1", "DestinationRule", "istio/istio-destinationrule.schema.json"),
    ("monitoring.coreos.com/v1", "PrometheusRule", "prometheus/prometheusrule.schema.json"),
    ("monitoring.coreos.com/v1", "PodMonitor", "prometheus/podmonitor.schema.json"),
];

/// EnvoyFilter `applyTo` values and the Envoy message a patch value of each is.
const ENVOY_PATCH_TYPES: &[(&str, &str)] = &[
    ("HTTP_FILTER", "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter"),
    ("CLUSTER", "envoy.config.cluster.v3.Cluster"),
    ("LISTENER", "envoy.config.listener.v3.Listener"),
];

/// The compiled schemas.
pub struct Validator {
    schemas: boon::Schemas,
    by_kind: HashMap<(String, String), boon::SchemaIndex>,
    /// Collector components by (kind, type), e.g. ("processor", "tail_sampling").
    components: HashMap<(String, String), boon::SchemaIndex>,
    envoy: DescriptorPool,
}

/// The Collector config sections and the component kind each holds.
const COMPONENT_SECTIONS: [(&str, &str); 5] = [
    ("receivers", "receiver"),
    ("processors", "processor"),
    ("exporters", "exporter"),
    ("extensions", "extension"),
    ("connectors", "connector"),
];

/// The ConfigMaps whose config runs in the OpenTelemetry Collector contrib image (Jaeger v2's
/// config holds Jaeger's own components, which have no schema here).
const COLLECTOR_CONFIG_MAPS: [&str; 2] = ["otel-collector-config", "otel-sampler-config"];

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

impl Validator {
    /// Compiles every schema in schemas/ plus the SamplingPolicy CRD's (from deploy/).
    pub fn new() -> Self {
        let root = workspace().join("schemas");
        let mut compiler = boon::Compiler::new();
        let mut schemas = boon::Schemas::new();
        let mut by_kind = HashMap::new();
        let mut add = |api_version: &str, kind: &str, url: String, schema: Value| {
            compiler.add_resource(&url, schema).unwrap_or_else(|e| panic!("adding {url}: {e}"));
            let index = compiler.compile(&url, &mut schemas).unwrap_or_else(|e| panic!("compiling {url}: {e:#}"));
            by_kind.insert((api_version.to_owned(), kind.to_owned()), index);
        };
        for (api_version, kind, file) in K8S_SCHEMAS {
            let path = root.join("kubernetes").join(format!("{file}.json"));
            add(api_version, kind, format!("file:///kubernetes/{file}.json"), read_json(&path));
        }
        for (api_version, kind, file) in CRD_SCHEMAS {
            add(api_version, kind, format!("file:///{file}"), read_json(&root.join(file)));
        }
        let crd_text = std::fs::read_to_string(workspace().join("deploy/base/crds/samplingpolicy.yaml"))
            .expect("deploy/base/crds/samplingpolicy.yaml");
        let crd: Value = serde_norway::from_str(&crd_text).expect("the CRD is YAML");
        for version in crd["spec"]["versions"].as_array().expect("CRD versions") {
            let name = version["name"].as_str().expect("version name");
            let api_version = format!("{}/{name}", crd["spec"]["group"].as_str().expect("group"));
            let kind = crd["spec"]["names"]["kind"].as_str().expect("kind");
            let schema = strict_crd_schema(&version["schema"]["openAPIV3Schema"]);
            add(&api_version, kind, format!("file:///crd/{kind}-{name}.json"), schema);
        }
        let mut components = HashMap::new();
        for path in files_under(&root.join("otelcol"), &[".schema.json"]) {
            let file = path.file_name().and_then(|n| n.to_str()).expect("a file name").to_owned();
            let (kind, component) = file.trim_end_matches(".schema.json").split_once('-').expect("<kind>-<type>");
            let url = format!("file:///otelcol/{file}");
            compiler.add_resource(&url, read_json(&path)).unwrap_or_else(|e| panic!("adding {url}: {e}"));
            let index = compiler.compile(&url, &mut schemas).unwrap_or_else(|e| panic!("compiling {url}: {e:#}"));
            components.insert((kind.to_owned(), component.to_owned()), index);
        }
        let envoy = DescriptorPool::decode(
            std::fs::read(root.join("envoy/envoy-api.binpb")).expect("schemas/envoy/envoy-api.binpb").as_slice(),
        )
        .expect("the Envoy descriptor set decodes");
        Self { schemas, by_kind, components, envoy }
    }

    /// A Collector config: its structure ([`check_otel_config`]) and every component's settings
    /// against the schema of its type (`name` is `<type>` or `<type>/<id>`); a component type
    /// without a schema is a failure too.
    pub fn check_collector_config(&self, label: &str, config: &Value) -> Vec<String> {
        let mut failures = check_otel_config(label, config);
        for (section, kind) in COMPONENT_SECTIONS {
            for (name, settings) in config[section].as_object().into_iter().flatten() {
                let component = name.split('/').next().unwrap_or_default();
                let Some(index) = self.components.get(&(kind.to_owned(), component.to_owned())) else {
                    failures.push(format!("{label}: {section}.{name}: no schema for {kind} type {component:?}"));
                    continue;
                };
                let settings = if settings.is_null() { Value::Object(Map::new()) } else { settings.clone() };
                if let Err(error) = self.schemas.validate(&settings, *index) {
                    failures.push(format!("{label}: {section}.{name}: {error:#}"));
                }
            }
        }
        failures
    }

    /// Checks one Kubernetes document against its kind's schema, plus the checks its kind has.
    pub fn check_manifest(&self, document: &Document) -> Vec<String> {
        let value = &document.value;
        let api_version = value["apiVersion"].as_str().unwrap_or_default();
        let kind = value["kind"].as_str().unwrap_or_default();
        let Some(index) = self.by_kind.get(&(api_version.to_owned(), kind.to_owned())) else {
            return vec![format!("{}: no schema for apiVersion {api_version:?} kind {kind:?}", document.label())];
        };
        let mut failures = Vec::new();
        if let Err(error) = self.schemas.validate(value, *index) {
            failures.push(format!("{}: {error:#}", document.label()));
        }
        match kind {
            "EnvoyFilter" => failures.extend(self.check_envoy_filter(document)),
            "WasmPlugin" => {
                let config = value["spec"]["pluginConfig"].to_string();
                failures.extend(check_filter_config(&document.label(), &config));
            }
            "PrometheusRule" => failures.extend(check_prometheus_rule(document)),
            "ConfigMap" => failures.extend(self.check_config_map(document)),
            _ => {}
        }
        failures
    }

    /// Parses `value` as the Envoy message `type_name` (JSON mapping, unknown fields rejected,
    /// `@type`s resolved against Envoy's API).
    pub fn check_envoy(&self, label: &str, type_name: &str, value: &Value) -> Vec<String> {
        let Some(descriptor) = self.envoy.get_message_by_name(type_name) else {
            return vec![format!("{label}: {type_name} is not in the Envoy descriptor set")];
        };
        let options = DeserializeOptions::new().deny_unknown_fields(true);
        let mut failures = match DynamicMessage::deserialize_with_options(descriptor, value.clone(), &options) {
            Ok(_) => Vec::new(),
            Err(error) => vec![format!("{label}: as {type_name}: {error}")],
        };
        for config in wasm_configurations(value) {
            failures.extend(check_filter_config(label, &config));
        }
        failures
    }

    /// An Envoy v3 bootstrap file.
    pub fn check_envoy_bootstrap(&self, document: &Document) -> Vec<String> {
        self.check_envoy(&document.source, "envoy.config.bootstrap.v3.Bootstrap", &document.value)
    }

    fn check_envoy_filter(&self, document: &Document) -> Vec<String> {
        let mut failures = Vec::new();
        let patches = document.value["spec"]["configPatches"].as_array().cloned().unwrap_or_default();
        for (index, patch) in patches.iter().enumerate() {
            let apply_to = patch["applyTo"].as_str().unwrap_or_default();
            let label = format!("{}: spec.configPatches[{index}].patch.value", document.label());
            match ENVOY_PATCH_TYPES.iter().find(|(name, _)| *name == apply_to) {
                Some((_, type_name)) => failures.extend(self.check_envoy(&label, type_name, &patch["patch"]["value"])),
                None => failures.push(format!("{label}: applyTo {apply_to:?} has no Envoy type here")),
            }
        }
        failures
    }
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").field("kinds", &self.by_kind.len()).finish_non_exhaustive()
    }
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

/// The CRD's structural schema as a strict JSON Schema: `nullable` admits null, and an object
/// with properties admits no other field (the API server would prune it; a typo must fail here).
fn strict_crd_schema(schema: &Value) -> Value {
    fn strict(node: &Value) -> Value {
        let Value::Object(fields) = node else { return node.clone() };
        let mut out = Map::new();
        for (key, value) in fields {
            let value = match key.as_str() {
                "properties" => Value::Object(
                    value
                        .as_object()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), strict(v))).collect())
                        .unwrap_or_default(),
                ),
                "items" | "additionalProperties" => strict(value),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        if out.get("nullable") == Some(&Value::Bool(true)) {
            out.remove("nullable");
            if let Some(Value::String(kind)) = out.get("type").cloned() {
                out.insert("type".to_owned(), serde_json::json!([kind, "null"]));
            }
        }
        let is_object = out
            .get("type")
            .is_some_and(|t| t == "object" || t.as_array().is_some_and(|a| a.contains(&Value::from("object"))));
        if is_object
            && out.contains_key("properties")
            && !out.contains_key("additionalProperties")
            && !out.contains_key("x-kubernetes-preserve-unknown-fields")
        {
            out.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
        Value::Object(out)
    }
    let mut root = strict(schema);
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("apiVersion".to_owned(), serde_json::json!({"type": "string"}));
        properties.insert("kind".to_owned(), serde_json::json!({"type": "string"}));
        properties.insert("metadata".to_owned(), serde_json::json!({"type": "object"}));
    }
    if let Some(fields) = root.as_object_mut() {
        fields.insert("$schema".to_owned(), "https://json-schema.org/draft/2020-12/schema".into());
    }
    root
}

/// The `configuration` strings of every Wasm filter config inside an Envoy document.
fn wasm_configurations(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![value];
    while let Some(node) = pending.pop() {
        match node {
            Value::Object(fields) => {
                if fields.get("@type").and_then(Value::as_str)
                    == Some("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm")
                {
                    if let Some(text) = fields["config"]["configuration"]["value"].as_str() {
                        found.push(text.to_owned());
                    }
                }
                pending.extend(fields.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

/// The filter's plugin configuration, parsed by the filter's own parser (as `on_configure` does).
pub fn check_filter_config(label: &str, config: &str) -> Vec<String> {
    match acgs_filter::config::FilterConfig::from_json(config.as_bytes()) {
        Ok(_) => Vec::new(),
        Err(error) => vec![format!("{label}: filter configuration: {}: {}", error.field, error.reason)],
    }
}

/// Every rule's PromQL parses.
fn check_prometheus_rule(document: &Document) -> Vec<String> {
    let mut expressions = Vec::new();
    for group in document.value["spec"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap_or("?");
            expressions
                .push((format!("{}: rule {name}", document.label()), rule["expr"].as_str().unwrap_or("").to_owned()));
        }
    }
    check_promql(&expressions)
}

/// Install command for `promtool`, named when it cannot run.
pub const PROMTOOL_INSTALL: &str = "apt-get install prometheus (scripts/test installs it)";

/// Each (label, expression) parses as PromQL, as Prometheus's own parser reads it: the
/// expressions are written as the recording rules `acgs_check_<index>` of one rule file and
/// checked by the installed `promtool check rules`, whose failures name the rule; each failure
/// comes back under its expression's label.
pub fn check_promql(expressions: &[(String, String)]) -> Vec<String> {
    if expressions.is_empty() {
        return Vec::new();
    }
    let rules: Vec<Value> = expressions
        .iter()
        .enumerate()
        .map(|(index, (_, expr))| serde_json::json!({"record": format!("acgs_check_{index}"), "expr": expr}))
        .collect();
    // JSON is YAML: the expressions need no quoting of their own.
    let file = serde_json::json!({"groups": [{"name": "acgs_check", "rules": rules}]});
    let path =
        std::env::temp_dir().join(format!("acgs-promql-{}-{:?}.json", std::process::id(), std::thread::current().id()));
    if let Err(error) = std::fs::write(&path, file.to_string()) {
        return vec![format!("cannot write {}: {error}", path.display())];
    }
    let output = std::process::Command::new("promtool").arg("check").arg("rules").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = match output {
        Ok(output) => output,
        Err(error) => return vec![format!("cannot run promtool ({error}); install it with: {PROMTOOL_INSTALL}")],
    };
    if output.status.success() {
        return Vec::new();
    }
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let mut failures: Vec<String> = expressions
        .iter()
        .enumerate()
        .filter_map(|(index, (label, _))| {
            let name = format!("\"acgs_check_{index}\"");
            let line = report.lines().find(|line| line.contains(&name))?;
            let reason = line.split_once(&format!("{name}: ")).map_or(line, |(_, reason)| reason);
            Some(format!("{label}: PromQL: {reason}"))
        })
        .collect();
    if failures.is_empty() {
        failures.push(format!("promtool check rules failed: {report}"));
    }
    failures
}

/// ConfigMaps that carry an OTel Collector config (`*.yaml` keys with a `service` section; the
/// components checked too for the Collector's own ConfigMaps) or a Grafana dashboard (`*.json`).
impl Validator {
    fn check_config_map(&self, document: &Document) -> Vec<String> {
        let mut failures = Vec::new();
        let name = document.value["metadata"]["name"].as_str().unwrap_or_default();
        for (key, text) in document.value["data"].as_object().into_iter().flatten() {
            let label = format!("{}: data.{key}", document.label());
            let Some(text) = text.as_str() else { continue };
            if key.ends_with(".json") {
                match serde_json::from_str::<Value>(text) {
                    Ok(dashboard) => failures.extend(check_grafana_dashboard(&label, &dashboard)),
                    Err(error) => failures.push(format!("{label}: not JSON: {error}")),
                }
            } else if key.ends_with(".yaml") {
                match serde_norway::from_str::<Value>(text) {
                    Ok(config) if COLLECTOR_CONFIG_MAPS.contains(&name) => {
                        failures.extend(self.check_collector_config(&label, &config))
                    }
                    Ok(config) if config.get("service").is_some() => {
                        failures.extend(check_otel_config(&label, &config))
                    }
                    Ok(_) => {}
                    Err(error) => failures.push(format!("{label}: not YAML: {error}")),
                }
            }
        }
        failures
    }
}

/// An OpenTelemetry Collector (or Jaeger v2) config: known top-level sections, pipelines named
/// by signal, every component a pipeline or the service names defined in its section.
pub fn check_otel_config(label: &str, config: &Value) -> Vec<String> {
    const SECTIONS: [&str; 6] = ["receivers", "processors", "exporters", "extensions", "connectors", "service"];
    let mut failures = Vec::new();
    let Some(fields) = config.as_object() else {
        return vec![format!("{label}: not a mapping")];
    };
    for key in fields.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            failures.push(format!("{label}: unknown top-level section {key:?}"));
        }
    }
    let defined = |section: &str| -> HashSet<String> {
        config[section].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    };
    let connectors = defined("connectors");
    for key in config["service"].as_object().into_iter().flatten().map(|(k, _)| k) {
        if !["extensions", "pipelines", "telemetry"].contains(&key.as_str()) {
            failures.push(format!("{label}: service: unknown key {key:?}"));
        }
    }
    for extension in config["service"]["extensions"].as_array().into_iter().flatten() {
        let name = extension.as_str().unwrap_or_default();
        if !defined("extensions").contains(name) {
            failures.push(format!("{label}: service.extensions: {name:?} is not defined under extensions"));
        }
    }
    let Some(pipelines) = config["service"]["pipelines"].as_object() else {
        return [failures, vec![format!("{label}: service.pipelines is missing")]].concat();
    };
    for (id, pipeline) in pipelines {
        let signal = id.split('/').next().unwrap_or_default();
        if !["traces", "metrics", "logs"].contains(&signal) {
            failures.push(format!("{label}: pipeline {id:?}: the signal must be traces, metrics or logs"));
        }
        for key in pipeline.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !["receivers", "processors", "exporters"].contains(&key.as_str()) {
                failures.push(format!("{label}: pipeline {id:?}: unknown key {key:?}"));
            }
        }
        for section in ["receivers", "processors", "exporters"] {
            let names: Vec<&str> =
                pipeline[section].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if section != "processors" && names.is_empty() {
                failures.push(format!("{label}: pipeline {id:?}: no {section}"));
            }
            let known = defined(section);
            for name in names {
                let is_connector = section != "processors" && connectors.contains(name);
                if !known.contains(name) && !is_connector {
                    failures.push(format!("{label}: pipeline {id:?}: {section}: {name:?} is not defined"));
                }
            }
        }
    }
    failures
}

/// The `$name` template variables an expression uses (Grafana's built-in `$__…` excluded).
fn template_variables(expr: &str) -> Vec<&str> {
    expr.split('$')
        .skip(1)
        .map(|rest| rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or(""))
        .filter(|name| !name.is_empty() && !name.starts_with("__"))
        .collect()
}

/// A Grafana dashboard: title, schemaVersion, panels with unique integer ids inside the 24-column
/// grid, unique refIds per panel, datasource and template variables that exist, PromQL that
/// parses.
pub fn check_grafana_dashboard(label: &str, dashboard: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    if dashboard["title"].as_str().is_none_or(str::is_empty) {
        failures.push(format!("{label}: title is missing"));
    }
    if !dashboard["schemaVersion"].is_u64() {
        failures.push(format!("{label}: schemaVersion must be an integer"));
    }
    let variables: HashSet<&str> =
        dashboard["templating"]["list"].as_array().into_iter().flatten().filter_map(|v| v["name"].as_str()).collect();
    let mut ids = HashSet::new();
    let mut expressions = Vec::new();
    let Some(panels) = dashboard["panels"].as_array() else {
        return [failures, vec![format!("{label}: panels is missing")]].concat();
    };
    for (index, panel) in panels.iter().enumerate() {
        let at = format!("{label}: panels[{index}]");
        match panel["id"].as_u64() {
            Some(id) if !ids.insert(id) => failures.push(format!("{at}: duplicate id {id}")),
            Some(_) => {}
            None => failures.push(format!("{at}: id must be an integer")),
        }
        if panel["type"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{at}: type is missing"));
        }
        let grid = &panel["gridPos"];
        match (grid["x"].as_u64(), grid["w"].as_u64(), grid["h"].as_u64(), grid["y"].as_u64()) {
            (Some(x), Some(w), Some(_), Some(_)) if x + w <= 24 && w > 0 => {}
            _ => failures.push(format!("{at}: gridPos must have integer x, y, w > 0, h with x + w <= 24")),
        }
        if let Some(uid) = panel["datasource"]["uid"].as_str() {
            if let Some(variable) = uid.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
                if !variables.contains(variable) {
                    failures.push(format!("{at}: datasource variable {variable:?} is not in templating"));
                }
            }
        }
        let mut ref_ids = HashSet::new();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let ref_id = target["refId"].as_str().unwrap_or_default();
            if ref_id.is_empty() || !ref_ids.insert(ref_id) {
                failures.push(format!("{at}: refId {ref_id:?} is missing or repeated"));
            }
            if let Some(expr) = target["expr"].as_str() {
                expressions.push((at.clone(), expr.to_owned()));
                for variable in template_variables(expr) {
                    if !variables.contains(variable) {
                        failures.push(format!("{at}: template variable ${variable} is not in templating"));
                    }
                }
            }
        }
    }
    failures.extend(check_promql(&expressions));
    failures
}
