use super::*;
use proptest::prelude::*;

fn namer() -> OperationNamer {
    OperationNamer::new(&["/v1/policies/{id}".to_owned(), "/v1/policies/{id}/rules/{rule}".to_owned()], 3)
}

#[test]
fn templates_name_the_paths_they_match() {
    let mut namer = namer();
    assert_eq!(namer.name(b"GET", b"/v1/policies/7").as_str(), "GET /v1/policies/{id}");
    assert_eq!(namer.name(b"GET", b"/v1/policies/abc?x=1").as_str(), "GET /v1/policies/{id}");
    assert_eq!(namer.name(b"PUT", b"/v1/policies/7/rules/9#f").as_str(), "PUT /v1/policies/{id}/rules/{rule}");
    assert_eq!(
        namer.name(b"GET", b"/v1/policies/").as_str(),
        "GET /v1/policies/",
        "an empty segment does not fill a placeholder"
    );
    assert_eq!(namer.name(b"GET", b"/v1/policies/7/").as_str(), "GET /v1/policies/7/");
    assert_eq!(namer.literal_count(), 2);
}

#[test]
fn literal_names_are_bounded() {
    let mut namer = namer();
    assert_eq!(namer.name(b"GET", b"/a").as_str(), "GET /a");
    assert_eq!(namer.name(b"GET", b"/b").as_str(), "GET /b");
    assert_eq!(namer.name(b"POST", b"/c").as_str(), "POST /c");
    assert_eq!(namer.name(b"GET", b"/d").as_str(), "GET (other)", "the fourth literal name overflows");
    assert_eq!(namer.name(b"GET", b"/a").as_str(), "GET /a", "known names stay");
    assert_eq!(
        namer.name(b"GET", b"/v1/policies/1").as_str(),
        "GET /v1/policies/{id}",
        "templates are not bounded by the cap"
    );
    assert_eq!(namer.literal_count(), 3);
}

#[test]
fn hostile_methods_and_paths_are_other() {
    let mut namer = namer();
    assert_eq!(namer.name(b"get", b"/v1/policies/1").as_str(), "(other) /v1/policies/{id}");
    assert_eq!(namer.name(b"G\xffT", b"/x").as_str(), "(other) /x");
    assert_eq!(namer.name(b"GET", b"\xff\xfe").as_str(), "GET (other)");
    assert_eq!(namer.name(b"GET", b"relative").as_str(), "GET (other)");
    assert_eq!(namer.name(b"GET", "/".repeat(300).as_bytes()).as_str(), "GET (other)");
    assert_eq!(namer.literal_count(), 1, "only /x was named literally");
}

#[test]
fn methods_a_client_invents_cannot_grow_the_names() {
    let mut namer = namer();
    assert_eq!(namer.name(b"PROPFIND", b"/a").as_str(), "PROPFIND /a", "an extension method is named");
    for i in 0..1_000u32 {
        let method: String = i.to_string().bytes().map(|digit| char::from(b'A' + (digit - b'0'))).collect();
        namer.name(format!("X{method}").as_bytes(), b"/v1/policies/1");
    }
    assert_eq!(namer.name(b"XBAAA", b"/v1/policies/1").as_str(), "(other) /v1/policies/{id}");
    assert_eq!(namer.name(b"XA", b"/v1/policies/1").as_str(), "XA /v1/policies/{id}", "admitted early, kept");
    assert_eq!(namer.name(b"PATCH", b"/v1/policies/1").as_str(), "PATCH /v1/policies/{id}", "standard methods always");
    assert_eq!(namer.name_count(), 18, "PROPFIND /a, 15 invented methods and (other) on the template, PATCH");
}

#[test]
fn one_name_is_one_operation_however_often_it_is_asked_for() {
    let mut namer = namer();
    let first = namer.name(b"GET", b"/v1/policies/1");
    assert_eq!(namer.name(b"GET", b"/v1/policies/2?x"), first);
    assert_ne!(namer.name(b"POST", b"/v1/policies/2"), first);
    let other = namer.name(b"GET", b"/v1/policies/1");
    assert_eq!(first.as_str(), other.as_str());
    assert_eq!(first, other, "the same interned name");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn names_never_exceed_the_cap(requests in proptest::collection::vec((any::<Vec<u8>>(), any::<Vec<u8>>()), 1..30)) {
        let mut namer = OperationNamer::new(&["/v1/{x}".to_owned()], 5);
        let mut names = std::collections::HashSet::new();
        for (method, path) in &requests {
            names.insert(namer.name(method, path).as_str().to_owned());
        }
        prop_assert!(namer.literal_count() <= 5);
        prop_assert!(names.iter().all(|n| n.len() <= MAX_METHOD_LEN + 1 + MAX_PATH_LEN));
    }
}
