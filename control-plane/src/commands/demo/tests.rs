use acgs_proto::shared_data;

#[test]
fn the_strategy_record_the_demo_watches_is_the_filters() {
    // The filter still names its shared-data keys itself; until it takes them from acgs-proto,
    // this keeps the two spellings from drifting apart.
    assert_eq!(shared_data::STRATEGY_KEY, acgs_filter::poll::STRATEGY_KEY);
    assert_eq!(shared_data::LEASE_KEY, acgs_filter::poll::LEASE_KEY);
}

#[test]
fn fractions_of_nothing_are_zero() {
    assert_eq!(super::fraction(3, 0), 0.0);
    assert_eq!(super::percent(1, 4), 25.0);
}
