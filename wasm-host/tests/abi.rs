//! The host's Envoy semantics, checked with small hand-written proxy-wasm modules (WAT): the
//! callback order, local replies, the statuses Envoy answers, trap containment per failure
//! policy, callouts to loopback clusters, and which modules load.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use acgs_wasm_host::{
    FailurePolicy, FilterModule, Headers, HostError, HttpRequest, HttpResponse, PluginConfig, Proxy, ProxyConfig,
};

/// Builds a module: the imports every test uses, memory, a bump allocator, and data segments.
struct Wat {
    next: u32,
    data: String,
    body: String,
}

const PRELUDE: &str = r#"
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  ;; record(key_ptr, key_len, value): shared data key := value as 4 little-endian bytes
  (func $record (param $k i32) (param $kl i32) (param $v i32)
    (i32.store (i32.const 60000) (local.get $v))
    (drop (call $set_shared (local.get $k) (local.get $kl) (i32.const 60000) (i32.const 4) (i32.const 0))))
"#;

impl Wat {
    fn new() -> Self {
        Self { next: 16, data: String::new(), body: String::new() }
    }

    /// Places bytes in memory; returns "ptr len" for a call's arguments.
    fn bytes(&mut self, bytes: &[u8]) -> String {
        let at = self.next;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        self.data.push_str(&format!("  (data (i32.const {at}) \"{escaped}\")\n"));
        self.next += u32::try_from(bytes.len()).expect("small") + 1;
        format!("(i32.const {at}) (i32.const {})", bytes.len())
    }

    fn func(&mut self, text: &str) {
        self.body.push_str(text);
        self.body.push('\n');
    }

    fn module(&self) -> FilterModule {
        let text = format!("(module\n{PRELUDE}\n{}\n{})", self.data, self.body);
        let wasm = wat::parse_str(&text).unwrap_or_else(|e| panic!("test module: {e}\n{text}"));
        FilterModule::from_bytes(&wasm).expect("the test module loads")
    }
}

/// Header pairs serialised as the ABI wants them.
fn pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        bytes.extend_from_slice(&(k.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        bytes.extend_from_slice(k.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(v.as_bytes());
        bytes.push(0);
    }
    bytes
}

fn start(module: &FilterModule, policy: FailurePolicy, clusters: BTreeMap<String, SocketAddr>) -> Proxy {
    let plugin = PluginConfig { name: "test".to_owned(), failure_policy: policy, ..PluginConfig::default() };
    let clusters = clusters.into_iter().map(|(name, addr)| (name, addr.into())).collect();
    let config = ProxyConfig { clusters, stream_timeout: Duration::from_secs(2), ..ProxyConfig::default() };
    Proxy::start(module, plugin, config).expect("proxy starts")
}

fn request(path: &str) -> HttpRequest {
    HttpRequest {
        headers: Headers::from_pairs([(":method", "GET"), (":path", path), (":authority", "svc"), (":scheme", "http")]),
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

fn ok() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: Headers::from_pairs([("server", "upstream")]),
        body: b"hello".to_vec(),
        trailers: Headers::new(),
    }
}

fn recorded(proxy: &Proxy, key: &str) -> Option<u32> {
    proxy.shared_data(key.as_bytes()).map(|(value, _)| u32::from_le_bytes(value[..4].try_into().expect("4 bytes")))
}

fn log_messages(proxy: &mut Proxy) -> Vec<String> {
    proxy.workers_mut()[0].take_logs().into_iter().map(|record| record.message).collect()
}

#[test]
fn callbacks_run_in_envoys_order() {
    let mut wat = Wat::new();
    let logging = |wat: &mut Wat, export: &str, params: &str, result: Option<i32>| {
        let message = wat.bytes(export.as_bytes());
        let (decl, value) = match result {
            Some(value) => ("(result i32)".to_owned(), format!("(i32.const {value})")),
            None => (String::new(), String::new()),
        };
        wat.func(&format!(
            "(func (export \"{export}\") {params} {decl} (drop (call $log (i32.const 2) {message})) {value})"
        ));
    };
    logging(&mut wat, "proxy_on_context_create", "(param i32 i32)", None);
    logging(&mut wat, "proxy_on_vm_start", "(param i32 i32)", Some(1));
    logging(&mut wat, "proxy_on_configure", "(param i32 i32)", Some(1));
    logging(&mut wat, "proxy_on_request_headers", "(param i32 i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_request_body", "(param i32 i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_request_trailers", "(param i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_response_headers", "(param i32 i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_response_body", "(param i32 i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_response_trailers", "(param i32 i32)", Some(0));
    logging(&mut wat, "proxy_on_log", "(param i32)", None);
    logging(&mut wat, "proxy_on_done", "(param i32)", Some(1));
    logging(&mut wat, "proxy_on_delete", "(param i32)", None);
    let module = wat.module();
    let mut proxy = start(&module, FailurePolicy::FailClosed, BTreeMap::new());
    assert_eq!(log_messages(&mut proxy), ["proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure"]);

    let mut request = request("/");
    request.body = b"payload".to_vec();
    request.trailers = Headers::from_pairs([("grpc-status", "0")]);
    let mut upstream = |_: &Headers, body: &[u8]| {
        assert_eq!(body, b"payload");
        HttpResponse { trailers: Headers::from_pairs([("x-t", "1")]), ..ok() }
    };
    let outcome = proxy.workers_mut()[0].handle(request, &mut upstream);
    assert_eq!(outcome.response.status, 200);
    assert_eq!(
        log_messages(&mut proxy),
        [
            "proxy_on_context_create",
            "proxy_on_request_headers",
            "proxy_on_request_body",
            "proxy_on_request_trailers",
            "proxy_on_response_headers",
            "proxy_on_response_body",
            "proxy_on_response_trailers",
            "proxy_on_log",
            "proxy_on_done",
            "proxy_on_delete",
        ]
    );
}

#[test]
fn a_local_reply_takes_effect_after_the_callback_and_passes_the_response_callbacks() {
    let mut wat = Wat::new();
    let details = wat.bytes(b"teapot");
    let body = wat.bytes(b"no");
    let headers = wat.bytes(&pairs(&[("x-from", "filter"), ("Content-Type", "application/json")]));
    let after = wat.bytes(b"after-send");
    let response = wat.bytes(b"response-headers");
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    wat.func(&format!(
        "(func (export \"proxy_on_request_headers\") (param i32 i32 i32) (result i32)
           (drop (call $local_reply (i32.const 418) {details} {body} {headers} (i32.const -1)))
           (drop (call $log (i32.const 2) {after}))
           (i32.const 1))"
    ));
    wat.func(&format!(
        "(func (export \"proxy_on_response_headers\") (param i32 i32 i32) (result i32)
           (drop (call $log (i32.const 2) {response})) (i32.const 0))"
    ));
    let mut proxy = start(&wat.module(), FailurePolicy::FailClosed, BTreeMap::new());
    let mut upstream_called = false;
    let mut upstream = |_: &Headers, _: &[u8]| {
        upstream_called = true;
        ok()
    };
    let outcome = proxy.workers_mut()[0].handle(request("/"), &mut upstream);
    assert!(!upstream_called, "a local reply never reaches the upstream");
    assert_eq!(outcome.response.status, 418);
    assert_eq!(outcome.response.body, b"no");
    assert_eq!(outcome.response.headers.get_str("x-from"), Some("filter"));
    assert_eq!(
        outcome.response.headers.get_str("content-type"),
        Some("application/json"),
        "the filter's header replaces Envoy's text/plain"
    );
    assert_eq!(outcome.response.headers.get_str("content-length"), Some("2"));
    assert_eq!(outcome.local_reply.map(|r| (r.status, r.details)), Some((418, "teapot".to_owned())));
    assert!(outcome.forwarded.is_none());
    assert_eq!(log_messages(&mut proxy), ["after-send", "response-headers"]);
}

/// Peak resident memory of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).expect("kB") / 1024
}

#[test]
fn random_get_beyond_guest_memory_is_refused_without_allocating_it() {
    // Found by the host_abi fuzz target: random_get(buf, 0xffffffff) made the host allocate and
    // fill 4 GB before finding that the guest's memory cannot hold them.
    let mut wat = Wat::new();
    let huge = wat.bytes(b"huge");
    let fits = wat.bytes(b"fits");
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    wat.func(&format!(
        "(func (export \"proxy_on_request_headers\") (param i32 i32 i32) (result i32)
           (call $record {huge} (call $random_get (i32.const 60000) (i32.const -1)))
           (call $record {fits} (call $random_get (i32.const 60000) (i32.const 16)))
           (i32.const 0))"
    ));
    let mut proxy = start(&wat.module(), FailurePolicy::FailClosed, BTreeMap::new());
    let before = peak_rss_mb();
    let outcome = proxy.workers_mut()[0].handle(request("/"), &mut |_: &Headers, _: &[u8]| ok());
    assert_eq!(outcome.response.status, 200);
    assert_eq!(recorded(&proxy, "huge"), Some(28), "EINVAL");
    assert_eq!(recorded(&proxy, "fits"), Some(0));
    let grown = peak_rss_mb().saturating_sub(before);
    assert!(grown < 512, "the peak RSS grew by {grown} MB");
}

#[test]
fn host_calls_answer_the_statuses_envoy_answers() {
    let mut wat = Wat::new();
    let key_x = wat.bytes(b"x");
    let absent = wat.bytes(b"absent");
    let cluster = wat.bytes(b"no-such-cluster");
    let call_headers = wat.bytes(&pairs(&[(":method", "GET"), (":path", "/"), (":authority", "a")]));
    let no_path = wat.bytes(&pairs(&[(":method", "GET"), (":authority", "a")]));
    let known = wat.bytes(b"known");
    let empty = wat.bytes(b"");
    let mut keys = Vec::new();
    for name in [
        "resp_in_req",
        "absent_key",
        "bad_map",
        "unknown_cluster",
        "grpc",
        "dead_context",
        "trailers_in_log",
        "no_path",
    ] {
        keys.push(wat.bytes(name.as_bytes()));
    }
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    wat.func(&format!(
        "(func (export \"proxy_on_request_headers\") (param i32 i32 i32) (result i32)
           (call $record {k0} (call $get_header (i32.const 2) {key_x} (i32.const 50000) (i32.const 50004)))
           (call $record {k1} (call $get_header (i32.const 0) {absent} (i32.const 50000) (i32.const 50004)))
           (call $record {k2} (call $get_header (i32.const 9) {key_x} (i32.const 50000) (i32.const 50004)))
           (call $record {k3} (call $http_call {cluster} {call_headers} {empty} {empty} (i32.const 100) (i32.const 50000)))
           (call $record {k4} (call $grpc_call {cluster} {known} {known} {empty} {empty} (i32.const 100) (i32.const 50000)))
           (call $record {k5} (call $set_effective (i32.const 999)))
           (call $record {k7} (call $http_call {known} {no_path} {empty} {empty} (i32.const 100) (i32.const 50000)))
           (i32.const 0))",
        k0 = keys[0], k1 = keys[1], k2 = keys[2], k3 = keys[3], k4 = keys[4], k5 = keys[5], k7 = keys[7]
    ));
    wat.func(&format!(
        "(func (export \"proxy_on_log\") (param i32)
           (call $record {k6} (call $get_header (i32.const 1) {key_x} (i32.const 50000) (i32.const 50004))))",
        k6 = keys[6]
    ));
    let mut clusters = BTreeMap::new();
    clusters.insert("known".to_owned(), SocketAddr::from(([127, 0, 0, 1], 9)));
    let mut proxy = start(&wat.module(), FailurePolicy::FailClosed, clusters);
    let outcome = proxy.workers_mut()[0].handle(request("/"), &mut |_: &Headers, _: &[u8]| ok());
    assert_eq!(outcome.failure, None);
    let expected = [
        ("resp_in_req", 2, "a map not available in this callback is BadArgument"),
        ("absent_key", 1, "a missing header is NotFound"),
        ("bad_map", 2, "an unknown map type is BadArgument"),
        ("unknown_cluster", 2, "an unknown cluster is BadArgument"),
        ("grpc", 4, "a gRPC call to an unknown cluster is ParseFailure (Context::grpcCall)"),
        ("dead_context", 2, "set_effective_context on an unknown context is BadArgument"),
        ("trailers_in_log", 1, "an absent map in the log phase is NotFound"),
        ("no_path", 2, "a callout without :path is BadArgument"),
    ];
    for (key, status, why) in expected {
        assert_eq!(recorded(&proxy, key), Some(status), "{key}: {why}");
    }
}

fn trapping_module() -> FilterModule {
    let mut wat = Wat::new();
    let key = wat.bytes(b"trapped");
    let one = wat.bytes(b"1");
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    // Traps on the first request the process sees (shared data survives a VM reload).
    wat.func(&format!(
        "(func (export \"proxy_on_request_headers\") (param i32 i32 i32) (result i32)
           (if (i32.eq (call $get_shared {key} (i32.const 50000) (i32.const 50004) (i32.const 50008)) (i32.const 1))
             (then (drop (call $set_shared {key} {one} (i32.const 0))) unreachable))
           (i32.const 0))"
    ));
    wat.module()
}

#[test]
fn a_trap_fails_the_stream_as_the_failure_policy_says_and_the_host_keeps_serving() {
    let module = trapping_module();
    let cases = [
        (FailurePolicy::FailClosed, [503, 503, 503], [true, true, true]),
        (FailurePolicy::FailOpen, [200, 200, 200], [true, true, true]),
        (FailurePolicy::FailReload, [503, 200, 200], [true, false, false]),
    ];
    for (policy, statuses, failed) in cases {
        let mut proxy = start(&module, policy, BTreeMap::new());
        for n in 0..3 {
            let outcome = proxy.workers_mut()[0].handle(request("/"), &mut |_: &Headers, _: &[u8]| ok());
            assert_eq!(outcome.response.status, statuses[n], "{policy:?} request {n}");
            assert_eq!(outcome.failure.is_some(), failed[n], "{policy:?} request {n}: {:?}", outcome.failure);
            if statuses[n] == 503 {
                assert_eq!(outcome.local_reply.map(|r| r.details), Some("wasm_fail_stream".to_owned()));
            }
            if n == 0 {
                let reason = "wasm trap: wasm `unreachable` instruction executed";
                assert_eq!(
                    outcome.failure.as_deref(),
                    Some(reason),
                    "the trap itself, not wasmtime's backtrace header"
                );
            }
        }
        assert_eq!(proxy.workers_mut()[0].is_failed(), policy != FailurePolicy::FailReload, "{policy:?}");
    }
}

/// A one-shot HTTP/1.1 server on loopback: returns its address and the request it received.
fn one_shot_server(reply: &'static [u8]) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let mut received = Vec::new();
            let mut buf = [0u8; 1024];
            while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket.write_all(reply);
            let _ = tx.send(String::from_utf8_lossy(&received).into_owned());
        }
    });
    (addr, rx)
}

fn callout_module() -> FilterModule {
    let mut wat = Wat::new();
    let cluster = wat.bytes(b"control-plane");
    let headers =
        wat.bytes(&pairs(&[(":method", "GET"), (":path", "/ping?x=1"), (":authority", "cp.local"), ("x-token", "t")]));
    let empty = wat.bytes(b"");
    let status_key = wat.bytes(b":status");
    let k_dispatch = wat.bytes(b"dispatch");
    let k_headers = wat.bytes(b"headers");
    let k_body = wat.bytes(b"body");
    let k_status = wat.bytes(b"status_code");
    wat.func("(global $called (mut i32) (i32.const 0))");
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    wat.func("(func (export \"proxy_on_configure\") (param i32 i32) (result i32) (drop (call $set_tick (i32.const 5))) (i32.const 1))");
    wat.func(&format!(
        "(func (export \"proxy_on_tick\") (param i32)
           (if (i32.eqz (global.get $called)) (then
             (global.set $called (i32.const 1))
             (call $record {k_dispatch} (call $http_call {cluster} {headers} {empty} {empty} (i32.const 2000) (i32.const 50000))))))"
    ));
    wat.func(&format!(
        "(func (export \"proxy_on_http_call_response\") (param i32 i32 i32 i32 i32)
           (call $record {k_headers} (local.get 2))
           (call $record {k_body} (local.get 3))
           (call $record {k_status} (call $get_header (i32.const 6) {status_key} (i32.const 50000) (i32.const 50004)))
           (if (i32.eqz (i32.load (i32.const 50004))) (then) (else
             (drop (call $set_shared (i32.const 40000) (i32.const 6) (i32.load (i32.const 50000)) (i32.load (i32.const 50004)) (i32.const 0))))))"
    ));
    wat.data.push_str("  (data (i32.const 40000) \"status\")\n");
    wat.func("(func (export \"proxy_on_request_headers\") (param i32 i32 i32) (result i32) (i32.const 0))");
    wat.module()
}

fn run_until(proxy: &mut Proxy, key: &str) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        proxy.workers_mut()[0].run_for(Duration::from_millis(20));
        if let Some(value) = recorded(proxy, key) {
            return Some(value);
        }
    }
    None
}

#[test]
fn a_callout_reaches_the_loopback_cluster_and_answers_the_root_context() {
    let (addr, received) = one_shot_server(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nx-reply: yes\r\n\r\npong");
    let mut clusters = BTreeMap::new();
    clusters.insert("control-plane".to_owned(), addr);
    let mut proxy = start(&callout_module(), FailurePolicy::FailClosed, clusters);

    assert_eq!(run_until(&mut proxy, "body"), Some(4), "the response body size reaches on_http_call_response");
    assert_eq!(recorded(&proxy, "dispatch"), Some(0));
    assert_eq!(recorded(&proxy, "status_code"), Some(0));
    assert_eq!(proxy.shared_data(b"status").map(|(v, _)| v), Some(b"200".to_vec()), ":status of the response");
    assert!(recorded(&proxy, "headers").is_some_and(|n| n >= 3), ":status, content-length, x-reply");
    let request = received.recv_timeout(Duration::from_secs(5)).expect("the server saw the request");
    assert!(request.starts_with("GET /ping?x=1 HTTP/1.1\r\n"), "{request}");
    assert!(request.to_ascii_lowercase().contains("host: cp.local\r\n"), "{request}");
    assert!(request.contains("x-token: t\r\n"), "{request}");
}

#[test]
fn a_failed_callout_is_delivered_with_no_headers_as_envoy_does() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut clusters = BTreeMap::new();
    clusters.insert("control-plane".to_owned(), closed);
    let mut proxy = start(&callout_module(), FailurePolicy::FailClosed, clusters);
    assert_eq!(run_until(&mut proxy, "headers"), Some(0));
    assert_eq!(recorded(&proxy, "body"), Some(0));
    assert_eq!(recorded(&proxy, "status_code"), Some(1), "no :status in a failed callout");
}

#[test]
fn modules_that_envoy_would_refuse_are_refused() {
    let no_abi = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "proxy_on_context_create") (param i32 i32)))"#,
    )
    .expect("wat");
    let foreign_import = wat::parse_str(
        r#"(module (import "env" "not_part_of_the_abi" (func (param i32)))
             (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1"))
             (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
             (func (export "proxy_on_context_create") (param i32 i32)))"#,
    )
    .expect("wat");
    for (bytes, needle) in [
        (&b"not wasm"[..], "invalid proxy-wasm module"),
        (&no_abi[..], "proxy_abi_version_0_2_1"),
        (&foreign_import[..], "env.not_part_of_the_abi"),
    ] {
        match FilterModule::from_bytes(bytes) {
            Err(error @ HostError::InvalidModule { .. }) => assert!(error.to_string().contains(needle), "{error}"),
            other => panic!("expected an invalid module mentioning {needle}, got {other:?}"),
        }
    }
}

#[test]
fn a_rejected_configuration_refuses_the_plugin_with_the_filters_log() {
    let mut wat = Wat::new();
    let message = wat.bytes(b"bad field `mode`");
    wat.func("(func (export \"proxy_on_context_create\") (param i32 i32))");
    wat.func(&format!(
        "(func (export \"proxy_on_configure\") (param i32 i32) (result i32) (drop (call $log (i32.const 4) {message})) (i32.const 0))"
    ));
    let plugin = PluginConfig::default();
    match Proxy::start(&wat.module(), plugin, ProxyConfig { workers: 2, ..ProxyConfig::default() }) {
        Err(HostError::ConfigurationRejected { worker, logs }) => {
            assert_eq!(worker, 0);
            assert_eq!(logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["bad field `mode`"]);
        }
        other => panic!("expected a rejected configuration, got {other:?}"),
    }
}
