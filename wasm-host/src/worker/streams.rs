//! The per-stream state machine: a stream's context created, its request through the request
//! callbacks (headers, body, trailers), the router, the response through the response callbacks,
//! then `on_log`, `on_done`, `on_delete`, in Envoy's order. A callback that pauses waits for
//! `proxy_continue_stream` while events run (Envoy's stream idle timeout answers otherwise); a
//! local reply or a reset sent from a callback ends the path it was sent on.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{TypedFunc, WasmParams, WasmResults};

use crate::abi::ACTION_CONTINUE;
use crate::config::FailurePolicy;
use crate::envoy_tracing::ActiveSpan;
use crate::headers::{Headers, HttpRequest, HttpResponse};
use crate::local_reply::{self, LocalReplyRequest};
use crate::stream::{LocalReply, StreamOutcome, StreamPhase, StreamState, Upstream};

use super::failure::Unfiltered;
use super::local_replies::host_reply;
use super::vm::{GuestExports, Vm};
use super::{len_i32, route, Guest, Trapped, Worker};

/// How a paused stream ended its wait.
pub(super) enum Resumed {
    Continued,
    TimedOut,
}

/// How far a stream got: whether the request went upstream, and the local reply if any.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) forwarded: bool,
    pub(super) local_reply: Option<LocalReply>,
}

impl Worker {
    /// The stream through the filter chain. Also returns the request headers as they stand at
    /// the end when they were not forwarded (a local reply), and the hop's span.
    pub(super) fn filter_stream(
        &mut self,
        request: HttpRequest,
        span: Option<ActiveSpan>,
        upstream: &mut dyn Upstream,
    ) -> (StreamOutcome, Option<Headers>, Option<ActiveSpan>) {
        self.run_due();
        if self.failure.is_some() && self.env.plugin.failure_policy == FailurePolicy::FailReload {
            self.reload();
        }
        if let Some(failure) = self.failure.clone() {
            let mut span = span;
            let unfiltered = Unfiltered { headers: request.headers, body: request.body, response: None };
            let (outcome, headers) = self.failed_stream(unfiltered, upstream, failure, span.as_mut());
            return (outcome, headers, span);
        }
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(2);
        let mut stream = StreamState::new(id, request);
        stream.span = span;
        self.vm.store.data_mut().stream = Some(stream);
        let mut progress = Progress::default();
        let result = self.drive_stream(id, upstream, &mut progress);
        let state = self.vm.store.data_mut();
        state.effective_context = state.root_context_id;
        let stream = state.stream.take();
        match (result, stream) {
            (Ok(outcome), Some(stream)) => {
                let unforwarded = outcome.forwarded.is_none().then_some(stream.request_headers);
                (outcome, unforwarded, stream.span)
            }
            (Ok(outcome), None) => (outcome, None, None),
            (Err(Trapped(reason)), stream) => {
                let reason = self.fail(&reason);
                let (unfiltered, mut span) = Unfiltered::trapped(stream, progress.forwarded);
                let (outcome, headers) = self.failed_stream(unfiltered, upstream, reason, span.as_mut());
                (outcome, headers, span)
            }
        }
    }

    pub(super) fn stream(&mut self) -> &mut StreamState {
        self.vm.store.data_mut().stream.as_mut().expect("a stream is active while its callbacks run")
    }

    /// Calls a stream callback with the stream as the effective context.
    pub(super) fn call_stream<P: WasmParams>(
        &mut self,
        pick: fn(&GuestExports) -> Option<&TypedFunc<P, i32>>,
        id: u32,
        params: P,
    ) -> Guest<i32> {
        let Vm { store, exports } = &mut self.vm;
        let Some(func) = pick(exports) else {
            return Ok(ACTION_CONTINUE);
        };
        let state = store.data_mut();
        state.effective_context = id;
        if let Some(stream) = state.stream.as_mut() {
            stream.continue_requested = false;
        }
        let result = func.call(&mut *store, params);
        let state = store.data_mut();
        state.effective_context = state.root_context_id;
        Ok(result?)
    }

    pub(super) fn call_stream_unit<R: WasmResults>(
        &mut self,
        pick: fn(&GuestExports) -> Option<&TypedFunc<i32, R>>,
        id: u32,
    ) -> Guest<()> {
        let Vm { store, exports } = &mut self.vm;
        let Some(func) = pick(exports) else {
            return Ok(());
        };
        store.data_mut().effective_context = id;
        let result = func.call(&mut *store, id as i32);
        let state = store.data_mut();
        state.effective_context = state.root_context_id;
        result?;
        Ok(())
    }

    fn drive_stream(&mut self, id: u32, upstream: &mut dyn Upstream, progress: &mut Progress) -> Guest<StreamOutcome> {
        let root = self.vm.store.data().root_context_id as i32;
        self.vm.store.data_mut().effective_context = id;
        let created = self.vm.exports.on_context_create.call(&mut self.vm.store, (id as i32, root));
        self.vm.store.data_mut().effective_context = root as u32;
        created?;

        let stream = self.stream();
        let body_len = stream.request_body.len();
        let trailers_len = stream.pending_request_trailers.len();
        let headers_len = len_i32(stream.request_headers.len());
        let end_of_stream = i32::from(body_len == 0 && trailers_len == 0);
        let action =
            self.call_stream(|e| e.on_request_headers.as_ref(), id, (id as i32, headers_len, end_of_stream))?;
        if let Some(done) = self.after_request_callback(id, action, progress)? {
            return Ok(done);
        }
        if body_len > 0 {
            self.stream().phase = StreamPhase::RequestBody;
            let action = self.call_stream(
                |e| e.on_request_body.as_ref(),
                id,
                (id as i32, len_i32(body_len), i32::from(trailers_len == 0)),
            )?;
            if let Some(done) = self.after_request_callback(id, action, progress)? {
                return Ok(done);
            }
        }
        if trailers_len > 0 {
            let stream = self.stream();
            stream.phase = StreamPhase::RequestTrailers;
            stream.request_trailers = Some(std::mem::take(&mut stream.pending_request_trailers));
            let action =
                self.call_stream(|e| e.on_request_trailers.as_ref(), id, (id as i32, len_i32(trailers_len)))?;
            if let Some(done) = self.after_request_callback(id, action, progress)? {
                return Ok(done);
            }
        }

        let env = Arc::clone(&self.env);
        let stream = self.stream();
        let response = route(&env, stream.span.as_mut(), &mut stream.request_headers, &stream.request_body, upstream);
        progress.forwarded = true;
        self.response_phase(id, response, progress)
    }

    /// After a request callback: a local reply or reset ends the request path; a pause waits for
    /// `proxy_continue_stream` (or answers as Envoy's stream idle timeout, 408).
    fn after_request_callback(
        &mut self,
        id: u32,
        action: i32,
        progress: &mut Progress,
    ) -> Guest<Option<StreamOutcome>> {
        if action != ACTION_CONTINUE && !self.stream().continue_requested {
            if let Resumed::TimedOut = self.wait_for_continue()? {
                let reply = host_reply(408, "stream_idle_timeout");
                return self.local_reply(id, reply, progress).map(Some);
            }
        }
        if let Some(reply) = self.stream().local_reply.take() {
            return self.local_reply(id, reply, progress).map(Some);
        }
        if self.stream().reset {
            return self.finish_reset(id).map(Some);
        }
        Ok(None)
    }

    /// A local reply: built as Envoy's `sendLocalReply` builds it, then through the filter's
    /// response callbacks.
    fn local_reply(&mut self, id: u32, reply: LocalReplyRequest, progress: &mut Progress) -> Guest<StreamOutcome> {
        let details = reply.details.clone();
        let response = local_reply::build(reply, self.stream().request_kind);
        progress.local_reply = Some(LocalReply { status: response.status, details: details.clone() });
        self.stream().response_code_details = Some(details);
        self.response_phase(id, response, progress)
    }

    pub(super) fn response_phase(
        &mut self,
        id: u32,
        response: HttpResponse,
        progress: &mut Progress,
    ) -> Guest<StreamOutcome> {
        let (view, body, trailers) = response.into_filter_view();
        let (body_len, trailers_len) = (body.len(), trailers.len());
        let headers_len = len_i32(view.len());
        let stream = self.stream();
        stream.phase = StreamPhase::ResponseHeaders;
        stream.response_headers = Some(view);
        stream.response_body = body;
        stream.pending_response_trailers = trailers;
        let end_of_stream = i32::from(body_len == 0 && trailers_len == 0);
        let action =
            self.call_stream(|e| e.on_response_headers.as_ref(), id, (id as i32, headers_len, end_of_stream))?;
        self.after_response_callback(action)?;
        if body_len > 0 && !self.stream().reset {
            self.stream().phase = StreamPhase::ResponseBody;
            let action = self.call_stream(
                |e| e.on_response_body.as_ref(),
                id,
                (id as i32, len_i32(body_len), i32::from(trailers_len == 0)),
            )?;
            self.after_response_callback(action)?;
        }
        if trailers_len > 0 && !self.stream().reset {
            let stream = self.stream();
            stream.phase = StreamPhase::ResponseTrailers;
            stream.response_trailers = Some(std::mem::take(&mut stream.pending_response_trailers));
            let action =
                self.call_stream(|e| e.on_response_trailers.as_ref(), id, (id as i32, len_i32(trailers_len)))?;
            self.after_response_callback(action)?;
        }
        if self.stream().reset {
            return self.finish_reset(id);
        }
        self.finish(id)?;
        let stream = self.stream();
        let headers = stream.response_headers.take().unwrap_or_default();
        let body = std::mem::take(&mut stream.response_body);
        let trailers = stream.response_trailers.take().unwrap_or_default();
        let forwarded = progress.forwarded.then(|| std::mem::take(&mut stream.request_headers));
        Ok(StreamOutcome {
            response: HttpResponse::from_filter_view(headers, body, trailers),
            forwarded,
            local_reply: progress.local_reply.take(),
            failure: None,
            reset: false,
        })
    }

    /// After a response callback: a local reply sent now replaces the response (without running
    /// the response callbacks again); a pause waits (504 on timeout).
    fn after_response_callback(&mut self, action: i32) -> Guest<()> {
        if action != ACTION_CONTINUE && !self.stream().continue_requested && !self.stream().reset {
            if let Resumed::TimedOut = self.wait_for_continue()? {
                self.replace_response(host_reply(504, "stream_idle_timeout"));
            }
        }
        if let Some(reply) = self.stream().local_reply.take() {
            self.replace_response(reply);
        }
        Ok(())
    }

    /// `on_log`, `on_done`, `on_delete`. (A false `on_done` would defer deletion until
    /// `proxy_done` in Envoy; the stream is over here either way, so `on_delete` follows.)
    pub(super) fn finish(&mut self, id: u32) -> Guest<()> {
        self.stream().phase = StreamPhase::Log;
        self.call_stream_unit(|e| e.on_log.as_ref(), id)?;
        self.call_stream_unit(|e| e.on_done.as_ref(), id)?;
        self.call_stream_unit(|e| e.on_delete.as_ref(), id)
    }

    pub(super) fn finish_reset(&mut self, id: u32) -> Guest<StreamOutcome> {
        self.finish(id)?;
        Ok(StreamOutcome {
            response: HttpResponse { status: 0, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() },
            forwarded: None,
            local_reply: None,
            failure: None,
            reset: true,
        })
    }

    /// Runs events until the paused stream is continued, answered or reset, or times out.
    pub(super) fn wait_for_continue(&mut self) -> Guest<Resumed> {
        let deadline = Instant::now() + self.env.proxy.stream_timeout;
        loop {
            let stream = self.stream();
            if stream.continue_requested || stream.local_reply.is_some() || stream.reset {
                return Ok(Resumed::Continued);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Resumed::TimedOut);
            }
            let wake = self.tick.map_or(deadline, |(_, next)| next.min(deadline));
            self.deliver_events(Some(wake))?;
        }
    }
}
