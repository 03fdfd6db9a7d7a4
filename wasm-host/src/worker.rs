//! One Envoy worker thread's VM: instantiation and the root context's start-up
//! (`_initialize`, `on_context_create`, `on_vm_start`, `on_configure`), the per-stream callback
//! order (`on_context_create`, request headers/body/trailers, response headers/body/trailers,
//! `on_log`, `on_done`, `on_delete`), local replies applied after the callback that sent them
//! and passed through the filter's response callbacks, paused streams waiting for
//! `proxy_continue_stream`, events (HTTP and gRPC callout results, queue notifications, ticks),
//! requests the codec refuses before any filter runs (its header limits: only the access-log
//! callbacks see them), and trap containment by the plugin's failure policy. Around each stream,
//! the connection manager's request id and tracing steps of [`crate::envoy_tracing`] at Envoy's
//! points: before the filters, when the router sends upstream, when the stream completes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, TypedFunc, WasmParams, WasmResults};

use crate::abi::ACTION_CONTINUE;
use crate::callout::{CalloutEvent, CalloutResult, Callouts};
use crate::config::FailurePolicy;
use crate::envoy_tracing::{self, ActiveSpan};
use crate::error::HostError;
use crate::grpc::{Delivery, GrpcEvent};
use crate::headers::{Headers, HttpRequest, HttpResponse};
use crate::local_reply::{self, LocalReplyRequest};
use crate::logs::{LogLevel, LogRecord};
use crate::module::FilterModule;
use crate::process::ProcessState;
use crate::state::{CallResponseView, Environment, RootPhase, VmState};
use crate::stream::{LocalReply, StreamOutcome, StreamPhase, StreamState, Upstream};

mod refused;
mod ticks;

/// Envoy's response code details for a stream failed by a failed VM.
const FAIL_STREAM_DETAILS: &str = "wasm_fail_stream";

type Callback<P, R> = Option<TypedFunc<P, R>>;

/// The guest's exported callbacks (absent ones are no-ops that continue, as in Envoy).
struct GuestExports {
    on_context_create: TypedFunc<(i32, i32), ()>,
    on_vm_start: Callback<(i32, i32), i32>,
    on_configure: Callback<(i32, i32), i32>,
    on_tick: Callback<i32, ()>,
    on_queue_ready: Callback<(i32, i32), ()>,
    on_request_headers: Callback<(i32, i32, i32), i32>,
    on_request_body: Callback<(i32, i32, i32), i32>,
    on_request_trailers: Callback<(i32, i32), i32>,
    on_response_headers: Callback<(i32, i32, i32), i32>,
    on_response_body: Callback<(i32, i32, i32), i32>,
    on_response_trailers: Callback<(i32, i32), i32>,
    on_log: Callback<i32, ()>,
    on_done: Callback<i32, i32>,
    on_delete: Callback<i32, ()>,
    on_http_call_response: Callback<(i32, i32, i32, i32, i32), ()>,
    on_grpc_receive_initial_metadata: Callback<(i32, i32, i32), ()>,
    on_grpc_receive: Callback<(i32, i32, i32), ()>,
    on_grpc_receive_trailing_metadata: Callback<(i32, i32, i32), ()>,
    on_grpc_close: Callback<(i32, i32, i32), ()>,
}

struct Vm {
    store: Store<VmState>,
    exports: GuestExports,
}

/// One worker thread's VM of a [`crate::Proxy`].
pub struct Worker {
    module: FilterModule,
    env: Arc<Environment>,
    process: Arc<ProcessState>,
    index: usize,
    vm: Vm,
    failure: Option<String>,
    next_context_id: u32,
    tick: Option<(Duration, Instant)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("index", &self.index).field("failure", &self.failure).finish_non_exhaustive()
    }
}

/// How a paused stream ended its wait.
enum Resumed {
    Continued,
    TimedOut,
}

/// A trap (or host failure) while running guest code.
struct Trapped(String);

impl From<wasmtime::Error> for Trapped {
    /// The root cause: the trap itself (`wasm trap: …`) or the host's error; the layers above it
    /// are wasmtime's backtrace.
    fn from(error: wasmtime::Error) -> Self {
        Self(error.root_cause().to_string())
    }
}

type Guest<T> = Result<T, Trapped>;

impl Vm {
    fn instantiate(
        module: &FilterModule,
        env: &Arc<Environment>,
        process: &Arc<ProcessState>,
        index: usize,
    ) -> Result<Self, HostError> {
        let state = VmState::new(Arc::clone(env), Arc::clone(process), index, Callouts::default());
        let mut store = Store::new(module.engine(), state);
        let fail = |store: &mut Store<VmState>, reason: String| HostError::VmStart {
            worker: index,
            reason,
            logs: store.data_mut().logs.take(),
        };
        let instance = match module.instance_pre().instantiate(&mut store) {
            Ok(instance) => instance,
            Err(error) => return Err(fail(&mut store, format!("{error:#}"))),
        };
        macro_rules! optional {
            ($name:literal) => {
                instance.get_typed_func(&mut store, $name).ok()
            };
        }
        let on_context_create = match instance.get_typed_func(&mut store, "proxy_on_context_create") {
            Ok(func) => func,
            Err(error) => return Err(fail(&mut store, format!("proxy_on_context_create: {error:#}"))),
        };
        let exports = GuestExports {
            on_context_create,
            on_vm_start: optional!("proxy_on_vm_start"),
            on_configure: optional!("proxy_on_configure"),
            on_tick: optional!("proxy_on_tick"),
            on_queue_ready: optional!("proxy_on_queue_ready"),
            on_request_headers: optional!("proxy_on_request_headers"),
            on_request_body: optional!("proxy_on_request_body"),
            on_request_trailers: optional!("proxy_on_request_trailers"),
            on_response_headers: optional!("proxy_on_response_headers"),
            on_response_body: optional!("proxy_on_response_body"),
            on_response_trailers: optional!("proxy_on_response_trailers"),
            on_log: optional!("proxy_on_log"),
            on_done: optional!("proxy_on_done"),
            on_delete: optional!("proxy_on_delete"),
            on_http_call_response: optional!("proxy_on_http_call_response"),
            on_grpc_receive_initial_metadata: optional!("proxy_on_grpc_receive_initial_metadata"),
            on_grpc_receive: optional!("proxy_on_grpc_receive"),
            on_grpc_receive_trailing_metadata: optional!("proxy_on_grpc_receive_trailing_metadata"),
            on_grpc_close: optional!("proxy_on_grpc_close"),
        };
        let memory = instance.get_memory(&mut store, "memory");
        let allocate = instance
            .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&mut store, "malloc"))
            .ok();
        store.data_mut().guest.memory = memory;
        store.data_mut().guest.allocate = allocate;
        let start = instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .or_else(|_| instance.get_typed_func::<(), ()>(&mut store, "_start"));
        if let Ok(start) = start {
            if let Err(error) = start.call(&mut store, ()) {
                return Err(fail(&mut store, format!("_initialize trapped: {}", Trapped::from(error).0)));
            }
        }
        if let Ok(main) = instance.get_typed_func::<(i32, i32), i32>(&mut store, "main") {
            if let Err(error) = main.call(&mut store, (0, 0)) {
                return Err(fail(&mut store, format!("main trapped: {}", Trapped::from(error).0)));
            }
        }
        let mut vm = Self { store, exports };
        vm.start_root(index)?;
        Ok(vm)
    }

    /// The root context's start-up; a false `on_configure` is a rejected configuration.
    fn start_root(&mut self, index: usize) -> Result<(), HostError> {
        let root = self.store.data().root_context_id as i32;
        let vm_config_len = self.store.data().env.plugin.vm_configuration.len();
        let plugin_config_len = self.store.data().env.plugin.configuration.len();
        let result = (|| -> Guest<(bool, bool)> {
            self.exports.on_context_create.call(&mut self.store, (root, 0))?;
            self.store.data_mut().root_phase = RootPhase::VmStart;
            let started =
                call_bool(&mut self.store, self.exports.on_vm_start.as_ref(), (root, len_i32(vm_config_len)))?;
            if !started {
                return Ok((false, false));
            }
            self.store.data_mut().root_phase = RootPhase::Configure;
            let configured =
                call_bool(&mut self.store, self.exports.on_configure.as_ref(), (root, len_i32(plugin_config_len)))?;
            Ok((true, configured))
        })();
        self.store.data_mut().root_phase = RootPhase::Idle;
        let logs = |vm: &mut Self| vm.store.data_mut().logs.take();
        match result {
            Ok((true, true)) => Ok(()),
            Ok((false, _)) => Err(HostError::VmStart {
                worker: index,
                reason: "on_vm_start returned false".to_owned(),
                logs: logs(self),
            }),
            Ok((true, false)) => Err(HostError::ConfigurationRejected { worker: index, logs: logs(self) }),
            Err(Trapped(reason)) => Err(HostError::VmStart { worker: index, reason, logs: logs(self) }),
        }
    }
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// Calls a callback returning a bool; an absent one answers true.
fn call_bool<P: WasmParams>(store: &mut Store<VmState>, func: Option<&TypedFunc<P, i32>>, params: P) -> Guest<bool> {
    match func {
        Some(func) => Ok(func.call(store, params)? != 0),
        None => Ok(true),
    }
}

impl Worker {
    pub(crate) fn start(
        module: &FilterModule,
        env: Arc<Environment>,
        process: Arc<ProcessState>,
        index: usize,
    ) -> Result<Self, HostError> {
        let vm = Vm::instantiate(module, &env, &process, index)?;
        Ok(Self { module: module.clone(), env, process, index, vm, failure: None, next_context_id: 2, tick: None })
    }

    /// This worker's index in its proxy.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Whether the VM has failed (trapped) and not been reloaded.
    pub fn is_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Bytes of guest linear memory.
    pub fn memory_bytes(&self) -> usize {
        self.vm.store.data().guest.memory.map_or(0, |memory| memory.data_size(&self.vm.store))
    }

    /// What the guest logged since the last call (the last 1024 lines).
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        self.vm.store.data_mut().logs.take()
    }

    /// Callouts this VM started whose responses have not been delivered yet.
    pub fn callouts_in_flight(&self) -> usize {
        self.vm.store.data().callouts.in_flight()
    }

    /// Runs one HTTP stream through the filter and the upstream, as Envoy would: with the
    /// connection manager's request id and tracing around it when the proxy has them.
    pub fn handle(&mut self, mut request: HttpRequest, upstream: &mut dyn Upstream) -> StreamOutcome {
        if let Some(refused) = self.refused_by_codec(&request) {
            return refused;
        }
        let env = Arc::clone(&self.env);
        if env.proxy.generate_request_id {
            envoy_tracing::ensure_request_id(&mut request.headers);
        }
        let span = env.proxy.tracing.as_ref().and_then(|config| envoy_tracing::start(config, &mut request.headers));
        let (outcome, request_headers, span) = self.filter_stream(request, span, upstream);
        if let (Some(config), Some(span)) = (&env.proxy.tracing, span) {
            let headers = outcome.forwarded.as_ref().or(request_headers.as_ref()).cloned().unwrap_or_default();
            let status = (!outcome.reset).then_some(outcome.response.status);
            let spans = envoy_tracing::finish(config, span, &headers, status, &env.proxy.node.id);
            self.process.export_spans(spans);
        }
        outcome
    }

    /// The stream through the filter chain. Also returns the request headers as they stand at
    /// the end when they were not forwarded (a local reply), and the hop's span.
    fn filter_stream(
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
                let (unfiltered, mut span) = match stream {
                    Some(stream) => (
                        Unfiltered {
                            response: progress.forwarded.then(|| {
                                let headers = stream.response_headers.unwrap_or_default();
                                HttpResponse::from_filter_view(
                                    headers,
                                    stream.response_body,
                                    stream.pending_response_trailers,
                                )
                            }),
                            headers: stream.request_headers,
                            body: stream.request_body,
                        },
                        stream.span,
                    ),
                    None => (Unfiltered { headers: Headers::new(), body: Vec::new(), response: None }, None),
                };
                let (outcome, headers) = self.failed_stream(unfiltered, upstream, reason, span.as_mut());
                (outcome, headers, span)
            }
        }
    }

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

    /// Marks the VM failed; returns the reason as recorded (with the guest's panic message).
    fn fail(&mut self, reason: &str) -> String {
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

    fn reload(&mut self) {
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
    fn failed_stream(
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

    fn stream(&mut self) -> &mut StreamState {
        self.vm.store.data_mut().stream.as_mut().expect("a stream is active while its callbacks run")
    }

    /// Calls a stream callback with the stream as the effective context.
    fn call_stream<P: WasmParams>(
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

    fn call_stream_unit<R: WasmResults>(
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

    fn response_phase(&mut self, id: u32, response: HttpResponse, progress: &mut Progress) -> Guest<StreamOutcome> {
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

    fn replace_response(&mut self, reply: LocalReplyRequest) {
        let details = reply.details.clone();
        let (view, body, _) = local_reply::build(reply, self.stream().request_kind).into_filter_view();
        let stream = self.stream();
        stream.response_code_details = Some(details);
        stream.response_headers = Some(view);
        stream.response_body = body;
        stream.response_trailers = None;
        stream.pending_response_trailers = Headers::new();
    }

    /// `on_log`, `on_done`, `on_delete`. (A false `on_done` would defer deletion until
    /// `proxy_done` in Envoy; the stream is over here either way, so `on_delete` follows.)
    fn finish(&mut self, id: u32) -> Guest<()> {
        self.stream().phase = StreamPhase::Log;
        self.call_stream_unit(|e| e.on_log.as_ref(), id)?;
        self.call_stream_unit(|e| e.on_done.as_ref(), id)?;
        self.call_stream_unit(|e| e.on_delete.as_ref(), id)
    }

    fn finish_reset(&mut self, id: u32) -> Guest<StreamOutcome> {
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
    fn wait_for_continue(&mut self) -> Guest<Resumed> {
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

    /// Delivers callout results (waiting for one until `wait_until` when given), queue
    /// notifications and a due tick.
    fn deliver_events(&mut self, wait_until: Option<Instant>) -> Guest<()> {
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

    /// Fires `on_tick` when the period set with `proxy_set_tick_period_milliseconds` elapsed
    /// (re-armed whenever the filter changes the period, as Envoy's timer is).
    fn run_tick(&mut self) -> Guest<()> {
        let period = self.vm.store.data().tick_period;
        if period.is_none() && self.tick.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        self.tick = match (period, self.tick) {
            (None, _) => None,
            (Some(period), Some((armed, next))) if armed == period => Some((armed, next)),
            (Some(period), _) => Some((period, now + period)),
        };
        let Some((period, next)) = self.tick else {
            return Ok(());
        };
        if now < next {
            return Ok(());
        }
        self.tick = Some((period, now + period));
        if let Some(on_tick) = self.vm.exports.on_tick.clone() {
            let root = self.vm.store.data().root_context_id as i32;
            on_tick.call(&mut self.vm.store, root)?;
        }
        Ok(())
    }
}

/// How far a stream got: whether the request went upstream, and the local reply if any.
#[derive(Default)]
struct Progress {
    forwarded: bool,
    local_reply: Option<LocalReply>,
}

/// A stream's request (and response, if one came) as they stand when its VM failed.
struct Unfiltered {
    headers: Headers,
    body: Vec<u8>,
    response: Option<HttpResponse>,
}

/// The router: the span's context into the request headers (when traced), then the upstream.
fn route(
    env: &Environment,
    span: Option<&mut ActiveSpan>,
    headers: &mut Headers,
    body: &[u8],
    upstream: &mut dyn Upstream,
) -> HttpResponse {
    if let (Some(config), Some(span)) = (&env.proxy.tracing, span) {
        envoy_tracing::inject(config, span, headers);
    }
    upstream.respond(headers, body)
}

fn host_reply(status: u16, details: &str) -> LocalReplyRequest {
    LocalReplyRequest::host(status, details, "")
}
