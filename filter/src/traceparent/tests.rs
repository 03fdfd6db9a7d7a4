use super::*;
use proptest::prelude::*;

const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_header_parses() {
    let parsed = TraceParent::parse(VALID).expect("valid");
    assert_eq!(parsed.trace_id[0], 0x4b);
    assert_eq!(parsed.trace_id[15], 0x36);
    assert_eq!(parsed.parent_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    assert!(parsed.sampled());
    assert_eq!(&format(&parsed.trace_id, &parsed.parent_id, true)[..], VALID);
}

#[test]
fn invalid_headers_are_ignored() {
    let cases: [&[u8]; 9] = [
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        b"",
        b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    ];
    for case in cases {
        assert_eq!(TraceParent::parse(case), None, "{:?}", String::from_utf8_lossy(case));
    }
    let future = b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-the-future-holds";
    assert_eq!(
        TraceParent::parse(future).map(|t| t.sampled()),
        Some(false),
        "a future version is read by its 00 prefix"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn format_then_parse_round_trips(trace in any::<[u8; 16]>(), span in any::<[u8; 8]>(), sampled in any::<bool>()) {
        let text = format(&trace, &span, sampled);
        let parsed = TraceParent::parse(&text);
        if trace == [0; 16] || span == [0; 8] {
            prop_assert_eq!(parsed, None);
        } else {
            prop_assert_eq!(parsed, Some(TraceParent { trace_id: trace, parent_id: span, flags: u8::from(sampled) }));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = TraceParent::parse(&bytes);
    }
}
