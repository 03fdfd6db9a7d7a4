//! Memory this VM lends the host for a value a host call returns, instead of an allocation freed
//! soon after (every request reads four such values). Two kinds of loan:
//! - the **scratch**, for a small value read where it lies and done with before the next host
//!   call (a status, an address, an identity: at most [`SCRATCH_MAX`] bytes);
//! - a **kept header buffer**, for a request's header map: a stream hands its map's buffer back
//!   when it is done with it ([`give_back`]) and the next map goes into it when it fits. At most
//!   [`KEPT`] buffers of at most [`KEPT_MAX`] bytes are kept, so the VM holds no more than its
//!   busiest moment needed; a map larger than any kept buffer is allocated as before.
//!
//! The host call that wants a loan arms it ([`arm`]); `proxy_on_memory_allocate` then lends
//! ([`lend`]) once, for that call; [`disarm`] says what was lent, if anything.

use std::cell::RefCell;

/// The largest value lent the scratch (larger ones are allocated as before).
const SCRATCH_MAX: usize = 1_024;
/// Header buffers kept (a VM's streams in flight at once, beyond which a buffer is freed).
const KEPT: usize = 16;
/// The largest header buffer kept (Envoy's default limit for request headers is 60 KiB; most
/// maps are under 2 KiB).
const KEPT_MAX: usize = 16 * 1_024;

/// What the armed host call may be lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loan {
    Scratch,
    HeaderBuffer,
}

/// Where a loan is and how many bytes it has room for.
pub(super) struct Lent {
    pub(super) pointer: *mut u8,
    pub(super) capacity: usize,
}

struct Lender {
    scratch: Vec<u8>,
    kept: Vec<Vec<u8>>,
    armed: Option<Loan>,
    lent: Option<Lent>,
}

thread_local! {
    static LENDER: RefCell<Lender> =
        const { RefCell::new(Lender { scratch: Vec::new(), kept: Vec::new(), armed: None, lent: None }) };
}

/// Lets the next allocation the host asks for be lent `loan`.
pub(super) fn arm(loan: Loan) {
    LENDER.with(|lender| {
        if let Ok(mut lender) = lender.try_borrow_mut() {
            (lender.armed, lender.lent) = (Some(loan), None);
        }
    });
}

/// Memory for a value of `size` bytes, when armed and the loan fits: the scratch (grown to `size`
/// if need be), or a kept header buffer (one too small for it is freed; the one allocated instead
/// is kept afterwards).
pub(super) fn lend(size: usize) -> Option<*mut u8> {
    LENDER.with(|lender| {
        let mut lender = lender.try_borrow_mut().ok()?;
        let lent = match lender.armed.take()? {
            Loan::Scratch if size <= SCRATCH_MAX => {
                if lender.scratch.len() < size {
                    lender.scratch.resize(size, 0);
                }
                Lent { pointer: lender.scratch.as_mut_ptr(), capacity: lender.scratch.len() }
            }
            Loan::Scratch => return None,
            Loan::HeaderBuffer => {
                let buffer = lender.kept.pop().filter(|buffer| buffer.capacity() >= size)?;
                let mut buffer = std::mem::ManuallyDrop::new(buffer);
                Lent { pointer: buffer.as_mut_ptr(), capacity: buffer.capacity() }
            }
        };
        let pointer = lent.pointer;
        lender.lent = Some(lent);
        Some(pointer)
    })
}

/// Ends the host call: what was lent, if anything.
pub(super) fn disarm() -> Option<Lent> {
    LENDER.with(|lender| {
        let mut lender = lender.try_borrow_mut().ok()?;
        lender.armed = None;
        lender.lent.take()
    })
}

/// Runs `read` on the first `size` bytes of the scratch (`None` if it holds fewer).
pub(super) fn read_scratch(size: usize, read: &mut dyn FnMut(Option<&[u8]>)) {
    LENDER.with(|lender| match lender.try_borrow() {
        Ok(lender) => read(lender.scratch.get(..size)),
        Err(_) => read(None),
    })
}

/// Keeps `buffer` for a later header map (or frees it when enough are kept or it is too large).
pub(super) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > KEPT_MAX {
        return;
    }
    buffer.clear();
    LENDER.with(|lender| {
        if let Ok(mut lender) = lender.try_borrow_mut() {
            if lender.kept.len() < KEPT {
                lender.kept.push(buffer);
            }
        }
    });
}
