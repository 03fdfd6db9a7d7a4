//! The plugin's failure policy: a trap (or host failure) in guest code marks the VM failed, with
//! the guest's panic message when it logged one. Streams on a failed VM are forwarded as they
//! stand under fail-open, answered with a local 503 (`wasm_fail_stream`) under fail-closed, and
//! under fail-reload the VM is instantiated afresh before the next stream.

use crate::config::FailurePolicy;
use crate::envoy_tracing::ActiveSpan;
use crate::headers::{Headers, HttpResponse};
use crate::logs::LogLevel;
use crate::stream::{LocalReply, StreamOutcome, StreamState, Upstream};

use super::vm::Vm;
use super::{route, Worker};

/// Envoy's response code details for a stream failed by a failed VM.
const FAIL_STREAM_DETAILS: &str = "wasm_fail_stream";

/// A stream's request (and response, if one came) as they stand when its VM failed.
pub(super) struct Unfiltered {
    pub(super) headers: Headers,
    pub(super) body: Vec<u8>,
    pub(super) response: Option<HttpResponse>,
}

impl Unfiltered {
    /// What a trap left of a stream (nothing when it had no state yet), and its span. The
    /// upstream's response counts only when the request was `forwarded`.
    pub(super) fn trapped(stream: Option<StreamState>, forwarded: bool) -> (Self, Option<ActiveSpan>) {
        match stream {
            Some(stream) => (
                Self {
                    response: forwarded.then(|| {
                        let headers = stream.response_headers.unwrap_or_default();
                        HttpResponse::from_filter_view(headers, stream.response_body, stream.pending_response_trailers)
                    }),
                    headers: stream.request_headers,
                    body: stream.request_body,
                },
                stream.span,
            ),
            None => (Self { headers: Headers::new(), body: Vec::new(), response: None }, None),
        }
    }
}

impl Worker {
    /// Marks the VM failed; returns the reason as recorded (with the guest's panic message).
    pub(super) fn fail(&mut self, reason: &str) -> String {
        // A Rust guest panics before it traps: the panic message says why.
        let reason = match self.vm.store.data_mut().logs.take_panic() {
            Some(panic) => format!("{panic} ({reason})"),
            None => reason.to_owned(),
        };
        let reason = reason.as_str();
        tracing::error!(worker = self.index, plugin = %self.env.plugin.name, "Wasm VM failed: {reason}");
        self.vm.store.data_mut().logs.log(LogLevel::Critical, format!("Wasm VM failed: {reason}"));
        self.failure = Some(reason.to_owned());
        reason.to_owned()
    }

    pub(super) fn reload(&mut self) {
        match Vm::instantiate(&self.module, &self.env, &self.process, self.index) {
            Ok(vm) => {
                tracing::warn!(worker = self.index, plugin = %self.env.plugin.name, "Wasm VM reloaded after a failure");
                self.vm = vm;
                self.failure = None;
                self.tick = None;
            }
            Err(error) => tracing::error!(worker = self.index, "reloading the failed Wasm VM: {error}"),
        }
    }

    /// A stream on a failed VM: forwarded as it stands under fail-open (the upstream's
    /// response as it came when the trap hit the response path), a local 503 otherwise. Also
    /// returns the request headers when they were not forwarded.
    pub(super) fn failed_stream(
        &mut self,
        unfiltered: Unfiltered,
        upstream: &mut dyn Upstream,
        failure: String,
        span: Option<&mut ActiveSpan>,
    ) -> (StreamOutcome, Option<Headers>) {
        let Unfiltered { mut headers, body, response } = unfiltered;
        if self.env.plugin.failure_policy == FailurePolicy::FailOpen {
            let response = match response {
                Some(response) => response,
                None => route(&self.env, span, &mut headers, &body, upstream),
            };
            let outcome = StreamOutcome {
                response,
                forwarded: Some(headers),
                local_reply: None,
                failure: Some(failure),
                reset: false,
            };
            return (outcome, None);
        }
        let outcome = StreamOutcome {
            response: HttpResponse { status: 503, headers: Headers::new(), body: Vec::new(), trailers: Headers::new() },
            forwarded: None,
            local_reply: Some(LocalReply { status: 503, details: FAIL_STREAM_DETAILS.to_owned() }),
            failure: Some(failure),
            reset: false,
        };
        (outcome, Some(headers))
    }
}
