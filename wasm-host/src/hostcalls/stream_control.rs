//! Steering the current stream: `proxy_continue_stream` (and the 0.2.0 spellings),
//! `proxy_close_stream`, `proxy_send_local_response` (recorded here, applied by the worker after
//! the callback returns), `proxy_set_effective_context`.

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::{parse_pairs, status, STREAM_TYPE_REQUEST, STREAM_TYPE_RESPONSE};
use crate::local_reply::{details_without_spaces, LocalReplyRequest};
use crate::memory::read;
use crate::state::VmState;

fn continue_stream(state: &mut VmState) -> i32 {
    match state.effective_stream() {
        Some(stream) => {
            stream.continue_requested = true;
            status::OK
        }
        None => status::NOT_FOUND,
    }
}

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(ENV, "proxy_continue_stream", |mut caller: Caller<'_, VmState>, stream_type: i32| -> i32 {
        match stream_type {
            STREAM_TYPE_REQUEST | STREAM_TYPE_RESPONSE => continue_stream(caller.data_mut()),
            _ => status::BAD_ARGUMENT,
        }
    })?;
    registrar.wrap(ENV, "proxy_continue_request", |mut caller: Caller<'_, VmState>| -> i32 {
        continue_stream(caller.data_mut())
    })?;
    registrar.wrap(ENV, "proxy_continue_response", |mut caller: Caller<'_, VmState>| -> i32 {
        continue_stream(caller.data_mut())
    })?;
    registrar.wrap(ENV, "proxy_close_stream", |mut caller: Caller<'_, VmState>, stream_type: i32| -> i32 {
        match (stream_type, caller.data_mut().effective_stream()) {
            (STREAM_TYPE_REQUEST | STREAM_TYPE_RESPONSE, Some(stream)) => {
                stream.reset = true;
                status::OK
            }
            (STREAM_TYPE_REQUEST | STREAM_TYPE_RESPONSE, None) => status::NOT_FOUND,
            _ => status::BAD_ARGUMENT,
        }
    })?;
    registrar.wrap(
        ENV,
        "proxy_send_local_response",
        |mut caller: Caller<'_, VmState>,
         status_code: i32,
         details_ptr: i32,
         details_len: i32,
         body_ptr: i32,
         body_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         grpc_status: i32|
         -> i32 {
            let read_all = (
                read(&mut caller, details_ptr, details_len),
                read(&mut caller, body_ptr, body_len),
                read(&mut caller, headers_ptr, headers_len),
            );
            let (details, body, headers) = match read_all {
                (Ok(details), Ok(body), Ok(headers)) => (details, body, headers),
                (Err(code), _, _) | (_, Err(code), _) | (_, _, Err(code)) => return code,
            };
            let Some(headers) = parse_pairs(&headers) else {
                return status::BAD_ARGUMENT;
            };
            let Ok(status_code) = u16::try_from(status_code) else {
                return status::BAD_ARGUMENT;
            };
            let state = caller.data_mut();
            let is_root = state.effective_context == state.root_context_id;
            let Some(stream) = state.effective_stream() else {
                return if is_root { status::UNIMPLEMENTED } else { status::NOT_FOUND };
            };
            if stream.local_reply.is_some() {
                return status::BAD_ARGUMENT;
            }
            stream.local_reply = Some(LocalReplyRequest {
                status: status_code,
                details: details_without_spaces(&String::from_utf8_lossy(&details)),
                body,
                headers,
                // -1 (InvalidCode) or anything past MaximumKnown sends no grpc-status of its own.
                grpc_status: u32::try_from(grpc_status).ok().filter(|code| *code <= crate::grpc::wire::MAXIMUM_KNOWN),
            });
            status::OK
        },
    )?;
    registrar.wrap(ENV, "proxy_set_effective_context", |mut caller: Caller<'_, VmState>, context_id: i32| -> i32 {
        let state = caller.data_mut();
        let id = context_id as u32;
        if state.is_live_context(id) {
            state.effective_context = id;
            status::OK
        } else {
            status::BAD_ARGUMENT
        }
    })?;
    Ok(())
}
