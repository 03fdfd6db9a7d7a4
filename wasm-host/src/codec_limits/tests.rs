use super::*;

fn request(extra: &[(&str, &str)]) -> Headers {
    let mut headers =
        Headers::from_pairs([(":method", "GET"), (":path", "/"), (":authority", "a"), (":scheme", "http")]);
    for (name, value) in extra {
        headers.push(name, value);
    }
    headers
}

#[test]
fn the_block_is_measured_as_an_http1_client_sends_it() {
    // "GET / HTTP/1.1\r\n" + "host: a\r\n" + "x: yz\r\n" + "\r\n"
    let headers = request(&[("x", "yz")]);
    assert_eq!(header_block_len(&headers), 16 + 9 + 7 + 2);
    assert_eq!(header_lines(&headers), 2);
}

#[test]
fn at_the_size_limit_passes_and_one_byte_more_is_431() {
    let base = header_block_len(&request(&[("x", "")]));
    let fill = |extra: u64| "v".repeat(usize::try_from(1024 - base + extra).expect("small"));
    assert_eq!(header_block_len(&request(&[("x", &fill(0))])), 1024);
    assert!(check(&request(&[("x", &fill(0))]), 1, 100).is_none());
    let refused = check(&request(&[("x", &fill(1))]), 1, 100).expect("refused");
    assert_eq!((refused.status, refused.details.as_str()), (431, HEADERS_TOO_LARGE));
    assert_eq!(refused.body, b"Request Header Fields Too Large");
}

#[test]
fn at_the_count_limit_passes_and_one_more_is_431() {
    let names: Vec<String> = (0..100).map(|n| format!("h{n}")).collect();
    let at_limit: Vec<(&str, &str)> = names[..99].iter().map(|n| (n.as_str(), "1")).collect();
    assert_eq!(header_lines(&request(&at_limit)), 100, "host plus 99");
    assert!(check(&request(&at_limit), 60, 100).is_none());
    let over: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let refused = check(&request(&over), 60, 100).expect("refused");
    assert_eq!((refused.status, refused.details.as_str()), (431, TOO_MANY_HEADERS));
}

#[test]
fn size_is_found_before_count() {
    let names: Vec<String> = (0..200).map(|n| format!("h{n}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let refused = check(&request(&many), 1, 100).expect("refused");
    assert_eq!(refused.details, HEADERS_TOO_LARGE);
}
