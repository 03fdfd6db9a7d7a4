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
    let mut store = WindowStore::new(Duration::from_secs(10), 6, 100);
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
    let mut store = WindowStore::new(Duration::from_secs(10), 3, 100);
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
    let mut store = WindowStore::new(Duration::from_secs(10), 3, 2);
    store.add(0, key("a", HashStatus::Valid), &hist(&[1])).expect("fits");
    store.add(0, key("b", HashStatus::Valid), &hist(&[1])).expect("fits");
    assert_eq!(store.add(0, key("c", HashStatus::Valid), &hist(&[1])), Err(SeriesLimit { limit: 2 }));
    store.add(0, key("a", HashStatus::Valid), &hist(&[1])).expect("existing series still merge");
    assert_eq!(store.windows().next().map(|w| w.series[&key("a", HashStatus::Valid)].count()), Some(2));
}
