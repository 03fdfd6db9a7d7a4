//! The limits Envoy's downstream HTTP/1 codec puts on a request's headers, checked before the
//! connection manager sees the request (so before any filter callback): the header block may
//! hold at most `max_request_headers_kb` KiB (the connection manager's setting, default 60) and
//! at most `max_headers_count` headers (`common_http_protocol_options`, default 100).
//!
//! As current Envoy parses HTTP/1 with Balsa (source/common/http/http1/balsa_parser.cc, given
//! `max_headers_kb * 1024` by `ConnectionImpl`'s constructor in codec_impl.cc), the size is that
//! of the whole header block: the request line, every `name: value` line and the blank line,
//! CRLFs included; more than the limit is `HEADERS_TOO_LONG`, which `ConnectionImpl::dispatchSlice`
//! answers with 431 and `http1.headers_too_large`. The count is checked as each header completes
//! (`ConnectionImpl::completeCurrentHeader`): more than the limit is 431 and
//! `http1.too_many_headers`. The size is found first (Balsa reports it before handing Envoy any
//! header). `ServerConnectionImpl::sendProtocolError` sends the reply as
//! `sendLocalReply(431, CodeUtility::toString(431), …)`: body `Request Header Fields Too Large`.
//!
//! The request is rebuilt here as an HTTP/1.1 client would send it: `METHOD PATH HTTP/1.1`,
//! `host: <:authority>`, then each other header as `name: value`.

use crate::headers::Headers;
use crate::local_reply::LocalReplyRequest;

/// `Http1ResponseCodeDetails::get().HeadersTooLarge`.
pub(crate) const HEADERS_TOO_LARGE: &str = "http1.headers_too_large";
/// `Http1ResponseCodeDetails::get().TooManyHeaders`.
pub(crate) const TOO_MANY_HEADERS: &str = "http1.too_many_headers";
/// `Http::Code::RequestHeaderFieldsTooLarge` and its reason phrase.
const STATUS: u16 = 431;
const REASON: &str = "Request Header Fields Too Large";

/// The reply the codec sends for `headers`, or `None` when they are within the limits.
pub(crate) fn check(
    headers: &Headers,
    max_request_headers_kb: u32,
    max_headers_count: u32,
) -> Option<LocalReplyRequest> {
    let limit = u64::from(max_request_headers_kb) * 1024;
    if header_block_len(headers) > limit {
        return Some(LocalReplyRequest::host(STATUS, HEADERS_TOO_LARGE, REASON));
    }
    if header_lines(headers) > u64::from(max_headers_count) {
        return Some(LocalReplyRequest::host(STATUS, TOO_MANY_HEADERS, REASON));
    }
    None
}

/// Bytes of the HTTP/1.1 header block: request line, header lines, the blank line.
pub(crate) fn header_block_len(headers: &Headers) -> u64 {
    let value = |name: &str| headers.get(name).map_or(0, |value| value.len() as u64);
    let request_line = value(":method") + 1 + value(":path") + " HTTP/1.1\r\n".len() as u64;
    let host = headers.get(":authority").map_or(0, |authority| "host: \r\n".len() as u64 + authority.len() as u64);
    let lines: u64 = headers
        .iter()
        .filter(|(name, _)| !name.starts_with(b":"))
        .map(|(name, value)| (name.len() + ": \r\n".len() + value.len()) as u64)
        .sum();
    request_line + host + lines + 2
}

/// Header lines of the HTTP/1.1 request (`host` included, the request line not).
pub(crate) fn header_lines(headers: &Headers) -> u64 {
    let host = u64::from(headers.get(":authority").is_some());
    host + headers.iter().filter(|(name, _)| !name.starts_with(b":")).count() as u64
}

#[cfg(test)]
mod tests;
