use proptest::prelude::*;

use super::*;

#[test]
fn equal_and_unequal_strings_of_every_short_length() {
    let text = b"constitutional-hash-and-some-more";
    for len in 0..text.len() {
        let a = &text[..len];
        let copy = a.to_vec();
        assert!(same(a, copy.as_slice()), "{len}");
        for at in 0..len {
            let mut b = a.to_vec();
            b[at] ^= 0x20;
            assert!(!same(a, &b), "{len} differing at {at}");
        }
        assert!(!same(a, &text[..len + 1]), "{len} vs a longer one");
    }
}

#[test]
fn the_query_or_fragment_is_found_in_any_word() {
    assert_eq!(find_either(b"/v1/constitutional/validate?x=1", b'?', b'#'), Some(27));
    assert_eq!(find_either(b"/a#f?q", b'?', b'#'), Some(2));
    assert_eq!(find_either(b"/v1/policies/7", b'?', b'#'), None);
    assert_eq!(find_either(b"", b'?', b'#'), None);
    assert_eq!(find_either(b"12345678?", b'?', b'#'), Some(8));
}

#[test]
fn a_tail_is_its_bytes_little_endian_and_padded() {
    assert_eq!(tail_word(b""), 0);
    assert_eq!(tail_word(b"\x01\x02"), 0x0201);
    assert_eq!(tail_word(b"abcdefg"), u64::from_le_bytes(*b"abcdefg\0"));
}

proptest! {
    #[test]
    fn same_is_equality(a in prop::collection::vec(0u8..4, 0..40), b in prop::collection::vec(0u8..4, 0..40)) {
        prop_assert_eq!(same(&a, &b), a == b);
        prop_assert!(same(&a, &a.clone()));
    }

    #[test]
    fn find_either_is_the_first_position(bytes in prop::collection::vec(prop::sample::select(vec![b'a', b'?', b'#', 0x80, 0xbf]), 0..40)) {
        let expected = bytes.iter().position(|b| *b == b'?' || *b == b'#');
        prop_assert_eq!(find_either(&bytes, b'?', b'#'), expected);
    }
}
