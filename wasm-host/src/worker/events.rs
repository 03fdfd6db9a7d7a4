//! Events a worker delivers to the root context between and during streams: HTTP callout
//! results (`on_http_call_response`), gRPC callout metadata, messages and closes
//! (`on_grpc_receive*`, `on_grpc_close`), shared-queue notifications (`on_queue_ready`), and the
//! due tick ([`super::ticks`]). They run when the embedder gives the worker time
//! ([`Worker::run_due`], [`Worker::run_for`]) or while a stream is paused.

use std::time::{Duration, Instant};

use crate::callout::{CalloutEvent, CalloutResult};
use crate::grpc::{Delivery, GrpcEvent};
use crate::state::CallResponseView;

use super::{len_i32, Guest, Trapped, Worker};

impl Worker {
    /// Delivers what is due now: callout responses that have arrived, shared-queue
    /// notifications, and the tick if its period has elapsed.
    pub fn run_due(&mut self) {
        if self.failure.is_some() {
            return;
        }
        if let Err(Trapped(reason)) = self.deliver_events(None) {
            self.fail(&reason);
        }
    }

    /// Runs events for `duration`, waking for ticks and callout responses as they come.
    pub fn run_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline && self.failure.is_none() {
            let wake = self.tick.map_or(deadline, |(_, next)| next.min(deadline));
            if let Err(Trapped(reason)) = self.deliver_events(Some(wake)) {
                self.fail(&reason);
            }
        }
    }

    /// Delivers callout results (waiting for one until `wait_until` when given), queue
    /// notifications and a due tick.
    pub(super) fn deliver_events(&mut self, wait_until: Option<Instant>) -> Guest<()> {
        let mut first_wait = wait_until;
        while let Some(event) = self.vm.store.data_mut().callouts.next_event(first_wait.take()) {
            match event {
                CalloutEvent::Http(result) => self.deliver_callout(result)?,
                CalloutEvent::Grpc(event) => self.deliver_grpc(event)?,
            }
        }
        let ready =
            if self.process.any_queue_ready() { self.process.take_ready_queues(self.index) } else { Vec::new() };
        if let (false, Some(on_queue_ready)) = (ready.is_empty(), self.vm.exports.on_queue_ready.clone()) {
            let root = self.vm.store.data().root_context_id as i32;
            for token in ready {
                on_queue_ready.call(&mut self.vm.store, (root, token as i32))?;
            }
        }
        self.run_tick()
    }

    fn deliver_callout(&mut self, result: CalloutResult) -> Guest<()> {
        let (view, counts) = match result.response {
            Some(response) => {
                let (headers, body, trailers) = response.into_filter_view();
                let view = CallResponseView { headers, body, trailers };
                let counts = (len_i32(view.headers.len()), len_i32(view.body.len()), len_i32(view.trailers.len()));
                (view, counts)
            }
            None => (CallResponseView::default(), (0, 0, 0)),
        };
        let failed = counts.0 == 0;
        let Some(on_response) = self.vm.exports.on_http_call_response.clone() else {
            return Ok(());
        };
        let root = self.vm.store.data().root_context_id;
        let state = self.vm.store.data_mut();
        state.call_response = Some(view);
        state.effective_context = root;
        if failed {
            // `Context::onHttpCallFailure`: the status the guest can read with `proxy_get_status`.
            state.root_status.code = crate::abi::status::BROKEN_CONNECTION as u32;
            state.root_status.message = "reset".to_owned();
        }
        let called =
            on_response.call(&mut self.vm.store, (root as i32, result.token as i32, counts.0, counts.1, counts.2));
        let state = self.vm.store.data_mut();
        state.call_response = None;
        state.root_status.message.clear();
        state.effective_context = root;
        Ok(called?)
    }

    /// A gRPC event, as Envoy's `onGrpc*Wrapper`s deliver it to the root context: the metadata,
    /// message or status readable during the callback only (the status code stays for
    /// `proxy_get_status`), the call forgotten afterwards when it is finished.
    fn deliver_grpc(&mut self, event: GrpcEvent) -> Guest<()> {
        let Some(delivery) = self.vm.store.data_mut().callouts.grpc.accept(event) else {
            return Ok(());
        };
        let exports = &self.vm.exports;
        let callback = match &delivery {
            Delivery::InitialMetadata(..) => exports.on_grpc_receive_initial_metadata.clone(),
            Delivery::Receive(..) => exports.on_grpc_receive.clone(),
            Delivery::TrailingMetadata(..) => exports.on_grpc_receive_trailing_metadata.clone(),
            Delivery::Close(..) => exports.on_grpc_close.clone(),
        };
        let Some(callback) = callback else {
            // Without the export Envoy only forgets what is finished (`onGrpc*Wrapper`).
            self.vm.store.data_mut().callouts.grpc.delivered(&delivery);
            return Ok(());
        };
        let root = self.vm.store.data().root_context_id;
        let token = delivery.token();
        let state = self.vm.store.data_mut();
        state.effective_context = root;
        let argument = match &delivery {
            Delivery::InitialMetadata(_, headers) => {
                state.grpc_view.initial_metadata = Some(headers.clone());
                headers.len()
            }
            Delivery::Receive(_, message) => {
                state.grpc_view.message = Some(message.clone());
                message.len()
            }
            Delivery::TrailingMetadata(_, headers) => {
                state.grpc_view.trailing_metadata = Some(headers.clone());
                headers.len()
            }
            Delivery::Close(_, status, message) => {
                state.root_status.code = *status;
                state.root_status.message = message.clone();
                *status as usize
            }
        };
        let called = callback.call(&mut self.vm.store, (root as i32, token as i32, argument as i32));
        let state = self.vm.store.data_mut();
        state.grpc_view = Default::default();
        state.root_status.message.clear();
        state.effective_context = root;
        state.callouts.grpc.delivered(&delivery);
        Ok(called?)
    }
}
