//! gRPC callouts from a real proxy-wasm Rust SDK guest (filter-artifacts/grpc-callout-filter,
//! shaped like the SDK's `grpc_auth_random` example) in the host, against real HTTP/2 servers on
//! loopback: the control plane's `jaeger.api_v2.SamplingManager` (tonic) for a unary call, a
//! stream and a non-OK status, and a scripted HTTP/2 server for what the request carries and
//! for responses a well-behaved server does not send. Failures are checked against what Envoy's
//! async gRPC client reports (source/common/grpc/async_client_impl.cc, the router's local
//! replies in source/common/router/router.cc, and the Wasm context's `onGrpcCloseWrapper` in
//! source/extensions/common/wasm/context.cc): an unknown cluster, a server that is down, the
//! timeout, a cancel.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use acgs_control_plane::server::{start, RunningServer, ServerConfig};
use acgs_proto::jaeger::api_v2::SamplingStrategyParameters;
use acgs_wasm_host::{
    Cluster, FilterModule, Headers, HttpRequest, HttpResponse, PluginConfig, Proxy, ProxyConfig, StreamOutcome,
};
use prost::Message as _;

const SAMPLING: &str = "service=jaeger.api_v2.SamplingManager\nmethod=GetSamplingStrategy\n";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `SamplingStrategyParameters { serviceName }`, as the filter sends it.
fn parameters(service: &str) -> String {
    hex(&SamplingStrategyParameters { service_name: service.to_owned() }.encode_to_vec())
}

fn sidecar(configuration: &str, clusters: &[(&str, SocketAddr)]) -> Proxy {
    let module =
        FilterModule::from_bytes(acgs_filter_artifacts::GRPC_CALLOUT_FILTER_WASM).expect("the test filter loads");
    let plugin = PluginConfig { configuration: configuration.as_bytes().to_vec(), ..PluginConfig::default() };
    let clusters: BTreeMap<String, Cluster> =
        clusters.iter().map(|(name, addr)| ((*name).to_owned(), Cluster::from(*addr))).collect();
    let config = ProxyConfig { clusters, stream_timeout: Duration::from_secs(10), ..ProxyConfig::default() };
    Proxy::start(&module, plugin, config).expect("the sidecar starts")
}

fn request(extra: &[(&str, &str)]) -> HttpRequest {
    let mut headers =
        Headers::from_pairs([(":method", "GET"), (":path", "/"), (":authority", "app"), (":scheme", "http")]);
    for (name, value) in extra {
        headers.push(name, value);
    }
    HttpRequest {
        headers,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

fn handle(proxy: &mut Proxy, extra: &[(&str, &str)]) -> StreamOutcome {
    let mut upstream = |_: &Headers, _: &[u8]| HttpResponse {
        status: 200,
        headers: Headers::new(),
        body: Vec::new(),
        trailers: Headers::new(),
    };
    let outcome = proxy.workers_mut()[0].handle(request(extra), &mut upstream);
    assert_eq!(outcome.failure, None, "the filter did not trap: {:?}", proxy.workers_mut()[0].take_logs());
    outcome
}

/// The `x-grpc-*` headers the filter set on the forwarded request.
fn grpc_headers(outcome: &StreamOutcome) -> Vec<(String, String)> {
    let forwarded = outcome.forwarded.as_ref().expect("the request was forwarded");
    forwarded
        .iter()
        .filter(|(name, _)| name.starts_with(b"x-grpc-") && *name != b"x-grpc-mode")
        .map(|(name, value)| (String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

/// The control plane serving gRPC on loopback (its runtime lives as long as it does).
struct ControlPlane {
    _runtime: tokio::runtime::Runtime,
    server: RunningServer,
}

impl ControlPlane {
    fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config =
            ServerConfig { grpc_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))), ..ServerConfig::loopback(None) };
        let server = runtime.block_on(start(config)).expect("the control plane starts");
        Self { _runtime: runtime, server }
    }

    fn grpc(&self) -> SocketAddr {
        self.server.grpc_addr.expect("gRPC listening")
    }

    /// The response the control plane serves for `service`, encoded.
    fn strategy(&self, service: &str) -> Vec<u8> {
        let set = self.server.store.current().expect("strategies loaded");
        set.lookup(service).response.encode_to_vec()
    }
}

#[test]
fn a_unary_call_to_the_control_plane_answers_and_the_request_resumes() {
    let control_plane = ControlPlane::start();
    let config = format!("cluster=sampling\n{SAMPLING}message_hex={}\ntimeout_ms=5000\n", parameters("health-check"));
    let mut proxy = sidecar(&config, &[("sampling", control_plane.grpc())]);
    let outcome = handle(&mut proxy, &[]);
    let response = hex(&control_plane.strategy("health-check"));
    assert!(!response.is_empty());
    assert_eq!(grpc_headers(&outcome), pairs(&[("x-grpc-response", &response), ("x-grpc-status", "0")]));
    assert_eq!(proxy.workers_mut()[0].callouts_in_flight(), 0);
}

#[test]
fn a_stream_to_the_control_plane_delivers_metadata_message_and_trailers() {
    let control_plane = ControlPlane::start();
    let config = format!("mode=stream\ncluster=sampling\n{SAMPLING}message_hex={}\n", parameters("auth-service"));
    let mut proxy = sidecar(&config, &[("sampling", control_plane.grpc())]);
    let outcome = handle(&mut proxy, &[]);
    let response = hex(&control_plane.strategy("auth-service"));
    let mut seen = grpc_headers(&outcome);
    // The server's response headers, as the guest read them; hyper adds the current `date`.
    let initial = seen.remove(0);
    assert_eq!(initial.0, "x-grpc-initial-metadata");
    let initial: Vec<&str> = initial.1.split(';').collect();
    assert_eq!(initial[..2], [":status=200", "content-type=application/grpc"]);
    assert!(initial.len() == 3 && initial[2].starts_with("date=") && initial[2].ends_with(" GMT"), "{initial:?}");
    assert_eq!(
        seen,
        pairs(
            &[("x-grpc-messages", &response), ("x-grpc-trailing-metadata", "grpc-status=0"), ("x-grpc-status", "0"),]
        )
    );
    assert_eq!(proxy.workers_mut()[0].callouts_in_flight(), 0, "closed on both sides, forgotten");
}

#[test]
fn a_non_ok_status_reaches_on_grpc_close_with_its_message() {
    let control_plane = ControlPlane::start();
    // The control plane refuses an empty service name with InvalidArgument, trailers-only.
    let config = format!("cluster=sampling\n{SAMPLING}message_hex={}\n", parameters(""));
    let mut proxy = sidecar(&config, &[("sampling", control_plane.grpc())]);
    let outcome = handle(&mut proxy, &[]);
    // tonic percent-encodes `grpc-message`; Envoy's client passes it on undecoded
    // (`Common::getGrpcMessage`), with the stream's response code details appended.
    assert_eq!(
        grpc_headers(&outcome),
        pairs(&[("x-grpc-status", "3"), ("x-grpc-message", "serviceName%20must%20not%20be%20empty{via_upstream}")])
    );
}

#[test]
fn an_unknown_cluster_is_a_parse_failure_and_the_request_continues() {
    let mut proxy = sidecar(&format!("cluster=nowhere\n{SAMPLING}"), &[]);
    let outcome = handle(&mut proxy, &[]);
    assert_eq!(grpc_headers(&outcome), pairs(&[("x-grpc-dispatch", "ParseFailure")]));
}

#[test]
fn a_server_that_is_down_closes_with_the_routers_connect_failure() {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let mut proxy = sidecar(&format!("cluster=sampling\n{SAMPLING}"), &[("sampling", closed)]);
    let outcome = handle(&mut proxy, &[]);
    let message = "upstream connect error or disconnect/reset before headers. reset reason: remote connection \
                   failure, transport failure reason: delayed connect error: Connection refused\
                   {upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}}";
    assert_eq!(grpc_headers(&outcome), pairs(&[("x-grpc-status", "14"), ("x-grpc-message", message)]));
}

/// A loopback listener that accepts connections and never answers.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().flatten() {
            held.push(socket);
        }
    });
    addr
}

#[test]
fn the_timeout_closes_with_the_routers_timeout_reply() {
    let mut proxy = sidecar(&format!("cluster=sampling\n{SAMPLING}timeout_ms=150\n"), &[("sampling", silent_server())]);
    let outcome = handle(&mut proxy, &[]);
    assert_eq!(
        grpc_headers(&outcome),
        pairs(&[("x-grpc-status", "14"), ("x-grpc-message", "upstream request timeout{upstream_response_timeout}")])
    );
}

#[test]
fn a_cancelled_call_delivers_nothing() {
    let mut proxy = sidecar(&format!("cluster=sampling\n{SAMPLING}timeout_ms=100\n"), &[("sampling", silent_server())]);
    let cancelled = handle(&mut proxy, &[("x-grpc-mode", "cancel")]);
    assert_eq!(
        grpc_headers(&cancelled),
        pairs(&[("x-grpc-cancel", "Ok(())"), ("x-grpc-cancel-again", "Err(NotFound)")])
    );
    assert_eq!(proxy.workers_mut()[0].callouts_in_flight(), 0);
    // A call made after it, with the same timeout, times out after it would have: by then the
    // cancelled call's timeout would have been delivered first, had it not been cancelled.
    let later = handle(&mut proxy, &[]);
    assert_eq!(grpc_headers(&later)[0], ("x-grpc-status".to_owned(), "14".to_owned()));
    let logs: Vec<String> = proxy.workers_mut()[0].take_logs().into_iter().map(|record| record.message).collect();
    assert!(!logs.iter().any(|line| line.contains("unexpected gRPC answer")), "{logs:?}");
}

/// What the scripted server answers.
#[derive(Clone)]
enum Reply {
    /// `:status`, then headers, messages, trailers (none: DATA ends the stream).
    Full {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        messages: Vec<Vec<u8>>,
        trailers: Option<Vec<(&'static str, &'static str)>>,
    },
    /// Headers with end of stream.
    HeadersOnly { status: u16, headers: Vec<(&'static str, &'static str)> },
    /// Raw DATA bytes after 200 headers, then `grpc-status: 0` trailers.
    RawData(Vec<u8>),
}

/// A request as the scripted server saw it: headers (pseudo-headers first) and body.
type Received = (Vec<(String, String)>, Vec<u8>);

/// An HTTP/2 server on loopback answering every stream with `reply`; hands over each request.
fn scripted_server(reply: Reply) -> (SocketAddr, mpsc::Receiver<Received>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (requests, received) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((socket, _)) = listener.accept().await {
                let (reply, requests) = (reply.clone(), requests.clone());
                tokio::spawn(async move {
                    let Ok(mut connection) = h2::server::handshake(socket).await else { return };
                    while let Some(Ok((request, respond))) = connection.accept().await {
                        tokio::spawn(answer(request, respond, reply.clone(), requests.clone()));
                    }
                });
            }
        });
    });
    (addr, received)
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    reply: Reply,
    requests: mpsc::Sender<Received>,
) {
    let (parts, mut body) = request.into_parts();
    let mut headers = vec![
        (":method".to_owned(), parts.method.to_string()),
        (":path".to_owned(), parts.uri.path().to_owned()),
        (":authority".to_owned(), parts.uri.authority().map(ToString::to_string).unwrap_or_default()),
    ];
    for (name, value) in &parts.headers {
        headers.push((name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    let mut received = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    let _ = requests.send((headers, received));
    let response = |status: u16, headers: &[(&str, &str)]| {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("response")
    };
    let trailer_map = |pairs: &[(&str, &str)]| {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).expect("name"), value.parse().expect("value"));
        }
        map
    };
    match reply {
        Reply::HeadersOnly { status, headers } => {
            let _ = respond.send_response(response(status, &headers), true);
        }
        Reply::Full { status, headers, messages, trailers } => {
            let Ok(mut stream) = respond.send_response(response(status, &headers), false) else { return };
            let last = messages.len();
            for (index, message) in messages.into_iter().enumerate() {
                let mut framed = vec![0];
                framed.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
                framed.extend_from_slice(&message);
                let _ = stream.send_data(framed.into(), trailers.is_none() && index + 1 == last);
            }
            if let Some(trailers) = trailers {
                let _ = stream.send_trailers(trailer_map(&trailers));
            }
        }
        Reply::RawData(data) => {
            let Ok(mut stream) = respond.send_response(response(200, &[("content-type", "application/grpc")]), false)
            else {
                return;
            };
            let _ = stream.send_data(data.into(), false);
            let _ = stream.send_trailers(trailer_map(&[("grpc-status", "0")]));
        }
    }
}

fn ok_reply(messages: Vec<Vec<u8>>) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("content-type", "application/grpc"), ("x-served-by", "scripted")],
        messages,
        trailers: Some(vec![("grpc-status", "0")]),
    }
}

#[test]
fn the_request_carries_envoys_grpc_headers_and_the_guests_metadata() {
    let (server, requests) = scripted_server(ok_reply(vec![b"first".to_vec(), b"last".to_vec()]));
    let config = "cluster=svc\nservice=pkg.Service\nmethod=Do\nmessage_hex=0a0178\ntimeout_ms=2500\n\
                  metadata=x-acgs-token:secret\nmetadata=trace-bin:ab\n";
    let mut proxy = sidecar(config, &[("svc", server)]);
    let outcome = handle(&mut proxy, &[]);
    // A unary call delivers the last message only (AsyncRequestImpl keeps the last one).
    assert_eq!(grpc_headers(&outcome), pairs(&[("x-grpc-response", &hex(b"last")), ("x-grpc-status", "0")]));
    let (headers, body) = requests.recv_timeout(Duration::from_secs(5)).expect("the server saw the call");
    assert_eq!(
        headers,
        pairs(&[
            (":method", "POST"),
            (":path", "/pkg.Service/Do"),
            (":authority", "svc"),
            ("te", "trailers"),
            ("grpc-timeout", "2500m"),
            ("content-type", "application/grpc"),
            ("x-acgs-token", "secret"),
            ("trace-bin", "YWI="),
        ])
    );
    assert_eq!(body, [0, 0, 0, 0, 3, 0x0a, 0x01, b'x'], "one uncompressed frame");
}

#[test]
fn responses_envoys_client_refuses_close_as_it_closes_them() {
    let cases: [(Reply, &str, &str); 5] = [
        // Not 200 and no grpc-status: httpToGrpcStatus(404) = Unimplemented, no message of its own.
        (Reply::HeadersOnly { status: 404, headers: vec![] }, "12", "via_upstream"),
        // Trailers-only with a status and a percent-encoded message (passed on as it came).
        (
            Reply::HeadersOnly {
                status: 200,
                headers: vec![("content-type", "application/grpc"), ("grpc-status", "7"), ("grpc-message", "no%20way")],
            },
            "7",
            "no%20way{via_upstream}",
        ),
        // DATA ends the stream without trailers: Unknown.
        (
            Reply::Full {
                status: 200,
                headers: vec![("content-type", "application/grpc")],
                messages: vec![b"m".to_vec()],
                trailers: None,
            },
            "2",
            "via_upstream",
        ),
        // A compressed frame: Internal.
        (Reply::RawData(vec![1, 0, 0, 0, 1, 9]), "13", "via_upstream"),
        // OK without a message: Internal, with no message at all (AsyncRequestImpl::onRemoteClose).
        (ok_reply(vec![]), "13", ""),
    ];
    for (reply, status, message) in cases {
        let (server, _requests) = scripted_server(reply);
        let mut proxy = sidecar(&format!("cluster=svc\n{SAMPLING}"), &[("svc", server)]);
        let outcome = handle(&mut proxy, &[]);
        assert_eq!(
            grpc_headers(&outcome),
            pairs(&[("x-grpc-status", status), ("x-grpc-message", message)]),
            "{status}"
        );
    }
}

#[test]
fn a_trailers_only_stream_reports_empty_initial_metadata_and_the_headers_as_trailers() {
    let reply = Reply::HeadersOnly {
        status: 200,
        headers: vec![("content-type", "application/grpc"), ("grpc-status", "5"), ("grpc-message", "missing")],
    };
    let (server, _requests) = scripted_server(reply);
    let mut proxy = sidecar(&format!("mode=stream\ncluster=svc\n{SAMPLING}"), &[("svc", server)]);
    let outcome = handle(&mut proxy, &[]);
    assert_eq!(
        grpc_headers(&outcome),
        pairs(&[
            ("x-grpc-initial-metadata", ""),
            ("x-grpc-messages", ""),
            (
                "x-grpc-trailing-metadata",
                ":status=200;content-type=application/grpc;grpc-status=5;grpc-message=missing"
            ),
            ("x-grpc-status", "5"),
            ("x-grpc-message", "missing{via_upstream}"),
        ])
    );
}
