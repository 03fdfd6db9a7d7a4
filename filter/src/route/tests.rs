use std::cell::Cell;

use super::*;
use crate::operation::OperationNamer;

/// Resolves through a real namer and counts the calls.
struct Resolver {
    namer: OperationNamer,
    calls: Cell<usize>,
}

impl Resolver {
    fn new() -> Self {
        Self { namer: OperationNamer::new(&[], 10_000), calls: Cell::new(0) }
    }

    fn route(&mut self, cache: &mut RouteCache, method: &[u8], path: &[u8]) -> Route {
        let namer = &mut self.namer;
        let calls = &self.calls;
        cache.route(method, path, || {
            calls.set(calls.get() + 1);
            let operation = namer.name(method, path);
            let span_fields = crate::span_wire::route_fields(operation.as_str(), Category::Other, method, path);
            Route { operation, exempt: path == b"/healthz", category: Category::Other, span_fields }
        })
    }
}

#[test]
fn a_pair_seen_before_is_answered_from_the_cache() {
    let (mut cache, mut resolver) = (RouteCache::new(42), Resolver::new());
    let first = resolver.route(&mut cache, b"GET", b"/v1/x");
    let again = resolver.route(&mut cache, b"GET", b"/v1/x");
    assert_eq!(resolver.calls.get(), 1);
    assert_eq!(again.operation, first.operation, "the same interned name");
    assert_eq!(again.operation.as_str(), "GET /v1/x");
    let health = resolver.route(&mut cache, b"GET", b"/healthz");
    assert!(health.exempt);
    assert_eq!(resolver.calls.get(), 2);
}

#[test]
fn the_method_and_path_are_compared_whole() {
    let (mut cache, mut resolver) = (RouteCache::new(1), Resolver::new());
    let get = resolver.route(&mut cache, b"GET", b"/x");
    let post = resolver.route(&mut cache, b"POST", b"/x");
    let split = resolver.route(&mut cache, b"GE", b"T/x");
    assert_eq!(resolver.calls.get(), 3);
    assert_eq!((get.operation.as_str(), post.operation.as_str()), ("GET /x", "POST /x"));
    assert_eq!(split.operation.as_str(), "GE (other)", "`T/x` is not a path");
}

#[test]
fn pairs_sharing_a_slot_take_it_over_and_are_still_named_right() {
    let (mut cache, mut resolver) = (RouteCache::new(7), Resolver::new());
    // More paths than slots: at least two share one.
    let paths: Vec<String> = (0..=SLOTS).map(|i| format!("/p/{i}")).collect();
    for path in &paths {
        resolver.route(&mut cache, b"GET", path.as_bytes());
    }
    assert_eq!(resolver.calls.get(), SLOTS + 1);
    let calls = resolver.calls.get();
    for path in &paths {
        let route = resolver.route(&mut cache, b"GET", path.as_bytes());
        assert_eq!(route.operation.as_str(), format!("GET {path}"));
    }
    let misses = resolver.calls.get() - calls;
    assert!((1..SLOTS).contains(&misses), "{misses} misses: only pairs whose slot was taken over miss");
}

#[test]
fn paths_longer_than_a_name_are_not_cached() {
    let (mut cache, mut resolver) = (RouteCache::new(3), Resolver::new());
    let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
    resolver.route(&mut cache, b"GET", long.as_bytes());
    let route = resolver.route(&mut cache, b"GET", long.as_bytes());
    assert_eq!(resolver.calls.get(), 2);
    assert_eq!(route.operation.as_str(), "GET (other)");
}
