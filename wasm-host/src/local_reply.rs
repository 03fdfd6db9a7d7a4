//! Envoy's local replies, built as `Http::Utility::prepareLocalReply` builds them
//! (source/common/http/utility.cc): a header map holding `:status`, then the filter's headers
//! added in their order (`sendLocalResponse`'s `modify_headers` callback `addCopy`s each, in
//! source/extensions/common/wasm/context.cc), then, with a body, `content-length` set and
//! `content-type: text/plain` when none is there yet (the default local reply config's body
//! format, `LocalReplyImpl`), and without one neither of them. To a gRPC request
//! (`Grpc::Common::isGrpcRequestHeaders`: a `:path` and an `application/grpc[+…]` content type)
//! the reply is trailers-only: `:status` 200, `content-type: application/grpc`, `grpc-status`
//! (the filter's, else the one `Grpc::Utility::httpToGrpcStatus` maps the code to) and the body
//! percent-encoded as `grpc-message`, no `content-length` and no body. To a HEAD request the
//! headers are the same but no body is sent.

use crate::grpc::wire;
use crate::headers::{Headers, HttpResponse};

/// What Envoy's filter manager notes about a request before the filters run and uses to shape
/// its local replies (`state_.is_grpc_request_`, `state_.is_head_request_`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestKind {
    pub(crate) grpc: bool,
    pub(crate) head: bool,
}

impl RequestKind {
    pub(crate) fn of(headers: &Headers) -> Self {
        let grpc =
            headers.get(":path").is_some() && headers.get("content-type").is_some_and(wire::has_grpc_content_type);
        let head = headers.get(":method") == Some(b"HEAD");
        Self { grpc, head }
    }
}

/// A local reply as `sendLocalReply` is asked for it.
#[derive(Debug, Clone)]
pub(crate) struct LocalReplyRequest {
    pub(crate) status: u16,
    /// `response_code_details`, with whitespace replaced by `_` (`StringUtil::replaceAllEmptySpace`).
    pub(crate) details: String,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The filter's gRPC status, when it gave a known one (0–16; the SDKs pass -1 for none).
    pub(crate) grpc_status: Option<u32>,
}

impl LocalReplyRequest {
    /// A reply the host itself sends (a codec limit, a timeout).
    pub(crate) fn host(status: u16, details: &str, body: &str) -> Self {
        Self {
            status,
            details: details.to_owned(),
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
            grpc_status: None,
        }
    }
}

/// `StringUtil::replaceAllEmptySpace`.
pub(crate) fn details_without_spaces(details: &str) -> String {
    details.chars().map(|c| if c.is_ascii_whitespace() { '_' } else { c }).collect()
}

/// The response the client gets (and the filter's response callbacks see).
pub(crate) fn build(reply: LocalReplyRequest, kind: RequestKind) -> HttpResponse {
    let mut headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value);
    }
    let body = reply.body;
    if kind.grpc {
        headers.set(b"content-type", wire::CONTENT_TYPE.as_bytes());
        if headers.get("grpc-status").is_none_or(<[u8]>::is_empty) {
            let status = reply.grpc_status.unwrap_or_else(|| wire::http_to_grpc_status(reply.status));
            headers.set(b"grpc-status", status.to_string().as_bytes());
        }
        if !body.is_empty() && !kind.head {
            headers.set(b"grpc-message", wire::percent_encode(&body).as_bytes());
        }
        headers.remove(b"content-length");
        return HttpResponse { status: 200, headers, body: Vec::new(), trailers: Headers::new() };
    }
    if body.is_empty() {
        headers.remove(b"content-length");
        headers.remove(b"content-type");
    } else {
        headers.set(b"content-length", body.len().to_string().as_bytes());
        if headers.get("content-type").is_none() {
            headers.append(b"content-type", b"text/plain");
        }
    }
    let body = if kind.head { Vec::new() } else { body };
    HttpResponse { status: reply.status, headers, body, trailers: Headers::new() }
}

#[cfg(test)]
mod tests;
