//! `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`, `proxy_grpc_cancel`,
//! `proxy_grpc_close` and `proxy_get_status`, with the argument layout and checks of
//! proxy-wasm-cpp-host src/exports.cc (`grpc_call` … `grpc_send`, `get_status`) and the
//! statuses of Envoy's `Context::grpcCall` / `grpcStream` (source/extensions/common/wasm/
//! context.cc): guest memory out of bounds is `InvalidMemoryAccess`; bytes that are not a
//! `GrpcService` and name no cluster are `ParseFailure` (the Rust SDK returns it as an error);
//! a `GrpcService` without `envoy_grpc` is `BadArgument`; one naming an unknown cluster is
//! `InternalFailure`; malformed initial metadata counts as none (`PairsUtil::toPairs`).

use std::time::Duration;

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::{parse_pairs, status};
use crate::grpc::{parse_target, Outgoing, Target};
use crate::memory::{read, return_bytes, to_status, write_u32};
use crate::state::VmState;

/// Where the first argument points: (endpoint, authority), or the status to answer.
enum Resolved {
    Endpoint(std::net::SocketAddr, String),
    /// A known cluster without endpoints.
    NoHealthyUpstream,
    /// A `GrpcService` naming a cluster this proxy does not have.
    UnknownCluster,
    Refused(i32),
}

fn resolve(state: &VmState, target: &[u8]) -> Resolved {
    let clusters = &state.env.proxy.clusters;
    match parse_target(target) {
        Target::ClusterName(name) => match clusters.get(&name) {
            Some(upstream) => endpoint_of(upstream, name),
            None => Resolved::Refused(status::PARSE_FAILURE),
        },
        Target::EnvoyGrpc { cluster, authority } => match clusters.get(&cluster) {
            Some(upstream) => endpoint_of(upstream, authority.unwrap_or(cluster)),
            None => Resolved::UnknownCluster,
        },
        Target::OtherService => Resolved::Refused(status::BAD_ARGUMENT),
    }
}

/// The endpoint the cluster's load balancer picks for `authority` (Envoy's gRPC callouts hash on
/// `:authority` too, see [`crate::cluster`]).
fn endpoint_of(upstream: &crate::cluster::Cluster, authority: String) -> Resolved {
    match upstream.pick(&authority) {
        Some(endpoint) => Resolved::Endpoint(endpoint, authority),
        None => Resolved::NoHealthyUpstream,
    }
}

/// The bytes of every (ptr, len) argument, or `InvalidMemoryAccess`.
fn read_all<const N: usize>(caller: &mut Caller<'_, VmState>, args: [(i32, i32); N]) -> Result<[Vec<u8>; N], i32> {
    let mut out: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    for (slot, (ptr, len)) in out.iter_mut().zip(args) {
        *slot = read(caller, ptr, len)?;
    }
    Ok(out)
}

/// What a call or stream is opened with, read from guest memory.
struct Opening {
    target: Vec<u8>,
    service: Vec<u8>,
    method: Vec<u8>,
    metadata: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Starts a call (`message` and `timeout` given) or a stream; returns the status and writes the
/// token on success.
fn open(caller: &mut Caller<'_, VmState>, opening: Opening, unary: Option<(Vec<u8>, Duration)>, ret_token: i32) -> i32 {
    let state = caller.data_mut();
    let resolved = resolve(state, &opening.target);
    if let Resolved::Refused(code) = resolved {
        let what = String::from_utf8_lossy(&opening.target);
        state.logs.log(crate::logs::LogLevel::Debug, format!("grpc callout: no cluster {what:?} ({code})"));
        return code;
    }
    let grpc = &mut state.callouts.grpc;
    let token = if unary.is_some() { grpc.next_call_token() } else { grpc.next_stream_token() };
    let (endpoint, authority) = match resolved {
        Resolved::Endpoint(endpoint, authority) => (Some(endpoint), authority),
        Resolved::UnknownCluster => return grpc.cluster_not_available(token),
        Resolved::NoHealthyUpstream => {
            grpc.no_healthy_upstream(token);
            (None, String::new())
        }
        Resolved::Refused(code) => return code,
    };
    let Some(endpoint) = endpoint else {
        return to_status(write_u32(caller, ret_token, token));
    };
    let outgoing = Outgoing {
        endpoint,
        authority: &authority,
        service: &opening.service,
        method: &opening.method,
        metadata: opening.metadata,
    };
    let code = match unary {
        Some((message, timeout)) => grpc.call(token, outgoing, &message, timeout),
        None => grpc.stream(token, outgoing),
    };
    if code != status::OK {
        return code;
    }
    to_status(write_u32(caller, ret_token, token))
}

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        ENV,
        "proxy_grpc_call",
        |mut caller: Caller<'_, VmState>,
         target_ptr: i32,
         target_len: i32,
         service_ptr: i32,
         service_len: i32,
         method_ptr: i32,
         method_len: i32,
         metadata_ptr: i32,
         metadata_len: i32,
         message_ptr: i32,
         message_len: i32,
         timeout_ms: i32,
         ret_token: i32|
         -> i32 {
            let args = [
                (target_ptr, target_len),
                (service_ptr, service_len),
                (method_ptr, method_len),
                (metadata_ptr, metadata_len),
                (message_ptr, message_len),
            ];
            let [target, service, method, metadata, message] = match read_all(&mut caller, args) {
                Ok(all) => all,
                Err(code) => return code,
            };
            let metadata = parse_pairs(&metadata).unwrap_or_default();
            let timeout = Duration::from_millis(u64::from(timeout_ms as u32));
            let opening = Opening { target, service, method, metadata };
            open(&mut caller, opening, Some((message, timeout)), ret_token)
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_grpc_stream",
        |mut caller: Caller<'_, VmState>,
         target_ptr: i32,
         target_len: i32,
         service_ptr: i32,
         service_len: i32,
         method_ptr: i32,
         method_len: i32,
         metadata_ptr: i32,
         metadata_len: i32,
         ret_token: i32|
         -> i32 {
            let args = [
                (target_ptr, target_len),
                (service_ptr, service_len),
                (method_ptr, method_len),
                (metadata_ptr, metadata_len),
            ];
            let [target, service, method, metadata] = match read_all(&mut caller, args) {
                Ok(all) => all,
                Err(code) => return code,
            };
            let metadata = parse_pairs(&metadata).unwrap_or_default();
            open(&mut caller, Opening { target, service, method, metadata }, None, ret_token)
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_grpc_send",
        |mut caller: Caller<'_, VmState>, token: i32, message_ptr: i32, message_len: i32, end_stream: i32| -> i32 {
            let message = match read(&mut caller, message_ptr, message_len) {
                Ok(message) => message,
                Err(code) => return code,
            };
            caller.data_mut().callouts.grpc.send(token as u32, &message, end_stream != 0)
        },
    )?;
    registrar.wrap(ENV, "proxy_grpc_cancel", |mut caller: Caller<'_, VmState>, token: i32| -> i32 {
        caller.data_mut().callouts.grpc.cancel(token as u32)
    })?;
    registrar.wrap(ENV, "proxy_grpc_close", |mut caller: Caller<'_, VmState>, token: i32| -> i32 {
        caller.data_mut().callouts.grpc.close(token as u32)
    })?;
    registrar.wrap(
        ENV,
        "proxy_get_status",
        |mut caller: Caller<'_, VmState>, code_ptr: i32, message_ptr: i32, message_len: i32| -> wasmtime::Result<i32> {
            let (code, message) = {
                let status = &caller.data().root_status;
                (status.code, status.message.clone().into_bytes())
            };
            if let Err(code) = write_u32(&mut caller, code_ptr, code) {
                return Ok(code);
            }
            return_bytes(&mut caller, &message, message_ptr, message_len)
        },
    )?;
    Ok(())
}
