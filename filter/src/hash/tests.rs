use super::*;

const HASH: &[u8] = b"cdd01ef066bc6cf2";

#[test]
fn classification_of_presented_values() {
    assert_eq!(classify(Some(HASH), HASH), HashStatus::Valid);
    assert_eq!(classify(None, HASH), HashStatus::Missing);
    assert_eq!(classify(Some(b""), HASH), HashStatus::Mismatch);
    assert_eq!(classify(Some(b"cdd01ef066bc6cf3"), HASH), HashStatus::Mismatch);
    assert_eq!(classify(Some(b"CDD01EF066BC6CF2"), HASH), HashStatus::Mismatch, "hashes are case-sensitive");
    assert_eq!(classify(Some(b"cdd01ef066bc6cf2 "), HASH), HashStatus::Mismatch);
    assert_eq!(classify(Some(b"cdd01ef066bc6cf"), HASH), HashStatus::Mismatch, "a prefix is not the hash");
    assert_eq!(classify(Some(b"cdd01ef066bc6cf2\0"), HASH), HashStatus::Mismatch);
}

#[test]
fn statuses_are_the_wire_values_in_order_with_their_names() {
    for (index, status) in HashStatus::ALL.iter().enumerate() {
        assert_eq!(*status as usize, index + 1, "the wire value of {status:?}");
    }
    let names: Vec<&str> = HashStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["valid", "missing", "mismatch", "exempt", "injected"]);
    let violations: Vec<bool> = HashStatus::ALL.iter().map(|s| s.is_violation()).collect();
    assert_eq!(violations, [false, true, true, false, false]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]
    #[test]
    fn constant_time_eq_agrees_with_equality(a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
        proptest::prop_assert_eq!(constant_time_eq(&a, HASH), a == HASH);
        proptest::prop_assert_eq!(constant_time_eq(&a, &a), true);
    }
}
