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
fn memory_stays_bounded_to_the_window_and_a_seq_far_below_it_is_a_restarted_vm() {
    let mut tracker = SeqTracker::new(10);
    for seq in 1..=(3 * SEQ_WINDOW) {
        tracker.record("vm", seq);
    }
    let vm = &tracker.vms["vm"];
    assert_eq!(vm.accepted.len() as u64, SEQ_WINDOW, "exactly the window is remembered");
    assert_eq!(tracker.check("vm", 3 * SEQ_WINDOW + 1), Admission::New);
    assert_eq!(tracker.check("vm", 5), Admission::New, "no VM retries that far back: it restarted");
    tracker.record("vm", 5);
    assert_eq!(tracker.check("vm", 5), Admission::Duplicate);
    assert_eq!(tracker.check("vm", 6), Admission::New, "its new history counts from 5");
    assert_eq!(tracker.check("vm", 3 * SEQ_WINDOW), Admission::TooFarAhead { highest: 5 });
}

#[test]
fn a_seq_jump_beyond_the_window_is_refused_and_the_vm_goes_on() {
    let mut tracker = SeqTracker::new(10);
    tracker.record("vm", 1);
    assert_eq!(tracker.check("vm", u64::MAX), Admission::TooFarAhead { highest: 1 });
    assert_eq!(tracker.check("vm", 1 + SEQ_WINDOW + 1), Admission::TooFarAhead { highest: 1 });
    assert_eq!(tracker.check("vm", 1 + SEQ_WINDOW), Admission::New, "the edge of the window");
    assert_eq!(tracker.check("vm", 2), Admission::New, "the next batch is not a duplicate");
}

#[test]
fn a_first_batch_at_u64_max_does_not_silence_the_vm() {
    let mut tracker = SeqTracker::new(10);
    tracker.record("vm", u64::MAX);
    assert_eq!(tracker.check("vm", 1), Admission::New);
    tracker.record("vm", 1);
    assert_eq!(tracker.check("vm", 2), Admission::New);
    assert_eq!(tracker.check("vm", 1), Admission::Duplicate);
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
