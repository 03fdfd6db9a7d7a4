use super::*;

#[test]
fn pairs_serialise_as_the_sdk_expects() {
    let pairs: Vec<(&[u8], &[u8])> = vec![(b":path", b"/x"), (b"a", b"")];
    let mut bytes = vec![0; serialized_pairs_len(pairs.iter().copied())];
    assert_eq!(serialize_pairs_into(pairs.iter().copied(), &mut bytes[1..]), None, "a buffer of another size");
    assert_eq!(serialize_pairs_into(pairs.iter().copied(), &mut bytes), Some(()));
    let expected: Vec<u8> = [
        &2u32.to_le_bytes()[..],
        &5u32.to_le_bytes(),
        &2u32.to_le_bytes(),
        &1u32.to_le_bytes(),
        &0u32.to_le_bytes(),
        b":path\0/x\0a\0\0",
    ]
    .concat();
    assert_eq!(bytes, expected);
    assert_eq!(parse_pairs(&bytes), Some(vec![(b":path".to_vec(), b"/x".to_vec()), (b"a".to_vec(), Vec::new())]));
}

#[test]
fn malformed_pairs_are_refused_not_read_out_of_bounds() {
    assert_eq!(parse_pairs(&[]), Some(Vec::new()));
    assert_eq!(parse_pairs(&[1, 0, 0]), None, "truncated count");
    assert_eq!(parse_pairs(&[1, 0, 0, 0]), None, "count without sizes");
    let huge_count = u32::MAX.to_le_bytes();
    assert_eq!(parse_pairs(&huge_count), None);
    let mut lying = Vec::new();
    lying.extend_from_slice(&1u32.to_le_bytes());
    lying.extend_from_slice(&100u32.to_le_bytes());
    lying.extend_from_slice(&1u32.to_le_bytes());
    lying.extend_from_slice(b"k\0v\0");
    assert_eq!(parse_pairs(&lying), None, "key length beyond the buffer");
}
