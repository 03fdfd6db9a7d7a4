use super::*;

#[test]
fn shared_data_cas_detects_a_concurrent_writer() {
    let process = ProcessState::default();
    assert_eq!(process.get_shared(b"lease"), Err(status::NOT_FOUND));
    assert_eq!(process.set_shared(b"lease", b"vm-1", 0), status::OK);
    let (value, cas) = process.get_shared(b"lease").expect("set");
    assert_eq!((value.as_slice(), cas), (&b"vm-1"[..], 1));
    assert_eq!(process.set_shared(b"lease", b"vm-2", cas), status::OK, "holder of the cas wins");
    assert_eq!(process.set_shared(b"lease", b"vm-3", cas), status::CAS_MISMATCH, "a stale cas loses");
    assert_eq!(process.get_shared(b"lease"), Ok((b"vm-2".to_vec(), 2)));
    assert_eq!(process.set_shared(b"fresh", b"x", 7), status::CAS_MISMATCH, "cas on an absent key");
}

#[test]
fn queues_notify_their_owner_once_per_batch() {
    let process = ProcessState::default();
    let token = process.register_queue("vm", b"q", 2);
    assert_eq!(process.resolve_queue("vm", b"q"), Some(token));
    assert_eq!(process.resolve_queue("other", b"q"), None);
    assert_eq!(process.dequeue(token), Err(status::EMPTY));
    assert_eq!(process.enqueue(token, b"a"), status::OK);
    assert_eq!(process.enqueue(token, b"b"), status::OK);
    assert_eq!(process.take_ready_queues(1), Vec::<u32>::new());
    assert_eq!(process.take_ready_queues(2), vec![token]);
    assert_eq!(process.take_ready_queues(2), Vec::<u32>::new());
    assert_eq!(process.dequeue(token), Ok(b"a".to_vec()));
    assert_eq!(process.enqueue(99, b"x"), status::NOT_FOUND);
}

#[test]
fn metrics_follow_envoys_rules_per_type() {
    let process = ProcessState::default();
    let counter = process.define_metric(MetricKind::Counter, "requests_total");
    assert_eq!(process.define_metric(MetricKind::Counter, "requests_total"), counter, "same name, same metric");
    let gauge = process.define_metric(MetricKind::Gauge, "in_flight");
    let histogram = process.define_metric(MetricKind::Histogram, "latency");
    assert_eq!(process.increment_metric(counter, 2), status::OK);
    assert_eq!(process.increment_metric(counter, -1), status::BAD_ARGUMENT);
    assert_eq!(process.increment_metric(gauge, -3), status::OK);
    assert_eq!(process.record_metric(histogram, 40), status::OK);
    assert_eq!(process.record_metric(histogram, 2), status::OK);
    assert_eq!(process.get_metric(counter), Ok(2));
    assert_eq!(process.get_metric(histogram), Err(status::BAD_ARGUMENT));
    assert_eq!(process.get_metric(0), Err(status::NOT_FOUND));
    let stats = process.stats();
    assert_eq!(stats.counter("requests_total"), Some(2));
    assert_eq!(stats.gauge("in_flight"), Some(-3));
    assert_eq!(stats.histogram("latency"), Some((2, 42)));
    assert_eq!(stats.counter("latency"), None, "a histogram is not a counter");
}
