//! gRPC callouts as Envoy's Wasm context makes them (source/extensions/common/wasm/context.cc:
//! `Context::grpcCall`, `grpcStream`, `grpcSend`, `grpcClose`, `grpcCancel`, and the
//! `onGrpc*Wrapper` callbacks; the host calls in proxy-wasm-cpp-host src/exports.cc, which make
//! every call on the root context). This module keeps a VM's calls and streams and turns what
//! the transport ([`client`]) reports into what the guest sees:
//!
//! - tokens as `WasmBase` numbers callouts (include/proxy-wasm/wasm.h): the low two bits say
//!   the kind (0 HTTP call, 1 gRPC call, 2 gRPC stream), each kind counting up in steps of 4;
//! - a unary call (`Grpc::AsyncRequestImpl::onRemoteClose`) delivers either the last message
//!   (`proxy_on_grpc_receive`) when it closed with OK, or `proxy_on_grpc_close` with the status
//!   (OK without a message is `Internal` with an empty message); no metadata callbacks;
//! - a stream delivers initial metadata, every message, trailing metadata, then the close;
//! - a cancelled call or stream delivers nothing more; a closed stream keeps delivering until
//!   the remote side closes too; a call's entry is gone once its result was delivered.

mod client;
mod service;
pub(crate) mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use self::client::{Call, Command};
pub(crate) use self::service::{parse as parse_target, Target};
use crate::abi::status;
use crate::callout::CalloutEvent;
use crate::headers::Headers;

/// `kCalloutTypeMask` and the kinds below it.
const CALLOUT_TYPE_MASK: u32 = 0x3;
const KIND_GRPC_CALL: u32 = 1;
const KIND_GRPC_STREAM: u32 = 2;
/// `kCalloutIncrement`.
const CALLOUT_INCREMENT: u32 = 4;
/// The message Envoy's `AsyncStreamImpl::initialize` reports for a cluster it cannot find.
const CLUSTER_NOT_AVAILABLE: &str = "Cluster not available";
/// The router's local reply when the cluster has no endpoint (`Filter::sendNoHealthyHosts`).
pub(crate) const NO_HEALTHY_UPSTREAM: &str = "no healthy upstream";

pub(crate) fn is_call(token: u32) -> bool {
    token & CALLOUT_TYPE_MASK == KIND_GRPC_CALL
}

pub(crate) fn is_stream(token: u32) -> bool {
    token & CALLOUT_TYPE_MASK == KIND_GRPC_STREAM
}

/// What the transport reports for one token.
#[derive(Debug)]
pub(crate) struct GrpcEvent {
    pub(crate) token: u32,
    pub(crate) kind: GrpcEventKind,
}

#[derive(Debug)]
pub(crate) enum GrpcEventKind {
    InitialMetadata(Headers),
    Message(Vec<u8>),
    TrailingMetadata(Headers),
    Close { status: u32, message: String },
}

/// What the guest is called with.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// `proxy_on_grpc_receive_initial_metadata(root, token, headers)`.
    InitialMetadata(u32, Headers),
    /// `proxy_on_grpc_receive(root, token, size)`, the message readable as `GrpcReceiveBuffer`.
    Receive(u32, Vec<u8>),
    /// `proxy_on_grpc_receive_trailing_metadata(root, token, trailers)`.
    TrailingMetadata(u32, Headers),
    /// `proxy_on_grpc_close(root, token, status)`, the message readable with `proxy_get_status`.
    Close(u32, u32, String),
}

impl Delivery {
    pub(crate) fn token(&self) -> u32 {
        match self {
            Self::InitialMetadata(token, _)
            | Self::Receive(token, _)
            | Self::TrailingMetadata(token, _)
            | Self::Close(token, _, _) => *token,
        }
    }
}

/// A call or stream the guest can still address.
#[derive(Debug)]
struct Active {
    commands: Option<UnboundedSender<Command>>,
    task: Option<AbortHandle>,
    last_message: Option<Vec<u8>>,
    local_closed: bool,
    remote_closed: bool,
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Where a call goes and what it carries, as the host call read it from the guest.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub(crate) endpoint: SocketAddr,
    /// `:authority`: `envoy_grpc.authority`, else the cluster name (`Common::prepareHeaders`).
    pub(crate) authority: &'a str,
    pub(crate) service: &'a [u8],
    pub(crate) method: &'a [u8],
    pub(crate) metadata: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The gRPC calls and streams of one VM.
#[derive(Debug)]
pub(crate) struct GrpcCallouts {
    next_call: u32,
    next_stream: u32,
    active: HashMap<u32, Active>,
    events: Sender<CalloutEvent>,
}

impl GrpcCallouts {
    pub(crate) fn new(events: Sender<CalloutEvent>) -> Self {
        Self { next_call: KIND_GRPC_CALL, next_stream: KIND_GRPC_STREAM, active: HashMap::new(), events }
    }

    /// `nextGrpcCallId`.
    pub(crate) fn next_call_token(&mut self) -> u32 {
        self.next_call = self.next_call.wrapping_add(CALLOUT_INCREMENT);
        self.next_call
    }

    /// `nextGrpcStreamId`.
    pub(crate) fn next_stream_token(&mut self) -> u32 {
        self.next_stream = self.next_stream.wrapping_add(CALLOUT_INCREMENT);
        self.next_stream
    }

    /// Calls and streams whose remote side has not closed yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.active.values().filter(|active| !active.remote_closed).count()
    }

    /// `proxy_grpc_call` to a known endpoint: `Ok` or `InternalFailure`.
    pub(crate) fn call(&mut self, token: u32, outgoing: Outgoing<'_>, message: &[u8], timeout: Duration) -> i32 {
        let unary = Bytes::from(wire::frame(message));
        self.start(token, outgoing, Some(unary), Some(timeout))
    }

    /// `proxy_grpc_stream` to a known endpoint: `Ok` or `InternalFailure`.
    pub(crate) fn stream(&mut self, token: u32, outgoing: Outgoing<'_>) -> i32 {
        self.start(token, outgoing, None, None)
    }

    fn start(&mut self, token: u32, outgoing: Outgoing<'_>, unary: Option<Bytes>, timeout: Option<Duration>) -> i32 {
        let endpoint = outgoing.endpoint;
        let request = match request(outgoing, timeout) {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(token, "gRPC callout cannot be sent: {error}");
                return status::INTERNAL_FAILURE;
            }
        };
        let call = Call { token, endpoint, request, unary, timeout };
        match client::spawn(call, self.events.clone()) {
            Ok((commands, task)) => {
                let active = Active {
                    commands: Some(commands),
                    task: Some(task),
                    last_message: None,
                    local_closed: false,
                    remote_closed: false,
                };
                self.active.insert(token, active);
                status::OK
            }
            Err(error) => {
                tracing::warn!(token, "gRPC callout not started: {error}");
                status::INTERNAL_FAILURE
            }
        }
    }

    /// A `GrpcService` naming a cluster Envoy does not have: `AsyncStreamImpl::initialize`
    /// closes the stream with Unavailable before `sendRaw`/`startRaw` return null, so the guest
    /// gets `InternalFailure` and, once its callback returns, a close for a token it never saw.
    pub(crate) fn cluster_not_available(&mut self, token: u32) -> i32 {
        let active =
            Active { commands: None, task: None, last_message: None, local_closed: true, remote_closed: false };
        self.active.insert(token, active);
        let close = GrpcEventKind::Close { status: wire::UNAVAILABLE, message: CLUSTER_NOT_AVAILABLE.to_owned() };
        let _ = self.events.send(CalloutEvent::Grpc(GrpcEvent { token, kind: close }));
        status::INTERNAL_FAILURE
    }

    /// A known cluster without endpoints: the call starts (the guest gets its token) and the
    /// router closes it with Unavailable "no healthy upstream".
    pub(crate) fn no_healthy_upstream(&mut self, token: u32) {
        let active =
            Active { commands: None, task: None, last_message: None, local_closed: false, remote_closed: false };
        self.active.insert(token, active);
        let close = GrpcEventKind::Close { status: wire::UNAVAILABLE, message: NO_HEALTHY_UPSTREAM.to_owned() };
        let _ = self.events.send(CalloutEvent::Grpc(GrpcEvent { token, kind: close }));
    }

    /// `Context::grpcSend`: streams only.
    pub(crate) fn send(&mut self, token: u32, message: &[u8], end_stream: bool) -> i32 {
        if !is_stream(token) {
            return status::BAD_ARGUMENT;
        }
        let Some(active) = self.active.get_mut(&token) else {
            return status::NOT_FOUND;
        };
        if let Some(commands) = &active.commands {
            let _ = commands.send(Command::Send(Bytes::from(wire::frame(message)), end_stream));
        }
        status::OK
    }

    /// `Context::grpcClose`: cancels a call; half-closes a stream, which is forgotten once the
    /// remote side has closed as well.
    pub(crate) fn close(&mut self, token: u32) -> i32 {
        if is_call(token) {
            return self.cancel(token);
        }
        if !is_stream(token) {
            return status::BAD_ARGUMENT;
        }
        let Some(active) = self.active.get_mut(&token) else {
            return status::NOT_FOUND;
        };
        if let Some(commands) = &active.commands {
            let _ = commands.send(Command::Close);
        }
        if active.remote_closed {
            self.active.remove(&token);
        } else {
            active.local_closed = true;
        }
        status::OK
    }

    /// `Context::grpcCancel`: cancels a call, resets a stream; nothing is delivered afterwards.
    pub(crate) fn cancel(&mut self, token: u32) -> i32 {
        if !is_call(token) && !is_stream(token) {
            return status::BAD_ARGUMENT;
        }
        match self.active.remove(&token) {
            Some(_) => status::OK,
            None => status::NOT_FOUND,
        }
    }

    /// What the guest is to be called with for `event`; `None` when nothing (a cancelled token,
    /// or a unary call's intermediate events).
    pub(crate) fn accept(&mut self, event: GrpcEvent) -> Option<Delivery> {
        let token = event.token;
        let active = self.active.get_mut(&token)?;
        if is_call(token) {
            return match event.kind {
                GrpcEventKind::Message(message) => {
                    active.last_message = Some(message);
                    None
                }
                GrpcEventKind::Close { status, message } => {
                    active.remote_closed = true;
                    Some(match (status, active.last_message.take()) {
                        (wire::OK, Some(response)) => Delivery::Receive(token, response),
                        (wire::OK, None) => Delivery::Close(token, wire::INTERNAL, String::new()),
                        (status, _) => Delivery::Close(token, status, message),
                    })
                }
                GrpcEventKind::InitialMetadata(_) | GrpcEventKind::TrailingMetadata(_) => None,
            };
        }
        Some(match event.kind {
            GrpcEventKind::InitialMetadata(headers) => Delivery::InitialMetadata(token, headers),
            GrpcEventKind::Message(message) => Delivery::Receive(token, message),
            GrpcEventKind::TrailingMetadata(headers) => Delivery::TrailingMetadata(token, headers),
            GrpcEventKind::Close { status, message } => {
                active.remote_closed = true;
                Delivery::Close(token, status, message)
            }
        })
    }

    /// After the guest's callback for `delivery` returned: a call's entry goes (whatever the
    /// callback did), a stream's once both sides have closed.
    pub(crate) fn delivered(&mut self, delivery: &Delivery) {
        let token = delivery.token();
        let finished = match delivery {
            _ if is_call(token) => matches!(delivery, Delivery::Receive(..) | Delivery::Close(..)),
            Delivery::Close(..) => self.active.get(&token).is_some_and(|active| active.local_closed),
            _ => false,
        };
        if finished {
            self.active.remove(&token);
        }
    }
}

/// The HTTP/2 request `Common::prepareHeaders` builds: `POST /<service>/<method>`, `te:
/// trailers`, `grpc-timeout` when the call has a timeout, `content-type: application/grpc`, then
/// the guest's initial metadata (`onGrpcCreateInitialMetadata` copies it in), `-bin` values
/// base64-encoded. An authority HTTP/2 cannot carry (Istio cluster names contain `|`) is
/// replaced by the endpoint's address.
fn request(outgoing: Outgoing<'_>, timeout: Option<Duration>) -> Result<http::Request<()>, http::Error> {
    let path = format!("/{}/{}", String::from_utf8_lossy(outgoing.service), String::from_utf8_lossy(outgoing.method));
    let authority = match http::uri::Authority::try_from(outgoing.authority) {
        Ok(authority) => authority.to_string(),
        Err(_) => outgoing.endpoint.to_string(),
    };
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{authority}{path}"))
        .header("te", "trailers");
    if let Some(timeout) = timeout {
        builder = builder.header("grpc-timeout", wire::grpc_timeout(timeout));
    }
    builder = builder.header("content-type", wire::CONTENT_TYPE);
    let mut request = builder.body(())?;
    for (name, value) in outgoing.metadata {
        let value = if name.ends_with(b"-bin") { wire::base64(&value).into_bytes() } else { value };
        match (http::HeaderName::from_bytes(&name), http::HeaderValue::from_bytes(&value)) {
            (Ok(name), Ok(value)) => {
                request.headers_mut().append(name, value);
            }
            _ => {
                tracing::debug!(name = %String::from_utf8_lossy(&name), "gRPC metadata HTTP/2 cannot carry is dropped")
            }
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests;
