use super::*;

fn propagated(keep: bool, rule: &str) -> Option<Propagated> {
    Some(Propagated { keep, rule: rule.to_owned() })
}

#[test]
fn the_decision_is_appended_after_the_apps_members_and_read_back() {
    let out = with_decision(Some(b"userId=alice, tenant=acme;ttl=3"), false, "probabilistic(0.1)@auth-service")
        .expect("fits");
    assert_eq!(
        String::from_utf8(out.clone()).expect("ascii"),
        "userId=alice,tenant=acme;ttl=3,acgs.sampling=drop:probabilistic(0.1)@auth-service"
    );
    assert_eq!(find(&out), propagated(false, "probabilistic(0.1)@auth-service"));
}

#[test]
fn rules_with_spaces_commas_and_percent_signs_survive_the_round_trip() {
    let rule = "operation(0.5)@groqcloud-policy:GET /v1/policies/{id},x;y=100%";
    let out = with_decision(None, true, rule).expect("fits");
    assert_eq!(
        String::from_utf8(out.clone()).expect("ascii"),
        "acgs.sampling=keep:operation(0.5)@groqcloud-policy:GET%20/v1/policies/{id}%2Cx%3By=100%25"
    );
    assert_eq!(find(&out), propagated(true, rule));
}

#[test]
fn an_earlier_decision_is_replaced_not_repeated() {
    let out = with_decision(Some(b"acgs.sampling=drop:a@b, k=v"), true, "constitutional@core:POST /x").expect("fits");
    assert_eq!(String::from_utf8(out).expect("ascii"), "k=v,acgs.sampling=keep:constitutional@core:POST%20/x");
}

#[test]
fn members_are_found_among_others_with_white_space_and_properties() {
    assert_eq!(find(b"a=1 , acgs.sampling = keep:r@s ;p=1, b=2"), propagated(true, "r@s"));
    assert_eq!(find(b"acgs.sampling=drop:first@s,acgs.sampling=keep:second@s"), propagated(false, "first@s"));
}

#[test]
fn malformed_members_are_ignored() {
    for bad in [
        &b""[..],
        b"acgs.sampling",
        b"acgs.sampling=",
        b"acgs.sampling=keep",
        b"acgs.sampling=keep:",
        b"acgs.sampling=maybe:r@s",
        b"acgs.sampling=KEEP:r@s",
        b"acgs.sampling=keep:r%0A@s",
        b"acgs.sampling=keep:r%ZZ",
        b"acgs.sampling=keep:r%4",
        b"acgs.sampling=keep:r%FF",
        b"acgs.samplingx=keep:r@s",
        b"xacgs.sampling=keep:r@s",
    ] {
        assert_eq!(find(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
    let long = format!("acgs.sampling=keep:{}", "r".repeat(MAX_RULE_LEN + 1));
    assert_eq!(find(long.as_bytes()), None);
}

#[test]
fn a_header_that_would_outgrow_the_w3c_limit_is_not_written() {
    let big = format!("k={}", "v".repeat(MAX_BAGGAGE_LEN - 20));
    assert_eq!(with_decision(Some(big.as_bytes()), true, "probabilistic(1)@svc"), None);
    let fits = format!("k={}", "v".repeat(MAX_BAGGAGE_LEN - 60));
    assert!(with_decision(Some(fits.as_bytes()), true, "probabilistic(1)@svc").is_some());
}

#[test]
fn arbitrary_input_never_panics_and_what_is_read_is_printable() {
    use proptest::prelude::{any, proptest, ProptestConfig};
    proptest!(ProptestConfig::with_cases(2_000), |(bytes in proptest::collection::vec(any::<u8>(), 0..200))| {
        let mut header = b"acgs.sampling=".to_vec();
        header.extend_from_slice(&bytes);
        if let Some(found) = find(&header) {
            assert!(found.rule.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
        let _ = with_decision(Some(&bytes), true, "r@s");
    });
}

#[test]
fn the_writer_reuses_the_last_header_of_a_request_without_baggage() {
    let mut writer = BaggageWriter::default();
    let (constitutional, other): (Rc<str>, Rc<str>) = ("constitutional@core".into(), "probabilistic(0.1)@core".into());
    let first = writer.with_decision(None, true, &constitutional).expect("fits");
    assert_eq!(&*first, b"acgs.sampling=keep:constitutional@core");
    let again = writer.with_decision(None, true, &constitutional).expect("fits");
    assert!(Rc::ptr_eq(&first, &again), "the same header, not written again");
    let dropped = writer.with_decision(None, false, &other).expect("fits");
    assert_eq!(&*dropped, b"acgs.sampling=drop:probabilistic(0.1)@core");
    let kept = writer.with_decision(None, true, &other).expect("fits");
    assert_eq!(&*kept, b"acgs.sampling=keep:probabilistic(0.1)@core", "the decision is part of the key");
    let with_members = writer.with_decision(Some(b"k=v"), true, &other).expect("fits");
    assert_eq!(&*with_members, b"k=v,acgs.sampling=keep:probabilistic(0.1)@core", "incoming members kept");
}
