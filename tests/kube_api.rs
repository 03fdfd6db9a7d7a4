//! A mock Kubernetes API server on loopback, faithful to what kube's client and watcher rely on:
//! typed paths (`/api/v1/...`, `/apis/{group}/{version}/...`, namespaced and cluster-scoped),
//! list responses with a collection resourceVersion (filtered by an equality- or existence-based
//! `labelSelector`), watch streams of JSON lines (`ADDED`, `MODIFIED`, `DELETED`) resumed from a
//! resourceVersion, `410 Gone` (an `ERROR` event with a `Status` of code 410) for a
//! resourceVersion older than the retained history, server-side apply
//! (`PATCH` with `application/apply-patch+yaml`, and its `dryRun=All` that stores nothing), merge-patches of the status subresource, `POST`
//! of events, `SelfSubjectAccessReview`s (allowed unless the test denies the resource), and `DELETE`. Every request is recorded for the tests to assert on. Workloads
//! (Deployment, StatefulSet, DaemonSet) report themselves rolled out when applied, unless the test
//! says they are not; CRDs report themselves Established the same way. A test can make the writes
//! to a collection fail (as a missing RBAC rule or an admission webhook would).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone)]
enum Broadcast {
    Change { rv: u64, collection: String, line: String },
    Close,
}

#[derive(Debug, Default)]
struct Store {
    /// (collection, namespace, name) → object; `collection` is the path without the namespace.
    objects: BTreeMap<(String, String, String), Value>,
    rv: u64,
    /// (rv, collection, watch line) of every change, for resumed watches.
    history: Vec<(u64, String, String)>,
    /// Watches from below this resourceVersion get 410 Gone.
    oldest: u64,
    requests: Vec<Recorded>,
    not_ready: bool,
    /// Collections whose writes (POST, PATCH, DELETE) fail with this status code.
    refused: BTreeMap<String, u16>,
    /// Resources (plural names) a `SelfSubjectAccessReview` is answered not allowed for.
    denied: std::collections::BTreeSet<String>,
}

/// The running mock.
#[derive(Debug, Clone)]
pub struct MockApiServer {
    pub addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<Broadcast>,
}

#[derive(Clone)]
struct AppState {
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<Broadcast>,
}

/// Where a request points: the collection (path without namespace), the namespace, the name and
/// whether it is the status subresource.
#[derive(Debug)]
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match *parts.first()? {
        "api" => (parts.get(..2)?.join("/"), parts.get(2..)?),
        "apis" => (parts.get(..3)?.join("/"), parts.get(3..)?),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some((*namespace).to_owned()), rest),
        _ => (None, rest),
    };
    let (plural, name, status) = match rest {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some((*name).to_owned()), false),
        [plural, name, "status"] => (*plural, Some((*name).to_owned()), true),
        _ => return None,
    };
    Some(Target { collection: format!("/{prefix}/{plural}"), namespace, name, status })
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

fn json_response(code: StatusCode, value: &Value) -> Response {
    (code, [("content-type", "application/json")], value.to_string()).into_response()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// What a workload reports once rolled out.
fn rolled_out(object: &Value, generation: i64) -> Option<Value> {
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    match object["kind"].as_str()? {
        "Deployment" | "StatefulSet" => Some(json!({
            "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
            "updatedReplicas": replicas, "availableReplicas": replicas, "currentReplicas": replicas
        })),
        "CustomResourceDefinition" => Some(json!({
            "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]
        })),
        "DaemonSet" => Some(json!({
            "observedGeneration": generation, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
            "numberReady": 3, "updatedNumberScheduled": 3, "numberAvailable": 3, "numberMisscheduled": 0
        })),
        _ => None,
    }
}

impl Store {
    fn record_change(&mut self, changes: &broadcast::Sender<Broadcast>, collection: &str, kind: &str, object: &Value) {
        let line = json!({"type": kind, "object": object}).to_string();
        self.history.push((self.rv, collection.to_owned(), line.clone()));
        let _ = changes.send(Broadcast::Change { rv: self.rv, collection: collection.to_owned(), line });
    }

    /// Creates or replaces an object the way the API server does: resourceVersion bumped,
    /// generation bumped when the spec changed, status and identity kept.
    fn put(&mut self, changes: &broadcast::Sender<Broadcast>, target: &Target, mut object: Value) -> Value {
        let namespace = target.namespace.clone().unwrap_or_default();
        let name =
            target.name.clone().or_else(|| object["metadata"]["name"].as_str().map(str::to_owned)).unwrap_or_default();
        let key = (target.collection.clone(), namespace.clone(), name.clone());
        self.rv += 1;
        let existing = self.objects.get(&key).cloned();
        let generation = match &existing {
            Some(old) if old["spec"] == object["spec"] => old["metadata"]["generation"].as_i64().unwrap_or(1),
            Some(old) => old["metadata"]["generation"].as_i64().unwrap_or(1) + 1,
            None => 1,
        };
        let metadata = &mut object["metadata"];
        metadata["name"] = json!(name);
        if !namespace.is_empty() {
            metadata["namespace"] = json!(namespace);
        }
        metadata["resourceVersion"] = json!(self.rv.to_string());
        metadata["generation"] = json!(generation);
        metadata["uid"] =
            existing.as_ref().map_or_else(|| json!(format!("uid-{}", self.rv)), |old| old["metadata"]["uid"].clone());
        metadata["creationTimestamp"] = json!("2026-12-02T00:00:00Z");
        if let Some(old_status) = existing.as_ref().and_then(|old| old.get("status")) {
            object["status"] = old_status.clone();
        }
        if !self.not_ready {
            if let Some(status) = rolled_out(&object, generation) {
                object["status"] = status;
            }
        }
        self.objects.insert(key, object.clone());
        let kind = if existing.is_some() { "MODIFIED" } else { "ADDED" };
        self.record_change(changes, &target.collection, kind, &object);
        object
    }
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let content_type =
        request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = axum::body::to_bytes(request.into_body(), 16 * 1024 * 1024).await.unwrap_or_default();
    let body_text = String::from_utf8_lossy(&body).into_owned();
    lock(&state.store).requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: body_text.clone(),
    });
    let Some(target) = parse_target(&path) else {
        return status(StatusCode::NOT_FOUND, "NotFound", &format!("the server could not find {path}"));
    };
    if method != Method::GET {
        if let Some(code) = lock(&state.store).refused.get(&target.collection).copied() {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
            let reason = code.canonical_reason().unwrap_or("Refused").replace(' ', "");
            return status(code, &reason, &format!("{method} {path} refused by the test"));
        }
    }
    match (method, &target.name) {
        (Method::GET, None) if query_param(&query, "watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(&state, &target, &query)
        }
        (Method::GET, None) => list(&state, &target, label_selector(&query).as_deref()),
        (Method::GET, Some(name)) => {
            let store = lock(&state.store);
            let key = (target.collection.clone(), target.namespace.clone().unwrap_or_default(), name.clone());
            match store.objects.get(&key) {
                Some(object) => json_response(StatusCode::OK, object),
                None => status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found")),
            }
        }
        (Method::POST, None) => {
            let Ok(mut object) = serde_json::from_str::<Value>(&body_text) else {
                return status(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON");
            };
            if target.collection.ends_with("/selfsubjectaccessreviews") {
                // The API server answers a review at once and stores nothing.
                let resource = object["spec"]["resourceAttributes"]["resource"].as_str().unwrap_or_default().to_owned();
                let allowed = !lock(&state.store).denied.contains(&resource);
                object["status"] =
                    json!({"allowed": allowed, "reason": if allowed { "" } else { "RBAC: no rule allows it" }});
                return json_response(StatusCode::CREATED, &object);
            }
            let mut store = lock(&state.store);
            let created = store.put(&state.changes, &target, object);
            json_response(StatusCode::CREATED, &created)
        }
        (Method::PATCH, Some(name)) if query_param(&query, "dryRun") == Some("All") => {
            dry_run_apply(&state, &target, name, &content_type, &body)
        }
        (Method::PATCH, Some(name)) => patch(&state, &target, name, &content_type, &body),
        (Method::DELETE, Some(name)) => {
            let mut store = lock(&state.store);
            let key = (target.collection.clone(), target.namespace.clone().unwrap_or_default(), name.clone());
            match store.objects.remove(&key) {
                Some(object) => {
                    store.rv += 1;
                    store.record_change(&state.changes, &target.collection, "DELETED", &object);
                    json_response(StatusCode::OK, &object)
                }
                None => status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found")),
            }
        }
        _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "not supported by the mock"),
    }
}

/// The `labelSelector` query parameter, percent-decoded.
fn label_selector(query: &str) -> Option<String> {
    let uri: axum::http::Uri = format!("/?{query}").parse().ok()?;
    let axum::extract::Query(params) = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok()?;
    params.into_iter().find(|(key, _)| key == "labelSelector").map(|(_, value)| value)
}

/// Whether `object`'s labels satisfy a selector of `key=value`, `key==value`, `key!=value`,
/// `key` and `!key` requirements, comma-separated (set-based ones are not supported: no match).
fn selects(selector: &str, object: &Value) -> bool {
    let labels = &object["metadata"]["labels"];
    selector.split(',').map(str::trim).filter(|r| !r.is_empty()).all(|requirement| {
        if let Some((key, value)) = requirement.split_once("!=") {
            labels[key.trim()].as_str() != Some(value.trim())
        } else if let Some((key, value)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
            labels[key.trim()].as_str() == Some(value.trim())
        } else if let Some(key) = requirement.strip_prefix('!') {
            labels.get(key.trim()).is_none()
        } else if requirement.contains(' ') || requirement.contains('(') {
            false
        } else {
            labels.get(requirement).is_some()
        }
    })
}

fn list(state: &AppState, target: &Target, selector: Option<&str>) -> Response {
    let store = lock(&state.store);
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|((collection, namespace, _), _)| {
            *collection == target.collection && target.namespace.as_ref().is_none_or(|ns| ns == namespace)
        })
        .filter(|(_, object)| selector.is_none_or(|selector| selects(selector, object)))
        .map(|(_, object)| object.clone())
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
    )
}

fn watch(state: &AppState, target: &Target, query: &str) -> Response {
    let from: u64 = query_param(query, "resourceVersion").and_then(|rv| rv.parse().ok()).unwrap_or(0);
    let store = lock(&state.store);
    if from < store.oldest {
        let gone = json!({"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {from} ({})", store.oldest), "reason": "Expired", "code": 410
        }});
        return (StatusCode::OK, [("content-type", "application/json")], format!("{gone}\n")).into_response();
    }
    let collection = target.collection.clone();
    let replay: Vec<Result<Bytes, std::io::Error>> = store
        .history
        .iter()
        .filter(|(rv, c, _)| *rv > from && *c == collection)
        .map(|(_, _, line)| Ok(Bytes::from(format!("{line}\n"))))
        .collect();
    let last_replayed = store.rv;
    let live = tokio_stream::wrappers::BroadcastStream::new(state.changes.subscribe())
        .take_while(|message| !matches!(message, Ok(Broadcast::Close)))
        .filter_map(move |message| match message {
            Ok(Broadcast::Change { rv, collection: c, line }) if c == collection && rv > last_replayed => {
                Some(Ok(Bytes::from(format!("{line}\n"))))
            }
            _ => None,
        });
    drop(store);
    let stream = tokio_stream::iter(replay).chain(live);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A server-side apply with `dryRun=All`: the object as the apply would leave it, nothing stored
/// (this mock's apply replaces the object, keeping what the server owns).
fn dry_run_apply(state: &AppState, target: &Target, name: &str, content_type: &str, body: &[u8]) -> Response {
    if !content_type.starts_with("application/apply-patch") {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "the mock dry-runs server-side applies only");
    }
    let Ok(mut object) = serde_norway::from_slice::<Value>(body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "the apply body is not YAML/JSON");
    };
    let store = lock(&state.store);
    let key = (target.collection.clone(), target.namespace.clone().unwrap_or_default(), name.to_owned());
    if let Some(live) = store.objects.get(&key) {
        for field in ["resourceVersion", "uid", "creationTimestamp", "generation"] {
            object["metadata"][field] = live["metadata"][field].clone();
        }
        if let Some(status) = live.get("status") {
            object["status"] = status.clone();
        }
    }
    json_response(StatusCode::OK, &object)
}

fn patch(state: &AppState, target: &Target, name: &str, content_type: &str, body: &[u8]) -> Response {
    let mut store = lock(&state.store);
    let key = (target.collection.clone(), target.namespace.clone().unwrap_or_default(), name.to_owned());
    if content_type.starts_with("application/apply-patch") {
        let Ok(object) = serde_norway::from_slice::<Value>(body) else {
            return status(StatusCode::BAD_REQUEST, "BadRequest", "the apply body is not YAML/JSON");
        };
        let created = !store.objects.contains_key(&key);
        let applied = store.put(&state.changes, target, object);
        return json_response(if created { StatusCode::CREATED } else { StatusCode::OK }, &applied);
    }
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "the patch is not JSON");
    };
    let Some(mut object) = store.objects.get(&key).cloned() else {
        return status(StatusCode::NOT_FOUND, "NotFound", &format!("{name} not found"));
    };
    if target.status {
        merge_patch(&mut object["status"], &patch["status"]);
    } else {
        merge_patch(&mut object, &patch);
    }
    store.rv += 1;
    object["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    store.objects.insert(key, object.clone());
    store.record_change(&state.changes, &target.collection, "MODIFIED", &object);
    json_response(StatusCode::OK, &object)
}

impl MockApiServer {
    /// Starts the mock on an ephemeral loopback port of the current tokio runtime.
    pub async fn start() -> Self {
        let store = Arc::new(Mutex::new(Store::default()));
        let (changes, _) = broadcast::channel(1024);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(AppState { store: Arc::clone(&store), changes: changes.clone() });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the mock API server");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, store, changes }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or updates an object as `kubectl apply` would (`collection` like
    /// `/apis/tracing.acgs.io/v1alpha1/samplingpolicies`).
    pub fn apply(&self, collection: &str, object: Value) -> Value {
        let target = Target {
            collection: collection.to_owned(),
            namespace: object["metadata"]["namespace"].as_str().map(str::to_owned),
            name: object["metadata"]["name"].as_str().map(str::to_owned),
            status: false,
        };
        lock(&self.store).put(&self.changes, &target, object)
    }

    /// Deletes an object (a `DELETED` event for watchers).
    pub fn delete(&self, collection: &str, namespace: &str, name: &str) {
        let mut store = lock(&self.store);
        if let Some(object) = store.objects.remove(&(collection.to_owned(), namespace.to_owned(), name.to_owned())) {
            store.rv += 1;
            store.record_change(&self.changes, collection, "DELETED", &object);
        }
    }

    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        lock(&self.store).objects.get(&(collection.to_owned(), namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Ends every open watch (as the API server does at its timeout or on restart).
    pub fn close_watches(&self) {
        let _ = self.changes.send(Broadcast::Close);
    }

    /// Forgets the history up to now: a watch resumed from an older resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut store = lock(&self.store);
        store.oldest = store.rv + 1;
        store.history.clear();
    }

    /// Makes every write (POST, PATCH, DELETE) to `collection` fail with `code` until
    /// [`Self::accept_writes`].
    pub fn refuse_writes(&self, collection: &str, code: u16) {
        lock(&self.store).refused.insert(collection.to_owned(), code);
    }

    pub fn accept_writes(&self, collection: &str) {
        lock(&self.store).refused.remove(collection);
    }

    /// Answers access reviews for `resource` (a plural name) as not allowed.
    pub fn deny_access(&self, resource: &str) {
        lock(&self.store).denied.insert(resource.to_owned());
    }

    /// Whether applied workloads report themselves rolled out (the default) or stay unready.
    pub fn set_rollouts_ready(&self, ready: bool) {
        lock(&self.store).not_ready = !ready;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.store).requests.clone()
    }

    /// Every object currently stored, as (collection, namespace, name).
    pub fn object_keys(&self) -> Vec<(String, String, String)> {
        lock(&self.store).objects.keys().cloned().collect()
    }
}
