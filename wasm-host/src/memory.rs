//! Reading and writing guest memory from host calls: bounds-checked copies in, and values
//! returned to the guest through memory it allocates with `proxy_on_memory_allocate` (empty
//! results are pointer 0, length 0, as Envoy returns them).

use wasmtime::{Caller, Extern, Memory};

use crate::abi::{status, u32_len};
use crate::state::VmState;

fn memory(caller: &mut Caller<'_, VmState>) -> Option<Memory> {
    if let Some(memory) = caller.data().guest.memory {
        return Some(memory);
    }
    caller.get_export("memory").and_then(Extern::into_memory)
}

fn range(ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr as u32).ok()?;
    let len = usize::try_from(len as u32).ok()?;
    Some(start..start.checked_add(len)?)
}

/// Copies `len` bytes at `ptr` out of the guest; `InvalidMemoryAccess` when out of bounds.
pub(crate) fn read(caller: &mut Caller<'_, VmState>, ptr: i32, len: i32) -> Result<Vec<u8>, i32> {
    let memory = memory(caller).ok_or(status::INVALID_MEMORY_ACCESS)?;
    let range = range(ptr, len).ok_or(status::INVALID_MEMORY_ACCESS)?;
    memory.data(&*caller).get(range).map(<[u8]>::to_vec).ok_or(status::INVALID_MEMORY_ACCESS)
}

/// Writes `bytes` at `ptr`.
pub(crate) fn write(caller: &mut Caller<'_, VmState>, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let memory = memory(caller).ok_or(status::INVALID_MEMORY_ACCESS)?;
    let range = range(ptr, i32::try_from(bytes.len()).map_err(|_| status::INVALID_MEMORY_ACCESS)?)
        .ok_or(status::INVALID_MEMORY_ACCESS)?;
    let target = memory.data_mut(&mut *caller).get_mut(range).ok_or(status::INVALID_MEMORY_ACCESS)?;
    target.copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(caller: &mut Caller<'_, VmState>, ptr: i32, value: u32) -> Result<(), i32> {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(caller: &mut Caller<'_, VmState>, ptr: i32, value: u64) -> Result<(), i32> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Returns `bytes` to the guest: allocates guest memory, copies, and stores the pointer and
/// size at `ptr_ptr` / `size_ptr`. A trap in the guest's allocator propagates.
pub(crate) fn return_bytes(
    caller: &mut Caller<'_, VmState>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> wasmtime::Result<i32> {
    let mut pointer = 0u32;
    if !bytes.is_empty() {
        let Some(allocate) = caller.data().guest.allocate.clone() else {
            return Ok(status::INVALID_MEMORY_ACCESS);
        };
        let size = i32::try_from(bytes.len()).map_err(|_| wasmtime::Error::msg("value larger than guest memory"))?;
        pointer = allocate.call(&mut *caller, size)? as u32;
        if pointer == 0 {
            return Ok(status::INVALID_MEMORY_ACCESS);
        }
        if let Err(code) = write(caller, pointer as i32, bytes) {
            return Ok(code);
        }
    }
    Ok(to_status(
        write_u32(caller, ptr_ptr, pointer).and_then(|()| write_u32(caller, size_ptr, u32_len(bytes.len()))),
    ))
}

/// `Ok` or the error status.
pub(crate) fn to_status(result: Result<(), i32>) -> i32 {
    match result {
        Ok(()) => status::OK,
        Err(code) => code,
    }
}
