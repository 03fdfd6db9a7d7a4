//! Local replies and the codec's request limits as a filter sees them in the host, checked with
//! a small hand-written proxy-wasm module (WAT) that records what its callbacks see: the exact
//! header list `on_response_headers` gets for a local reply (Envoy's
//! `Http::Utility::prepareLocalReply`, source/common/http/utility.cc, fed by the Wasm context's
//! `sendLocalResponse` in source/extensions/common/wasm/context.cc), the trailers-only reply to
//! a gRPC request, and the 431 of `max_request_headers_kb` / `max_headers_count`
//! (source/common/http/http1/codec_impl.cc, balsa_parser.cc) with only the access-log callbacks.

use std::net::SocketAddr;
use std::time::Duration;

use acgs_wasm_host::{
    FailurePolicy, FilterModule, Headers, HostError, HttpRequest, HttpResponse, PluginConfig, Proxy, ProxyConfig,
};

/// Data segments for a module, laid out from offset 16.
struct Data {
    next: u32,
    segments: String,
}

impl Data {
    fn new() -> Self {
        Self { next: 16, segments: String::new() }
    }

    /// Places bytes in memory; returns "ptr len" for a call's arguments.
    fn bytes(&mut self, bytes: &[u8]) -> String {
        let at = self.next;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        self.segments.push_str(&format!("  (data (i32.const {at}) \"{escaped}\")\n"));
        self.next += u32::try_from(bytes.len()).expect("small") + 1;
        format!("(i32.const {at}) (i32.const {})", bytes.len())
    }
}

/// Header pairs serialised as the ABI wants them.
fn pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = u32::try_from(pairs.len()).expect("small").to_le_bytes().to_vec();
    for (k, v) in pairs {
        bytes.extend_from_slice(&u32::try_from(k.len()).expect("small").to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(v.len()).expect("small").to_le_bytes());
    }
    for (k, v) in pairs {
        bytes.extend_from_slice(k.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(v.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The pairs back from their serialisation.
fn parse_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
    let count = word(0);
    let mut data = 4 + count * 8;
    let mut out = Vec::new();
    for index in 0..count {
        let (key_len, value_len) = (word(4 + index * 8), word(8 + index * 8));
        let key = String::from_utf8_lossy(&bytes[data..data + key_len]).into_owned();
        data += key_len + 1;
        let value = String::from_utf8_lossy(&bytes[data..data + value_len]).into_owned();
        data += value_len + 1;
        out.push((key, value));
    }
    out
}

/// A filter that answers every request with a local reply (status 403, body `denied`, headers
/// `x-b: 2`, `X-A: 1`, `content-type: application/problem+json` when asked, the given gRPC
/// status), records the response headers `on_response_headers` sees under shared-data key
/// `seen`, and logs each stream callback; its `on_log` records the status of reading `:path`
/// (key `log_path`) and the `:status` it sees (key `log_status`).
fn replying_module(grpc_status: i32, filter_content_type: bool) -> FilterModule {
    let mut data = Data::new();
    let details = data.bytes(b"filter said no");
    let body = data.bytes(b"denied");
    let mut reply_headers = vec![("x-b", "2"), ("X-A", "1")];
    if filter_content_type {
        reply_headers.push(("content-type", "application/problem+json"));
    }
    let headers = data.bytes(&pairs(&reply_headers));
    let seen = data.bytes(b"seen");
    let log_path = data.bytes(b"log_path");
    let log_status = data.bytes(b"log_status");
    let path = data.bytes(b":path");
    let status = data.bytes(b":status");
    let mut names = Vec::new();
    for name in ["on_context_create", "on_request_headers", "on_response_headers", "on_log", "on_done", "on_delete"] {
        names.push(data.bytes(name.as_bytes()));
    }
    let text = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local_reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $get_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
{segments}
  (func (export "proxy_on_context_create") (param i32 i32)
    (if (i32.ne (local.get 0) (i32.const 1)) (then (drop (call $log (i32.const 2) {n0})))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) {n1}))
    (drop (call $local_reply (i32.const 403) {details} {body} {headers} (i32.const {grpc_status})))
    (i32.const 1))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) {n2}))
    (drop (call $get_pairs (i32.const 2) (i32.const 50000) (i32.const 50004)))
    (drop (call $set_shared {seen} (i32.load (i32.const 50000)) (i32.load (i32.const 50004)) (i32.const 0)))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (drop (call $log (i32.const 2) {n3}))
    (i32.store (i32.const 50008) (call $get_header (i32.const 0) {path} (i32.const 50000) (i32.const 50004)))
    (drop (call $set_shared {log_path} (i32.const 50008) (i32.const 4) (i32.const 0)))
    (drop (call $get_header (i32.const 2) {status} (i32.const 50000) (i32.const 50004)))
    (drop (call $set_shared {log_status} (i32.load (i32.const 50000)) (i32.load (i32.const 50004)) (i32.const 0))))
  (func (export "proxy_on_done") (param i32) (result i32) (drop (call $log (i32.const 2) {n4})) (i32.const 1))
  (func (export "proxy_on_delete") (param i32) (drop (call $log (i32.const 2) {n5}))))"#,
        segments = data.segments,
        n0 = names[0],
        n1 = names[1],
        n2 = names[2],
        n3 = names[3],
        n4 = names[4],
        n5 = names[5],
    );
    let wasm = wat::parse_str(&text).unwrap_or_else(|e| panic!("test module: {e}\n{text}"));
    FilterModule::from_bytes(&wasm).expect("the test module loads")
}

fn start(module: &FilterModule, config: ProxyConfig) -> Proxy {
    let plugin =
        PluginConfig { name: "test".to_owned(), failure_policy: FailurePolicy::FailClosed, ..PluginConfig::default() };
    Proxy::start(module, plugin, ProxyConfig { stream_timeout: Duration::from_secs(2), ..config })
        .expect("proxy starts")
}

fn request(headers: &[(&str, &str)]) -> HttpRequest {
    let mut map =
        Headers::from_pairs([(":method", "GET"), (":path", "/p"), (":authority", "svc"), (":scheme", "http")]);
    for (name, value) in headers {
        map.push(name, value);
    }
    HttpRequest {
        headers: map,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

fn never_called(_: &Headers, _: &[u8]) -> HttpResponse {
    panic!("a local reply never reaches the upstream")
}

fn seen(proxy: &Proxy) -> Vec<(String, String)> {
    proxy.shared_data(b"seen").map(|(bytes, _)| parse_pairs(&bytes)).unwrap_or_default()
}

fn pairs_of(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

fn logged(proxy: &mut Proxy) -> Vec<String> {
    proxy.workers_mut()[0].take_logs().into_iter().map(|record| record.message).collect()
}

#[test]
fn on_response_headers_sees_a_local_reply_in_envoys_order() {
    let mut proxy = start(&replying_module(-1, false), ProxyConfig::default());
    let outcome = proxy.workers_mut()[0].handle(request(&[]), &mut never_called);
    let expected =
        [(":status", "403"), ("x-b", "2"), ("x-a", "1"), ("content-length", "6"), ("content-type", "text/plain")];
    assert_eq!(seen(&proxy), pairs_of(&expected));
    assert_eq!(outcome.response.status, 403);
    assert_eq!(outcome.response.body, b"denied");
    assert_eq!(outcome.local_reply.map(|reply| reply.details), Some("filter_said_no".to_owned()));

    let mut proxy = start(&replying_module(-1, true), ProxyConfig::default());
    proxy.workers_mut()[0].handle(request(&[]), &mut never_called);
    let expected = [
        (":status", "403"),
        ("x-b", "2"),
        ("x-a", "1"),
        ("content-type", "application/problem+json"),
        ("content-length", "6"),
    ];
    assert_eq!(seen(&proxy), pairs_of(&expected), "the filter's content-type stays where it added it");
}

#[test]
fn a_grpc_request_gets_a_trailers_only_local_reply() {
    let mut proxy = start(&replying_module(10, false), ProxyConfig::default());
    let grpc = request(&[("content-type", "application/grpc")]);
    let outcome = proxy.workers_mut()[0].handle(grpc, &mut never_called);
    let expected = [
        (":status", "200"),
        ("x-b", "2"),
        ("x-a", "1"),
        ("content-type", "application/grpc"),
        ("grpc-status", "10"),
        ("grpc-message", "denied"),
    ];
    assert_eq!(seen(&proxy), pairs_of(&expected));
    assert_eq!(outcome.response.status, 200);
    assert!(outcome.response.body.is_empty(), "trailers-only: no body");

    // Without a gRPC status from the filter, the HTTP code's mapping (403 → PermissionDenied).
    let mut proxy = start(&replying_module(-1, false), ProxyConfig::default());
    proxy.workers_mut()[0].handle(request(&[("content-type", "application/grpc")]), &mut never_called);
    assert!(seen(&proxy).contains(&("grpc-status".to_owned(), "7".to_owned())), "{:?}", seen(&proxy));
}

#[test]
fn the_header_count_limit_refuses_one_past_it_before_any_request_callback() {
    let config = ProxyConfig { max_headers_count: 3, ..ProxyConfig::default() };
    let mut proxy = start(&replying_module(-1, false), config);
    logged(&mut proxy);
    // host + 2 more headers = 3: within the limit, the filter runs.
    let outcome = proxy.workers_mut()[0].handle(request(&[("a", "1"), ("b", "2")]), &mut never_called);
    assert_eq!(outcome.response.status, 403);
    assert_eq!(logged(&mut proxy)[..2], ["on_context_create", "on_request_headers"]);

    let refused = proxy.workers_mut()[0].handle(request(&[("a", "1"), ("b", "2"), ("c", "3")]), &mut never_called);
    assert_eq!(refused.response.status, 431);
    assert_eq!(refused.response.body, b"Request Header Fields Too Large");
    assert_eq!(
        refused.response.headers,
        Headers::from_pairs([("content-length", "31"), ("content-type", "text/plain")])
    );
    assert_eq!(refused.local_reply.map(|reply| reply.details), Some("http1.too_many_headers".to_owned()));
    assert!(refused.forwarded.is_none());
    assert_eq!(
        logged(&mut proxy),
        ["on_context_create", "on_log", "on_done", "on_delete"],
        "only the access-log callbacks run (Context::log creates the context)"
    );
    let log_path = proxy.shared_data(b"log_path").map(|(value, _)| value);
    assert_eq!(log_path, Some(1u32.to_le_bytes().to_vec()), "no request headers in the log phase: NotFound");
    assert_eq!(proxy.shared_data(b"log_status").map(|(value, _)| value), Some(b"431".to_vec()));
}

#[test]
fn the_header_size_limit_refuses_one_byte_past_it() {
    let config = ProxyConfig { max_request_headers_kb: 1, ..ProxyConfig::default() };
    let mut proxy = start(&replying_module(-1, false), config);
    // "GET /p HTTP/1.1\r\n" (17) + "host: svc\r\n" (11) + "x: …\r\n" (5 + n) + "\r\n" (2) = 1024.
    let at_limit = "v".repeat(1024 - 17 - 11 - 5 - 2);
    let outcome = proxy.workers_mut()[0].handle(request(&[("x", &at_limit)]), &mut never_called);
    assert_eq!(outcome.response.status, 403, "at the limit the filter runs");
    let past = format!("{at_limit}v");
    let refused = proxy.workers_mut()[0].handle(request(&[("x", &past)]), &mut never_called);
    assert_eq!(refused.response.status, 431);
    assert_eq!(refused.local_reply.map(|reply| reply.details), Some("http1.headers_too_large".to_owned()));

    let defaults = ProxyConfig::default();
    assert_eq!((defaults.max_request_headers_kb, defaults.max_headers_count), (60, 100), "Envoy's defaults");
}

#[test]
fn limits_envoy_would_not_accept_refuse_the_proxy() {
    let module = replying_module(-1, false);
    for (config, needle) in [
        (ProxyConfig { max_request_headers_kb: 0, ..ProxyConfig::default() }, "max_request_headers_kb"),
        (ProxyConfig { max_request_headers_kb: 8193, ..ProxyConfig::default() }, "max_request_headers_kb"),
        (ProxyConfig { max_headers_count: 0, ..ProxyConfig::default() }, "max_headers_count"),
    ] {
        match Proxy::start(&module, PluginConfig::default(), config) {
            Err(error @ HostError::InvalidProxyConfig { .. }) => assert!(error.to_string().contains(needle), "{error}"),
            other => panic!("expected an invalid proxy configuration naming {needle}, got {other:?}"),
        }
    }
    let largest = ProxyConfig { max_request_headers_kb: 8192, max_headers_count: 1, ..ProxyConfig::default() };
    assert!(Proxy::start(&module, PluginConfig::default(), largest).is_ok());
}
