//! Requests Envoy's HTTP/1 codec refuses before the connection manager runs a filter
//! ([`crate::codec_limits`]). The 431 goes out as a local reply; the connection manager still
//! creates the filter chain for access logging (`FilterManager::sendLocalReply`: "a best-effort
//! attempt to create a filter chain to ensure access logging", source/common/http/filter_manager.cc),
//! and the Wasm filter, registered as an access logger, creates the VM context it never had in
//! `Context::log` (source/extensions/common/wasm/context.cc). So the filter sees
//! `proxy_on_context_create`, `proxy_on_log`, `proxy_on_done` and `proxy_on_delete` only: no
//! request headers, the reply as the response headers. No request id, no span (the connection
//! manager's `decodeHeaders` never ran).

use crate::codec_limits;
use crate::headers::{Headers, HttpRequest};
use crate::local_reply::{self, RequestKind};
use crate::stream::{LocalReply, StreamOutcome, StreamPhase, StreamState};

use super::{Trapped, Worker};

impl Worker {
    /// The outcome of a request the codec refuses, or `None` when it passes the codec.
    pub(super) fn refused_by_codec(&mut self, request: &HttpRequest) -> Option<StreamOutcome> {
        let proxy = &self.env.proxy;
        let reply = codec_limits::check(&request.headers, proxy.max_request_headers_kb, proxy.max_headers_count)?;
        let details = reply.details.clone();
        let response = local_reply::build(reply, RequestKind::default());
        let mut outcome = StreamOutcome {
            response: response.clone(),
            forwarded: None,
            local_reply: Some(LocalReply { status: response.status, details: details.clone() }),
            failure: None,
            reset: false,
        };
        self.run_due();
        if self.failure.is_some() {
            return Some(outcome);
        }
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(2);
        let unparsed = HttpRequest {
            headers: Headers::new(),
            body: Vec::new(),
            trailers: Headers::new(),
            source_address: request.source_address,
            peer_principal: request.peer_principal.clone(),
        };
        let mut stream = StreamState::new(id, unparsed);
        stream.request_headers_available = false;
        stream.phase = StreamPhase::Log;
        let (view, body, _) = response.into_filter_view();
        stream.response_headers = Some(view);
        stream.response_body = body;
        stream.response_code_details = Some(details);
        self.vm.store.data_mut().stream = Some(stream);
        let logged = self.access_log_only(id);
        let state = self.vm.store.data_mut();
        state.effective_context = state.root_context_id;
        state.stream = None;
        if let Err(Trapped(reason)) = logged {
            self.fail(&reason);
            outcome.failure = Some(reason);
        }
        Some(outcome)
    }

    /// `Context::log` on a context that was never created: `onCreate`, then the log, done and
    /// delete callbacks.
    fn access_log_only(&mut self, id: u32) -> Result<(), Trapped> {
        let root = self.vm.store.data().root_context_id as i32;
        self.vm.store.data_mut().effective_context = id;
        let created = self.vm.exports.on_context_create.call(&mut self.vm.store, (id as i32, root));
        self.vm.store.data_mut().effective_context = root as u32;
        created?;
        self.finish(id)
    }
}
