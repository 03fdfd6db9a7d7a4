//! The filter's side of the proxy-wasm ABI 0.2.1: the functions the host calls (proxy-wasm/spec
//! `abi-versions/v0.2.1`), and the table of this VM's contexts they dispatch to. Only the
//! callbacks the filter acts on are exported; Envoy skips a callback the module does not export
//! (proxy-wasm-cpp-host `src/context.cc`, `ContextBase::onRequestHeaders` and its siblings return
//! `Continue` when the function is missing, and `ContextBase::onDone` answers done), so a request
//! body, trailers, a gRPC callout or the end of a stream (the filter keeps nothing pending) cost
//! the filter nothing. A callback for a context the table does not hold (a stream created before
//! the plugin was configured) answers as a filter that is not there would: `Continue`.
//!
//! Envoy runs each VM on one thread and never calls into a VM from inside a host call the VM is
//! making (a local reply is sent after the callback returns: `DeferAfterCallActions` in the same
//! file), so the table is a thread-local `RefCell`; a re-entrant call would find it borrowed and
//! be answered as for an unknown context rather than trap.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;

use super::root::FilterRoot;
use super::stream::ConstitutionalStream;
use crate::mix_hash::MixState;

/// `Action::Continue` and `Action::Pause`.
pub(super) const CONTINUE: u32 = 0;
pub(super) const PAUSE: u32 = 1;

/// This VM's contexts: its root contexts (one per plugin sharing the VM) and its HTTP streams.
struct Contexts {
    roots: Vec<(u32, FilterRoot)>,
    /// Context ids are small integers in sequence: [`MixState`] spreads them with one multiplication.
    streams: HashMap<u32, ConstitutionalStream, MixState>,
}

impl Contexts {
    fn root(&mut self, id: u32) -> Option<&mut FilterRoot> {
        self.roots.iter_mut().find(|(root_id, _)| *root_id == id).map(|(_, root)| root)
    }
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> =
        const { RefCell::new(Contexts { roots: Vec::new(), streams: HashMap::with_hasher(MixState::new()) }) };
}

/// Runs `f` on the table; `None` when it is already borrowed (a re-entrant call).
fn with_contexts<R>(f: impl FnOnce(&mut Contexts) -> R) -> Option<R> {
    CONTEXTS.with(|contexts| contexts.try_borrow_mut().ok().map(|mut contexts| f(&mut contexts)))
}

/// Runs `f` on stream `id`, or answers `otherwise`.
fn on_stream<R>(id: u32, otherwise: R, f: impl FnOnce(&mut ConstitutionalStream) -> R) -> R {
    with_contexts(|contexts| contexts.streams.get_mut(&id).map(f)).flatten().unwrap_or(otherwise)
}

/// Runs `f` on root `id`, or answers `otherwise`.
fn on_root<R>(id: u32, otherwise: R, f: impl FnOnce(&mut FilterRoot) -> R) -> R {
    with_contexts(|contexts| contexts.root(id).map(f)).flatten().unwrap_or(otherwise)
}

extern "C" {
    /// Runs the module's static constructors (the WASI reactor's start-up).
    fn __wasm_call_ctors();
}

/// The WASI reactor's initialiser: constructors, then the logger and the panic hook.
#[no_mangle]
pub extern "C" fn _initialize() {
    // SAFETY: called once by the host before any other export, as WASI reactors require.
    unsafe { __wasm_call_ctors() };
    super::logger::install();
}

/// Marks the module as speaking ABI 0.2.1.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Memory for a value the host returns: a loan ([`super::lending`]) when the host call asked for
/// one and it fits, else a `Vec` of exactly `size` bytes, leaked until the host call that asked
/// for it hands it back ([`super::host`] takes it over).
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    // `with_capacity` allocates exactly `size` bytes for `u8`; the host fills all of them.
    super::lending::lend(size)
        .unwrap_or_else(|| std::mem::ManuallyDrop::new(Vec::<u8>::with_capacity(size)).as_mut_ptr())
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_id: u32) {
    with_contexts(|contexts| {
        if parent_id == 0 {
            contexts.roots.push((context_id, FilterRoot::default()));
        } else if let Some(stream) = contexts.root(parent_id).and_then(|root| root.create_stream()) {
            contexts.streams.insert(context_id, stream);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root_id: u32, plugin_configuration_size: usize) -> u32 {
    u32::from(on_root(root_id, false, |root| root.on_configure(plugin_configuration_size)))
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root_id: u32) {
    on_root(root_id, (), FilterRoot::on_tick);
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    root_id: u32,
    token: u32,
    _num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    on_root(root_id, (), |root| root.on_http_call_response(token, body_size));
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, _num_headers: usize, _end_of_stream: u32) -> u32 {
    on_stream(context_id, CONTINUE, ConstitutionalStream::on_request_headers)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, _num_headers: usize, _end_of_stream: u32) -> u32 {
    on_stream(context_id, CONTINUE, ConstitutionalStream::on_response_headers)
}

#[no_mangle]
pub extern "C" fn proxy_on_log(context_id: u32) {
    on_stream(context_id, (), ConstitutionalStream::on_log);
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    with_contexts(|contexts| {
        if contexts.streams.remove(&context_id).is_none() {
            contexts.roots.retain(|(id, _)| *id != context_id);
        }
    });
}
