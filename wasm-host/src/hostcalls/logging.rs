//! Logging, time and timers: `proxy_log`, `proxy_get_log_level`,
//! `proxy_get_current_time_nanoseconds`, `proxy_set_tick_period_milliseconds`, `proxy_done`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::Caller;

use super::{Registrar, ENV};
use crate::abi::status;
use crate::logs::LogLevel;
use crate::memory::{read, to_status, write_u32, write_u64};
use crate::state::VmState;

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(ENV, "proxy_log", |mut caller: Caller<'_, VmState>, level: i32, ptr: i32, len: i32| -> i32 {
        let Some(level) = LogLevel::from_abi(level) else {
            return status::BAD_ARGUMENT;
        };
        match read(&mut caller, ptr, len) {
            Ok(message) => {
                caller.data_mut().logs.log(level, String::from_utf8_lossy(&message).into_owned());
                status::OK
            }
            Err(code) => code,
        }
    })?;
    registrar.wrap(ENV, "proxy_get_log_level", |mut caller: Caller<'_, VmState>, ret: i32| -> i32 {
        let level = caller.data().logs.threshold().to_abi();
        to_status(write_u32(&mut caller, ret, level as u32))
    })?;
    registrar.wrap(ENV, "proxy_get_current_time_nanoseconds", |mut caller: Caller<'_, VmState>, ret: i32| -> i32 {
        to_status(write_u64(&mut caller, ret, now_nanos()))
    })?;
    registrar.wrap(
        ENV,
        "proxy_set_tick_period_milliseconds",
        |mut caller: Caller<'_, VmState>, period: i32| -> i32 {
            let period = period as u32;
            caller.data_mut().tick_period = (period > 0).then(|| Duration::from_millis(u64::from(period)));
            status::OK
        },
    )?;
    registrar.wrap(ENV, "proxy_done", |_caller: Caller<'_, VmState>| -> i32 { status::OK })?;
    Ok(())
}

/// Wall-clock nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
