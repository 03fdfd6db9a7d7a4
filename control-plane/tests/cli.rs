//! The `acgs-tracing` binary as an operator runs it: dry-run over a JSONL file (verdicts, bad
//! lines, bad configuration, exit codes), the demo's checks, and the filter bench's JSON report.

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
    assert!(stdout.contains("✓ control plane counted 2000 of 2000 requests"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");
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
fn serve_answers_on_its_ports_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead as _, BufReader, Read as _};
    let mut child = Command::new(env!("CARGO_BIN_EXE_acgs-tracing"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut banner = String::new();
    stderr.read_line(&mut banner).expect("banner");
    let http = banner.split_whitespace().nth(3).expect("HTTP address in the banner").to_owned();
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
