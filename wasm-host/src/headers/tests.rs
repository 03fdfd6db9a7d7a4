use super::*;

#[test]
fn names_are_lower_cased_and_lookups_case_insensitive() {
    let mut headers = Headers::new();
    headers.push("X-Powered-By", "a");
    headers.replace(b"x-powered-by", b"b");
    assert_eq!(headers.len(), 1, "one powered-by, never two");
    assert_eq!(headers.get("X-POWERED-BY"), Some(&b"b"[..]));
    assert_eq!(headers.iter().next(), Some((&b"x-powered-by"[..], &b"b"[..])));
}

#[test]
fn replace_removes_every_entry_and_appends_one() {
    let mut headers = Headers::from_pairs([("a", "1"), ("b", "2"), ("a", "3")]);
    headers.replace(b"a", b"4");
    let pairs: Vec<_> = headers.iter().collect();
    assert_eq!(pairs, vec![(&b"b"[..], &b"2"[..]), (&b"a"[..], &b"4"[..])]);
}

#[test]
fn a_broken_status_from_the_filter_becomes_a_502() {
    let map = Headers::from_pairs([(":status", "abc"), ("x", "1")]);
    let response = HttpResponse::from_filter_view(map, Vec::new(), Headers::new());
    assert_eq!(response.status, 502);
    assert_eq!(response.headers, Headers::from_pairs([("x", "1")]));
}

#[test]
fn set_keeps_the_first_entry_in_place_and_drops_the_others() {
    let mut headers = Headers::from_pairs([("content-type", "a"), ("x", "1"), ("Content-Type", "b")]);
    headers.set(b"content-type", b"text/plain");
    headers.set(b"content-length", b"2");
    let pairs: Vec<_> = headers.iter().collect();
    assert_eq!(
        pairs,
        vec![(&b"content-type"[..], &b"text/plain"[..]), (&b"x"[..], &b"1"[..]), (&b"content-length"[..], &b"2"[..])]
    );
    assert_eq!(headers.byte_size(), "content-typetext/plainx1content-length2".len());
}
