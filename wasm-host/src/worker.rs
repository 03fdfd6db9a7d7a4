//! One Envoy worker thread's VM and the streams it handles, one after another, through the
//! filter's callbacks in Envoy's order. Around each stream, the connection manager's request id
//! and tracing steps of [`crate::envoy_tracing`] at Envoy's points: before the filters, when the
//! router sends upstream, when the stream completes.
//!
//! By concern: this module keeps the [`Worker`] and the connection manager's steps around a stream
//! (request id, tracing, the router: [`route`]); [`vm`] starts a VM and its root context,
//! [`streams`] runs a stream through the callbacks, [`local_replies`] builds and applies local
//! replies, [`events`] delivers callout results, queue notifications and ticks, [`ticks`] owns the
//! tick timer, [`failure`] applies the plugin's failure policy, and [`refused`] handles requests
//! the codec refuses. Imports between these run one way (streams → failure, local_replies;
//! everything → this module).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::envoy_tracing::{self, ActiveSpan};
use crate::error::HostError;
use crate::headers::{Headers, HttpRequest, HttpResponse};
use crate::logs::LogRecord;
use crate::module::FilterModule;
use crate::process::ProcessState;
use crate::state::Environment;
use crate::stream::{StreamOutcome, Upstream};

mod events;
mod failure;
mod local_replies;
mod refused;
mod streams;
mod ticks;
mod vm;

use vm::Vm;

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

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
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
