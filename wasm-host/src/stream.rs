//! One HTTP stream through the filter: what the host keeps while the callbacks run (the maps and
//! bodies, a pending local reply, continue/close requests), the upstream the embedder supplies,
//! and the outcome reported back.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::headers::{Headers, HttpResponse};
use crate::local_reply::{LocalReplyRequest, RequestKind};

/// Where a stream is in Envoy's callback order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StreamPhase {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
    Log,
}

#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) context_id: u32,
    pub(crate) phase: StreamPhase,
    pub(crate) request_headers: Headers,
    /// False when the codec refused the request before the filters saw its headers: the
    /// access-log phase then has no request headers.
    pub(crate) request_headers_available: bool,
    /// gRPC / HEAD, noted before the filters run, for local replies.
    pub(crate) request_kind: RequestKind,
    pub(crate) request_body: Vec<u8>,
    pub(crate) request_trailers: Option<Headers>,
    /// Trailers that arrived but whose phase has not come yet.
    pub(crate) pending_request_trailers: Headers,
    pub(crate) response_headers: Option<Headers>,
    pub(crate) response_body: Vec<u8>,
    pub(crate) response_trailers: Option<Headers>,
    pub(crate) pending_response_trailers: Headers,
    pub(crate) source_address: SocketAddr,
    pub(crate) peer_principal: Option<String>,
    /// A local reply the filter asked for (`proxy_send_local_response`); it takes effect after
    /// the callback returns.
    pub(crate) local_reply: Option<LocalReplyRequest>,
    pub(crate) continue_requested: bool,
    pub(crate) reset: bool,
    pub(crate) response_code_details: Option<String>,
    /// Values this stream stored with `proxy_set_property` (Envoy's filter state).
    pub(crate) properties: HashMap<Vec<u8>, Vec<u8>>,
    /// The hop's span, when the proxy traces.
    pub(crate) span: Option<crate::envoy_tracing::ActiveSpan>,
}

impl StreamState {
    /// A stream for `request`; its body and trailers become visible to the filter in their
    /// phases (the phase gates every read).
    pub(crate) fn new(context_id: u32, request: crate::headers::HttpRequest) -> Self {
        let mut request_headers = request.headers;
        request_headers.reserve_filter_headroom();
        let request_kind = RequestKind::of(&request_headers);
        Self {
            context_id,
            phase: StreamPhase::RequestHeaders,
            request_headers,
            request_headers_available: true,
            request_kind,
            request_body: request.body,
            request_trailers: None,
            pending_request_trailers: request.trailers,
            response_headers: None,
            response_body: Vec::new(),
            response_trailers: None,
            pending_response_trailers: Headers::new(),
            source_address: request.source_address,
            peer_principal: request.peer_principal,
            local_reply: None,
            continue_requested: false,
            reset: false,
            response_code_details: None,
            properties: HashMap::new(),
            span: None,
        }
    }
}

/// The service behind the proxy: answers the request the filter forwarded.
pub trait Upstream {
    fn respond(&mut self, headers: &Headers, body: &[u8]) -> HttpResponse;
}

impl<F: FnMut(&Headers, &[u8]) -> HttpResponse> Upstream for F {
    fn respond(&mut self, headers: &Headers, body: &[u8]) -> HttpResponse {
        self(headers, body)
    }
}

/// A local reply: the filter's (`proxy_send_local_response`) or the host's (failure policy,
/// stream timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    /// Envoy's response code details (`response.code_details`), e.g. `wasm_fail_stream`.
    pub details: String,
}

/// What happened to one stream.
#[derive(Debug, Clone)]
pub struct StreamOutcome {
    /// What the downstream client received (after the filter's response callbacks).
    pub response: HttpResponse,
    /// The request headers as forwarded upstream; `None` when the request never reached it.
    pub forwarded: Option<Headers>,
    /// Set when the response is a local reply rather than the upstream's.
    pub local_reply: Option<LocalReply>,
    /// The trap (or host failure) that failed this stream, if any.
    pub failure: Option<String>,
    /// Whether the filter reset the stream (`proxy_close_stream`): the client saw no response.
    pub reset: bool,
}
