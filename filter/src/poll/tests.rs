use super::*;

const MS: u64 = 1_000_000;

#[test]
fn a_poll_is_due_at_once_then_once_per_interval() {
    let mut schedule = PollSchedule::new(10_000, 7);
    assert!(schedule.is_due(0));
    schedule.succeeded(5 * MS);
    assert!(!schedule.is_due(10_004 * MS));
    assert!(schedule.is_due(10_005 * MS));
    schedule.skipped(20_000 * MS);
    assert!(!schedule.is_due(29_999 * MS));
    assert!(schedule.is_due(30_000 * MS));
}

#[test]
fn failures_back_off_with_jitter_up_to_the_interval() {
    let mut schedule = PollSchedule::new(10_000, 42);
    let mut delays = Vec::new();
    for _ in 0..8 {
        schedule.failed(0);
        delays.push(schedule.next_due_nanos / MS);
    }
    let bounds = [500u64, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000];
    for (delay, base) in delays.iter().zip(bounds) {
        assert!(*delay >= base - base / 4 && *delay <= base + base / 4, "{delays:?}");
    }
    schedule.succeeded(0);
    schedule.failed(0);
    assert!(schedule.next_due_nanos / MS <= 625, "a success resets the backoff");
}

#[test]
fn the_lease_is_taken_when_free_expired_or_ours() {
    assert!(may_take_lease(None, "vm-1", 0));
    let held = lease_value("vm-2", 1_000);
    assert!(!may_take_lease(Some(&held), "vm-1", 999));
    assert!(may_take_lease(Some(&held), "vm-1", 1_000));
    assert!(may_take_lease(Some(&held), "vm-2", 0));
    assert!(may_take_lease(Some(b"garbage"), "vm-1", 0));
}

#[test]
fn poll_paths_percent_encode_the_service() {
    assert_eq!(poll_path("groqcloud-policy"), "/api/sampling?service=groqcloud-policy");
    assert_eq!(poll_path("a b&c=d"), "/api/sampling?service=a%20b%26c%3Dd");
}
