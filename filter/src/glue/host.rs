//! The host calls the hot path makes without the SDK's wrappers, which allocate per header
//! (`get_map_bytes` builds a `String` and a `Vec` for each) or per path segment (`get_property`
//! builds and serialises a `Vec<&str>` on every call), or turn the clock into a `SystemTime` that
//! the filter then turns back into nanoseconds through 128-bit arithmetic. Here a whole header
//! map comes back in one buffer ([`HeaderMap`]), a property path is a constant already in the
//! ABI's form, and the clock is a `u64`. The buffers are owned as the SDK's own wrappers own them
//! (allocated by the SDK's `proxy_on_memory_allocate`: a boxed byte slice of exactly the returned
//! size). Any status other than `Ok` reads as "not there": the filter never traps on a host
//! answer.

#![allow(unsafe_code)]

use std::ptr::null_mut;

use crate::header_map::HeaderMap;

/// `MapType::HttpRequestHeaders`.
const REQUEST_HEADERS: u32 = 0;
/// `Status::Ok`.
const OK: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
}

/// Takes ownership of a buffer the host returned.
fn owned(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: on `Ok` the host wrote a pointer it got from this module's
    // `proxy_on_memory_allocate(size)`, which leaks a `Box<[u8]>` of exactly `size` bytes
    // (proxy-wasm 0.2 `allocator.rs`); a Vec with capacity == length == size owns that allocation.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
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

/// The request headers, in one call.
pub(super) fn request_headers() -> HeaderMap {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: the out-pointers are valid for writes for the duration of the call.
    let status = unsafe { proxy_get_header_map_pairs(REQUEST_HEADERS, &mut data, &mut size) };
    HeaderMap::new(owned(status, data, size).unwrap_or_default())
}

/// A property by its path in the ABI's form (segments separated by NUL bytes).
pub(super) fn property(path: &[u8]) -> Option<Vec<u8>> {
    let (mut data, mut size) = (null_mut(), 0);
    // SAFETY: `path` is valid for reads of its length, the out-pointers for writes.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    owned(status, data, size)
}
