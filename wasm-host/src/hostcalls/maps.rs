//! Header maps and buffers: `proxy_{get,set}_header_map_pairs`, `proxy_get_header_map_value`,
//! `proxy_{add,replace,remove}_header_map_value`, `proxy_get_header_map_size`,
//! `proxy_{get,set}_buffer_bytes`, as Envoy's `Context` (source/extensions/common/wasm/
//! context.cc) answers them. Reads go through `getConstMap`: the stream's maps, the callout
//! response's, and the gRPC metadata during its callback; a map not available in the current
//! callback answers `BadArgument` for a value (`NotFound` in the log phase) and no pairs (`Ok`,
//! nothing) for `getHeaderMapPairs`. Changes and sizes go through `getMap`, which only knows the
//! stream's four maps (`BadArgument` otherwise). A missing key answers `NotFound`.

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::{parse_pairs, serialize_pairs_into, serialized_pairs_len, status, u32_len, BufferType, MapType};
use crate::headers::Headers;
use crate::memory::{read, return_bytes, return_looked_up, return_written, slice, to_status, with_guest, write_u32};
use crate::state::{RootPhase, VmState};
use crate::stream::{StreamPhase, StreamState};

/// A stream map, or why it is not there: `BadArgument`, or `NotFound` in the log phase.
fn stream_map(stream: &mut StreamState, map: MapType) -> Result<&mut Headers, i32> {
    let unavailable = if stream.phase == StreamPhase::Log { status::NOT_FOUND } else { status::BAD_ARGUMENT };
    let found = match map {
        MapType::RequestHeaders if stream.request_headers_available => Some(&mut stream.request_headers),
        MapType::RequestTrailers => stream.request_trailers.as_mut(),
        MapType::ResponseHeaders => stream.response_headers.as_mut(),
        MapType::ResponseTrailers => stream.response_trailers.as_mut(),
        _ => None,
    };
    found.ok_or(unavailable)
}

/// `getMap`: the maps a filter may change.
fn map_mut(state: &mut VmState, map: i32) -> Result<&mut Headers, i32> {
    let map = MapType::from_abi(map).ok_or(status::BAD_ARGUMENT)?;
    match map {
        MapType::RequestHeaders | MapType::RequestTrailers | MapType::ResponseHeaders | MapType::ResponseTrailers => {
            let stream = state.effective_stream().ok_or(status::BAD_ARGUMENT)?;
            stream_map(stream, map)
        }
        _ => Err(status::BAD_ARGUMENT),
    }
}

/// `getConstMap`: the maps a filter may read.
fn map_ref(state: &mut VmState, map: i32) -> Result<&Headers, i32> {
    let map = MapType::from_abi(map).ok_or(status::BAD_ARGUMENT)?;
    let found = match map {
        MapType::CallResponseHeaders => state.call_response.as_ref().map(|call| &call.headers),
        MapType::CallResponseTrailers => state.call_response.as_ref().map(|call| &call.trailers),
        MapType::GrpcInitialMetadata => state.grpc_view.initial_metadata.as_ref(),
        MapType::GrpcTrailingMetadata => state.grpc_view.trailing_metadata.as_ref(),
        _ => {
            let stream = state.effective_stream().ok_or(status::BAD_ARGUMENT)?;
            return stream_map(stream, map).map(|headers| &*headers);
        }
    };
    found.ok_or(status::BAD_ARGUMENT)
}

/// Runs `change` on a map with a key (and value) borrowed from guest memory.
fn mutate(
    caller: &mut Caller<'_, VmState>,
    map: i32,
    key: (i32, i32),
    value: Option<(i32, i32)>,
    change: impl FnOnce(&mut Headers, &[u8], &[u8]),
) -> i32 {
    to_status(with_guest(caller, |memory, state| {
        let key = slice(memory, key.0, key.1)?;
        let value = match value {
            Some((ptr, len)) => slice(memory, ptr, len)?,
            None => &[],
        };
        change(map_mut(state, map)?, key, value);
        Ok(())
    }))
}

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        ENV,
        "proxy_get_header_map_pairs",
        |mut caller: Caller<'_, VmState>, map: i32, ret_ptr: i32, ret_len: i32| -> wasmtime::Result<i32> {
            let len = match map_ref(caller.data_mut(), map) {
                Ok(headers) if !headers.is_empty() => serialized_pairs_len(headers.iter()),
                Ok(_) => 0,
                // An unknown map type is refused; an unavailable map has no pairs.
                Err(_) if MapType::from_abi(map).is_none() => return Ok(status::BAD_ARGUMENT),
                Err(_) => 0,
            };
            // Serialised straight into the guest's memory. The guest's allocator ran in between:
            // the map is found again, and a map that changed size meanwhile is an internal failure.
            return_written(&mut caller, len, ret_ptr, ret_len, |target, state| {
                let headers = map_ref(state, map)?;
                serialize_pairs_into(headers.iter(), target).ok_or(status::INTERNAL_FAILURE)
            })
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_set_header_map_pairs",
        |mut caller: Caller<'_, VmState>, map: i32, ptr: i32, len: i32| -> i32 {
            let pairs = match read(&mut caller, ptr, len).map(|bytes| parse_pairs(&bytes)) {
                Ok(Some(pairs)) => pairs,
                Ok(None) => return status::BAD_ARGUMENT,
                Err(code) => return code,
            };
            match map_mut(caller.data_mut(), map) {
                Ok(headers) => {
                    headers.set_all(pairs);
                    status::OK
                }
                Err(code) => code,
            }
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_get_header_map_value",
        |mut caller: Caller<'_, VmState>,
         map: i32,
         key_ptr: i32,
         key_len: i32,
         ret_ptr: i32,
         ret_len: i32|
         -> wasmtime::Result<i32> {
            return_looked_up(&mut caller, ret_ptr, ret_len, |memory, state, value| {
                let key = slice(memory, key_ptr, key_len)?;
                let found = map_ref(state, map)?.get_bytes(key).ok_or(status::NOT_FOUND)?;
                value.extend_from_slice(found);
                Ok(())
            })
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_replace_header_map_value",
        |mut caller: Caller<'_, VmState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
            mutate(&mut caller, map, (kp, kl), Some((vp, vl)), |headers, key, value| headers.replace(key, value))
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_add_header_map_value",
        |mut caller: Caller<'_, VmState>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
            mutate(&mut caller, map, (kp, kl), Some((vp, vl)), |headers, key, value| headers.append(key, value))
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_remove_header_map_value",
        |mut caller: Caller<'_, VmState>, map: i32, kp: i32, kl: i32| -> i32 {
            mutate(&mut caller, map, (kp, kl), None, |headers, key, _| headers.remove(key))
        },
    )?;
    registrar.wrap(ENV, "proxy_get_header_map_size", |mut caller: Caller<'_, VmState>, map: i32, ret: i32| -> i32 {
        let size = match map_mut(caller.data_mut(), map) {
            Ok(headers) => u32_len(headers.byte_size()),
            Err(code) => return code,
        };
        to_status(write_u32(&mut caller, ret, size))
    })?;
    registrar.wrap(
        ENV,
        "proxy_get_buffer_bytes",
        |mut caller: Caller<'_, VmState>,
         buffer: i32,
         start: i32,
         max: i32,
         ret_ptr: i32,
         ret_len: i32|
         -> wasmtime::Result<i32> {
            let chunk = match with_buffer(caller.data_mut(), buffer, |bytes| {
                let start = (start as u32 as usize).min(bytes.len());
                let end = start.saturating_add(max as u32 as usize).min(bytes.len());
                bytes[start..end].to_vec()
            }) {
                Ok(chunk) => chunk,
                Err(code) => return Ok(code),
            };
            if chunk.is_empty() {
                // Envoy writes nothing for an empty range; the SDK then sees no data.
                return Ok(status::OK);
            }
            return_bytes(&mut caller, &chunk, ret_ptr, ret_len)
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_set_buffer_bytes",
        |mut caller: Caller<'_, VmState>, buffer: i32, start: i32, size: i32, ptr: i32, len: i32| -> i32 {
            let data = match read(&mut caller, ptr, len) {
                Ok(data) => data,
                Err(code) => return code,
            };
            let state = caller.data_mut();
            let Some(stream) = state.effective_stream() else {
                return status::NOT_FOUND;
            };
            let body = match BufferType::from_abi(buffer) {
                Some(BufferType::RequestBody) if stream.phase >= StreamPhase::RequestBody => &mut stream.request_body,
                Some(BufferType::ResponseBody) if stream.phase >= StreamPhase::ResponseBody => {
                    &mut stream.response_body
                }
                _ => return status::NOT_FOUND,
            };
            let start = (start as u32 as usize).min(body.len());
            let end = start.saturating_add(size as u32 as usize).min(body.len());
            body.splice(start..end, data);
            status::OK
        },
    )?;
    Ok(())
}

/// Runs `read` on the buffer the current callback may read; `NotFound` when there is none.
fn with_buffer<T>(state: &mut VmState, buffer: i32, read: impl FnOnce(&[u8]) -> T) -> Result<T, i32> {
    let buffer = BufferType::from_abi(buffer).ok_or(status::BAD_ARGUMENT)?;
    match buffer {
        BufferType::VmConfiguration => Ok(read(&state.env.plugin.vm_configuration)),
        BufferType::PluginConfiguration if state.root_phase == RootPhase::Configure => {
            Ok(read(&state.env.plugin.configuration))
        }
        BufferType::CallResponseBody => {
            state.call_response.as_ref().map(|call| read(&call.body)).ok_or(status::NOT_FOUND)
        }
        // Envoy hands out the root context's receive buffer, empty outside the callback.
        BufferType::GrpcReceiveBuffer => Ok(read(state.grpc_view.message.as_deref().unwrap_or_default())),
        BufferType::RequestBody | BufferType::ResponseBody => {
            let stream = state.effective_stream().ok_or(status::NOT_FOUND)?;
            match buffer {
                BufferType::RequestBody if stream.phase >= StreamPhase::RequestBody => Ok(read(&stream.request_body)),
                BufferType::ResponseBody if stream.phase >= StreamPhase::ResponseBody => {
                    Ok(read(&stream.response_body))
                }
                _ => Err(status::NOT_FOUND),
            }
        }
        _ => Err(status::NOT_FOUND),
    }
}
