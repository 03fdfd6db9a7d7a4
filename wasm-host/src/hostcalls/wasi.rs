//! The WASI (`wasi_snapshot_preview1`) subset a `wasm32-wasip1` filter needs, as Envoy provides
//! it: no environment or arguments, stdout/stderr routed to the log (where Rust panics and
//! `println!` go), clocks, randomness, and `proc_exit` as a trap. No files: preopens and reads
//! answer `EBADF`; other WASI functions `ENOSYS`.

use std::sync::OnceLock;
use std::time::Instant;

use rand::RngCore as _;
use wasmtime::Caller;

use super::logging::now_nanos;
use super::{Registrar, WASI};
use crate::abi::errno;
use crate::logs::LogLevel;
use crate::memory::{read, slice_mut, with_guest, write, write_u32, write_u64};
use crate::state::{VmState, MAX_STDIO_LINE};

const STDOUT: i32 = 1;
const STDERR: i32 = 2;
/// `__WASI_FILETYPE_CHARACTER_DEVICE`.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
/// `__WASI_RIGHTS_FD_WRITE`.
const RIGHT_FD_WRITE: u64 = 1 << 6;

fn errno_of(result: Result<(), i32>) -> i32 {
    match result {
        Ok(()) => errno::SUCCESS,
        Err(_) => errno::INVAL,
    }
}

/// Appends `bytes` to the fd's pending line and logs every completed line.
fn write_stdio(state: &mut VmState, fd: i32, bytes: &[u8]) {
    let (index, level) = if fd == STDOUT { (0, LogLevel::Info) } else { (1, LogLevel::Error) };
    let pending = &mut state.stdio.pending[index];
    pending.extend_from_slice(bytes);
    let mut lines = Vec::new();
    while let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        lines.push(line);
    }
    if pending.len() > MAX_STDIO_LINE {
        lines.push(std::mem::take(pending));
    }
    for line in lines {
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        state.logs.log(level, text);
    }
}

pub(super) fn register(registrar: &mut Registrar) -> wasmtime::Result<()> {
    registrar.wrap(
        WASI,
        "fd_write",
        |mut caller: Caller<'_, VmState>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| -> i32 {
            if fd != STDOUT && fd != STDERR {
                return errno::BADF;
            }
            let Some(table_len) = iovs_len.checked_mul(8) else {
                return errno::INVAL;
            };
            let Ok(table) = read(&mut caller, iovs, table_len) else {
                return errno::INVAL;
            };
            let mut written = Vec::new();
            for entry in table.chunks_exact(8) {
                let ptr = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
                let len = i32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
                match read(&mut caller, ptr, len) {
                    Ok(bytes) => written.extend_from_slice(&bytes),
                    Err(_) => return errno::INVAL,
                }
            }
            write_stdio(caller.data_mut(), fd, &written);
            errno_of(write_u32(&mut caller, nwritten, crate::abi::u32_len(written.len())))
        },
    )?;
    registrar.wrap(
        WASI,
        "fd_read",
        |_caller: Caller<'_, VmState>, _fd: i32, _iovs: i32, _len: i32, _nread: i32| -> i32 { errno::BADF },
    )?;
    registrar.wrap(WASI, "fd_close", |_caller: Caller<'_, VmState>, _fd: i32| -> i32 { errno::BADF })?;
    registrar.wrap(
        WASI,
        "fd_seek",
        |_caller: Caller<'_, VmState>, fd: i32, _offset: i64, _whence: i32, _new_offset: i32| -> i32 {
            if (0..=STDERR).contains(&fd) {
                errno::SPIPE
            } else {
                errno::BADF
            }
        },
    )?;
    registrar.wrap(WASI, "fd_fdstat_get", |mut caller: Caller<'_, VmState>, fd: i32, buf: i32| -> i32 {
        if fd != STDOUT && fd != STDERR {
            return errno::BADF;
        }
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&RIGHT_FD_WRITE.to_le_bytes());
        errno_of(write(&mut caller, buf, &stat))
    })?;
    registrar
        .wrap(WASI, "fd_prestat_get", |_caller: Caller<'_, VmState>, _fd: i32, _buf: i32| -> i32 { errno::BADF })?;
    registrar.wrap(
        WASI,
        "fd_prestat_dir_name",
        |_caller: Caller<'_, VmState>, _fd: i32, _path: i32, _len: i32| -> i32 { errno::BADF },
    )?;
    for (sizes, values) in [("environ_sizes_get", "environ_get"), ("args_sizes_get", "args_get")] {
        registrar.wrap(WASI, sizes, |mut caller: Caller<'_, VmState>, count: i32, buf_size: i32| -> i32 {
            errno_of(write_u32(&mut caller, count, 0).and_then(|()| write_u32(&mut caller, buf_size, 0)))
        })?;
        registrar
            .wrap(WASI, values, |_caller: Caller<'_, VmState>, _ptrs: i32, _buf: i32| -> i32 { errno::SUCCESS })?;
    }
    registrar.wrap(
        WASI,
        "clock_time_get",
        |mut caller: Caller<'_, VmState>, id: i32, _precision: i64, ret: i32| -> i32 {
            let now = match id {
                0 => now_nanos(),
                1..=3 => monotonic_nanos(),
                _ => return errno::INVAL,
            };
            errno_of(write_u64(&mut caller, ret, now))
        },
    )?;
    registrar.wrap(WASI, "clock_res_get", |mut caller: Caller<'_, VmState>, id: i32, ret: i32| -> i32 {
        if !(0..=3).contains(&id) {
            return errno::INVAL;
        }
        errno_of(write_u64(&mut caller, ret, 1))
    })?;
    registrar.wrap(WASI, "random_get", |mut caller: Caller<'_, VmState>, buf: i32, len: i32| -> i32 {
        // Filled in place: a length beyond the guest's memory is refused before anything is
        // allocated (a fuzzed filter asking for 4 GB made the host allocate them).
        let Ok(len) = usize::try_from(len as u32) else {
            return errno::INVAL;
        };
        errno_of(with_guest(&mut caller, |memory, _| {
            rand::rng().fill_bytes(slice_mut(memory, buf, len)?);
            Ok(())
        }))
    })?;
    registrar.wrap(WASI, "sched_yield", |_caller: Caller<'_, VmState>| -> i32 { errno::SUCCESS })?;
    registrar.wrap(WASI, "proc_exit", |_caller: Caller<'_, VmState>, code: i32| -> wasmtime::Result<()> {
        Err(wasmtime::Error::msg(format!("the module called proc_exit({code})")))
    })?;
    Ok(())
}

fn monotonic_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
