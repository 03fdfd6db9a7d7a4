//! The analysis from live sources over real HTTP(S): Jaeger query API stand-ins on loopback — the
//! UI's API (`/api/services`, `/api/traces` in Jaeger's JSON format) and the stable api/v3 (OTLP
//! JSON in grpc-gateway's `{"result": …}`, 404 for "no traces", as Jaeger's
//! `apiv3/http_gateway.go` answers), one trace returned for two services and analysed once, one
//! service failing, api/v3 behind TLS with a private CA — and the control plane's
//! `GET /api/v1/analysis` over spans posted as telemetry.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use acgs_control_plane::analysis::source::jaeger_api::{feed, JaegerApi, JaegerQuery, JaegerUnavailable};
use acgs_control_plane::analysis::{AnalysisOptions, Analyzer};
use acgs_control_plane::http_client::Trust;
use acgs_control_plane::server::{start, ServerConfig};
use acgs_proto::telemetry::{attribute, Attribute, SpanRecord, TelemetryBatch};
use indicatif::ProgressBar;
use prost::Message as _;
use serde_json::Value;

const TRACE: &str = r#"{"traceID":"1","spans":[
 {"traceID":"1","spanID":"1","operationName":"POST /v1/validate","references":[],"startTime":1700000000000000,"duration":900,"processID":"p1",
  "tags":[{"key":"constitutional.hash.status","type":"string","value":"valid"}]},
 {"traceID":"1","spanID":"2","operationName":"GET /v1/policies/{id}","references":[{"refType":"CHILD_OF","traceID":"1","spanID":"1"}],
  "startTime":1700000000000100,"duration":700,"processID":"p2","tags":[{"key":"constitutional.hash.status","type":"string","value":"missing"}]}],
 "processes":{"p1":{"serviceName":"constitutional-core"},"p2":{"serviceName":"groqcloud-policy"}}}"#;

async fn jaeger_stand_in(queries: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let app = axum::Router::new()
        .route(
            "/api/services",
            axum::routing::get(|| async {
                r#"{"data":["constitutional-core","groqcloud-policy","auth-service"],"total":3}"#
            }),
        )
        .route(
            "/api/traces",
            axum::routing::get(move |uri: axum::http::Uri| {
                let queries = Arc::clone(&queries);
                async move {
                    let query = uri.query().unwrap_or_default().to_owned();
                    queries.lock().expect("queries").push(query.clone());
                    if query.contains("auth-service") {
                        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "storage down".to_owned());
                    }
                    (
                        axum::http::StatusCode::OK,
                        format!(r#"{{"data":[{TRACE}],"total":1,"limit":0,"offset":0,"errors":null}}"#),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn query(base_url: String, api: JaegerApi, trust: Trust) -> JaegerQuery {
    JaegerQuery {
        base_url,
        api,
        lookback: Duration::from_secs(2 * 3_600),
        limit: 50,
        service: None,
        operation: None,
        timeout: Duration::from_secs(5),
        trust,
    }
}

fn read(query: &JaegerQuery) -> Result<(u64, acgs_control_plane::analysis::report::Report), JaegerUnavailable> {
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    let traces = feed(query, &mut analyzer, &ProgressBar::hidden())?;
    Ok((traces, analyzer.finish("jaeger")))
}

/// The stand-ins' trace came back for two services and was analysed once, with its missing hash.
fn assert_read_once(traces: u64, report: &acgs_control_plane::analysis::report::Report) {
    assert_eq!(traces, 2, "two responses carried the trace");
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 2), "analysed once");
    assert_eq!(report.compliance.missing, 1);
}

#[test]
fn a_jaeger_query_api_is_read_per_service_and_each_trace_analysed_once() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let queries = Arc::new(Mutex::new(Vec::new()));
    let addr = runtime.block_on(jaeger_stand_in(Arc::clone(&queries)));
    // `auto` on a server without api/v3 (404 on /api/v3/services) reads the UI's API.
    let (traces, report) =
        read(&query(format!("http://{addr}/"), JaegerApi::Auto, Trust::default())).expect("reachable");
    assert_read_once(traces, &report);
    assert_eq!(
        report.data_quality.input_errors,
        vec![format!("http://{addr}/api/traces?service=auth-service: HTTP 500 Internal Server Error")]
    );
    let queries = queries.lock().expect("queries").clone();
    assert_eq!(queries[0], "service=constitutional-core&lookback=2h&limit=50");
}

/// The same trace as [`TRACE`], as api/v3 answers it: OTLP JSON in grpc-gateway's wrapper.
const V3_TRACE: &str = r#"{"result":{"resourceSpans":[
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"constitutional-core"}}]},
  "scopeSpans":[{"scope":{},"spans":[
   {"traceId":"00000000000000000000000000000001","spanId":"0000000000000001","name":"POST /v1/validate","kind":2,
    "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000900000",
    "attributes":[{"key":"constitutional.hash.status","value":{"stringValue":"valid"}}],"status":{}}]}]},
 {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"groqcloud-policy"}}]},
  "scopeSpans":[{"scope":{},"spans":[
   {"traceId":"00000000000000000000000000000001","spanId":"0000000000000002","parentSpanId":"0000000000000001",
    "name":"GET /v1/policies/{id}","kind":2,"startTimeUnixNano":"1700000000000100000","endTimeUnixNano":"1700000000000800000",
    "attributes":[{"key":"constitutional.hash.status","value":{"stringValue":"missing"}}],"status":{}}]}]}]}}"#;

/// What the api/v3 stand-in answers to `target` (path and query).
fn v3_answer(target: &str) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/api/v3/services" => {
            (200, r#"{"services":["constitutional-core","groqcloud-policy","auth-service","idle-service"]}"#.to_owned())
        }
        "/api/v3/traces" if query.contains("query.service_name=auth-service") => {
            (500, r#"{"error":{"httpCode":500,"message":"storage down"}}"#.to_owned())
        }
        "/api/v3/traces" if query.contains("query.service_name=idle-service") => {
            (404, r#"{"error":{"httpCode":404,"message":"No traces found"}}"#.to_owned())
        }
        "/api/v3/traces" => (200, V3_TRACE.to_owned()),
        _ => (404, "404 page not found".to_owned()),
    }
}

/// Answers one HTTP/1.1 request on `stream` with [`v3_answer`], recording the request target.
async fn answer_v3<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    targets: Arc<Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = Vec::new();
    let mut buffer = [0u8; 4_096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    targets.lock().expect("targets").push(target.clone());
    let (status, body) = v3_answer(&target);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// An api/v3 stand-in on loopback, behind TLS with `tests/data/tls/server.pem` when `tls`.
async fn v3_stand_in(tls: bool, targets: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls.then(|| tokio_rustls::TlsAcceptor::from(Arc::new(server_tls())));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let targets = Arc::clone(&targets);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer_v3(stream, targets).await;
                        }
                    }
                    None => answer_v3(tcp, targets).await,
                }
            });
        }
    });
    addr
}

fn tls_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tls").join(name)
}

/// The server side of the test CA's certificate for `localhost` and 127.0.0.1.
fn server_tls() -> rustls::ServerConfig {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |name: &str| std::fs::read(tls_file(name)).expect("test TLS material");
    let certificates: Vec<CertificateDer<'static>> = ureq::tls::parse_pem(&read("server.pem"))
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(CertificateDer::from(c.der().to_vec())),
            _ => None,
        })
        .collect();
    let key = ureq::tls::parse_pem(&read("server.key"))
        .find_map(|item| match item {
            Ok(ureq::tls::PemItem::PrivateKey(k)) => PrivateKeyDer::try_from(k.der().to_vec()).ok(),
            _ => None,
        })
        .expect("the server key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .expect("server certificate")
}

/// `%XX` escapes decoded (what ureq encodes in query values).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn jaegers_api_v3_is_read_as_otlp_json_with_rfc3339_times_and_each_trace_analysed_once() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let targets = Arc::new(Mutex::new(Vec::new()));
    let addr = runtime.block_on(v3_stand_in(false, Arc::clone(&targets)));
    let before = SystemTime::now();
    let (traces, report) =
        read(&query(format!("http://{addr}"), JaegerApi::Auto, Trust::default())).expect("reachable");
    assert_read_once(traces, &report);
    // The 500 is an input error; "No traces found" (404) is an empty answer, not an error.
    assert_eq!(
        report.data_quality.input_errors,
        vec![format!("http://{addr}/api/v3/traces?query.service_name=auth-service: HTTP 500")]
    );
    let targets = targets.lock().expect("targets").clone();
    assert_eq!(targets.len(), 1 + 4, "{targets:?}");
    assert_eq!(targets[0], "/api/v3/services");
    let first = percent_decoded(&targets[1]);
    let params: std::collections::HashMap<&str, &str> =
        first.split_once('?').map(|(_, q)| q).unwrap_or("").split('&').filter_map(|p| p.split_once('=')).collect();
    assert_eq!(params.get("query.service_name"), Some(&"constitutional-core"));
    assert_eq!(params.get("query.num_traces"), Some(&"50"));
    let time = |name: &str| humantime::parse_rfc3339(params.get(name).copied().unwrap_or("")).expect(name);
    let (min, max) = (time("query.start_time_min"), time("query.start_time_max"));
    assert_eq!(max.duration_since(min).ok(), Some(Duration::from_secs(2 * 3_600)), "the lookback");
    assert!(max >= before - Duration::from_secs(1) && max <= SystemTime::now(), "ends now");
}

#[test]
fn api_v3_over_https_trusts_a_given_ca_and_refuses_a_certificate_the_platform_does_not_trust() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let addr = runtime.block_on(v3_stand_in(true, Arc::new(Mutex::new(Vec::new()))));
    let base = format!("https://localhost:{}", addr.port());
    let trust = Trust::ca_bundle(&tls_file("ca.pem")).expect("the test CA");
    let (_, report) = read(&query(base.clone(), JaegerApi::V3, trust)).expect("verified with the given CA");
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 2));
    let refused = read(&query(base.clone(), JaegerApi::V3, Trust::default())).expect_err("not a platform root");
    assert_eq!(refused.url, format!("{base}/api/v3/services"));
    assert!(refused.reason.to_lowercase().contains("certificate"), "{refused}");
    // The UI's API is not on this server: asking for it names what is missing.
    let missing =
        read(&query(base, JaegerApi::Ui, Trust::ca_bundle(&tls_file("ca.pem")).expect("CA"))).expect_err("no UI API");
    assert_eq!(missing.reason, "no /api/services API here (HTTP 404)");
}

#[test]
fn the_control_plane_serves_the_analysis_of_its_collected_spans() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(start(ServerConfig::loopback(None))).expect("control plane");
    let text = |key: &str, value: &str| Attribute {
        key: key.to_owned(),
        value: Some(attribute::Value::StringValue(value.to_owned())),
    };
    let spans = (0..10u8)
        .map(|i| SpanRecord {
            trace_id: vec![i + 1; 16],
            span_id: vec![1; 8],
            name: "POST /v1/constitutional/validate".to_owned(),
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_000_000_000 + if i == 0 { 9_000_000 } else { 500_000 },
            attributes: vec![text("constitutional.hash.status", if i < 2 { "mismatch" } else { "valid" })],
            peer: "spiffe://cluster.local/ns/default/sa/gateway".to_owned(),
            ..SpanRecord::default()
        })
        .collect();
    post_spans(server.http_addr, "constitutional-core", spans);
    let url = format!("http://{}", server.http_addr);
    let report = report_once_in(server.http_addr, "service=constitutional-core", 10);
    assert_eq!(report["compliance"]["violations_by_caller"][0]["caller"], "gateway.default");
    assert_eq!(report["performance"]["operations"][0]["p99_ms"], 9.0);
    let bad = ureq::get(&format!("{url}/api/v1/analysis?lookback=yesterday"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("call");
    assert_eq!(bad.status().as_u16(), 400);
    let message = bad.into_body().read_to_string().unwrap_or_default();
    assert!(message.starts_with("query parameter `lookback`: \"yesterday\" is not a duration"), "{message}");
    runtime.block_on(server.shutdown());
}

/// Posts three spans of `service` that carry no hash information at all.
fn post_unchecked_spans(http_addr: SocketAddr, service: &str) {
    let spans = (0..3u8)
        .map(|i| SpanRecord {
            trace_id: vec![i + 1; 16],
            span_id: vec![2; 8],
            name: "POST /v1/batch".to_owned(),
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_000_500_000,
            peer: "spiffe://cluster.local/ns/default/sa/gateway".to_owned(),
            ..SpanRecord::default()
        })
        .collect();
    post_spans(http_addr, service, spans);
}

/// Posts `spans` of `service` as one telemetry batch, as a filter VM does.
fn post_spans(http_addr: SocketAddr, service: &str, spans: Vec<SpanRecord>) {
    let batch = TelemetryBatch {
        vm_id: "vm".to_owned(),
        seq: 1,
        service: service.to_owned(),
        spans,
        ..TelemetryBatch::default()
    };
    let posted = ureq::post(&format!("http://{http_addr}/v1/telemetry"))
        .header("content-type", "application/x-protobuf")
        .send(&batch.encode_to_vec()[..])
        .expect("post");
    assert_eq!(posted.status().as_u16(), 200);
}

/// The control plane's report for `query` once it covers `spans` spans (batches are applied
/// asynchronously after the 200): asked again until then, for at most 10 s.
fn report_once_in(http_addr: SocketAddr, query: &str, spans: u64) -> Value {
    let url = format!("http://{http_addr}/api/v1/analysis?{query}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = ureq::get(&url).call().expect("analysis").body_mut().read_to_string().expect("body");
        let report: Value = serde_json::from_str(&body).expect("JSON report");
        if report["summary"]["spans_analyzed"] == spans {
            return report;
        }
        assert!(std::time::Instant::now() < deadline, "{url}: {spans} spans never arrived: {report}");
        std::thread::yield_now();
    }
}

/// `(missing, untracked)` of the control plane's report for `query`, once its 3 spans are in.
fn missing_and_untracked(http_addr: SocketAddr, query: &str) -> (Value, Value) {
    let report = report_once_in(http_addr, query, 3);
    (report["compliance"]["missing"].clone(), report["compliance"]["untracked"].clone())
}

#[test]
fn services_out_of_scope_come_from_the_servers_configuration_and_the_query() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let declared = ServerConfig { untracked_services: vec!["legacy-batch".to_owned()], ..ServerConfig::loopback(None) };
    let server = runtime.block_on(start(declared)).expect("control plane");
    post_unchecked_spans(server.http_addr, "legacy-batch");
    assert_eq!(missing_and_untracked(server.http_addr, "service=legacy-batch"), (0.into(), 3.into()));
    runtime.block_on(server.shutdown());

    let plain = runtime.block_on(start(ServerConfig::loopback(None))).expect("control plane");
    post_unchecked_spans(plain.http_addr, "legacy-batch");
    // In scope: an unchecked server span is a missing hash, blamed on its caller.
    assert_eq!(missing_and_untracked(plain.http_addr, "service=legacy-batch"), (3.into(), 0.into()));
    let query = "service=legacy-batch&untracked_service=other,legacy-batch";
    assert_eq!(missing_and_untracked(plain.http_addr, query), (0.into(), 3.into()));
    runtime.block_on(plain.shutdown());
}
