use std::sync::mpsc::channel;
use std::time::Duration;

use super::service::{parse, Target};
use super::wire::{self, FrameDecoder};
use super::*;

#[test]
fn grpc_timeout_is_written_as_envoys_to_grpc_timeout_writes_it() {
    // Common::toGrpcTimeout (source/common/grpc/common.cc): at most 8 digits, m → S → M → H.
    assert_eq!(wire::grpc_timeout(Duration::from_millis(0)), "0m");
    assert_eq!(wire::grpc_timeout(Duration::from_millis(1500)), "1500m");
    assert_eq!(wire::grpc_timeout(Duration::from_millis(99_999_999)), "99999999m");
    assert_eq!(wire::grpc_timeout(Duration::from_millis(100_000_000)), "100000S");
    assert_eq!(wire::grpc_timeout(Duration::from_secs(100_000_000 * 60)), "1666666H");
    assert_eq!(wire::grpc_timeout(Duration::from_secs(u64::MAX / 1000)), "99999999H");
}

#[test]
fn frames_are_decoded_across_data_boundaries_and_bad_flags_refused() {
    let mut decoder = FrameDecoder::default();
    let mut wire_bytes = wire::frame(b"hello");
    wire_bytes.extend_from_slice(&wire::frame(b""));
    wire_bytes.extend_from_slice(&wire::frame(b"world"));
    assert_eq!(decoder.decode(&wire_bytes[..3]), Ok(vec![]));
    let frames = decoder.decode(&wire_bytes[3..15]).expect("valid");
    assert_eq!(frames, vec![wire::Frame { flags: 0, data: b"hello".to_vec() }, wire::Frame { flags: 0, data: vec![] }]);
    let frames = decoder.decode(&wire_bytes[15..]).expect("valid");
    assert_eq!(frames, vec![wire::Frame { flags: 0, data: b"world".to_vec() }]);
    assert_eq!(FrameDecoder::default().decode(&[2, 0, 0, 0, 0]), Err(wire::BadFrame));
    assert_eq!(
        FrameDecoder::default().decode(&[1, 0, 0, 0, 1, 7]),
        Ok(vec![wire::Frame { flags: 1, data: vec![7] }]),
        "the compressed flag decodes; the client refuses it with Internal"
    );
}

#[test]
fn statuses_messages_and_content_types_follow_envoy() {
    let with = |value: &str| Headers::from_pairs([("grpc-status", value)]);
    assert_eq!(wire::grpc_status(&Headers::new()), None);
    assert_eq!(wire::grpc_status(&with("")), None);
    assert_eq!(wire::grpc_status(&with("5")), Some(5));
    assert_eq!(wire::grpc_status(&with("16")), Some(16));
    assert_eq!(wire::grpc_status(&with("17")), Some(wire::INVALID_CODE));
    assert_eq!(wire::grpc_status(&with("x")), Some(wire::INVALID_CODE));
    let codes: Vec<u32> = [400, 401, 403, 404, 429, 500, 502, 503, 504].map(wire::http_to_grpc_status).to_vec();
    assert_eq!(codes, [13, 16, 7, 12, 14, 2, 14, 14, 14]);
    assert_eq!(wire::percent_encode(b"100% ok\n~"), "100%25 ok%0A%7E");
    assert_eq!(wire::enhanced_message("denied", "via_upstream"), "denied{via_upstream}");
    assert_eq!(wire::enhanced_message("", "via_upstream"), "via_upstream");
    assert_eq!(wire::enhanced_message("denied", ""), "denied");
    assert!(wire::has_grpc_content_type(b"application/grpc"));
    assert!(wire::has_grpc_content_type(b"application/grpc+proto"));
    assert!(!wire::has_grpc_content_type(b"application/grpc-web"));
    assert!(!wire::has_grpc_content_type(b"application/json"));
    assert_eq!(wire::base64(b"\x00\xffab"), "AP9hYg==");
}

/// `GrpcService { envoy_grpc: EnvoyGrpc { cluster_name, authority } }` as protobuf bytes.
fn service_proto(cluster: &str, authority: &str) -> Vec<u8> {
    let mut envoy_grpc = vec![0x0a, cluster.len() as u8];
    envoy_grpc.extend_from_slice(cluster.as_bytes());
    if !authority.is_empty() {
        envoy_grpc.extend_from_slice(&[0x12, authority.len() as u8]);
        envoy_grpc.extend_from_slice(authority.as_bytes());
    }
    let mut service = vec![0x0a, envoy_grpc.len() as u8];
    service.extend_from_slice(&envoy_grpc);
    service
}

#[test]
fn the_target_is_a_grpc_service_when_it_parses_as_one_else_a_cluster_name() {
    for name in ["grpc-server", "outbound|14250||jaeger-collector.istio-system.svc.cluster.local", "control-plane"] {
        assert_eq!(parse(name.as_bytes()), Target::ClusterName(name.to_owned()), "{name}");
    }
    assert_eq!(
        parse(&service_proto("sampling", "")),
        Target::EnvoyGrpc { cluster: "sampling".to_owned(), authority: None }
    );
    assert_eq!(
        parse(&service_proto("sampling", "cp.local")),
        Target::EnvoyGrpc { cluster: "sampling".to_owned(), authority: Some("cp.local".to_owned()) }
    );
    // An empty message parses (Envoy then has no target); so does one with only a timeout.
    assert_eq!(parse(b""), Target::OtherService);
    assert_eq!(parse(&[0x1a, 0x02, 0x08, 0x05]), Target::OtherService);
    // google_grpc after envoy_grpc replaces it (a oneof).
    let mut both = service_proto("sampling", "");
    both.extend_from_slice(&[0x12, 0x00]);
    assert_eq!(parse(&both), Target::OtherService);
    // Short strings of letters whose tag is a complete varint field parse as unknown fields.
    assert_eq!(parse(b"hh"), Target::OtherService);
    // A known message field whose payload is not a message fails the parse: a cluster name.
    assert_eq!(parse(&[0x0a, 0x01, 0x07]), Target::ClusterName("\n\u{1}\u{7}".to_owned()));
    // A cluster name that is not UTF-8 fails it too.
    assert_eq!(parse(&[0x0a, 0x03, 0x0a, 0x01, 0xff]), Target::ClusterName("\n\u{3}\n\u{1}\u{fffd}".to_owned()));
}

fn callouts() -> (GrpcCallouts, std::sync::mpsc::Receiver<CalloutEvent>) {
    let (sender, receiver) = channel();
    (GrpcCallouts::new(sender), receiver)
}

#[test]
fn tokens_are_numbered_as_envoy_numbers_callouts() {
    let (mut grpc, _) = callouts();
    assert_eq!([grpc.next_call_token(), grpc.next_call_token()], [5, 9]);
    assert_eq!([grpc.next_stream_token(), grpc.next_stream_token()], [6, 10]);
    assert!(is_call(5) && !is_stream(5) && is_stream(6) && !is_call(6) && !is_call(4) && !is_stream(4));
}

fn close(token: u32, status: u32, message: &str) -> GrpcEvent {
    GrpcEvent { token, kind: GrpcEventKind::Close { status, message: message.to_owned() } }
}

fn active() -> Active {
    Active { commands: None, task: None, last_message: None, local_closed: false, remote_closed: false }
}

#[test]
fn a_unary_call_delivers_its_last_message_or_its_close_then_is_forgotten() {
    let (mut grpc, _) = callouts();
    grpc.active.insert(5, active());
    assert!(grpc.accept(GrpcEvent { token: 5, kind: GrpcEventKind::InitialMetadata(Headers::new()) }).is_none());
    assert!(grpc.accept(GrpcEvent { token: 5, kind: GrpcEventKind::Message(b"a".to_vec()) }).is_none());
    assert!(grpc.accept(GrpcEvent { token: 5, kind: GrpcEventKind::Message(b"b".to_vec()) }).is_none());
    assert!(grpc.accept(GrpcEvent { token: 5, kind: GrpcEventKind::TrailingMetadata(Headers::new()) }).is_none());
    let delivery = grpc.accept(close(5, 0, "")).expect("delivered");
    assert!(matches!(&delivery, Delivery::Receive(5, message) if message == b"b"), "{delivery:?}");
    assert_eq!(grpc.cancel(5), status::OK, "during the callback the call is still known");
    grpc.active.insert(5, active());
    grpc.delivered(&delivery);
    assert_eq!(grpc.cancel(5), status::NOT_FOUND, "after it, it is gone");

    grpc.active.insert(9, active());
    let delivery = grpc.accept(close(9, 0, "")).expect("delivered");
    assert!(matches!(&delivery, Delivery::Close(9, 13, message) if message.is_empty()), "OK without a message");
    grpc.active.insert(13, active());
    let delivery = grpc.accept(close(13, 7, "denied{via_upstream}")).expect("delivered");
    assert!(matches!(&delivery, Delivery::Close(13, 7, message) if message == "denied{via_upstream}"));
    assert!(grpc.accept(close(17, 0, "")).is_none(), "an unknown (cancelled) token delivers nothing");
}

#[test]
fn a_stream_delivers_everything_and_is_forgotten_once_both_sides_closed() {
    let (mut grpc, _) = callouts();
    grpc.active.insert(6, active());
    let initial = grpc.accept(GrpcEvent { token: 6, kind: GrpcEventKind::InitialMetadata(Headers::new()) });
    assert!(matches!(initial, Some(Delivery::InitialMetadata(6, _))));
    let message = grpc.accept(GrpcEvent { token: 6, kind: GrpcEventKind::Message(b"m".to_vec()) });
    assert!(matches!(message, Some(Delivery::Receive(6, _))));
    let closed = grpc.accept(close(6, 0, "")).expect("delivered");
    grpc.delivered(&closed);
    assert_eq!(grpc.send(6, b"late", false), status::OK, "remote closed, local not: still known");
    assert_eq!(grpc.close(6), status::OK);
    assert_eq!(grpc.close(6), status::NOT_FOUND, "both closed: gone");

    grpc.active.insert(10, active());
    assert_eq!(grpc.close(10), status::OK, "local close first");
    let closed = grpc.accept(close(10, 0, "")).expect("delivered");
    grpc.delivered(&closed);
    assert_eq!(grpc.send(10, b"", true), status::NOT_FOUND, "then the remote close forgets it");
}

#[test]
fn send_close_and_cancel_answer_what_envoy_answers_by_token_kind() {
    let (mut grpc, _) = callouts();
    assert_eq!(grpc.send(5, b"", false), status::BAD_ARGUMENT, "send on a call");
    assert_eq!(grpc.send(4, b"", false), status::BAD_ARGUMENT, "send on an HTTP call token");
    assert_eq!(grpc.send(6, b"", false), status::NOT_FOUND);
    assert_eq!(grpc.cancel(4), status::BAD_ARGUMENT);
    assert_eq!(grpc.cancel(5), status::NOT_FOUND);
    assert_eq!(grpc.cancel(6), status::NOT_FOUND);
    assert_eq!(grpc.close(3), status::BAD_ARGUMENT);
    assert_eq!(grpc.close(5), status::NOT_FOUND);
    assert_eq!(grpc.close(6), status::NOT_FOUND);
}

#[test]
fn a_grpc_service_naming_an_unknown_cluster_fails_and_later_closes_the_token() {
    let (mut grpc, events) = callouts();
    let token = grpc.next_call_token();
    assert_eq!(grpc.cluster_not_available(token), status::INTERNAL_FAILURE);
    let Ok(CalloutEvent::Grpc(event)) = events.try_recv() else { panic!("a close event is queued") };
    let delivery = grpc.accept(event).expect("delivered");
    assert!(matches!(&delivery, Delivery::Close(5, 14, message) if message == "Cluster not available"));
    grpc.delivered(&delivery);
    assert_eq!(grpc.in_flight(), 0);
}

#[test]
fn the_request_carries_envoys_headers_then_the_guests_metadata() {
    let outgoing = Outgoing {
        endpoint: std::net::SocketAddr::from(([127, 0, 0, 1], 14250)),
        authority: "outbound|14250||cp",
        service: b"jaeger.api_v2.SamplingManager",
        method: b"GetSamplingStrategy",
        metadata: vec![(b"x-token".to_vec(), b"t".to_vec()), (b"trace-bin".to_vec(), b"\x01\x02".to_vec())],
    };
    let request = request(outgoing, Some(Duration::from_millis(250))).expect("a valid request");
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri().to_string(), "http://127.0.0.1:14250/jaeger.api_v2.SamplingManager/GetSamplingStrategy");
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
        .collect();
    let expected = [
        ("te", "trailers"),
        ("grpc-timeout", "250m"),
        ("content-type", "application/grpc"),
        ("x-token", "t"),
        ("trace-bin", "AQI="),
    ];
    assert_eq!(headers, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
}
