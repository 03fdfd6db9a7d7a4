//! `acgs-tracing dry-run` with everything a request line and the command line can say: the
//! upstream's answer, the connection's properties, ticks and time, node metadata, clusters for
//! callouts, raw plugin configuration, bodies in the output, and a trapped filter (its reason in
//! the verdict, exit 1). Filters: ours, a probe module that reports what it sees as request
//! headers, and the SDK-built gRPC callout test filter against the real control plane.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use prost::Message as _;

fn acgs_tracing(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("requests written");
    child.wait_with_output().expect("the binary exits")
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-dry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file");
    path
}

fn verdicts(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn strings(values: &[&str]) -> serde_json::Value {
    serde_json::json!(values)
}

#[test]
fn a_line_gives_the_upstreams_answer_and_the_bodies_are_printed() {
    let line = r#"{"method":"POST","path":"/v1/policies/7","headers":{"constitutional-hash":"cdd01ef066bc6cf2"},"body":"{\"q\":1}","upstream":{"status":201,"headers":[["content-type","application/json"],["x-up","1"]],"body":"{\"id\":7}","trailers":{"x-checksum":"abc"}}}
{"path":"/v1/policies/7","upstream_status":503}
"#;
    let output = acgs_tracing(&["dry-run", "--format", "json"], line);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let verdicts = verdicts(&output);
    let forwarded = &verdicts[0];
    assert_eq!(forwarded["status"], 201);
    assert_eq!(forwarded["local_reply"], false);
    assert_eq!(forwarded["forwarded_body"], "{\"q\":1}");
    assert_eq!(forwarded["response_body"], "{\"id\":7}");
    assert_eq!(forwarded["response_trailers"], strings(&["x-checksum: abc"]));
    assert_eq!(forwarded["response_headers_set"], strings(&["constitutional-hash: cdd01ef066bc6cf2"]));
    assert_eq!(forwarded["failure"], serde_json::Value::Null);
    let rejected = &verdicts[1];
    assert_eq!(rejected["status"], 403);
    assert_eq!(rejected["local_reply"], true);
    assert_eq!(rejected["forwarded_body"], serde_json::Value::Null);
    assert_eq!(
        rejected["response_body"],
        r#"{"error":"constitutional_hash_invalid","status":"missing","expected_hash":"cdd01ef066bc6cf2"}"#
    );
    // A local reply's headers are all set by the proxy: the filter's, then Envoy's length.
    assert_eq!(
        rejected["response_headers_set"],
        strings(&[
            "content-type: application/json",
            "x-acgs-hash-status: missing",
            "content-length: 93",
            "constitutional-hash: cdd01ef066bc6cf2",
        ])
    );

    let table = acgs_tracing(&["dry-run"], line);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("→ {\"q\":1}") && text.contains("← {\"id\":7}"), "{text}");
    assert!(text.contains("(trailer) x-checksum: abc") && text.contains("403 (local reply)"), "{text}");
}

/// A filter that reports what it sees as request headers: its raw plugin configuration
/// (`x-config`), node metadata WORKLOAD_NAME and TEAM (`x-workload`, `x-team`), `source.address`
/// (`x-source`), the peer certificate's URI SAN (`x-peer`), and how many ticks it has had
/// (`x-ticks`, one digit; its tick period is one second).
fn probe_filter() -> PathBuf {
    let mut data = String::new();
    let mut next = 16u32;
    let mut place = |bytes: &[u8]| {
        let at = next;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        data.push_str(&format!("  (data (i32.const {at}) \"{escaped}\")\n"));
        next += u32::try_from(bytes.len()).expect("small") + 1;
        format!("(i32.const {at}) (i32.const {})", bytes.len())
    };
    let headers = [
        ("x-workload", &b"xds\0node\0metadata\0WORKLOAD_NAME"[..]),
        ("x-team", &b"xds\0node\0metadata\0TEAM"[..]),
        ("x-source", &b"source\0address"[..]),
        ("x-peer", &b"connection\0uri_san_peer_certificate"[..]),
    ];
    let mut reports = String::new();
    for (name, path) in headers {
        reports.push_str(&format!("    (call $report {} {})\n", place(name.as_bytes()), place(path)));
    }
    let config_header = place(b"x-config");
    let ticks_header = place(b"x-ticks");
    let text = format!(
        r#"(module
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $set_tick (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $ticks (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
{data}
  ;; report(name, path): the property at path as request header name, when there is one.
  (func $report (param $n i32) (param $nl i32) (param $p i32) (param $pl i32)
    (i32.store (i32.const 50004) (i32.const 0))
    (if (i32.eqz (call $get_property (local.get $p) (local.get $pl) (i32.const 50000) (i32.const 50004)))
      (then (drop (call $add_header (i32.const 0) (local.get $n) (local.get $nl)
        (i32.load (i32.const 50000)) (i32.load (i32.const 50004)))))))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (local.get 1) (i32.const 40000) (i32.const 40004)))
    (drop (call $set_tick (i32.const 1000)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32) (global.set $ticks (i32.add (global.get $ticks) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_header (i32.const 0) {config_header} (i32.load (i32.const 40000)) (i32.load (i32.const 40004))))
{reports}    (i32.store8 (i32.const 40010) (i32.add (i32.const 48) (global.get $ticks)))
    (drop (call $add_header (i32.const 0) {ticks_header} (i32.const 40010) (i32.const 1)))
    (i32.const 0)))"#
    );
    let wasm = wat::parse_str(&text).unwrap_or_else(|e| panic!("probe module: {e}\n{text}"));
    temp_file("probe.wasm", &wasm)
}

#[test]
fn node_metadata_properties_raw_configuration_ticks_and_time_reach_the_filter() {
    let probe = probe_filter();
    let config = temp_file("probe.conf", b"{ not json; mode=raw }");
    let lines = r#"{"path":"/a","source_address":"10.1.2.3:5555","peer_principal":"spiffe://cluster.local/ns/a/sa/b","ticks":2}
{"path":"/b","ticks":1}
{"path":"/c","advance_ms":2500}
"#;
    let args = [
        "dry-run",
        "--wasm",
        probe.to_str().expect("utf-8 path"),
        "--config-raw",
        config.to_str().expect("utf-8 path"),
        "--node-metadata",
        "TEAM=payments",
        "--node-metadata",
        "WORKLOAD_NAME=orders",
        "--format",
        "json",
    ];
    let output = acgs_tracing(&args, lines);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let verdicts = verdicts(&output);
    // What the probe set (the connection manager's generated x-request-id aside).
    let reported = |verdict: &serde_json::Value| {
        let set = verdict["request_headers_set"].as_array().cloned().unwrap_or_default();
        serde_json::Value::Array(
            set.into_iter()
                .filter(|header| !header.as_str().is_some_and(|h| h.starts_with("x-request-id: ")))
                .collect(),
        )
    };
    assert_eq!(
        reported(&verdicts[0]),
        strings(&[
            "x-config: { not json; mode=raw }",
            "x-workload: orders",
            "x-team: payments",
            "x-source: 10.1.2.3:5555",
            "x-peer: spiffe://cluster.local/ns/a/sa/b",
            "x-ticks: 2",
        ])
    );
    assert_eq!(verdicts[0]["ticks_fired"], 2);
    assert_eq!(
        reported(&verdicts[1]),
        strings(&[
            "x-config: { not json; mode=raw }",
            "x-workload: orders",
            "x-team: payments",
            "x-source: 127.0.0.1:40000",
            "x-ticks: 3",
        ]),
        "the default source address; no peer certificate"
    );
    // 2.5 s of the sidecar's time: its one-second timer fires twice.
    assert_eq!(reported(&verdicts[2]).as_array().and_then(|set| set.last()).cloned(), Some("x-ticks: 5".into()));
}

fn grpc_filter() -> PathBuf {
    temp_file("grpc_callout_filter.wasm", acgs_filter_artifacts::GRPC_CALLOUT_FILTER_WASM)
}

#[test]
fn an_sdk_filter_calls_the_control_plane_over_grpc_through_a_cluster_flag() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = acgs_control_plane::server::ServerConfig {
        grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..acgs_control_plane::server::ServerConfig::loopback(None)
    };
    let server = runtime.block_on(acgs_control_plane::server::start(config)).expect("control plane");
    let grpc = server.grpc_addr.expect("gRPC listening");
    let request = acgs_proto::jaeger::api_v2::SamplingStrategyParameters { service_name: "health-check".to_owned() };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let configuration = format!(
        "cluster=sampling\nservice=jaeger.api_v2.SamplingManager\nmethod=GetSamplingStrategy\nmessage_hex={}\n",
        hex(&request.encode_to_vec())
    );
    let config = temp_file("grpc.conf", configuration.as_bytes());
    let expected = hex(&server.store.current().expect("strategies").lookup("health-check").response.encode_to_vec());
    let cluster = format!("sampling={grpc}");
    let filter = grpc_filter();
    let args = [
        "dry-run",
        "--wasm",
        filter.to_str().expect("utf-8 path"),
        "--config-raw",
        config.to_str().expect("utf-8 path"),
        "--cluster",
        &cluster,
        "--format",
        "json",
    ];
    let output = acgs_tracing(&args, "{\"path\":\"/a\"}\n");
    runtime.block_on(server.shutdown());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let verdict = &verdicts(&output)[0];
    let set: Vec<String> = verdict["request_headers_set"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|header| header.as_str().filter(|h| h.starts_with("x-grpc-")).map(str::to_owned))
        .collect();
    assert_eq!(set, [format!("x-grpc-response: {expected}"), "x-grpc-status: 0".to_owned()]);
}

#[test]
fn a_trapped_filter_has_its_reason_in_the_verdict_and_fails_the_run() {
    // A GrpcService-shaped target without envoy_grpc is BadArgument, on which the SDK panics.
    let config = temp_file("trap.conf", b"cluster=hh\nservice=s\nmethod=m\n");
    let filter = grpc_filter();
    let args = [
        "dry-run",
        "--wasm",
        filter.to_str().expect("utf-8 path"),
        "--config-raw",
        config.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ];
    let output = acgs_tracing(&args, "{\"path\":\"/a\"}\n{\"path\":\"/b\"}\n");
    assert_eq!(output.status.code(), Some(1), "a trap fails the run");
    let verdicts = verdicts(&output);
    let trap = "unexpected status: 2 (wasm trap: wasm `unreachable` instruction executed)";
    for verdict in &verdicts {
        assert_eq!(verdict["status"], 503);
        assert_eq!(verdict["response_code_details"], "wasm_fail_stream");
        let failure = verdict["failure"].as_str().expect("the reason");
        assert!(failure.starts_with("panicked at ") && failure.ends_with(trap), "{failure}");
    }
    let logs = verdicts[0]["logs"].as_array().expect("logs");
    assert!(logs[0].as_str().is_some_and(|log| log.starts_with("critical: panicked at ")), "{logs:?}");
    assert_eq!(verdicts[1]["logs"], serde_json::json!([]), "the failed VM runs nothing more");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: the filter's VM failed"), "{stderr}");
}

#[test]
fn bad_lines_and_bad_flags_are_refused_with_their_reason() {
    let lines = r#"{"path":"/a","upstream":{"status":200},"upstream_status":200}
{"path":"/a","upstream":{"status":1000}}
{"path":"/a","upstream":{"stauts":200}}
{"path":"/a","headers":{":path":"/b"}}
{"path":"/a","headers":[["x"]]}
{"path":"/a","source_address":"somewhere"}
{"path":"/a"}
"#;
    let output = acgs_tracing(&["dry-run", "--format", "json"], lines);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(verdicts(&output).len(), 1, "the good line still runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error: - line ")).collect();
    assert_eq!(errors.len(), 6, "{stderr}");
    let expected = [
        "line 1: give either `upstream` or `upstream_status`, not both",
        "line 2: upstream status 1000 is not an HTTP status (100-999)",
        "line 3: unknown field `stauts`",
        "line 4: header name \":path\"",
        "line 5: invalid length 1, expected a tuple of size 2",
        "line 6: invalid socket address syntax",
    ];
    for (error, fragment) in errors.iter().zip(expected) {
        assert!(error.contains(fragment), "{error} should contain {fragment}");
    }

    for (flag, value) in [("--cluster", "no-address"), ("--cluster", "x=nowhere"), ("--node-metadata", "novalue")] {
        let output = acgs_tracing(&["dry-run", flag, value], "");
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(value), "{flag} {value}");
    }
    let both = acgs_tracing(&["dry-run", "--config-json", "{}", "--config-raw", "/dev/null"], "");
    assert_eq!(both.status.code(), Some(2), "one configuration source");
    let missing = acgs_tracing(&["dry-run", "--config-raw", "/nonexistent/plugin.conf"], "");
    assert_eq!(missing.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/plugin.conf"));
}
