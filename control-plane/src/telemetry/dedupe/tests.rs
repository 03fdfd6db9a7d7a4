use super::*;

#[test]
fn a_batch_is_new_once_and_a_duplicate_after() {
    let mut tracker = SeqTracker::new(10);
    assert_eq!(tracker.check("vm-a", 1), Admission::New);
    tracker.record("vm-a", 1);
    assert_eq!(tracker.check("vm-a", 1), Admission::Duplicate);
    assert_eq!(tracker.check("vm-a", 2), Admission::New);
    assert_eq!(tracker.check("vm-b", 1), Admission::New, "seqs are per VM");
}

#[test]
fn out_of_order_arrivals_are_each_accepted_once() {
    let mut tracker = SeqTracker::new(10);
    for seq in [3, 1, 2, 5] {
        assert_eq!(tracker.check("vm", seq), Admission::New, "seq {seq}");
        tracker.record("vm", seq);
    }
    for seq in [1, 2, 3, 5] {
        assert_eq!(tracker.check("vm", seq), Admission::Duplicate, "seq {seq}");
    }
    assert_eq!(tracker.check("vm", 4), Admission::New, "the gap is still open");
}

#[test]
fn seqs_older_than_the_window_count_as_seen_and_memory_stays_bounded() {
    let mut tracker = SeqTracker::new(10);
    for seq in 1..=(3 * SEQ_WINDOW) {
        tracker.record("vm", seq);
    }
    let vm = &tracker.vms["vm"];
    assert_eq!(vm.accepted.len() as u64, SEQ_WINDOW, "exactly the window is remembered");
    assert_eq!(tracker.check("vm", 5), Admission::Duplicate);
    assert_eq!(tracker.check("vm", 3 * SEQ_WINDOW + 1), Admission::New);
}

#[test]
fn the_least_recently_active_vm_is_forgotten_first() {
    let mut tracker = SeqTracker::new(2);
    tracker.record("a", 1);
    tracker.record("b", 1);
    tracker.record("a", 2);
    tracker.record("c", 1);
    assert_eq!(tracker.vms(), 2);
    assert_eq!(tracker.check("b", 1), Admission::New, "b was forgotten");
    assert_eq!(tracker.check("a", 2), Admission::Duplicate);
    assert_eq!(tracker.check("c", 1), Admission::Duplicate);
}
