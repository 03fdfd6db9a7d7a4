//! The host side of one VM (the wasmtime store's data): which context is running, the stream and
//! callout response (or gRPC metadata and message) it may address, the root context's status,
//! its timers and callouts, and its log. Host calls read and change this; the worker drives the
//! callbacks around it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Memory, TypedFunc};

use crate::callout::Callouts;
use crate::config::{PluginConfig, ProxyConfig};
use crate::headers::Headers;
use crate::logs::LogSink;
use crate::process::ProcessState;
use crate::properties::AddressText;
use crate::stream::StreamState;

/// Immutable facts every VM of a proxy shares.
#[derive(Debug)]
pub(crate) struct Environment {
    pub(crate) plugin: PluginConfig,
    pub(crate) proxy: ProxyConfig,
}

/// The guest's memory and allocator, cached after instantiation.
#[derive(Default)]
pub(crate) struct GuestMemory {
    pub(crate) memory: Option<Memory>,
    pub(crate) allocate: Option<TypedFunc<i32, i32>>,
}

/// What the root context is doing, for the buffers only it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RootPhase {
    Idle,
    VmStart,
    Configure,
}

/// The response of a callout, readable during `proxy_on_http_call_response`.
#[derive(Debug, Default)]
pub(crate) struct CallResponseView {
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: Headers,
}

/// What a gRPC callback may read: the metadata during `proxy_on_grpc_receive_initial_metadata`
/// / `_trailing_metadata`, the message during `proxy_on_grpc_receive` (Envoy keeps them on the
/// root context only for the callback).
#[derive(Debug, Default)]
pub(crate) struct GrpcView {
    pub(crate) initial_metadata: Option<Headers>,
    pub(crate) trailing_metadata: Option<Headers>,
    pub(crate) message: Option<Vec<u8>>,
}

/// The root context's status (`proxy_get_status`): set by a gRPC close or a failed HTTP
/// callout; the message lasts for that callback, the code until the next one (Envoy's
/// `status_code_` / `status_message_`).
#[derive(Debug, Default)]
pub(crate) struct RootStatus {
    pub(crate) code: u32,
    pub(crate) message: String,
}

pub(crate) struct VmState {
    pub(crate) guest: GuestMemory,
    pub(crate) env: Arc<Environment>,
    pub(crate) process: Arc<ProcessState>,
    pub(crate) worker: usize,
    pub(crate) root_context_id: u32,
    pub(crate) effective_context: u32,
    pub(crate) root_phase: RootPhase,
    pub(crate) stream: Option<StreamState>,
    pub(crate) call_response: Option<CallResponseView>,
    pub(crate) grpc_view: GrpcView,
    pub(crate) root_status: RootStatus,
    pub(crate) tick_period: Option<Duration>,
    pub(crate) callouts: Callouts,
    pub(crate) logs: LogSink,
    pub(crate) stdio: StdioLines,
    /// Values the root context stored with `proxy_set_property`.
    pub(crate) root_properties: HashMap<Vec<u8>, Vec<u8>>,
    pub(crate) address_text: AddressText,
    /// The buffer a value is looked up into before it is returned to the guest, reused from
    /// call to call ([`crate::memory::return_looked_up`]).
    pub(crate) lookup_scratch: Vec<u8>,
}

impl VmState {
    pub(crate) fn new(env: Arc<Environment>, process: Arc<ProcessState>, worker: usize, callouts: Callouts) -> Self {
        let logs = LogSink::new(&env.plugin.name, worker, env.proxy.log_level);
        Self {
            guest: GuestMemory::default(),
            env,
            process,
            worker,
            root_context_id: 1,
            effective_context: 1,
            root_phase: RootPhase::Idle,
            stream: None,
            call_response: None,
            grpc_view: GrpcView::default(),
            root_status: RootStatus::default(),
            tick_period: None,
            callouts,
            logs,
            stdio: StdioLines::default(),
            root_properties: HashMap::new(),
            address_text: AddressText::default(),
            lookup_scratch: Vec::new(),
        }
    }

    /// The stream the running callback addresses, if the effective context is a live stream.
    pub(crate) fn effective_stream(&mut self) -> Option<&mut StreamState> {
        let effective = self.effective_context;
        self.stream.as_mut().filter(|stream| stream.context_id == effective)
    }

    pub(crate) fn is_live_context(&self, id: u32) -> bool {
        id == self.root_context_id || self.stream.as_ref().is_some_and(|stream| stream.context_id == id)
    }
}

/// Partial lines the guest wrote to stdout (index 0) and stderr (index 1).
#[derive(Debug, Default)]
pub(crate) struct StdioLines {
    pub(crate) pending: [Vec<u8>; 2],
}

/// Longest partial line kept before it is logged anyway.
pub(crate) const MAX_STDIO_LINE: usize = 16 * 1024;
