//! The `acgs-tracing` binary as an operator runs it: dry-run over a JSONL file (verdicts, bad
//! lines, bad configuration, exit codes), the demo's checks, and the benches' JSON reports.

use std::io::Write as _;
use std::process::{Command, Output};

fn acgs_tracing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acgs-tracing")).args(args).output().expect("the binary runs")
}

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("acgs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(contents.as_bytes())).expect("temp file");
    path
}

const REQUESTS: &str = r#"{"method":"GET","path":"/v1/policies/7","headers":{"constitutional-hash":"cdd01ef066bc6cf2"}}
{"method":"GET","path":"/v1/policies/7"}
{"path":"/v1/policies/7","headers":{"constitutional-hash":"forged"}}
{"path":"/healthz"}
"#;

use serde_json::json;

#[test]
fn dry_run_prints_one_verdict_per_request_as_json() {
    let file = temp_file("requests.jsonl", REQUESTS);
    let output = acgs_tracing(&["dry-run", "-r", file.to_str().expect("utf-8 path"), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let verdicts: Vec<(u64, &str, bool)> = lines
        .iter()
        .map(|v| {
            (
                v["status"].as_u64().expect("status"),
                v["hash_status"].as_str().expect("hash status"),
                v["local_reply"].as_bool().expect("bool"),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [(200, "valid", false), (403, "missing", true), (403, "mismatch", true), (200, "exempt", false)]
    );
    assert!(lines[0]["request_headers_set"].as_array().expect("list").iter().any(|h| h == "x-acgs-hash-status: valid"));
    assert_eq!(lines[0]["response_headers_set"], serde_json::json!(["constitutional-hash: cdd01ef066bc6cf2"]));
    assert_eq!((&lines[0]["sampled"], &lines[0]["sampling_rule"]), (&json!(true), &json!("probabilistic(1)@dry-run")));
    assert_eq!((&lines[1]["sampled"], &lines[1]["sampling_rule"]), (&json!(null), &json!(null)), "not forwarded");
}

#[test]
fn dry_run_reports_bad_lines_by_number_and_keeps_the_good_ones() {
    let file =
        temp_file("mixed.jsonl", "{\"path\":\"/healthz\"}\nnot json\n{\"method\":\"GET\"}\n{\"path\":\"/healthz\"}\n");
    let output = acgs_tracing(&["dry-run", "-r", file.to_str().expect("utf-8 path"), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "bad input lines fail the run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2, "both good lines still get their verdict");
}

#[test]
fn dry_run_skips_a_line_that_is_not_utf8_and_keeps_the_others() {
    let file = temp_file("latin1.jsonl", "");
    let mut bytes = b"{\"path\":\"/healthz\"}\n{\"path\":\"/caf".to_vec();
    bytes.extend_from_slice(b"\xe9\"}\n{\"path\":\"/healthz\"}\n");
    std::fs::write(&file, bytes).expect("write");
    let output = acgs_tracing(&["dry-run", "-r", file.to_str().expect("utf-8 path"), "--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a bad line fails the run, as any bad line does: {stderr}");
    assert!(stderr.contains("latin1.jsonl line 2: not UTF-8 (invalid byte at column 14)"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2, "lines 1 and 3 get their verdicts");
}

#[test]
fn dry_run_refuses_a_bad_configuration_naming_the_field() {
    let file = temp_file("one.jsonl", "{\"path\":\"/healthz\"}\n");
    let output =
        acgs_tracing(&["dry-run", "-r", file.to_str().expect("utf-8 path"), "--config-json", r#"{"mode":"enforce"}"#]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("field `mode`"), "{stderr}");
    let missing = acgs_tracing(&["dry-run", "-r", "/nonexistent/requests.jsonl"]);
    assert_eq!(missing.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/requests.jsonl"));
}

#[test]
fn demo_passes_its_own_checks() {
    let output = acgs_tracing(&["demo", "--requests", "2000"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for service in ["constitutional-core", "groqcloud-policy", "auth-service", "health-check"] {
        assert!(stdout.contains(service), "{service} in the summary");
    }
    assert!(stdout.contains("(0 wrong)"), "{stdout}");
    assert!(stdout.contains("filter VM applies it"), "the mid-run strategy change reaches the filters: {stdout}");
    assert!(stdout.contains("✓ groqcloud-policy after the change"), "{stdout}");
    assert!(stdout.contains("✓ control plane counted "), "{stdout}");
    for service in ["constitutional-core", "groqcloud-policy", "auth-service", "health-check"] {
        assert!(stdout.contains(&format!("✓ {service}: Envoy recorded ")), "{stdout}");
        assert!(stdout.contains(&format!("✓ {service}: the Collector kept exactly the ")), "{stdout}");
    }
    assert!(stdout.contains("✓ constitutional-core: all "), "constitutional traces for 30 days: {stdout}");
    assert!(stdout.contains("✓ no span dropped by the sidecars' tracers (0)"), "{stdout}");
    assert!(stdout.contains("✓ all four alerts fired during the faults"), "{stdout}");
    assert!(stdout.contains("✓ every alert resolved after the faults ended"), "{stdout}");
    assert!(stdout.contains("✓ the analysis found the forged hashes"), "{stdout}");
    let html = stdout.lines().find_map(|l| l.strip_prefix("HTML report: ")).expect("the HTML report's path");
    assert!(std::fs::read_to_string(html).is_ok_and(|page| page.contains("<svg")), "{html}");
    assert!(!stdout.contains('✗'), "{stdout}");
    // The story alone on the terminal: log lines go to a file the demo names, tables fit 120
    // columns when stdout is not a terminal.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "no log line cuts through the demo's story");
    let log =
        stdout.lines().find_map(|l| l.strip_prefix("The control plane's log lines are in ")).expect("the log file");
    let log = log.split(" (").next().expect("a path");
    assert!(std::fs::read_to_string(log).is_ok_and(|text| text.contains("alert firing")), "{log}");
    let widest_table_line = stdout.lines().filter(|l| l.starts_with(['┌', '│', '└'])).map(|l| l.chars().count()).max();
    assert!(widest_table_line.is_some_and(|width| width <= 120), "{widest_table_line:?}");
}

#[test]
fn demo_as_json_prints_one_object_with_every_check_and_tells_its_story_on_stderr() {
    let html = std::env::temp_dir().join(format!("acgs-demo-json-{}.html", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["demo", "--requests", "1000", "--format", "json", "--html"])
        .arg(&html)
        .output()
        .expect("the binary runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one line, the result: {stdout}");
    let result: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let checks = result["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 19, "{result}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{result}");
    assert_eq!((result["passed"].as_u64(), result["failed"].as_u64()), (Some(19), Some(0)));
    let requests = result["requests"].as_u64().expect("requests");
    let counted = format!("control plane counted {requests} of {requests} requests from the filters' telemetry");
    assert!(checks.iter().any(|c| c["check"] == counted.as_str()), "{result}");
    assert_eq!(result["html_report"], html.to_string_lossy().as_ref());
    assert!(std::fs::read_to_string(&html).is_ok_and(|page| page.contains("<svg")));
    // The story, for a person watching, on stderr; still no log line in it.
    assert!(stderr.starts_with("ACGS mesh tracing demo: control plane on "), "{stderr}");
    assert!(stderr.contains("✓ every alert resolved after the faults ended"), "{stderr}");
    assert!(!stderr.contains(" WARN ") && !stderr.contains(" INFO "), "{stderr}");
    let _ = std::fs::remove_file(&html);
}

#[test]
fn the_filter_bench_prints_its_report_as_json_on_the_last_line() {
    let output = acgs_tracing(&["bench", "filter", "--requests", "2000", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    for field in [
        "ours_ns_per_request",
        "noop_ns_per_request",
        "added_ns_per_request",
        "ratio",
        "wasm_bytes",
        "memory_growth_bytes",
    ] {
        assert!(report[field].is_number(), "{field} in {report}");
    }
    assert_eq!(report["requests"], 2000);
    assert!(report["ours_ns_per_request"].as_f64() > Some(0.0));
}

#[test]
fn the_sampling_bench_prints_its_report_as_json_on_the_last_line() {
    let output = acgs_tracing(&["bench", "sampling", "--seconds", "1", "--connections", "4", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    for field in ["ours_rps", "bare_rps", "ratio", "p99_ms", "lookup_ns_10", "lookup_ns_10k", "rss_mb_10k"] {
        assert!(report[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {report}");
    }
    assert_eq!(report["connections"], 4);
}

#[test]
fn the_ingest_bench_prints_its_report_as_json_on_the_last_line() {
    let output = acgs_tracing(&["bench", "ingest", "--seconds", "1", "--connections", "2", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    for field in ["records_per_s", "decode_records_per_s", "ratio"] {
        assert!(report[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {report}");
    }
    assert_eq!(report["records_per_batch"], 200);
    assert_eq!(report["refused_batches"], 0, "every batch is new and authenticated");
    assert!(report["overloaded_batches"].is_u64(), "503s (backpressure) are reported apart: {report}");
}

#[test]
fn the_soak_bench_runs_serve_as_a_child_measures_it_and_stops_it_cleanly() {
    let output = acgs_tracing(&[
        "bench",
        "soak",
        "--seconds",
        "8",
        "--batches-per-second",
        "20",
        "--sampling-connections",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["clean_shutdown"], true, "serve exits 0 on SIGTERM: {report}");
    assert!(report["requests"].as_u64().is_some_and(|n| n > 20), "{report}");
    // The server's own memory, read from /proc/<its pid>: a real figure, not this process's.
    assert!(report["rss_end_mb"].as_f64().is_some_and(|mb| mb > 1.0), "{report}");
    assert!(report["rss_slope_mb_per_min"].is_f64(), "{report}");
}

#[test]
fn the_pipeline_bench_keeps_exactly_the_strategy_with_and_without_head_sampling() {
    let output = acgs_tracing(&["bench", "pipeline", "--requests", "2000", "--rate", "0.25", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    let (record, head) = (&report["record_everything"], &report["head_sampling"]);
    assert_eq!(record["spans_per_request"], 7.0, "gateway ×2, each sidecar hop, two app spans");
    assert_eq!(record["gateway_percent"], 100.0);
    assert_eq!(head["gateway_percent"], 25.0);
    assert_eq!(record["kept_exactly_the_strategy"], true);
    assert_eq!(head["kept_exactly_the_strategy"], true);
    assert_eq!(record["kept_traces"], head["kept_traces"], "the same coin: the same requests kept");
    let ratio = report["ratio"].as_f64().expect("ratio");
    assert!(ratio > 0.15 && ratio < 0.35, "head sampling at 25 % sends about a quarter: {ratio}");
    assert_eq!(report["decision_wait_s"], 10.0);
    let bad = acgs_tracing(&["bench", "pipeline", "--rate", "1.5"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1.5 is not a probability in [0, 1]"));
}

#[test]
fn bad_arguments_exit_with_a_usage_error() {
    let output = acgs_tracing(&["demo", "--requests", "5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--requests"));
}

#[test]
fn validate_checks_a_strategies_file_offline() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/strategies/example.yaml");
    let output = acgs_tracing(&["validate", example]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid: 4 service strategies, default probabilistic 1"));
    let bad = temp_file(
        "bad-strategies.json",
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 2}]}"#,
    );
    let output = acgs_tracing(&["validate", bad.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("bad-strategies.json: service_strategies[0].param: probability 2 is outside [0, 1]"),
        "{stdout}"
    );
}

#[test]
fn validate_prints_its_verdict_as_json_for_scripts() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/strategies/example.yaml");
    let output = acgs_tracing(&["validate", example, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(verdict["kind"], "strategies");
    assert_eq!(verdict["valid"], true);
    assert_eq!(
        verdict["findings"],
        json!([{"level": "valid", "message": "valid: 4 service strategies, default probabilistic 1"}])
    );
    let bad = temp_file("bad-for-json.json", r#"{"default_strategy": {"type": "probabilistic", "param": -1}}"#);
    let output = acgs_tracing(&["validate", bad.to_str().expect("utf-8 path"), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["findings"][0]["level"], "invalid");
    let message = verdict["findings"][0]["message"].as_str().expect("a message");
    assert!(message.contains("default_strategy.param"), "{message}");
}

#[test]
fn verify_prints_its_checks_as_json_and_exits_1_when_one_fails() {
    // Every endpoint on a port that is bound but not listening: each check fails at once.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.bind("127.0.0.1:0".parse().expect("an address")).expect("bind");
    let url = format!("http://{}", socket.local_addr().expect("addr"));
    let output = acgs_tracing(&[
        "verify",
        "--control-plane-url",
        &url,
        "--collector-health-url",
        &url,
        "--jaeger-query-url",
        &url,
        "--elasticsearch-url",
        &url,
        "--timeout",
        "2s",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let checks = report["checks"].as_array().expect("checks");
    let failed = checks.iter().filter(|check| check["outcome"] == "fail").count();
    assert!(failed >= 4, "{report}");
    assert_eq!(report["failed"], failed);
    assert_eq!(report["passed"], 0);
    assert!(checks
        .iter()
        .all(|check| check["outcome"] != "fail" || check["remedy"].as_str().is_some_and(|r| !r.is_empty())));
}

#[test]
fn durations_take_units_everywhere_and_a_bare_number_is_refused_naming_the_flag() {
    let output = acgs_tracing(&["analyze", "--file", "traces.json", "--timeout", "5"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'--timeout <TIMEOUT>'") && stderr.contains("time unit needed"), "{stderr}");
}

#[test]
fn completions_name_every_subcommand() {
    let output = acgs_tracing(&["completions", "bash"]);
    assert_eq!(output.status.code(), Some(0));
    let script = String::from_utf8_lossy(&output.stdout);
    for command in
        ["analyze", "dry-run", "demo", "serve", "validate", "render", "deploy", "verify", "bench", "completions"]
    {
        assert!(script.contains(command), "{command} missing from the bash completions");
    }
    assert_eq!(acgs_tracing(&["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn completions_into_a_closed_pipe_exit_0_without_a_panic() {
    // As `acgs-tracing completions bash | head -1` ends: the reader is gone before the write.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["completions", "bash"])
        .stdout(writer)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serve_with_a_bad_strategies_file_exits_64_naming_the_field() {
    let bad = temp_file(
        "serve-bad-strategies.json",
        r#"{"service_strategies": [{"service": "a", "type": "ratelimiting", "param": -3}]}"#,
    );
    let output = acgs_tracing(&[
        "serve",
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--strategies",
        bad.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(output.status.code(), Some(64), "EX_USAGE, not a server that stays up unready");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("serve-bad-strategies.json: service_strategies[0].param: rate -3 is negative"), "{stderr}");
}

#[test]
fn serve_answers_on_its_ports_and_stops_cleanly_on_sigterm() {
    use std::io::Read as _;
    let (mut child, _stderr, http) = serve(&[]);
    let mut stream = std::net::TcpStream::connect(&http).expect("HTTP port open");
    stream.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
}

const EXPORT: &str = r#"{"data":[{"traceID":"0af7651916cd43dd8448eb211c80319c","spans":[
 {"traceID":"0af7651916cd43dd8448eb211c80319c","spanID":"00f067aa0ba902b7","operationName":"POST /v1/validate","references":[],
  "startTime":1700000000000000,"duration":1500,"processID":"p1",
  "tags":[{"key":"constitutional.hash.status","type":"string","value":"mismatch"},
          {"key":"http.response.status_code","type":"int64","value":403},
          {"key":"client.address","type":"string","value":"10.0.0.66:4000"},
          {"key":"http.request.header.cookie","type":"string","value":"session=SECRETCOOKIE"}]}],
 "processes":{"p1":{"serviceName":"constitutional-core","tags":[]}}}]}"#;

#[test]
fn analyze_reads_a_jaeger_export_and_writes_json_and_html() {
    let export = temp_file("export.json", EXPORT);
    let html = export.with_extension("html");
    let output = acgs_tracing(&[
        "analyze",
        "--file",
        export.to_str().unwrap_or_default(),
        "--format",
        "json",
        "--html",
        html.to_str().unwrap_or_default(),
        "--jaeger-ui",
        "http://jaeger.local:16686",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    // No progress bar into a pipe: stderr has only the line naming the page.
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("HTML report written to {}\n", html.display()));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON report");
    assert_eq!(report["summary"]["traces_analyzed"], 1);
    assert_eq!(report["summary"]["compliance_rate"], 0.0);
    let rules: Vec<&str> =
        report["findings"].as_array().expect("findings").iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(
        rules,
        vec![
            "ConstitutionalHashViolation",
            "ForgedConstitutionalHash",
            "SensitiveAttribute",
            "ConstitutionalComplianceRate"
        ]
    );
    assert_eq!(report["findings"][0]["evidence_trace_ids"][0], "0af7651916cd43dd8448eb211c80319c");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("SECRETCOOKIE"), "secret values are never printed");
    let page = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && !page.contains("SECRETCOOKIE"));
    assert!(page.contains("<a href=\"http://jaeger.local:16686/trace/0af7651916cd43dd8448eb211c80319c\">"), "{page}");
    // Wide enough that no cell wraps (tables wrap at $COLUMNS when stdout is not a terminal).
    let tables = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["analyze", "--file", export.to_str().unwrap_or_default()])
        .env("COLUMNS", "400")
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&tables.stdout);
    assert!(text.contains("ForgedConstitutionalHash") && text.contains("10.0.0.66"), "{text}");
}

#[test]
fn analyze_refuses_a_ca_file_it_cannot_use_naming_it() {
    let not_pem = temp_file("not-a-ca.pem", "hello");
    let cases = [
        ("/nonexistent/ca.pem".to_owned(), "--ca-file /nonexistent/ca.pem: No such file or directory"),
        (not_pem.display().to_string(), "no certificate in it (expected -----BEGIN CERTIFICATE-----)"),
    ];
    for (path, expected) in cases {
        let output = acgs_tracing(&["analyze", "--jaeger", "https://127.0.0.1:9", "--ca-file", &path]);
        assert_eq!(output.status.code(), Some(64), "{path}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected) && stderr.contains(&path), "{stderr}");
    }
}

#[test]
fn analyze_refuses_a_jaeger_ui_that_is_not_a_web_url() {
    for bad in ["jaeger.local:16686", "ftp://jaeger.local", "https://"] {
        let output = acgs_tracing(&["analyze", "--file", "x.json", "--jaeger-ui", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--jaeger-ui") && stderr.contains("is not an http:// or https:// URL"), "{stderr}");
    }
}

#[test]
fn analyze_reads_gzip_exports_by_their_magic_bytes() {
    use std::io::Write as _;
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("compress");
        encoder.finish().expect("compressed")
    };
    let compressed = gzip(EXPORT.as_bytes());
    // Named .json: the content decides, not the name.
    for name in ["export.json.gz", "compressed-export.json"] {
        let path = temp_file(name, "");
        std::fs::write(&path, &compressed).expect("write the export");
        let output = acgs_tracing(&["analyze", "--file", path.to_str().unwrap_or_default(), "--format", "json"]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON report");
        assert_eq!(report["summary"]["traces_analyzed"], 1, "{name}");
        assert_eq!(report["findings"][0]["evidence_trace_ids"][0], "0af7651916cd43dd8448eb211c80319c", "{name}");
    }
    let corrupt = temp_file("corrupt.json.gz", "");
    std::fs::write(&corrupt, [0x1f, 0x8b, 0x08, 0xff, 0xff, 0xff]).expect("write");
    let output = acgs_tracing(&["analyze", "--file", corrupt.to_str().unwrap_or_default()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(66), "{stderr}");
    assert!(stderr.contains("corrupt.json.gz"), "the error names the file: {stderr}");
}

#[test]
fn analyze_exit_codes_name_what_went_wrong() {
    let missing = acgs_tracing(&["analyze", "--file", "/nonexistent/traces.json"]);
    assert_eq!(missing.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/traces.json"));
    let truncated = temp_file("truncated.json", &EXPORT[..EXPORT.len() - 40]);
    let partial = acgs_tracing(&["analyze", "--file", truncated.to_str().unwrap_or_default(), "--format", "json"]);
    assert_eq!(partial.status.code(), Some(1), "a report over what could be read, and exit 1");
    let report: serde_json::Value = serde_json::from_slice(&partial.stdout).expect("the report is still printed");
    assert!(report["data_quality"]["input_errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("not a valid Jaeger JSON export")));
    for (api, url) in [("auto", "http://127.0.0.1:1/api/v3/services"), ("ui", "http://127.0.0.1:1/api/services")] {
        let unreachable =
            acgs_tracing(&["analyze", "--jaeger", "http://127.0.0.1:1", "--jaeger-api", api, "--timeout", "2s"]);
        assert_eq!(unreachable.status.code(), Some(69));
        assert!(String::from_utf8_lossy(&unreachable.stderr).contains(url), "{api}");
    }
    assert_eq!(acgs_tracing(&["analyze"]).status.code(), Some(2), "a source is required");
    assert_eq!(acgs_tracing(&["analyze", "--file", "x", "--jaeger", "http://h"]).status.code(), Some(2), "one source");
}

#[test]
fn the_analyze_bench_prints_its_report_as_json_on_the_last_line() {
    let output = acgs_tracing(&["bench", "analyze", "--spans", "2000", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("JSON");
    assert_eq!(report["spans"], 2000);
    for field in ["parse_s", "analyze_s", "ratio", "peak_rss_mb"] {
        assert!(report[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {report}");
    }
}

#[test]
fn analyze_from_a_running_control_plane_renders_its_report() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(acgs_control_plane::server::start(acgs_control_plane::server::ServerConfig::loopback(None)))
        .expect("control plane");
    let url = format!("http://{}", server.http_addr);
    let output = acgs_tracing(&[
        "analyze",
        "--from",
        &url,
        "--service",
        "auth-service",
        "--lookback",
        "15m",
        "--format",
        "json",
    ]);
    runtime.block_on(server.shutdown());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["summary"]["source"], "control plane (collected spans)");
    assert_eq!(report["summary"]["spans_analyzed"], 0);
    let refused = acgs_tracing(&["analyze", "--from", &url]);
    assert_eq!(refused.status.code(), Some(69), "the control plane is gone");
}

/// Starts `serve` on port 0 with `token` as ACGS_TELEMETRY_TOKEN (unset for `None`), stderr to a
/// pipe as in a container, and returns what it logged before its banner; then stops it.
fn serve_start_up_log(token: Option<&str>) -> String {
    use std::io::{BufRead as _, BufReader};
    let mut command = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"));
    command
        .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .env_remove("ACGS_TELEMETRY_TOKEN")
        .env_remove("NO_COLOR")
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        command.env("ACGS_TELEMETRY_TOKEN", token);
    }
    let mut child = command.spawn().expect("serve starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut log = String::new();
    for line in stderr.lines() {
        let line = line.expect("UTF-8 log line");
        if line.starts_with("acgs-tracing serving") {
            break;
        }
        log.push_str(&line);
        log.push('\n');
    }
    child.kill().expect("stopped");
    child.wait().expect("reaped");
    log
}

#[test]
fn serve_says_at_start_up_when_anyone_may_post_telemetry_and_refuses_an_empty_token() {
    let open = serve_start_up_log(None);
    assert!(
        open.contains("WARN") && open.contains("anyone who reaches this port may post telemetry"),
        "no token: {open}"
    );
    assert!(!open.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {open:?}");
    let placeholder = serve_start_up_log(Some("change-me-acgs-telemetry-token"));
    assert!(placeholder.contains("WARN") && placeholder.contains("shipped placeholder"), "{placeholder}");
    assert_eq!(serve_start_up_log(Some("s3cret-from-a-secret")), "", "a real token: nothing to say");

    let empty = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .env("ACGS_TELEMETRY_TOKEN", "")
        .output()
        .expect("the binary runs");
    assert_eq!(empty.status.code(), Some(64), "EX_USAGE: a token that refuses every batch");
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("--telemetry-token (ACGS_TELEMETRY_TOKEN) is empty"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
}

/// Posts one telemetry batch of `spans` span records from a filter whose Envoy has no tracer.
fn post_spans(http: &str, spans: u8) -> String {
    use acgs_proto::telemetry::{SpanRecord, SpanSource, TelemetryBatch};
    use prost::Message as _;
    use std::io::Read as _;
    let batch = TelemetryBatch {
        vm_id: "cli-test-vm".to_owned(),
        seq: 1,
        service: "constitutional-core".to_owned(),
        span_source: SpanSource::Filter as i32,
        spans: (1..=spans)
            .map(|n| SpanRecord {
                trace_id: vec![n; 16],
                span_id: vec![n; 8],
                name: "POST /v1/constitutional/validate".to_owned(),
                ..SpanRecord::default()
            })
            .collect(),
        ..TelemetryBatch::default()
    }
    .encode_to_vec();
    let mut stream = std::net::TcpStream::connect(http).expect("HTTP port open");
    let head = format!(
        "POST /v1/telemetry HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        batch.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&batch).expect("body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn a_shutdown_cut_short_by_a_stalled_collector_exits_0_and_says_how_many_spans_were_lost() {
    use std::io::Read as _;
    // A collector that accepts connections (the kernel's backlog) and never answers.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let collector = format!("http://{}", stalled.local_addr().expect("addr"));
    let (mut child, mut stderr, http) = serve(&["--otlp-endpoint", &collector, "--shutdown-grace-seconds", "1"]);
    let answer = post_spans(&http, 3);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let mut log = String::new();
    stderr.read_to_string(&mut log).expect("the rest of the log");
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "a stop at the end of the grace period is still a clean stop: {log}");
    assert!(log.contains("unexported_spans=3"), "the log says what was lost: {log}");
    drop(stalled);
}

/// The raw HTTP/1.1 answer to `GET path`.
fn http_get(http: &str, path: &str) -> String {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(http).expect("HTTP port open");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
}

#[test]
fn on_sigterm_serve_refuses_telemetry_and_stops_right_after_the_next_scrape() {
    let (mut child, _stderr, http) = serve(&["--final-scrape-wait", "60s"]);
    assert!(post_spans(&http, 2).starts_with("HTTP/1.1 200"));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !http_get(&http, "/readyz").starts_with("HTTP/1.1 503") {
        assert!(std::time::Instant::now() < deadline, "/readyz never said draining");
    }
    let refused = post_spans(&http, 1);
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("draining"), "{refused}");
    assert!(child.try_wait().expect("status").is_none(), "still up: waiting for a scrape");
    let scraped = http_get(&http, "/metrics");
    assert!(scraped.contains("acgs_telemetry_batches_total{result=\"accepted\"} 1"), "{scraped}");
    let (exited, status) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait().map(|s| s.code()));
    });
    let status = status
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("serve exits within 20 s of the scrape (the wait is 60 s)");
    assert_eq!(status.ok().flatten(), Some(0));
}

/// A SIGTERM the moment `serve` says it is up (a rolling update that stops a pod just started)
/// drains and stops cleanly: the signal is listened for before the banner, not after.
#[test]
fn a_sigterm_right_after_the_banner_stops_serve_cleanly() {
    let (mut child, _stderr, _http) = serve(&[]);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let (exited, status) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(child.wait().map(|s| s.code()));
    });
    let status = status.recv_timeout(std::time::Duration::from_secs(20)).expect("serve exits within 20 s");
    assert_eq!(status.ok().flatten(), Some(0), "exit 0, not killed by the signal");
}

/// `serve` on loopback ports (no telemetry token) with `args` added, once it says where it
/// listens: the child, the rest of its log, and its HTTP address.
fn serve(args: &[&str]) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("ACGS_TELEMETRY_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let banner = (&mut stderr)
        .lines()
        .map(|line| line.expect("UTF-8 log line"))
        .find(|line| line.starts_with("acgs-tracing serving"))
        .expect("the banner");
    let http = banner.split_whitespace().nth(3).expect("HTTP address in the banner").to_owned();
    (child, stderr, http)
}
