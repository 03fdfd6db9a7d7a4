//! Header-map buffers handed back when a stream is done with its request headers, lent again for
//! the next request's map: every request's headers come back in memory this module provides
//! (`proxy_on_memory_allocate`), and the last requests' buffers fit the next one's. A reused
//! buffer costs no allocation and no free; the map of a request larger than any kept buffer is
//! allocated as before and kept afterwards. [`header_map`](super::host::header_map) arms the
//! lending for its one host call ([`arm`], [`disarm`]); the stream hands its buffer back
//! ([`give_back`]). At most [`KEPT`] buffers of at most [`LARGEST`] bytes are kept, so the VM
//! holds no more than its busiest moment needed.

use std::cell::RefCell;

/// Buffers kept for reuse (a VM's streams in flight at once, beyond which a buffer is freed).
const KEPT: usize = 16;
/// The largest buffer kept (Envoy's default request header limit is 60 KiB; most maps are < 2 KiB).
const LARGEST: usize = 16 * 1_024;

struct Recycled {
    free: Vec<Vec<u8>>,
    armed: bool,
    /// The buffer lent during the armed call: where it is and its capacity.
    lent: Option<(*mut u8, usize)>,
}

thread_local! {
    static RECYCLED: RefCell<Recycled> = const { RefCell::new(Recycled { free: Vec::new(), armed: false, lent: None }) };
}

/// Lets the next allocation the host asks for take a kept buffer.
pub(super) fn arm() {
    RECYCLED.with(|recycled| {
        if let Ok(mut recycled) = recycled.try_borrow_mut() {
            (recycled.armed, recycled.lent) = (true, None);
        }
    });
}

/// A kept buffer for a value of `size` bytes, when armed and one is kept; a kept buffer too small
/// for it is freed (the one allocated instead is kept afterwards).
pub(super) fn lend(size: usize) -> Option<*mut u8> {
    RECYCLED.with(|recycled| {
        let mut recycled = recycled.try_borrow_mut().ok()?;
        if !recycled.armed {
            return None;
        }
        recycled.armed = false;
        let buffer = recycled.free.pop().filter(|buffer| buffer.capacity() >= size)?;
        let mut buffer = std::mem::ManuallyDrop::new(buffer);
        let lent = (buffer.as_mut_ptr(), buffer.capacity());
        recycled.lent = Some(lent);
        Some(lent.0)
    })
}

/// Ends the host call: the buffer lent, if one was, with its capacity.
pub(super) fn disarm() -> Option<(*mut u8, usize)> {
    RECYCLED.with(|recycled| {
        let mut recycled = recycled.try_borrow_mut().ok()?;
        recycled.armed = false;
        recycled.lent.take()
    })
}

/// Keeps `buffer` for a later header map (or frees it when enough are kept or it is too large).
pub(super) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > LARGEST {
        return;
    }
    buffer.clear();
    RECYCLED.with(|recycled| {
        if let Ok(mut recycled) = recycled.try_borrow_mut() {
            if recycled.free.len() < KEPT {
                recycled.free.push(buffer);
            }
        }
    });
}
