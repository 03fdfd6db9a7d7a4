//! `proxy_get_property` / `proxy_set_property` (see [`crate::properties`] for what resolves).
//! Values a filter sets are kept per stream (Envoy's filter state) or per root context and read
//! back by the same path.

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::status;
use crate::memory::{read, return_looked_up, slice};
use crate::state::VmState;

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        ENV,
        "proxy_get_property",
        |mut caller: Caller<'_, VmState>,
         path_ptr: i32,
         path_len: i32,
         ret_ptr: i32,
         ret_len: i32|
         -> wasmtime::Result<i32> {
            return_looked_up(&mut caller, ret_ptr, ret_len, |memory, state, value| {
                let path = slice(memory, path_ptr, path_len)?;
                if crate::properties::resolve(state, path, value) {
                    Ok(())
                } else {
                    Err(status::NOT_FOUND)
                }
            })
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_set_property",
        |mut caller: Caller<'_, VmState>, path_ptr: i32, path_len: i32, value_ptr: i32, value_len: i32| -> i32 {
            let (path, value) = match (read(&mut caller, path_ptr, path_len), read(&mut caller, value_ptr, value_len)) {
                (Ok(path), Ok(value)) => (path, value),
                (Err(code), _) | (_, Err(code)) => return code,
            };
            let state = caller.data_mut();
            match state.effective_stream() {
                Some(stream) => {
                    stream.properties.insert(path, value);
                }
                None => {
                    state.root_properties.insert(path, value);
                }
            }
            status::OK
        },
    )?;
    Ok(())
}
