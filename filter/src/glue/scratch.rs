//! The buffer this VM lends the host for a small value it returns (a status, an address, an
//! identity), read where it lies and done with before the next host call: every request reads
//! three such values, and each would otherwise be an allocation freed right after. The host call
//! that wants it arms it ([`arm`]); `proxy_on_memory_allocate` then lends it ([`lend`]) instead of
//! allocating, once, for a value of at most [`LENT_MAX`] bytes; [`disarm`] says whether it was.

use std::cell::RefCell;

/// The largest value lent the scratch (larger ones are allocated as before).
const LENT_MAX: usize = 1_024;

struct Scratch {
    bytes: Vec<u8>,
    armed: bool,
    lent: Option<*mut u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { bytes: Vec::new(), armed: false, lent: None }) };
}

/// Lets the next allocation the host asks for (of at most [`LENT_MAX`] bytes) use the scratch.
pub(super) fn arm() {
    SCRATCH.with(|scratch| {
        if let Ok(mut scratch) = scratch.try_borrow_mut() {
            (scratch.armed, scratch.lent) = (true, None);
        }
    });
}

/// The scratch for a value of `size` bytes, when armed and large enough to be worth it.
pub(super) fn lend(size: usize) -> Option<*mut u8> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.try_borrow_mut().ok()?;
        if !scratch.armed || size > LENT_MAX {
            return None;
        }
        scratch.armed = false;
        if scratch.bytes.len() < size {
            scratch.bytes.resize(size, 0);
        }
        let pointer = scratch.bytes.as_mut_ptr();
        scratch.lent = Some(pointer);
        Some(pointer)
    })
}

/// Ends the host call: where the scratch was lent, if it was.
pub(super) fn disarm() -> Option<*mut u8> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.try_borrow_mut().ok()?;
        scratch.armed = false;
        scratch.lent.take()
    })
}

/// Runs `read` on the first `size` bytes of the scratch (`None` if it holds fewer).
pub(super) fn read(size: usize, read: &mut dyn FnMut(Option<&[u8]>)) {
    SCRATCH.with(|scratch| match scratch.try_borrow() {
        Ok(scratch) => read(scratch.bytes.get(..size)),
        Err(_) => read(None),
    })
}
