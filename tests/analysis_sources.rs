//! The analysis from live sources over real HTTP: a Jaeger query API stand-in on loopback
//! (`/api/services`, `/api/traces` in Jaeger's JSON format, one trace returned for two services
//! and analysed once, one service failing), and the control plane's `GET /api/v1/analysis`
//! over spans posted as telemetry.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acgs_control_plane::analysis::source::jaeger_api::{feed, JaegerQuery};
use acgs_control_plane::analysis::{AnalysisOptions, Analyzer};
use acgs_control_plane::server::{start, ServerConfig};
use acgs_proto::telemetry::{attribute, Attribute, SpanRecord, TelemetryBatch};
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

#[test]
fn a_jaeger_query_api_is_read_per_service_and_each_trace_analysed_once() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let queries = Arc::new(Mutex::new(Vec::new()));
    let addr = runtime.block_on(jaeger_stand_in(Arc::clone(&queries)));
    let query = JaegerQuery {
        base_url: format!("http://{addr}/"),
        lookback: "2h".to_owned(),
        limit: 50,
        service: None,
        operation: None,
        timeout: Duration::from_secs(5),
    };
    let mut analyzer = Analyzer::new(AnalysisOptions::default());
    let traces = feed(&query, &mut analyzer).expect("reachable");
    let report = analyzer.finish("jaeger");
    assert_eq!(traces, 2, "two responses carried the trace");
    assert_eq!((report.summary.traces_analyzed, report.summary.spans_analyzed), (1, 2), "analysed once");
    assert_eq!(report.compliance.missing, 1);
    assert_eq!(
        report.data_quality.input_errors,
        vec![format!("http://{addr}/api/traces?service=auth-service: HTTP 500 Internal Server Error")]
    );
    let queries = queries.lock().expect("queries").clone();
    assert_eq!(queries[0], "service=constitutional-core&lookback=2h&limit=50");
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
    let batch = TelemetryBatch {
        vm_id: "vm".to_owned(),
        seq: 1,
        service: "constitutional-core".to_owned(),
        spans,
        ..TelemetryBatch::default()
    };
    let posted = ureq::post(&format!("http://{}/v1/telemetry", server.http_addr))
        .header("content-type", "application/x-protobuf")
        .send(&batch.encode_to_vec()[..])
        .expect("post");
    assert_eq!(posted.status().as_u16(), 200);
    let url = format!("http://{}", server.http_addr);
    let mut report = Value::Null;
    for _ in 0..100 {
        let body = ureq::get(&format!("{url}/api/v1/analysis?service=constitutional-core"))
            .call()
            .expect("analysis")
            .body_mut()
            .read_to_string()
            .expect("body");
        report = serde_json::from_str(&body).expect("JSON report");
        if report["summary"]["spans_analyzed"] == 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(report["summary"]["spans_analyzed"], 10);
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
