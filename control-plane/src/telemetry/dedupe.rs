//! Exactly-once acceptance of telemetry batches: each filter VM numbers its batches (`seq`, +1 per
//! new batch) and retries a failed one with the same number, so (vm_id, seq) identifies a batch.
//!
//! Per VM the tracker keeps the highest seq accepted and the set of accepted seqs within a window
//! below it (batches can arrive out of order when retries overlap). A seq more than the window
//! above the highest is refused: a VM's seq grows by one per batch, so such a jump is a bug or a
//! forgery, and accepting it would make every later batch of the VM look old. A seq more than the
//! window below the highest starts the VM's history again: a VM never retries that far back (its
//! buffer is smaller), so it is a VM that restarted under the same id. The number
//! of VMs tracked is bounded; the least recently active VM is forgotten first, which only costs the
//! (harmless) acceptance of a replay of a batch from a VM that had gone quiet for that long.

use std::collections::{BTreeSet, HashMap};

/// How far below a VM's highest accepted seq acceptance is still tracked.
pub const SEQ_WINDOW: u64 = 4_096;

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// First time seen: process it.
    New,
    /// Seen before: acknowledge without processing again.
    Duplicate,
    /// More than [`SEQ_WINDOW`] above the VM's highest accepted seq: refuse.
    TooFarAhead {
        /// The VM's highest accepted seq.
        highest: u64,
    },
}

#[derive(Debug, Default)]
struct VmSeqs {
    highest: u64,
    accepted: BTreeSet<u64>,
    last_active: u64,
}

/// Accepted (vm_id, seq) pairs.
#[derive(Debug)]
pub struct SeqTracker {
    vms: HashMap<String, VmSeqs>,
    max_vms: usize,
    clock: u64,
}

impl SeqTracker {
    /// A tracker remembering at most `max_vms` VMs.
    pub fn new(max_vms: usize) -> Self {
        Self { vms: HashMap::new(), max_vms: max_vms.max(1), clock: 0 }
    }

    /// Whether (vm_id, seq) was already accepted; does not record it.
    pub fn check(&self, vm_id: &str, seq: u64) -> Admission {
        match self.vms.get(vm_id) {
            None => Admission::New,
            Some(vm) if vm.accepted.contains(&seq) => Admission::Duplicate,
            Some(vm) if seq > vm.highest.saturating_add(SEQ_WINDOW) => Admission::TooFarAhead { highest: vm.highest },
            Some(_) => Admission::New,
        }
    }

    /// Records (vm_id, seq) as accepted.
    pub fn record(&mut self, vm_id: &str, seq: u64) {
        self.clock += 1;
        if !self.vms.contains_key(vm_id) && self.vms.len() >= self.max_vms {
            self.forget_least_recent();
        }
        let vm = self.vms.entry(vm_id.to_owned()).or_default();
        if seq.saturating_add(SEQ_WINDOW) <= vm.highest {
            *vm = VmSeqs::default();
        }
        vm.last_active = self.clock;
        vm.accepted.insert(seq);
        vm.highest = vm.highest.max(seq);
        let floor = vm.highest.saturating_sub(SEQ_WINDOW);
        while let Some(&oldest) = vm.accepted.first() {
            if oldest > floor {
                break;
            }
            vm.accepted.pop_first();
        }
    }

    /// Number of VMs tracked.
    pub fn vms(&self) -> usize {
        self.vms.len()
    }

    fn forget_least_recent(&mut self) {
        if let Some(oldest) = self.vms.iter().min_by_key(|(_, vm)| vm.last_active).map(|(id, _)| id.clone()) {
            self.vms.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests;
