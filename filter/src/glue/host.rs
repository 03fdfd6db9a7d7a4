//! Every host call the filter makes, as the proxy-wasm ABI 0.2.1 defines it (the `env` imports of
//! proxy-wasm/spec `abi-versions/v0.2.1`), each behind a safe function. The filter calls the ABI
//! directly rather than through the Rust SDK's wrappers, which allocate per header (a `String`
//! and a `Vec` each), serialise a `Vec<&str>` per property path, turn the clock into a
//! `SystemTime` and panic on statuses the filter can live with. Here a whole header map comes
//! back in one buffer ([`HeaderMap`]), a property path is a constant already in the ABI's form,
//! the clock is a `u64`, and any status other than `Ok` reads as "not there" or as the status
//! itself: the filter never traps on a host answer. Buffers the host returns were allocated by
//! this module's `proxy_on_memory_allocate` ([`super::exports`]) and are owned from then on.

#![allow(unsafe_code)]

use std::ptr::{null, null_mut};

use super::lending::{self, Lent, Loan};
use crate::header_map::HeaderMap;

/// `Status::Ok`.
const OK: u32 = 0;

/// The header maps the filter reads or writes (`MapType`).
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub(super) enum Headers {
    Request = 0,
    Response = 2,
    HttpCallResponse = 6,
}

/// The buffers the filter reads (`BufferType`).
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub(super) enum Buffer {
    HttpCallResponseBody = 4,
    PluginConfiguration = 7,
}

/// Log levels (`LogLevel`).
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub(super) enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// `MetricType::Counter`.
const COUNTER: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
}

/// Takes ownership of a buffer the host returned.
fn owned(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: on `Ok` the host wrote a pointer it got from this module's
    // `proxy_on_memory_allocate(size)`, which leaks a `Vec<u8>` with capacity == length == size
    // (`exports::proxy_on_memory_allocate`); this takes that allocation back.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Calls `call` with out-pointers for a returned buffer and takes the buffer.
fn returned(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0);
    let status = call(&mut data, &mut size);
    owned(status, data, size)
}

/// Logs `message` at `level`.
pub(super) fn log(level: Level, message: &str) {
    // SAFETY: `message` is valid for reads of its length.
    unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Wall-clock nanoseconds since the Unix epoch (0 if the host refuses).
pub(super) fn now_nanos() -> u64 {
    let mut nanos = 0;
    // SAFETY: the out-pointer is valid for writes for the duration of the call.
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    if status == OK {
        nanos
    } else {
        0
    }
}

/// Asks for `proxy_on_tick` every `millis`.
pub(super) fn set_tick_period(millis: u64) {
    // SAFETY: no pointers.
    unsafe { proxy_set_tick_period_milliseconds(saturating_u32(millis)) };
}

/// The whole of a buffer (up to `size` bytes).
pub(super) fn buffer(buffer: Buffer, size: usize) -> Option<Vec<u8>> {
    // SAFETY: the out-pointers are valid for writes for the duration of the call.
    returned(|data, len| unsafe { proxy_get_buffer_bytes(buffer as u32, 0, size, data, len) })
}

/// A whole header map, in one call.
pub(super) fn header_map(map: Headers) -> HeaderMap {
    let (mut data, mut size) = (null_mut(), 0);
    lending::arm(Loan::HeaderBuffer);
    // SAFETY: the out-pointers are valid for writes for the duration of the call.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    let bytes = match lending::disarm() {
        // SAFETY: the host wrote `size` bytes into the kept buffer it was lent (initialised up to
        // `size`), and returned its pointer.
        Some(Lent { pointer, capacity }) if status == OK && data == pointer && size <= capacity => unsafe {
            Vec::from_raw_parts(pointer, size, capacity)
        },
        // Lent but not returned (the host failed after allocating): taken back, empty.
        // SAFETY: a kept buffer's pointer and capacity, as `lending::lend` leaked it.
        Some(Lent { pointer, capacity }) => {
            lending::give_back(unsafe { Vec::from_raw_parts(pointer, 0, capacity) });
            owned(status, data, size).unwrap_or_default()
        }
        None => owned(status, data, size).unwrap_or_default(),
    };
    HeaderMap::new(bytes)
}

/// Hands a header map's buffer back for the next one ([`lending`]).
pub(super) fn release_header_map(map: HeaderMap) {
    lending::give_back(map.into_bytes());
}

/// Calls `call` with out-pointers for a small returned value and runs `read` on it where it lies:
/// in the VM's scratch ([`lending`]) when the value fits there, else in the buffer the host
/// allocated (freed after `read`). `read` runs exactly once. Not generic, so that the module
/// holds it once.
fn read_returned(call: &mut dyn FnMut(*mut *mut u8, *mut usize) -> u32, read: &mut dyn FnMut(Option<&[u8]>)) {
    let (mut data, mut size) = (null_mut(), 0);
    lending::arm(Loan::Scratch);
    let status = call(&mut data, &mut size);
    let lent = lending::disarm();
    if status == OK && !data.is_null() && lent.is_some_and(|lent| lent.pointer == data) {
        lending::read_scratch(size, read);
    } else {
        read(owned(status, data, size).as_deref());
    }
}

/// Runs `read` on one header's value.
pub(super) fn read_header(map: Headers, name: &str, read: &mut dyn FnMut(Option<&[u8]>)) {
    // SAFETY: `name` is valid for reads of its length, the out-pointers for writes.
    read_returned(
        &mut |data, len| unsafe { proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), data, len) },
        read,
    );
}

/// One header's value.
pub(super) fn header(map: Headers, name: &str) -> Option<Vec<u8>> {
    let mut owned = None;
    read_header(map, name, &mut |value| owned = value.map(<[u8]>::to_vec));
    owned
}

/// Sets a header, replacing any value it had.
pub(super) fn set_header(map: Headers, name: &str, value: &[u8]) {
    // SAFETY: `name` and `value` are valid for reads of their lengths.
    unsafe { proxy_replace_header_map_value(map as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len()) };
}

/// Runs `read` on a property, by its path in the ABI's form (segments separated by NUL bytes).
pub(super) fn read_property(path: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) {
    // SAFETY: `path` is valid for reads of its length, the out-pointers for writes.
    read_returned(&mut |data, len| unsafe { proxy_get_property(path.as_ptr(), path.len(), data, len) }, read);
}

/// A property by its path in the ABI's form.
pub(super) fn property(path: &[u8]) -> Option<Vec<u8>> {
    let mut owned = None;
    read_property(path, &mut |value| owned = value.map(<[u8]>::to_vec));
    owned
}

/// A shared-data value and its CAS token (0: no value).
pub(super) fn shared_data(key: &str) -> (Option<Vec<u8>>, u32) {
    let (mut data, mut size, mut cas) = (null_mut(), 0, 0);
    // SAFETY: `key` is valid for reads of its length, the out-pointers for writes.
    let status = unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    (owned(status, data, size), if status == OK { cas } else { 0 })
}

/// Sets a shared-data value if its CAS token is still `cas` (0: unconditionally); the status
/// when the host refuses (`CasMismatch`, 8, when another VM wrote first).
pub(super) fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    // SAFETY: `key` and `value` are valid for reads of their lengths.
    let status = unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
    if status == OK {
        Ok(())
    } else {
        Err(status)
    }
}

/// Headers in the ABI's serialised form: the count, each name's and value's length, then each
/// name and value followed by a NUL byte (all lengths little-endian u32).
fn serialize_headers(headers: &[(&str, &[u8])]) -> Vec<u8> {
    let size = 4 + headers.iter().map(|(name, value)| name.len() + value.len() + 10).sum::<usize>();
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&saturating_u32(headers.len()).to_le_bytes());
    for (name, value) in headers {
        bytes.extend_from_slice(&saturating_u32(name.len()).to_le_bytes());
        bytes.extend_from_slice(&saturating_u32(value.len()).to_le_bytes());
    }
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

/// A length or a duration as the ABI's `u32`, saturating.
fn saturating_u32(value: impl TryInto<u32>) -> u32 {
    value.try_into().unwrap_or(u32::MAX)
}

/// Answers the request locally with `status`, `headers` and `body`.
pub(super) fn send_local_response(status: u32, headers: &[(&str, &[u8])], body: &[u8]) {
    let headers = serialize_headers(headers);
    // SAFETY: every pointer is valid for reads of the length passed with it.
    unsafe {
        proxy_send_local_response(status, null(), 0, body.as_ptr(), body.len(), headers.as_ptr(), headers.len(), -1)
    };
}

/// Sends an HTTP call to `cluster`; its token, or the host's status when it refuses.
pub(super) fn http_call(cluster: &str, headers: &[(&str, &[u8])], body: &[u8], timeout_ms: u64) -> Result<u32, u32> {
    let headers = serialize_headers(headers);
    let trailers = serialize_headers(&[]);
    let mut token = 0;
    // SAFETY: every pointer is valid for reads of the length passed with it, `token` for writes.
    let status = unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            saturating_u32(timeout_ms),
            &mut token,
        )
    };
    if status == OK {
        Ok(token)
    } else {
        Err(status)
    }
}

/// Defines a counter; its id, or `None` when the host refuses.
pub(super) fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0;
    // SAFETY: `name` is valid for reads of its length, `id` for writes.
    let status = unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

/// Adds one to a counter.
pub(super) fn increment(id: u32) {
    // SAFETY: no pointers.
    unsafe { proxy_increment_metric(id, 1) };
}
