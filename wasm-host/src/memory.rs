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

/// Runs `f` on the guest's memory and the host state together, without copying.
pub(crate) fn with_guest<R>(
    caller: &mut Caller<'_, VmState>,
    f: impl FnOnce(&mut [u8], &mut VmState) -> Result<R, i32>,
) -> Result<R, i32> {
    let memory = memory(caller).ok_or(status::INVALID_MEMORY_ACCESS)?;
    let (bytes, state) = memory.data_and_store_mut(&mut *caller);
    f(bytes, state)
}

/// The guest bytes at `ptr`, `len`; `InvalidMemoryAccess` when out of bounds.
pub(crate) fn slice(memory: &[u8], ptr: i32, len: i32) -> Result<&[u8], i32> {
    range(ptr, len).and_then(|range| memory.get(range)).ok_or(status::INVALID_MEMORY_ACCESS)
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
    return_written(caller, bytes.len(), ptr_ptr, size_ptr, |target, _| {
        target.copy_from_slice(bytes);
        Ok(())
    })
}

/// Returns to the guest a value that `look_up` writes into a buffer the host reuses (with the
/// guest's memory at hand, to read a key from): a lookup costs the host no allocation. The
/// buffer is cleared before `look_up` runs; `look_up`'s error status is the call's.
pub(crate) fn return_looked_up(
    caller: &mut Caller<'_, VmState>,
    ptr_ptr: i32,
    size_ptr: i32,
    look_up: impl FnOnce(&[u8], &mut VmState, &mut Vec<u8>) -> Result<(), i32>,
) -> wasmtime::Result<i32> {
    let mut value = std::mem::take(&mut caller.data_mut().lookup_scratch);
    value.clear();
    let result = match with_guest(caller, |memory, state| look_up(memory, state, &mut value)) {
        Ok(()) => return_bytes(caller, &value, ptr_ptr, size_ptr),
        Err(code) => Ok(code),
    };
    caller.data_mut().lookup_scratch = value;
    result
}

/// Returns a value of `len` bytes to the guest that `write` writes straight into the memory
/// allocated for it (with the host state at hand, to read the value from where it lives): no
/// copy of it is made in the host. A trap in the guest's allocator propagates; `write`'s error
/// status is the call's.
pub(crate) fn return_written(
    caller: &mut Caller<'_, VmState>,
    len: usize,
    ptr_ptr: i32,
    size_ptr: i32,
    write: impl FnOnce(&mut [u8], &mut VmState) -> Result<(), i32>,
) -> wasmtime::Result<i32> {
    let mut pointer = 0u32;
    if len != 0 {
        let size = i32::try_from(len).map_err(|_| wasmtime::Error::msg("value larger than guest memory"))?;
        // Taken out for the call (a clone would cost more than the call): a host call made from
        // inside the guest's allocator finds no allocator and gets InvalidMemoryAccess.
        let Some(allocate) = caller.data_mut().guest.allocate.take() else {
            return Ok(status::INVALID_MEMORY_ACCESS);
        };
        let allocated = allocate.call(&mut *caller, size);
        caller.data_mut().guest.allocate = Some(allocate);
        pointer = allocated? as u32;
        if pointer == 0 {
            return Ok(status::INVALID_MEMORY_ACCESS);
        }
    }
    Ok(to_status(with_guest(caller, |memory, state| {
        if pointer != 0 {
            write(slice_mut(memory, pointer as i32, len)?, state)?;
        }
        slice_mut(memory, ptr_ptr, 4)?.copy_from_slice(&pointer.to_le_bytes());
        slice_mut(memory, size_ptr, 4)?.copy_from_slice(&u32_len(len).to_le_bytes());
        Ok(())
    })))
}

/// The guest bytes at `ptr`, `len`, to write; `InvalidMemoryAccess` when out of bounds.
pub(crate) fn slice_mut(memory: &mut [u8], ptr: i32, len: usize) -> Result<&mut [u8], i32> {
    let start = usize::try_from(ptr as u32).map_err(|_| status::INVALID_MEMORY_ACCESS)?;
    let end = start.checked_add(len).ok_or(status::INVALID_MEMORY_ACCESS)?;
    memory.get_mut(start..end).ok_or(status::INVALID_MEMORY_ACCESS)
}

/// `Ok` or the error status.
pub(crate) fn to_status(result: Result<(), i32>) -> i32 {
    match result {
        Ok(()) => status::OK,
        Err(code) => code,
    }
}
