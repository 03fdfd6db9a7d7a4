use super::*;

#[test]
fn latencies_land_in_the_bucket_whose_bound_holds_them() {
    let mut h = LatencyHistogram::default();
    for micros in [0, 50, 51, 100, 5_000, 5_001, 10_000_000, 10_000_001] {
        h.observe_micros(micros);
    }
    let b = h.buckets();
    assert_eq!(b[0], 2, "0 and 50 µs are ≤ 50");
    assert_eq!(b[1], 2, "51 and 100 µs are ≤ 100");
    assert_eq!(b[10], 1, "5 ms is ≤ 5,000 µs");
    assert_eq!(b[11], 1, "5.001 ms is ≤ 7,500 µs");
    assert_eq!(b[18], 1, "10 s");
    assert_eq!(b[19], 1, "overflow");
    assert_eq!(h.count(), 8);
    assert_eq!(h.max_micros(), 10_000_001);
}

#[test]
fn wire_histograms_merge_by_adding_counts() {
    let mut h = LatencyHistogram::default();
    h.merge_wire(&[1, 2, 3], 600, 240).expect("fits");
    h.merge_wire(&[0, 0, 1, 0, 4], 2_500, 700).expect("fits");
    assert_eq!(&h.buckets()[..5], &[1, 2, 4, 0, 4]);
    assert_eq!(h.count(), 11);
    assert_eq!(h.sum_micros(), 3_100);
    assert_eq!(h.max_micros(), 700);
}

#[test]
fn a_wire_histogram_with_too_many_buckets_is_refused() {
    let mut h = LatencyHistogram::default();
    let err = h.merge_wire(&[1; LATENCY_BUCKETS + 1], 0, 0).expect_err("too many");
    assert_eq!(err, TooManyBuckets { got: LATENCY_BUCKETS + 1 });
    assert_eq!(h.count(), 0, "nothing merged");
}

#[test]
fn quantiles_interpolate_within_the_bucket() {
    let mut h = LatencyHistogram::default();
    // 100 requests: 90 in (1,000, 1,500] µs, 10 in (5,000, 7,500] µs with max 6,000.
    h.merge_wire(&[0, 0, 0, 0, 0, 0, 90, 0, 0, 0, 0, 10], 0, 6_000).expect("fits");
    assert_eq!(h.quantile_micros(0.5), Some(1_000.0 + 500.0 * (50.0 / 90.0)));
    assert_eq!(h.quantile_micros(0.9), Some(1_500.0));
    assert_eq!(h.quantile_micros(0.99), Some(5_000.0 + 1_000.0 * 0.9));
    assert_eq!(h.quantile_micros(1.0), Some(6_000.0));
    assert_eq!(LatencyHistogram::default().quantile_micros(0.99), None);
}
