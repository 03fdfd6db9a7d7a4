use super::*;

fn key(service: &str, status: HashStatus) -> SeriesKey {
    SeriesKey { service: service.into(), operation: "GET /x".into(), code_class: 2, hash_status: status }
}

fn hist(micros: &[u64]) -> LatencyHistogram {
    let mut h = LatencyHistogram::default();
    for m in micros {
        h.observe_micros(*m);
    }
    h
}

#[test]
fn batches_in_one_window_merge_per_series() {
    let mut store = WindowStore::new(Duration::from_secs(10), 6, 100, 1_000);
    store.add(1_000, key("a", HashStatus::Valid), &hist(&[100, 200])).expect("fits");
    store.add(1_009, key("a", HashStatus::Valid), &hist(&[300])).expect("fits");
    store.add(1_005, key("a", HashStatus::Missing), &hist(&[50])).expect("fits");
    let windows: Vec<&Window> = store.windows().collect();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].start_unix_secs, 1_000);
    assert_eq!(windows[0].series[&key("a", HashStatus::Valid)].count(), 3);
    assert_eq!(windows[0].series[&key("a", HashStatus::Missing)].count(), 1);
}

#[test]
fn only_the_newest_windows_are_kept_in_order() {
    let mut store = WindowStore::new(Duration::from_secs(10), 3, 100, 1_000);
    for at in [1_040, 1_000, 1_010, 1_030, 1_020] {
        store.add(at, key("a", HashStatus::Valid), &hist(&[1])).expect("fits");
    }
    let starts: Vec<u64> = store.windows().map(|w| w.start_unix_secs).collect();
    assert_eq!(starts, vec![1_020, 1_030, 1_040]);
    let recent: Vec<u64> = store.since(1_035).map(|w| w.start_unix_secs).collect();
    assert_eq!(recent, vec![1_030, 1_040], "the window containing 1,035 counts");
}

#[test]
fn series_beyond_the_limit_are_refused_but_existing_ones_still_merge() {
    let mut store = WindowStore::new(Duration::from_secs(10), 3, 2, 1_000);
    store.add(0, key("a", HashStatus::Valid), &hist(&[1])).expect("fits");
    store.add(0, key("b", HashStatus::Valid), &hist(&[1])).expect("fits");
    assert_eq!(store.add(0, key("c", HashStatus::Valid), &hist(&[1])), Err(SeriesLimit { limit: 2 }));
    store.add(0, key("a", HashStatus::Valid), &hist(&[1])).expect("existing series still merge");
    assert_eq!(store.windows().next().map(|w| w.series[&key("a", HashStatus::Valid)].count()), Some(2));
}

#[test]
fn the_history_budget_pushes_out_the_oldest_windows_and_keeps_the_current_one_whole() {
    let mut store = WindowStore::new(Duration::from_secs(10), 100, 10, 5);
    let series = ["a", "b", "c"];
    for (at, names) in [(1_000, &series[..]), (1_010, &series[..2])] {
        for name in names {
            assert_eq!(store.add(at, key(name, HashStatus::Valid), &hist(&[1])), Ok(Added::default()));
        }
    }
    assert_eq!(store.entries(), 5);
    // A sixth series: the oldest window (3 series) goes, the history is one window shorter.
    assert_eq!(store.add(1_020, key("a", HashStatus::Valid), &hist(&[1])), Ok(Added { history_evicted: 3 }));
    let starts: Vec<u64> = store.windows().map(|w| w.start_unix_secs).collect();
    assert_eq!(starts, vec![1_010, 1_020]);
    assert_eq!(store.entries(), 3);
    // A series already in a window merges without touching the budget.
    assert_eq!(store.add(1_010, key("a", HashStatus::Valid), &hist(&[1])), Ok(Added::default()));
    // The current window alone at the budget: a new series is refused, not placed by evicting it.
    for name in ["b", "c", "d"] {
        store.add(1_020, key(name, HashStatus::Valid), &hist(&[1])).expect("room after evicting 1,010");
    }
    assert_eq!(store.windows().count(), 1);
    assert_eq!(store.entries(), 4);
    store.add(1_020, key("e", HashStatus::Valid), &hist(&[1])).expect("the fifth");
    assert_eq!(store.add(1_020, key("f", HashStatus::Valid), &hist(&[1])), Err(SeriesLimit { limit: 5 }));
    assert_eq!(store.entries(), 5);
}

#[test]
fn windows_ended_by_retention_leave_the_budget() {
    let mut store = WindowStore::new(Duration::from_secs(10), 2, 10, 100);
    for at in [1_000, 1_010, 1_020] {
        store.add(at, key("a", HashStatus::Valid), &hist(&[1])).expect("fits");
        store.add(at, key("b", HashStatus::Valid), &hist(&[1])).expect("fits");
    }
    assert_eq!(store.entries(), 4, "two windows of two series retained");
}
