#[test]
fn fractions_of_nothing_are_zero() {
    assert_eq!(super::fraction(3, 0), 0.0);
    assert_eq!(super::percent(1, 4), 25.0);
}
