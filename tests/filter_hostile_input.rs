//! Random and hostile requests through the real filter .wasm in the host: no trap, and the right
//! 403/forward decision for every request. The expected decision follows from how each request
//! was built (exempt path, right hash, other bytes, no header), not from the filter's code.

use acgs_e2e::{request, send, start_sidecar, HASH};
use proptest::prelude::*;
use serde_json::json;

/// What the generated request presents, and so what strict mode must do with it.
#[derive(Debug, Clone)]
enum Presented {
    Valid,
    Missing,
    Other(Vec<u8>),
}

fn presented() -> impl Strategy<Value = Presented> {
    prop_oneof![
        Just(Presented::Valid),
        Just(Presented::Missing),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_filter("not the valid hash", |bytes| bytes.as_slice() != HASH.as_bytes())
            .prop_map(Presented::Other),
    ]
}

/// Path segments of printable ASCII or arbitrary bytes (Envoy passes through what it accepted).
fn segment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof!["[a-zA-Z0-9._~%-]{0,24}".prop_map(String::into_bytes), proptest::collection::vec(any::<u8>(), 0..24),]
}

fn api_path() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(segment(), 1..6), proptest::option::of("[a-z=&0-9]{0,40}")).prop_map(
        |(segments, query)| {
            let mut path = b"/v1".to_vec();
            for seg in segments {
                path.push(b'/');
                path.extend(seg.into_iter().filter(|b| *b != b'?' && *b != b'/'));
            }
            if let Some(query) = query {
                path.push(b'?');
                path.extend(query.into_bytes());
            }
            path
        },
    )
}

fn exempt_path() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["/healthz", "/readyz", "/livez", "/metrics", "/health"]),
        prop_oneof![Just(String::new()), "/[a-z0-9/]{0,20}", "\\?[a-z=&0-9]{0,20}"],
    )
        .prop_map(|(base, suffix)| format!("{base}{suffix}").into_bytes())
}

fn junk_header() -> impl Strategy<Value = (String, Vec<u8>)> {
    ("x-[a-z0-9-]{1,20}", proptest::collection::vec(any::<u8>(), 0..2048))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn strict_mode_decides_every_api_request_by_its_hash(
        path in api_path(),
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"]),
        hash in presented(),
        traceparent in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..80)),
        junk in proptest::collection::vec(junk_header(), 0..4),
    ) {
        thread_local! {
            static PROXY: std::cell::RefCell<acgs_wasm_host::Proxy> =
                std::cell::RefCell::new(start_sidecar("groqcloud-policy", &json!({}), 1).expect("sidecar starts"));
        }
        let mut req = request(method, "/", &[]);
        req.headers = acgs_wasm_host::Headers::new();
        req.headers.push(":method", method);
        req.headers.push(":path", &path);
        req.headers.push(":authority", "groqcloud-policy");
        match &hash {
            Presented::Valid => req.headers.push("constitutional-hash", HASH),
            Presented::Missing => {}
            Presented::Other(bytes) => req.headers.push("constitutional-hash", bytes),
        }
        if let Some(tp) = &traceparent {
            req.headers.push("traceparent", tp);
        }
        for (name, value) in &junk {
            req.headers.push(name, value);
        }
        let outcome = PROXY.with(|proxy| send(&mut proxy.borrow_mut(), req));
        prop_assert_eq!(outcome.failure, None);
        match hash {
            Presented::Valid => {
                prop_assert_eq!(outcome.response.status, 200);
                let forwarded = outcome.forwarded.expect("forwarded");
                prop_assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("valid"));
            }
            Presented::Missing | Presented::Other(_) => {
                prop_assert_eq!(outcome.response.status, 403);
                prop_assert!(outcome.forwarded.is_none());
                let body: serde_json::Value = serde_json::from_slice(&outcome.response.body).expect("JSON body");
                let expected = if matches!(hash, Presented::Missing) { "missing" } else { "mismatch" };
                prop_assert_eq!(body["status"].as_str(), Some(expected));
            }
        }
    }

    #[test]
    fn exempt_paths_are_forwarded_whatever_the_hash(path in exempt_path(), hash in presented()) {
        thread_local! {
            static PROXY: std::cell::RefCell<acgs_wasm_host::Proxy> =
                std::cell::RefCell::new(start_sidecar("health-check", &json!({}), 1).expect("sidecar starts"));
        }
        let mut req = request("GET", "/", &[]);
        req.headers = acgs_wasm_host::Headers::new();
        req.headers.push(":method", "GET");
        req.headers.push(":path", &path);
        req.headers.push(":authority", "health-check");
        match &hash {
            Presented::Valid => req.headers.push("constitutional-hash", HASH),
            Presented::Missing => {}
            Presented::Other(bytes) => req.headers.push("constitutional-hash", bytes),
        }
        let outcome = PROXY.with(|proxy| send(&mut proxy.borrow_mut(), req));
        prop_assert_eq!(outcome.failure, None);
        prop_assert_eq!(outcome.response.status, 200);
        let forwarded = outcome.forwarded.expect("forwarded");
        prop_assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("exempt"));
    }
}

/// A path below an exempt path that an application could resolve elsewhere is not exempt: the
/// real filter refuses it without the hash as it refuses `/v1/admin` itself. Istio's default
/// normalisation (BASE) resolves `..` before the filter, but not `%2F`; a mesh set to NONE
/// resolves nothing.
#[test]
fn a_path_that_climbs_out_of_an_exempt_path_needs_the_hash() {
    let mut proxy = start_sidecar("health-check", &json!({}), 1).expect("sidecar starts");
    for path in ["/healthz/../v1/admin", "/healthz/..%2Fv1/admin", "/healthz/%2e%2e/v1/admin", "/metrics\\..\\v1"] {
        let outcome = send(&mut proxy, request("GET", path, &[]));
        assert_eq!((outcome.response.status, outcome.forwarded.is_none()), (403, true), "{path}");
        let with_hash = send(&mut proxy, request("GET", path, &[("constitutional-hash", HASH)]));
        let forwarded = with_hash.forwarded.expect("forwarded with the hash");
        assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("valid"), "{path}");
    }
    let plain = send(&mut proxy, request("GET", "/healthz/deep", &[])).forwarded.expect("forwarded");
    assert_eq!(plain.get_str("x-acgs-hash-status"), Some("exempt"));
}

/// Each request is decided on its own headers whatever the size of the one before: the filter
/// reads a request's headers into a buffer an earlier request handed back when one fits, gets a
/// new one when none does, and does not keep one beyond 16 KiB.
#[test]
fn each_request_is_decided_on_its_own_headers_whatever_the_size_of_the_one_before() {
    let mut proxy = start_sidecar("groqcloud-policy", &json!({}), 1).expect("sidecar starts");
    let other = "0000000000000000";
    for padding in [0, 3_000, 0, 20_000, 100, 40_000, 0, 9_000, 9_000, 50] {
        for (hash, expected) in [(Some(HASH), None), (None, Some("missing")), (Some(other), Some("mismatch"))] {
            let mut req = request("POST", "/v1/policies/evaluate", &[]);
            if let Some(hash) = hash {
                req.headers.push("constitutional-hash", hash);
            }
            req.headers.push("x-padding", vec![b'p'; padding]);
            let outcome = send(&mut proxy, req);
            assert_eq!(outcome.failure, None, "{padding} bytes of padding");
            match expected {
                None => {
                    assert_eq!(outcome.response.status, 200, "{padding} bytes of padding");
                    let forwarded = outcome.forwarded.expect("forwarded");
                    assert_eq!(forwarded.get_str("x-acgs-hash-status"), Some("valid"), "{padding}");
                }
                Some(status) => {
                    assert_eq!(outcome.response.status, 403, "{padding} bytes of padding");
                    let body: serde_json::Value = serde_json::from_slice(&outcome.response.body).expect("JSON body");
                    assert_eq!(body["status"].as_str(), Some(status), "{padding} bytes of padding");
                }
            }
        }
    }
}
