//! Local replies: a reply the filter (`proxy_send_local_response`) or the host (a stream idle
//! timeout) sends, built as Envoy's `sendLocalReply` builds it. Sent from a request callback, it
//! goes through the filter's response callbacks (`Worker::local_reply`, with the stream's
//! callbacks); sent from a response callback, it replaces the response without running them
//! again ([`Worker::replace_response`], here).

use crate::headers::Headers;
use crate::local_reply::{self, LocalReplyRequest};

use super::Worker;

impl Worker {
    pub(super) fn replace_response(&mut self, reply: LocalReplyRequest) {
        let details = reply.details.clone();
        let (view, body, _) = local_reply::build(reply, self.stream().request_kind).into_filter_view();
        let stream = self.stream();
        stream.response_code_details = Some(details);
        stream.response_headers = Some(view);
        stream.response_body = body;
        stream.response_trailers = None;
        stream.pending_response_trailers = Headers::new();
    }
}

/// A reply the host itself sends (no body, no extra headers).
pub(super) fn host_reply(status: u16, details: &str) -> LocalReplyRequest {
    LocalReplyRequest::host(status, details, "")
}
