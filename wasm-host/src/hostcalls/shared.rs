//! Process-wide state from a VM: shared data (`proxy_{get,set}_shared_data`, with CAS), shared
//! queues (`proxy_{register,resolve,enqueue,dequeue}_shared_queue`) and metrics
//! (`proxy_{define,increment,record,get}_metric`). The state itself lives in
//! [`crate::process::ProcessState`].

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::{status, MetricKind};
use crate::memory::{read, return_bytes, to_status, write_u32, write_u64};
use crate::state::VmState;

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        ENV,
        "proxy_get_shared_data",
        |mut caller: Caller<'_, VmState>,
         kp: i32,
         kl: i32,
         ret_ptr: i32,
         ret_len: i32,
         ret_cas: i32|
         -> wasmtime::Result<i32> {
            let key = match read(&mut caller, kp, kl) {
                Ok(key) => key,
                Err(code) => return Ok(code),
            };
            let (value, cas) = match caller.data().process.get_shared(&key) {
                Ok(found) => found,
                Err(code) => return Ok(code),
            };
            let code = return_bytes(&mut caller, &value, ret_ptr, ret_len)?;
            if code != status::OK {
                return Ok(code);
            }
            Ok(to_status(write_u32(&mut caller, ret_cas, cas)))
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_set_shared_data",
        |mut caller: Caller<'_, VmState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> i32 {
            match (read(&mut caller, kp, kl), read(&mut caller, vp, vl)) {
                (Ok(key), Ok(value)) => caller.data().process.set_shared(&key, &value, cas as u32),
                (Err(code), _) | (_, Err(code)) => code,
            }
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_register_shared_queue",
        |mut caller: Caller<'_, VmState>, np: i32, nl: i32, ret: i32| -> i32 {
            let name = match read(&mut caller, np, nl) {
                Ok(name) => name,
                Err(code) => return code,
            };
            let state = caller.data();
            let token = state.process.register_queue(&state.env.plugin.vm_id, &name, state.worker);
            to_status(write_u32(&mut caller, ret, token))
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_resolve_shared_queue",
        |mut caller: Caller<'_, VmState>, vp: i32, vl: i32, np: i32, nl: i32, ret: i32| -> i32 {
            let (vm_id, name) = match (read(&mut caller, vp, vl), read(&mut caller, np, nl)) {
                (Ok(vm_id), Ok(name)) => (vm_id, name),
                (Err(code), _) | (_, Err(code)) => return code,
            };
            let vm_id = String::from_utf8_lossy(&vm_id).into_owned();
            match caller.data().process.resolve_queue(&vm_id, &name) {
                Some(token) => to_status(write_u32(&mut caller, ret, token)),
                None => status::NOT_FOUND,
            }
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_enqueue_shared_queue",
        |mut caller: Caller<'_, VmState>, token: i32, ptr: i32, len: i32| -> i32 {
            match read(&mut caller, ptr, len) {
                Ok(item) => caller.data().process.enqueue(token as u32, &item),
                Err(code) => code,
            }
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_dequeue_shared_queue",
        |mut caller: Caller<'_, VmState>, token: i32, ret_ptr: i32, ret_len: i32| -> wasmtime::Result<i32> {
            match caller.data().process.dequeue(token as u32) {
                Ok(item) => return_bytes(&mut caller, &item, ret_ptr, ret_len),
                Err(code) => Ok(code),
            }
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_define_metric",
        |mut caller: Caller<'_, VmState>, kind: i32, np: i32, nl: i32, ret: i32| -> i32 {
            let Some(kind) = MetricKind::from_abi(kind) else {
                return status::BAD_ARGUMENT;
            };
            let name = match read(&mut caller, np, nl) {
                Ok(name) => String::from_utf8_lossy(&name).into_owned(),
                Err(code) => return code,
            };
            let id = caller.data().process.define_metric(kind, &name);
            to_status(write_u32(&mut caller, ret, id))
        },
    )?;
    registrar.wrap(ENV, "proxy_increment_metric", |caller: Caller<'_, VmState>, id: i32, offset: i64| -> i32 {
        caller.data().process.increment_metric(id as u32, offset)
    })?;
    registrar.wrap(ENV, "proxy_record_metric", |caller: Caller<'_, VmState>, id: i32, value: i64| -> i32 {
        caller.data().process.record_metric(id as u32, value as u64)
    })?;
    registrar.wrap(ENV, "proxy_get_metric", |mut caller: Caller<'_, VmState>, id: i32, ret: i32| -> i32 {
        match caller.data().process.get_metric(id as u32) {
            Ok(value) => to_status(write_u64(&mut caller, ret, value)),
            Err(code) => code,
        }
    })?;
    Ok(())
}
