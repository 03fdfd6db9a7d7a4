use super::*;
use proptest::prelude::*;

fn namer() -> OperationNamer {
    OperationNamer::new(&["/v1/policies/{id}".to_owned(), "/v1/policies/{id}/rules/{rule}".to_owned()], 3)
}

#[test]
fn templates_name_the_paths_they_match() {
    let mut namer = namer();
    assert_eq!(&*namer.name(b"GET", b"/v1/policies/7"), "GET /v1/policies/{id}");
    assert_eq!(&*namer.name(b"GET", b"/v1/policies/abc?x=1"), "GET /v1/policies/{id}");
    assert_eq!(&*namer.name(b"PUT", b"/v1/policies/7/rules/9#f"), "PUT /v1/policies/{id}/rules/{rule}");
    assert_eq!(
        &*namer.name(b"GET", b"/v1/policies/"),
        "GET /v1/policies/",
        "an empty segment does not fill a placeholder"
    );
    assert_eq!(&*namer.name(b"GET", b"/v1/policies/7/"), "GET /v1/policies/7/");
    assert_eq!(namer.literal_count(), 2);
}

#[test]
fn literal_names_are_bounded() {
    let mut namer = namer();
    assert_eq!(&*namer.name(b"GET", b"/a"), "GET /a");
    assert_eq!(&*namer.name(b"GET", b"/b"), "GET /b");
    assert_eq!(&*namer.name(b"POST", b"/c"), "POST /c");
    assert_eq!(&*namer.name(b"GET", b"/d"), "GET (other)", "the fourth literal name overflows");
    assert_eq!(&*namer.name(b"GET", b"/a"), "GET /a", "known names stay");
    assert_eq!(
        &*namer.name(b"GET", b"/v1/policies/1"),
        "GET /v1/policies/{id}",
        "templates are not bounded by the cap"
    );
    assert_eq!(namer.literal_count(), 3);
}

#[test]
fn hostile_methods_and_paths_are_other() {
    let mut namer = namer();
    assert_eq!(&*namer.name(b"get", b"/v1/policies/1"), "(other) /v1/policies/{id}");
    assert_eq!(&*namer.name(b"G\xffT", b"/x"), "(other) /x");
    assert_eq!(&*namer.name(b"GET", b"\xff\xfe"), "GET (other)");
    assert_eq!(&*namer.name(b"GET", b"relative"), "GET (other)");
    assert_eq!(&*namer.name(b"GET", "/".repeat(300).as_bytes()), "GET (other)");
    assert_eq!(namer.literal_count(), 1, "only /x was named literally");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn names_never_exceed_the_cap(requests in proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 1..30)) {
        let mut namer = OperationNamer::new(&["/v1/{x}".to_owned()], 5);
        let mut names = std::collections::HashSet::new();
        for (method, path) in &requests {
            names.insert(namer.name(method, path).to_string());
        }
        prop_assert!(namer.literal_count() <= 5);
        prop_assert!(names.iter().all(|n| n.len() <= MAX_METHOD_LEN + 1 + MAX_PATH_LEN));
    }
}
