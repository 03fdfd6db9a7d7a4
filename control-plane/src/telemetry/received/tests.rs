use acgs_proto::telemetry::{DroppedCounters, HashStatus, SpanRecord};
use proptest::prelude::*;

use super::*;

fn entry(operation: &str) -> AggregateEntry {
    AggregateEntry {
        service: "checkout".to_owned(),
        operation: operation.to_owned(),
        status_class: 2,
        hash_status: HashStatus::Valid as i32,
        category: "governance".to_owned(),
        count: 3,
        latency_buckets: vec![1, 0, 2],
        latency_sum_micros: 900,
        latency_max_micros: 500,
        source: "spiffe://cluster.local/ns/a/sa/b".to_owned(),
    }
}

fn batch() -> TelemetryBatch {
    TelemetryBatch {
        vm_id: "vm-1".to_owned(),
        seq: 7,
        service: "checkout".to_owned(),
        aggregates: vec![entry("GET /a"), entry("GET /b")],
        spans: vec![SpanRecord { name: "GET /a".to_owned(), ..SpanRecord::default() }],
        dropped: Some(DroppedCounters { spans: 1, aggregates: 2, batches: 3 }),
        constitutional_hash: "cdd01ef066bc6cf2".to_owned(),
        ..TelemetryBatch::default()
    }
}

fn decoded(body: Vec<u8>) -> ReceivedBatch {
    ReceivedBatch::decode(Bytes::from(body)).expect("decodes")
}

fn entries(received: &ReceivedBatch) -> Vec<AggregateEntry> {
    received.aggregates().map(|entry| entry.to_owned_entry()).collect()
}

#[test]
fn a_batch_reads_as_prost_reads_it_with_the_entries_in_place() {
    let received = decoded(batch().encode_to_vec());
    assert_eq!(entries(&received), batch().aggregates);
    assert_eq!(received.batch, TelemetryBatch { aggregates: Vec::new(), ..batch() });
    assert_eq!(received.record_count(), 3);
}

#[test]
fn fields_in_any_order_and_repeated_scalars_read_as_prost_reads_them() {
    // Aggregates between the other fields, then vm_id and seq again (the last value is kept).
    let mut body = TelemetryBatch { aggregates: vec![entry("GET /a")], ..TelemetryBatch::default() }.encode_to_vec();
    body.extend(
        TelemetryBatch { vm_id: "first".to_owned(), spans: batch().spans, ..TelemetryBatch::default() }.encode_to_vec(),
    );
    body.extend(TelemetryBatch { aggregates: vec![entry("GET /b")], ..TelemetryBatch::default() }.encode_to_vec());
    body.extend(TelemetryBatch { vm_id: "last".to_owned(), seq: 9, ..TelemetryBatch::default() }.encode_to_vec());
    let canonical = TelemetryBatch::decode(&body[..]).expect("prost decodes it");
    let received = decoded(body);
    assert_eq!(entries(&received), canonical.aggregates);
    assert_eq!(received.batch.vm_id, "last");
    assert_eq!(received.batch.seq, 9);
    assert_eq!(received.batch, TelemetryBatch { aggregates: Vec::new(), ..canonical });
}

#[test]
fn unpacked_buckets_and_unknown_fields_are_read_as_prost_reads_them() {
    let mut raw = Vec::new();
    // operation (2), then latency_buckets (7) unpacked: two varint fields, then an unknown field 15.
    prost::encoding::string::encode(2, &"GET /a".to_owned(), &mut raw);
    prost::encoding::uint64::encode(7, &4, &mut raw);
    prost::encoding::uint64::encode(7, &5, &mut raw);
    prost::encoding::string::encode(15, &"from a newer filter".to_owned(), &mut raw);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(AGGREGATES_TAG, &raw, &mut body);
    let canonical = TelemetryBatch::decode(&body[..]).expect("prost decodes it");
    assert_eq!(canonical.aggregates[0].latency_buckets, [4, 5]);
    assert_eq!(entries(&decoded(body)), canonical.aggregates);
}

#[test]
fn more_buckets_than_a_histogram_has_are_counted_not_kept() {
    let many = AggregateEntry { latency_buckets: vec![1; LATENCY_BUCKETS + 3], ..entry("GET /a") };
    let received = decoded(TelemetryBatch { aggregates: vec![many], ..TelemetryBatch::default() }.encode_to_vec());
    let read = received.aggregates().next().expect("one entry");
    assert_eq!(read.buckets_received, LATENCY_BUCKETS + 3);
    assert_eq!(read.latency_buckets, [1; LATENCY_BUCKETS]);
}

#[test]
fn a_malformed_entry_is_refused_naming_what_is_wrong() {
    let mut raw = Vec::new();
    prost::encoding::bytes::encode(2, &vec![b'G', 0xff], &mut raw);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(AGGREGATES_TAG, &raw, &mut body);
    prost::encoding::bytes::encode(AGGREGATES_TAG, &raw, &mut body);
    let error = ReceivedBatch::decode(Bytes::from(body.clone())).expect_err("not UTF-8");
    assert_eq!(error.to_string(), "aggregates[0].operation: not UTF-8");
    assert!(TelemetryBatch::decode(&body[..]).is_err(), "prost refuses it too");

    // An entry whose string runs past the entry's end.
    let mut body = Vec::new();
    prost::encoding::bytes::encode(AGGREGATES_TAG, &vec![0x12, 0x05, b'G'], &mut body);
    let error = ReceivedBatch::decode(Bytes::from(body.clone())).expect_err("truncated");
    assert_eq!(error.to_string(), "a length-delimited field runs past the end of the body");
    assert!(TelemetryBatch::decode(&body[..]).is_err(), "prost refuses it too");

    // A wire type the field does not have.
    let mut body = Vec::new();
    prost::encoding::bytes::encode(AGGREGATES_TAG, &vec![0x1a, 0x01, b'x'], &mut body);
    let error = ReceivedBatch::decode(Bytes::from(body.clone())).expect_err("status_class as a string");
    assert!(error.to_string().contains("invalid wire type"), "{error}");
    assert!(TelemetryBatch::decode(&body[..]).is_err(), "prost refuses it too");
}

#[test]
fn labels_are_cut_at_a_character_boundary_and_counted() {
    let mut received = ReceivedBatch::from(TelemetryBatch {
        aggregates: vec![AggregateEntry { operation: format!("GET /{}", "é".repeat(100)), ..entry("") }],
        ..TelemetryBatch::default()
    });
    assert_eq!(received.cut_labels(10), 2, "the operation and the source; the service fits");
    let read = received.aggregates().next().expect("one entry");
    assert_eq!(
        (read.service.as_str(), read.operation.as_str(), read.source.as_str()),
        ("checkout", "GET /éé", "spiffe://c")
    );
}

/// Any aggregate entry: labels of any text (up to a few dozen characters), any numbers, up to a
/// histogram's buckets.
fn any_entry() -> impl Strategy<Value = AggregateEntry> {
    let labels = ("\\PC{0,12}", "\\PC{0,40}", "\\PC{0,8}", "\\PC{0,20}");
    let buckets = proptest::collection::vec(any::<u64>(), 0..LATENCY_BUCKETS);
    let numbers = (any::<u32>(), any::<i32>(), any::<u64>(), buckets, any::<u64>(), any::<u64>());
    (labels, numbers).prop_map(
        |((service, operation, category, source), (status_class, hash_status, count, latency_buckets, sum, max))| {
            AggregateEntry {
                service,
                operation,
                status_class,
                hash_status,
                category,
                count,
                latency_buckets,
                latency_sum_micros: sum,
                latency_max_micros: max,
                source,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any batch prost encodes reads back entry for entry, whether decoded from a body or built
    /// in the process.
    #[test]
    fn any_encoded_batch_reads_back(aggregates in proptest::collection::vec(any_entry(), 0..6)) {
        let batch = TelemetryBatch { aggregates: aggregates.clone(), ..batch() };
        prop_assert_eq!(entries(&decoded(batch.encode_to_vec())), aggregates.clone());
        prop_assert_eq!(entries(&ReceivedBatch::from(batch)), aggregates);
    }
}
