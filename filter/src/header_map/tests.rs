use proptest::prelude::*;

use super::{HeaderMap, HeaderNames};

/// The ABI's serialisation, written out field by field as the spec states it.
fn serialised(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut bytes = u32::try_from(pairs.len()).unwrap_or(u32::MAX).to_le_bytes().to_vec();
    for (name, value) in pairs {
        bytes.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(value);
        bytes.push(0);
    }
    bytes
}

#[test]
fn finds_request_headers_by_exact_name() {
    let map = HeaderMap::new(serialised(&[
        (b":method", b"POST"),
        (b":path", b"/v1/constitutional/validate?x=1"),
        (b"constitutional-hash", b"cdd01ef066bc6cf2"),
        (b"empty", b""),
    ]));
    let names: [&[u8]; 6] = [b"constitutional-hash", b":method", b"traceparent", b":path", b"empty", b":method2"];
    let found = map.select(&HeaderNames::new(names));
    assert_eq!(found.get(0), Some(&b"cdd01ef066bc6cf2"[..]));
    assert_eq!(found.get(1), Some(&b"POST"[..]));
    assert_eq!(found.get(2), None);
    assert_eq!(found.get(3), Some(&b"/v1/constitutional/validate?x=1"[..]));
    assert_eq!(found.get(4), Some(&b""[..]));
    assert_eq!(found.get(5), None);
    assert_eq!(found.get(6), None, "an index past the names");
}

#[test]
fn a_repeated_header_answers_its_first_value_as_envoy_does() {
    let map = HeaderMap::new(serialised(&[(b"baggage", b"a=1"), (b"x", b"y"), (b"baggage", b"b=2")]));
    assert_eq!(map.select(&HeaderNames::new([b"baggage"])).get(0), Some(&b"a=1"[..]));
}

#[test]
fn an_empty_or_absent_map_has_no_headers() {
    assert_eq!(HeaderMap::new(Vec::new()).select(&HeaderNames::new([b":path"])).get(0), None);
    assert_eq!(HeaderMap::new(serialised(&[])).pairs().count(), 0);
}

#[test]
fn a_truncated_map_keeps_the_headers_before_the_cut() {
    let full = serialised(&[(b":method", b"GET"), (b":path", b"/health")]);
    // Cut inside the second value: the first header is whole, the second is not there.
    let cut = HeaderMap::new(full[..full.len() - 4].to_vec()).select(&HeaderNames::new([b":method", b":path"]));
    assert_eq!(cut.get(0), Some(&b"GET"[..]));
    assert_eq!(cut.get(1), None);
    // A count larger than the sizes table: nothing past the table is invented.
    let mut lying = full;
    lying[..4].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert_eq!(HeaderMap::new(lying).pairs().count(), 0);
}

proptest! {
    #[test]
    fn every_serialised_map_reads_back_in_order(pairs in prop::collection::vec(
        (prop::collection::vec(any::<u8>(), 0..24), prop::collection::vec(any::<u8>(), 0..64)), 0..24)
    ) {
        let borrowed: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let map = HeaderMap::new(serialised(&borrowed));
        prop_assert_eq!(map.pairs().collect::<Vec<_>>(), borrowed.clone());
        let names: [&[u8]; 3] = [
            borrowed.first().map_or(b"absent", |(n, _)| n),
            borrowed.last().map_or(b"absent", |(n, _)| n),
            b"absent",
        ];
        let found = map.select(&HeaderNames::new(names));
        for (index, name) in names.iter().enumerate() {
            let first = borrowed.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            prop_assert_eq!(found.get(index), first);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), name in prop::collection::vec(any::<u8>(), 0..8)) {
        let map = HeaderMap::new(bytes);
        prop_assert!(map.pairs().count() <= 256 / 8);
        let _ = map.select(&HeaderNames::new([name.as_slice()])).get(0);
    }
}

#[test]
fn names_of_one_length_and_names_past_the_length_table_are_each_found() {
    let (long_a, long_b) = ([b'a'; 70], [b'b'; 64]);
    let map = HeaderMap::new(serialised(&[
        (b"user-agent", b"ua"),
        (&long_b, b"b"),
        (b":authority", b"host"),
        (&long_a, b"a"),
        (&[b'a'; 69], b"not a"),
    ]));
    let names: [&[u8]; 5] = [b":authority", &long_a, b"user-agent", &long_b, b"accept"];
    let found = map.select(&HeaderNames::new(names));
    assert_eq!(found.get(0), Some(&b"host"[..]));
    assert_eq!(found.get(1), Some(&b"a"[..]));
    assert_eq!(found.get(2), Some(&b"ua"[..]));
    assert_eq!(found.get(3), Some(&b"b"[..]));
    assert_eq!(found.get(4), None);
}
