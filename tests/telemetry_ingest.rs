//! `POST /v1/telemetry` on the real control plane with a real HTTP client: unauthenticated,
//! wrong media type, oversized, malformed, truncated, inconsistent and replayed batches get the
//! right status, are counted by result, and change nothing; good batches keep being taken.

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_control_plane::telemetry::TelemetryConfig;
use acgs_e2e::metric_sum;
use acgs_proto::telemetry::{AggregateEntry, HashStatus, SpanSource, TelemetryBatch};
use prost::Message as _;

const TOKEN: &str = "t0ken";

fn batch(vm_id: &str, seq: u64, count: u64) -> TelemetryBatch {
    TelemetryBatch {
        vm_id: vm_id.to_owned(),
        seq,
        service: "auth-service".to_owned(),
        window_start_unix_nanos: 1,
        window_end_unix_nanos: 2,
        aggregates: vec![AggregateEntry {
            service: "auth-service".to_owned(),
            operation: "POST /v1/auth/token".to_owned(),
            status_class: 2,
            hash_status: HashStatus::Valid as i32,
            category: "auth".to_owned(),
            count,
            latency_buckets: vec![0, count],
            latency_sum_micros: 90 * count,
            latency_max_micros: 99,
            source: String::new(),
        }],
        spans: Vec::new(),
        dropped: None,
        constitutional_hash: "cdd01ef066bc6cf2".to_owned(),
        span_source: SpanSource::Envoy as i32,
    }
}

fn post(server: &RunningServer, body: &[u8], content_type: &str, token: Option<&str>) -> (u16, String) {
    let mut request = ureq::post(&format!("http://{}/v1/telemetry", server.http_addr))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", content_type);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send(body).expect("HTTP call");
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
}

fn wait_for_count(server: &RunningServer, expected: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric_sum(server.http_addr, "acgs_requests_total{") != expected {
        assert!(
            std::time::Instant::now() < deadline,
            "counted {} requests, expected {expected}",
            metric_sum(server.http_addr, "acgs_requests_total{")
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn every_bad_batch_gets_its_status_and_good_ones_keep_flowing() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = ServerConfig {
        telemetry: TelemetryConfig {
            token: Some(TOKEN.to_owned()),
            max_body_bytes: 64 * 1024,
            ..TelemetryConfig::default()
        },
        ..ServerConfig::loopback(None)
    };
    let server = runtime.block_on(start(config)).expect("control plane starts");
    let protobuf = "application/x-protobuf";
    let good = batch("vm-a", 1, 5).encode_to_vec();

    assert_eq!(post(&server, &good, protobuf, None).0, 401, "no token");
    assert_eq!(post(&server, &good, protobuf, Some("wrong")).0, 401, "wrong token");
    assert_eq!(post(&server, &good, "application/json", Some(TOKEN)).0, 415);
    assert_eq!(post(&server, &vec![0u8; 70 * 1024], protobuf, Some(TOKEN)).0, 413);
    let (status, body) = post(&server, b"\xff\xff\xff\xff not protobuf", protobuf, Some(TOKEN));
    assert_eq!(status, 400);
    assert!(body.starts_with("malformed TelemetryBatch"), "{body}");
    assert_eq!(post(&server, &good[..good.len() - 3], protobuf, Some(TOKEN)).0, 400, "truncated");
    let mut inconsistent = batch("vm-a", 2, 5);
    inconsistent.aggregates[0].count = 6;
    let (status, body) = post(&server, &inconsistent.encode_to_vec(), protobuf, Some(TOKEN));
    assert_eq!(status, 400);
    assert!(body.contains("aggregates[0].count"), "{body}");
    let (status, body) = post(&server, &batch("", 1, 1).encode_to_vec(), protobuf, Some(TOKEN));
    assert_eq!((status, body.contains("vm_id")), (400, true), "{body}");

    assert_eq!(post(&server, &good, protobuf, Some(TOKEN)), (200, "accepted\n".to_owned()));
    assert_eq!(
        post(&server, &good, protobuf, Some(TOKEN)),
        (200, "duplicate\n".to_owned()),
        "a replay is acknowledged, not counted"
    );
    assert_eq!(post(&server, &batch("vm-a", 3, 7).encode_to_vec(), protobuf, Some(TOKEN)).0, 200);
    assert_eq!(post(&server, &batch("vm-b", 1, 1).encode_to_vec(), protobuf, Some(TOKEN)).0, 200, "seq is per VM");
    let (status, body) = post(&server, &batch("vm-a", u64::MAX, 1).encode_to_vec(), protobuf, Some(TOKEN));
    assert_eq!(
        (status, body.trim()),
        (
            400,
            "invalid TelemetryBatch: seq: 18446744073709551615 is more than 4096 above 3, the highest accepted for \
             this vm_id (a VM's seq grows by one per batch)"
        )
    );
    assert_eq!(
        post(&server, &batch("vm-a", 4, 1).encode_to_vec(), protobuf, Some(TOKEN)),
        (200, "accepted\n".to_owned()),
        "the VM's next batch is taken, not a silent duplicate"
    );
    wait_for_count(&server, 14);

    let result = |r: &str| metric_sum(server.http_addr, &format!("acgs_telemetry_batches_total{{result=\"{r}\"}}"));
    assert_eq!(
        [
            result("unauthorized"),
            result("unsupported_media_type"),
            result("too_large"),
            result("malformed"),
            result("invalid"),
            result("accepted"),
            result("duplicate")
        ],
        [2, 1, 1, 2, 3, 4, 1]
    );
    runtime.block_on(server.shutdown());
}

#[test]
fn huge_label_values_and_spans_are_cut_to_their_byte_bounds_and_counted() {
    use acgs_control_plane::telemetry::bounds::{MAX_LABEL_BYTES, MAX_SPAN_BYTES};
    use acgs_proto::telemetry::{Attribute, SpanRecord};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = ServerConfig {
        telemetry: TelemetryConfig { token: Some(TOKEN.to_owned()), ..TelemetryConfig::default() },
        ..ServerConfig::loopback(None)
    };
    let server = runtime.block_on(start(config)).expect("control plane starts");
    // Five batches, each with a 2 MB operation name and a 1.9 MB span (what one attacker with the
    // token, or one buggy filter, can send within the 4 MiB body limit).
    for seq in 1..=5 {
        let mut huge = batch("vm-huge", seq, 1);
        huge.aggregates[0].operation = format!("GET /{seq}/{}", "x".repeat(2_000_000));
        huge.spans.push(SpanRecord {
            trace_id: vec![7; 16],
            span_id: vec![seq as u8; 8],
            name: "y".repeat(1_900_000),
            attributes: vec![Attribute { key: "k".to_owned(), value: None }],
            ..SpanRecord::default()
        });
        let (status, body) = post(&server, &huge.encode_to_vec(), "application/x-protobuf", Some(TOKEN));
        assert_eq!(status, 200, "{body}");
    }
    wait_for_count(&server, 5);
    let metrics = acgs_e2e::metrics_text(server.http_addr);
    assert_eq!(metric_sum(server.http_addr, "acgs_telemetry_truncated_total{what=\"label\"}"), 5);
    assert_eq!(metric_sum(server.http_addr, "acgs_telemetry_truncated_total{what=\"span\"}"), 5);
    let longest_line = metrics.lines().map(str::len).max().unwrap_or(0);
    assert!(longest_line < 2 * MAX_LABEL_BYTES + 200, "a {longest_line}-byte line on /metrics");
    assert!(metrics.len() < 64 * 1024, "/metrics is {} bytes", metrics.len());
    let store = server.telemetry.store();
    let store = store.read().expect("store");
    let spans: Vec<usize> = store.spans().map(|span| prost::Message::encoded_len(&span.record)).collect();
    assert_eq!(spans.len(), 5);
    assert!(spans.iter().all(|bytes| *bytes <= MAX_SPAN_BYTES), "{spans:?}");
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_takes_the_same_batch_once_drained() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let size = batch("vm-q", 1, 1).encode_to_vec().len();
    let config = ServerConfig {
        telemetry: TelemetryConfig {
            token: Some(TOKEN.to_owned()),
            max_body_bytes: size,
            queue_bytes: 3 * size,
            ..TelemetryConfig::default()
        },
        ..ServerConfig::loopback(None)
    };
    let server = runtime.block_on(start(config)).expect("control plane starts");
    let store = server.telemetry.store();
    let held = store.write().expect("the test holds the store: nothing is applied");
    let post = |body: &[u8]| {
        let mut response = ureq::post(&format!("http://{}/v1/telemetry", server.http_addr))
            .config()
            .http_status_as_error(false)
            .build()
            .header("content-type", "application/x-protobuf")
            .header("authorization", &format!("Bearer {TOKEN}"))
            .send(body)
            .expect("HTTP call");
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.status().as_u16(), retry_after, response.body_mut().read_to_string().unwrap_or_default())
    };
    let send = |seq| post(&batch("vm-q", seq, 1).encode_to_vec());
    for seq in 1..=3 {
        assert_eq!(send(seq).0, 200, "batch {seq} fits in the queue's byte budget");
    }
    assert_eq!(
        send(4),
        (503, Some("1".to_owned()), "ingest queue full, retry later\n".to_owned()),
        "three batches' bytes are queued: the fourth waits"
    );
    // Room is taken before decoding: a full replica sheds without spending a decode, so even a
    // body that is not a batch gets 503 (it is refused with 400 once there is room).
    assert_eq!(post(&[0xff; 40]).0, 503, "shed before decoding");
    drop(held);
    wait_for_count(&server, 3);
    assert_eq!(send(4).0, 200, "the retried batch is taken once the queue drained");
    wait_for_count(&server, 4);
    assert_eq!(post(&[0xff; 40]).0, 400, "with room, the same body is decoded and refused");
    assert_eq!(metric_sum(server.http_addr, "acgs_telemetry_batches_total{result=\"overloaded\"}"), 2);
}

/// While the telemetry store is locked (a long write), the periodic alert evaluation and the
/// exports wait on tokio's blocking pool: on a runtime with a single worker, the control plane
/// still answers health and sampling requests. (Waiting on the worker itself stalled every task
/// queued behind the evaluator, HTTP requests included.)
#[test]
fn a_locked_telemetry_store_never_stalls_the_http_answers() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mut config = ServerConfig::loopback(None);
    config.alerts.eval_interval = std::time::Duration::from_millis(10);
    let server = runtime.block_on(start(config)).expect("control plane starts");
    let store = server.telemetry.store();
    let held = store.write().expect("the test holds the store");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .into();
    // Long enough for the evaluator to have ticked (every 10 ms) many times over.
    let started = std::time::Instant::now();
    let mut answered = 0;
    while started.elapsed() < std::time::Duration::from_millis(300) {
        for path in ["/healthz", "/sampling?service=constitutional-core"] {
            let status = agent
                .get(&format!("http://{}{path}", server.http_addr))
                .call()
                .map(|response| response.status().as_u16())
                .unwrap_or_else(|error| panic!("{path} while the store is locked: {error}"));
            assert_eq!(status, 200, "{path}");
            answered += 1;
        }
    }
    drop(held);
    assert!(answered >= 2, "{answered}");
    runtime.block_on(server.shutdown());
}
