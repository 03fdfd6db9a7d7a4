use acgs_proto::telemetry::{AggregateEntry, Attribute, TelemetryBatch};

use super::*;

fn attribute(key: &str, value: &str) -> Attribute {
    Attribute { key: key.to_owned(), value: Some(Value::StringValue(value.to_owned())) }
}

#[test]
fn label_values_are_cut_to_the_bound_at_a_character_boundary_and_counted() {
    let long_operation = format!("GET /{}", "é".repeat(1_000_000)); // a 2 MB operation name
    let mut batch: ReceivedBatch = TelemetryBatch {
        service: "s".repeat(200),
        aggregates: vec![
            AggregateEntry { service: "checkout".to_owned(), operation: long_operation, ..AggregateEntry::default() },
            AggregateEntry {
                service: "checkout".to_owned(),
                operation: "GET /ok".to_owned(),
                ..AggregateEntry::default()
            },
        ],
        ..TelemetryBatch::default()
    }
    .into();
    assert_eq!(cut_batch(&mut batch), Cuts { labels: 2, spans: 0 });
    assert_eq!(batch.batch.service, "s".repeat(MAX_LABEL_BYTES));
    let operations: Vec<&str> = batch.aggregates().map(|entry| entry.operation.as_str()).collect();
    // "GET /" is 5 bytes, then 2-byte characters: 128 would split one, so 127.
    assert_eq!(operations[0].len(), 127);
    assert_eq!(operations, [format!("GET /{}", "é".repeat(61)).as_str(), "GET /ok"]);
}

#[test]
fn a_span_record_is_cut_to_its_byte_bound_dropping_attributes_from_the_end() {
    let mut huge = SpanRecord {
        name: "x".repeat(3_900_000),
        peer: "10.0.0.1".to_owned(),
        attributes: (0..40).map(|i| attribute(&format!("k{i:02}"), &"v".repeat(2_000))).collect(),
        ..SpanRecord::default()
    };
    let small =
        SpanRecord { name: "GET /ok".to_owned(), attributes: vec![attribute("a", "b")], ..SpanRecord::default() };
    let mut batch = TelemetryBatch { spans: vec![huge.clone(), small.clone()], ..TelemetryBatch::default() }.into();
    assert_eq!(cut_batch(&mut batch), Cuts { labels: 0, spans: 1 });
    huge = batch.batch.spans[0].clone();
    assert!(huge.encoded_len() <= MAX_SPAN_BYTES, "{} bytes", huge.encoded_len());
    assert_eq!(huge.name.len(), MAX_VALUE_BYTES);
    assert_eq!(huge.peer, "10.0.0.1");
    // Each attribute is now a 1,024-byte value: the first 14 fit in 16 KiB with the name.
    assert_eq!(huge.attributes.len(), 14);
    assert_eq!(huge.attributes.last().map(|a| a.key.as_str()), Some("k13"));
    assert_eq!(batch.batch.spans[1], small, "a span within the bounds is untouched");
}
