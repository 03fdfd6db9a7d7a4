//! `proxy_http_call`: validated as Envoy validates it (`:method`, `:path` and `:authority`
//! required, the cluster must exist, else `BadArgument`) and handed to [`crate::callout`].
//! `proxy_call_foreign_function`: this host offers no foreign functions (`NotFound`).

use std::time::Duration;

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::{parse_pairs, status};
use crate::callout::CalloutRequest;
use crate::headers::Headers;
use crate::memory::{read, to_status, write_u32};
use crate::state::VmState;

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        ENV,
        "proxy_http_call",
        |mut caller: Caller<'_, VmState>,
         cluster_ptr: i32,
         cluster_len: i32,
         headers_ptr: i32,
         headers_len: i32,
         body_ptr: i32,
         body_len: i32,
         trailers_ptr: i32,
         trailers_len: i32,
         timeout_ms: i32,
         ret_token: i32|
         -> i32 {
            let read_all = (
                read(&mut caller, cluster_ptr, cluster_len),
                read(&mut caller, headers_ptr, headers_len),
                read(&mut caller, body_ptr, body_len),
                read(&mut caller, trailers_ptr, trailers_len),
            );
            let (cluster, headers, body) = match read_all {
                (Ok(cluster), Ok(headers), Ok(body), Ok(_trailers)) => (cluster, headers, body),
                (Err(code), ..) | (_, Err(code), ..) | (_, _, Err(code), _) | (.., Err(code)) => return code,
            };
            let Some(headers) = parse_pairs(&headers).map(Headers::from_pairs) else {
                return status::BAD_ARGUMENT;
            };
            let cluster = String::from_utf8_lossy(&cluster).into_owned();
            let state = caller.data_mut();
            let Some(upstream) = state.env.proxy.clusters.get(&cluster) else {
                state.logs.log(crate::logs::LogLevel::Debug, format!("http_call: unknown cluster {cluster:?}"));
                return status::BAD_ARGUMENT;
            };
            let pseudo = |name: &str| headers.get_str(name).filter(|value| !value.is_empty()).map(str::to_owned);
            let (Some(method), Some(path), Some(authority)) =
                (pseudo(":method"), pseudo(":path"), pseudo(":authority"))
            else {
                return status::BAD_ARGUMENT;
            };
            let endpoint = upstream.pick(&authority);
            let timeout = Duration::from_millis(u64::from(timeout_ms as u32).max(1));
            let token =
                state.callouts.dispatch(CalloutRequest { endpoint, method, path, authority, headers, body, timeout });
            to_status(write_u32(&mut caller, ret_token, token))
        },
    )?;
    registrar.wrap(
        ENV,
        "proxy_call_foreign_function",
        |_caller: Caller<'_, VmState>, _np: i32, _nl: i32, _ap: i32, _al: i32, _rp: i32, _rl: i32| -> i32 {
            status::NOT_FOUND
        },
    )?;
    Ok(())
}
