//! One gRPC call or stream over HTTP/2 (h2c, prior knowledge) to a loopback endpoint, reporting
//! what Envoy's async gRPC client (`Grpc::AsyncStreamImpl`, source/common/grpc/async_client_impl.cc)
//! reports to its callbacks: initial metadata, each message, trailing metadata, then the close
//! with a status and message. Failures the router in front of that client turns into a local
//! reply (connection refused, a reset before the response, the route timeout) arrive as that
//! reply does: a trailers-only gRPC response (`Http::Utility::prepareLocalReply`,
//! source/common/http/utility.cc) whose status and `grpc-message` the client reports, followed
//! by the stream's response code details in braces (`enhancedGrpcMessage`):
//!
//! - connection refused: 14, `upstream connect error or disconnect/reset before headers. reset
//!   reason: remote connection failure, transport failure reason: delayed connect error:
//!   Connection refused{upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}}`
//!   (`Router::Filter::onUpstreamReset`, source/common/router/router.cc; the transport failure
//!   reason is `ConnectionImpl::onWriteReady`'s `delayed connect error: <strerror>`);
//! - the timeout before the response headers: 14, `upstream request timeout{upstream_response_timeout}`
//!   (`Router::Filter::onResponseTimeout`); after them the stream is reset: 13, `via_upstream`;
//! - a reset after the headers (`AsyncStreamImpl::onReset`): 13, `via_upstream`.
//!
//! Runs on one process-wide tokio runtime with a single worker thread; cancelling aborts the
//! task (Envoy's `AsyncRequestImpl::cancel` delivers nothing afterwards).

use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::{AbortHandle, JoinHandle};

use super::wire::{self, FrameDecoder};
use super::{GrpcEvent, GrpcEventKind};
use crate::callout::CalloutEvent;
use crate::headers::Headers;

/// `StreamInfo::ResponseCodeDetails::get().ViaUpstream`.
const VIA_UPSTREAM: &str = "via_upstream";

/// What the guest asked for, ready to send.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) token: u32,
    pub(crate) endpoint: SocketAddr,
    pub(crate) request: http::Request<()>,
    /// The framed request message of a unary call (sent with end of stream); `None` for a stream.
    pub(crate) unary: Option<Bytes>,
    /// The route timeout of a unary call (Envoy: `RequestOptions::setTimeout`); 0 means none.
    pub(crate) timeout: Option<Duration>,
}

/// What the guest does to an open stream.
#[derive(Debug)]
pub(crate) enum Command {
    /// `proxy_grpc_send`: a framed message, and whether it ends the stream.
    Send(Bytes, bool),
    /// `proxy_grpc_close`: half-close (`AsyncStreamImpl::closeStream` sends empty data with end
    /// of stream).
    Close,
}

/// The runtime the transport tasks run on; `None` when it could not be built.
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("wasm-grpc")
                .enable_all()
                .build()
                .map_err(|error| tracing::error!("cannot start the runtime for gRPC callouts: {error}"))
                .ok()
        })
        .as_ref()
}

/// Starts `call`; its events go to `events`. Returns the command sender and the task's handle.
pub(crate) fn spawn(
    call: Call,
    events: Sender<CalloutEvent>,
) -> Result<(UnboundedSender<Command>, AbortHandle), &'static str> {
    let runtime = runtime().ok_or("no runtime for gRPC callouts")?;
    let (commands, receiver) = unbounded_channel();
    let task = runtime.spawn(run(call, receiver, events));
    Ok((commands, task.abort_handle()))
}

/// Why an exchange ended early.
#[derive(Debug)]
enum Failure {
    /// The TCP connection could not be made.
    Connect(std::io::Error),
    /// The stream or connection went away before the response headers (Envoy's reset reason).
    ResetBeforeHeaders(&'static str),
    /// The stream or connection went away after them.
    ResetAfterHeaders,
    /// The guest cancelled (its command channel is gone): nothing is reported.
    Cancelled,
}

struct Emitter {
    token: u32,
    events: Sender<CalloutEvent>,
}

impl Emitter {
    fn emit(&self, kind: GrpcEventKind) {
        // The VM may be gone (or have cancelled); then nobody listens.
        let _ = self.events.send(CalloutEvent::Grpc(GrpcEvent { token: self.token, kind }));
    }

    /// `AsyncStreamImpl::onTrailers`: trailing metadata, then the close with `grpc-status`
    /// (Unknown when absent) and the raw `grpc-message`.
    fn trailers(&self, trailers: Headers, details: &str) {
        let status = wire::grpc_status(&trailers).unwrap_or(wire::UNKNOWN);
        let message = wire::grpc_message(&trailers);
        self.emit(GrpcEventKind::TrailingMetadata(trailers));
        self.emit(GrpcEventKind::Close { status, message: wire::enhanced_message(&message, details) });
    }

    /// `AsyncStreamImpl::streamError`: empty trailing metadata, then the close.
    fn stream_error(&self, status: u32, details: &str) {
        self.emit(GrpcEventKind::TrailingMetadata(Headers::new()));
        self.emit(GrpcEventKind::Close { status, message: wire::enhanced_message("", details) });
    }

    /// A router local reply to a gRPC request: trailers-only (`:status` 200, `content-type`,
    /// `grpc-status` from the HTTP code, `grpc-message` the percent-encoded body), which the
    /// client reports as empty initial metadata and those headers as trailing metadata.
    fn local_reply(&self, code: u16, body: &str, details: &str) {
        let status = wire::http_to_grpc_status(code).to_string();
        let trailers = Headers::from_pairs([
            (":status", "200"),
            ("content-type", wire::CONTENT_TYPE),
            ("grpc-status", status.as_str()),
            ("grpc-message", wire::percent_encode(body.as_bytes()).as_str()),
        ]);
        self.emit(GrpcEventKind::InitialMetadata(Headers::new()));
        self.trailers(trailers, details);
    }
}

/// Aborts the connection driver when the exchange ends (or is aborted).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(call: Call, mut commands: UnboundedReceiver<Command>, events: Sender<CalloutEvent>) {
    let Call { token, endpoint, request, unary, timeout } = call;
    let emitter = Emitter { token, events };
    let mut headers_received = false;
    let exchange = exchange(endpoint, request, unary, &mut commands, &emitter, &mut headers_received);
    let ended = match timeout.filter(|timeout| !timeout.is_zero()) {
        Some(timeout) => tokio::time::timeout(timeout, exchange).await.ok(),
        None => Some(exchange.await),
    };
    match ended {
        Some(Ok(()) | Err(Failure::Cancelled)) => {}
        // The route timeout (`Router::Filter::onResponseTimeout`): a local 504 before the
        // response started, a reset of the started response after.
        None if headers_received => emitter.stream_error(wire::INTERNAL, VIA_UPSTREAM),
        None => emitter.local_reply(504, "upstream request timeout", "upstream_response_timeout"),
        Some(Err(Failure::Connect(error))) => {
            let transport = format!("delayed connect error: {}", strerror(&error));
            upstream_reset(&emitter, "remote connection failure", Some(&transport));
        }
        Some(Err(Failure::ResetBeforeHeaders(reason))) => upstream_reset(&emitter, reason, None),
        Some(Err(Failure::ResetAfterHeaders)) => emitter.stream_error(wire::INTERNAL, VIA_UPSTREAM),
    }
}

/// `Router::Filter::onUpstreamReset` before the response started: a local 503.
fn upstream_reset(emitter: &Emitter, reason: &str, transport: Option<&str>) {
    let mut body = format!("upstream connect error or disconnect/reset before headers. reset reason: {reason}");
    let mut details = format!("upstream_reset_before_response_started{{{reason}");
    if let Some(transport) = transport {
        body.push_str(&format!(", transport failure reason: {transport}"));
        details.push_str(&format!("|{transport}"));
    }
    details.push('}');
    // `StringUtil::replaceAllEmptySpace`.
    let details: String = details.chars().map(|c| if c.is_ascii_whitespace() { '_' } else { c }).collect();
    emitter.local_reply(503, &body, &details);
}

/// The C library's text for an OS error (`errorDetails`, i.e. `strerror`), which Rust prints
/// followed by ` (os error N)`.
fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn reset_reason(error: &h2::Error) -> &'static str {
    if error.is_reset() && error.is_remote() {
        "remote reset"
    } else {
        "connection termination"
    }
}

async fn exchange(
    endpoint: SocketAddr,
    request: http::Request<()>,
    unary: Option<Bytes>,
    commands: &mut UnboundedReceiver<Command>,
    emitter: &Emitter,
    headers_received: &mut bool,
) -> Result<(), Failure> {
    let tcp = TcpStream::connect(endpoint).await.map_err(Failure::Connect)?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) =
        h2::client::handshake(tcp).await.map_err(|e| Failure::ResetBeforeHeaders(reset_reason(&e)))?;
    let _driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let mut sender = sender.ready().await.map_err(|e| Failure::ResetBeforeHeaders(reset_reason(&e)))?;
    let (response, mut send) =
        sender.send_request(request, false).map_err(|e| Failure::ResetBeforeHeaders(reset_reason(&e)))?;
    let mut sending = true;
    if let Some(message) = unary {
        send.send_data(message, true).map_err(|e| Failure::ResetBeforeHeaders(reset_reason(&e)))?;
        sending = false;
    }

    // The response headers, while a stream's guest may still send.
    tokio::pin!(response);
    let response = loop {
        tokio::select! {
            response = &mut response => break response.map_err(|e| Failure::ResetBeforeHeaders(reset_reason(&e)))?,
            command = commands.recv(), if sending => sending = apply(command, &mut send)?,
        }
    };
    *headers_received = true;
    let (parts, mut body) = response.into_parts();
    let mut headers = Headers::new();
    headers.push(":status", parts.status.as_str());
    for (name, value) in &parts.headers {
        headers.push(name.as_str(), value.as_bytes());
    }
    let end_stream = body.is_end_stream();

    // `AsyncStreamImpl::onHeaders`.
    if parts.status != http::StatusCode::OK {
        emitter.emit(GrpcEventKind::InitialMetadata(Headers::new()));
        if end_stream && wire::grpc_status(&headers).is_some() {
            emitter.trailers(headers, VIA_UPSTREAM);
        } else {
            emitter.stream_error(wire::http_to_grpc_status(parts.status.as_u16()), VIA_UPSTREAM);
        }
        return Ok(());
    }
    if end_stream {
        emitter.emit(GrpcEventKind::InitialMetadata(Headers::new()));
        emitter.trailers(headers, VIA_UPSTREAM);
        return Ok(());
    }
    emitter.emit(GrpcEventKind::InitialMetadata(headers));

    // `AsyncStreamImpl::onData`, then `onTrailers`.
    let mut decoder = FrameDecoder::default();
    loop {
        let chunk = tokio::select! {
            chunk = body.data() => chunk,
            command = commands.recv(), if sending => {
                sending = apply(command, &mut send)?;
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|_| Failure::ResetAfterHeaders)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        let Ok(frames) = decoder.decode(&chunk) else {
            emitter.stream_error(wire::INTERNAL, VIA_UPSTREAM);
            return Ok(());
        };
        for frame in frames {
            if !frame.data.is_empty() && frame.flags != 0 {
                emitter.stream_error(wire::INTERNAL, VIA_UPSTREAM);
                return Ok(());
            }
            emitter.emit(GrpcEventKind::Message(frame.data));
        }
    }
    match body.trailers().await.map_err(|_| Failure::ResetAfterHeaders)? {
        Some(trailers) => {
            let trailers = Headers::from_pairs(trailers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())));
            emitter.trailers(trailers, VIA_UPSTREAM);
        }
        // DATA ended the stream without trailers.
        None => emitter.stream_error(wire::UNKNOWN, VIA_UPSTREAM),
    }
    Ok(())
}

/// Applies a guest command to the request side; returns whether it stays open. A closed command
/// channel means the guest cancelled the stream.
fn apply(command: Option<Command>, send: &mut h2::SendStream<Bytes>) -> Result<bool, Failure> {
    match command {
        None => Err(Failure::Cancelled),
        Some(Command::Send(message, end_stream)) => {
            // A reset stream reports itself on the response side.
            let _ = send.send_data(message, end_stream);
            Ok(!end_stream)
        }
        Some(Command::Close) => {
            let _ = send.send_data(Bytes::new(), true);
            Ok(false)
        }
    }
}
