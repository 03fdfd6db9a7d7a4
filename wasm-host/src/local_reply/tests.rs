use super::*;

fn reply(status: u16, body: &str, headers: &[(&str, &str)], grpc_status: Option<u32>) -> LocalReplyRequest {
    LocalReplyRequest {
        status,
        details: "d".to_owned(),
        body: body.as_bytes().to_vec(),
        headers: headers.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect(),
        grpc_status,
    }
}

/// The map as the filter's `on_response_headers` sees it.
fn view(response: HttpResponse) -> Vec<(String, String)> {
    let (map, _, _) = response.into_filter_view();
    map.iter()
        .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

const PLAIN: RequestKind = RequestKind { grpc: false, head: false };

#[test]
fn status_then_the_filters_headers_then_length_and_type() {
    let response = build(reply(403, "denied", &[("x-b", "2"), ("X-A", "1"), ("x-b", "3")], None), PLAIN);
    assert_eq!(response.body, b"denied");
    assert_eq!(
        view(response),
        pairs(&[
            (":status", "403"),
            ("x-b", "2"),
            ("x-a", "1"),
            ("x-b", "3"),
            ("content-length", "6"),
            ("content-type", "text/plain"),
        ])
    );
}

#[test]
fn the_filters_content_type_and_length_keep_their_place() {
    let headers = [("content-type", "application/json"), ("content-length", "99"), ("x", "1")];
    let response = build(reply(418, "{}", &headers, None), PLAIN);
    assert_eq!(
        view(response),
        pairs(&[(":status", "418"), ("content-type", "application/json"), ("content-length", "2"), ("x", "1")])
    );
}

#[test]
fn without_a_body_there_is_neither_length_nor_type() {
    let response = build(reply(204, "", &[("content-type", "text/html"), ("x", "1")], None), PLAIN);
    assert_eq!(view(response), pairs(&[(":status", "204"), ("x", "1")]));
}

#[test]
fn a_grpc_request_gets_a_trailers_only_reply() {
    let grpc = RequestKind { grpc: true, head: false };
    let response = build(reply(200, "Aborted by Proxy-Wasm!", &[("powered-by", "proxy-wasm")], Some(10)), grpc);
    assert!(response.body.is_empty());
    assert_eq!(
        view(response),
        pairs(&[
            (":status", "200"),
            ("powered-by", "proxy-wasm"),
            ("content-type", "application/grpc"),
            ("grpc-status", "10"),
            ("grpc-message", "Aborted by Proxy-Wasm!"),
        ])
    );
    let mapped = build(reply(403, "100% no", &[("content-length", "7")], None), grpc);
    assert_eq!(
        view(mapped),
        pairs(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "7"),
            ("grpc-message", "100%25 no"),
        ])
    );
}

#[test]
fn a_head_request_gets_the_headers_without_the_body() {
    let response = build(reply(403, "denied", &[], None), RequestKind { grpc: false, head: true });
    assert!(response.body.is_empty());
    assert_eq!(view(response), pairs(&[(":status", "403"), ("content-length", "6"), ("content-type", "text/plain")]));
}

#[test]
fn grpc_and_head_are_noted_from_the_request() {
    let headers = |pairs: &[(&str, &str)]| Headers::from_pairs(pairs.iter().copied());
    let grpc = headers(&[(":method", "POST"), (":path", "/s/m"), ("content-type", "application/grpc+proto")]);
    assert_eq!(RequestKind::of(&grpc), RequestKind { grpc: true, head: false });
    let no_path = headers(&[(":method", "POST"), ("content-type", "application/grpc")]);
    assert_eq!(RequestKind::of(&no_path), RequestKind { grpc: false, head: false });
    let web = headers(&[(":path", "/"), ("content-type", "application/grpc-web")]);
    assert_eq!(RequestKind::of(&web), RequestKind { grpc: false, head: false });
    assert_eq!(
        RequestKind::of(&headers(&[(":method", "HEAD"), (":path", "/")])),
        RequestKind { grpc: false, head: true }
    );
    assert_eq!(details_without_spaces("filter said no\tthanks"), "filter_said_no_thanks");
}
