//! The VM's start-up: instantiating the module on its engine, looking up the guest's exported
//! callbacks (absent ones are no-ops that continue, as in Envoy), the WASI start functions
//! (`_initialize`/`_start`, `main`), and the root context's start-up (`on_context_create`,
//! `on_vm_start`, `on_configure`). A VM that fails any step is a [`HostError`]: it never serves.

use std::sync::Arc;

use wasmtime::{Store, TypedFunc, WasmParams};

use crate::callout::Callouts;
use crate::error::HostError;
use crate::module::FilterModule;
use crate::process::ProcessState;
use crate::state::{Environment, RootPhase, VmState};

use super::{len_i32, Guest, Trapped};

type Callback<P, R> = Option<TypedFunc<P, R>>;

/// The guest's exported callbacks (absent ones are no-ops that continue, as in Envoy).
pub(super) struct GuestExports {
    pub(super) on_context_create: TypedFunc<(i32, i32), ()>,
    pub(super) on_vm_start: Callback<(i32, i32), i32>,
    pub(super) on_configure: Callback<(i32, i32), i32>,
    pub(super) on_tick: Callback<i32, ()>,
    pub(super) on_queue_ready: Callback<(i32, i32), ()>,
    pub(super) on_request_headers: Callback<(i32, i32, i32), i32>,
    pub(super) on_request_body: Callback<(i32, i32, i32), i32>,
    pub(super) on_request_trailers: Callback<(i32, i32), i32>,
    pub(super) on_response_headers: Callback<(i32, i32, i32), i32>,
    pub(super) on_response_body: Callback<(i32, i32, i32), i32>,
    pub(super) on_response_trailers: Callback<(i32, i32), i32>,
    pub(super) on_log: Callback<i32, ()>,
    pub(super) on_done: Callback<i32, i32>,
    pub(super) on_delete: Callback<i32, ()>,
    pub(super) on_http_call_response: Callback<(i32, i32, i32, i32, i32), ()>,
    pub(super) on_grpc_receive_initial_metadata: Callback<(i32, i32, i32), ()>,
    pub(super) on_grpc_receive: Callback<(i32, i32, i32), ()>,
    pub(super) on_grpc_receive_trailing_metadata: Callback<(i32, i32, i32), ()>,
    pub(super) on_grpc_close: Callback<(i32, i32, i32), ()>,
}

/// One instance of the filter module, with its store and exports.
pub(super) struct Vm {
    pub(super) store: Store<VmState>,
    pub(super) exports: GuestExports,
}

impl Vm {
    pub(super) fn instantiate(
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

/// Calls a callback returning a bool; an absent one answers true.
fn call_bool<P: WasmParams>(store: &mut Store<VmState>, func: Option<&TypedFunc<P, i32>>, params: P) -> Guest<bool> {
    match func {
        Some(func) => Ok(func.call(store, params)? != 0),
        None => Ok(true),
    }
}
