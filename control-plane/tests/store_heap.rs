//! The telemetry store's memory is bounded by bytes whatever the filters send: any sequence of
//! admitted batches (cut to the byte bounds as ingest cuts them: label values at 128 bytes,
//! spans at 16 KiB, unique names, hash mismatches from new callers, time moving on) leaves the
//! store holding no more heap than `StoreLimits::heap_bound` says. The heap is measured by a
//! counting allocator, so this is its own test binary with one test at a time.

use std::alloc::System;
use std::sync::Mutex;

use acgs_control_plane::telemetry::bounds::cut_batch;
use acgs_control_plane::telemetry::received::ReceivedBatch;
use acgs_control_plane::telemetry::store::{StoreLimits, TelemetryStore};
use acgs_proto::telemetry::attribute::Value;
use acgs_proto::telemetry::{AggregateEntry, Attribute, HashStatus, SpanRecord, TelemetryBatch};
use proptest::prelude::*;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes live now (stats_alloc counts a reallocation's growth in `bytes_allocated` and its
/// shrinking in `bytes_deallocated`).
fn live() -> isize {
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// The tests of this binary measure one at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// Small limits, so that a few hundred batches reach every one of them.
fn limits() -> StoreLimits {
    StoreLimits {
        max_series: 3_000,
        window_history_series: 6_000,
        max_mismatch_series: 500,
        metrics_bytes: 16 * 1024 * 1024,
        span_buffer: 2_000,
        span_buffer_bytes: 2 * 1024 * 1024,
        ..StoreLimits::default()
    }
}

/// What one batch carries: `series` aggregate entries, each of one of `distinct` operations (of
/// 7 services) with names of `name_len` bytes, half of them hash mismatches from a new caller each, and spans with
/// `attributes` string attributes of `value_len` bytes; received `advance_secs` after the
/// previous one.
#[derive(Debug, Clone)]
struct BatchShape {
    series: usize,
    distinct: usize,
    name_len: usize,
    spans: usize,
    attributes: usize,
    value_len: usize,
    advance_secs: u64,
}

/// A name of `len` bytes, unique by `n`.
fn name(n: usize, len: usize) -> String {
    let unique = format!("{n:x}-");
    let pad = len.saturating_sub(unique.len());
    format!("{unique}{}", "x".repeat(pad))
}

fn batch(shape: &BatchShape, counter: &mut usize) -> TelemetryBatch {
    let aggregates = (0..shape.series)
        .map(|_| {
            *counter += 1;
            let operation = *counter % shape.distinct.max(1);
            let mismatch = operation % 2 == 1;
            AggregateEntry {
                service: name(operation % 7, shape.name_len),
                operation: name(operation, shape.name_len),
                status_class: 2,
                hash_status: if mismatch { HashStatus::Mismatch } else { HashStatus::Valid } as i32,
                count: 1,
                latency_buckets: vec![1],
                latency_sum_micros: 20,
                latency_max_micros: 20,
                source: if mismatch { name(*counter + 1, shape.name_len) } else { String::new() },
                ..AggregateEntry::default()
            }
        })
        .collect();
    let spans = (0..shape.spans)
        .map(|i| SpanRecord {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: name(i, shape.name_len),
            attributes: (0..shape.attributes)
                .map(|a| Attribute { key: name(a, 32), value: Some(Value::StringValue(name(a, shape.value_len))) })
                .collect(),
            ..SpanRecord::default()
        })
        .collect();
    *counter += 1;
    TelemetryBatch {
        vm_id: "vm".to_owned(),
        seq: 1,
        service: name(*counter, shape.name_len),
        aggregates,
        spans,
        ..TelemetryBatch::default()
    }
}

/// The heap a store holds after taking `shapes`, built and applied inside the measurement.
fn heap_after(shapes: &[BatchShape]) -> isize {
    let before = live();
    let mut store = TelemetryStore::new(limits());
    let (mut counter, mut now) = (0, 1_700_000_000);
    for shape in shapes {
        let mut admitted = ReceivedBatch::from(batch(shape, &mut counter));
        cut_batch(&mut admitted);
        now += shape.advance_secs;
        store.apply(admitted, now);
    }
    let held = live() - before;
    drop(store);
    held
}

#[test]
fn a_flood_at_every_bound_stays_under_the_heap_bound_and_near_it() {
    let _measuring = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The same 3,000 operations over and over in new windows, new callers, spans at 16 KiB.
    let flood = BatchShape {
        series: 300,
        distinct: 3_000,
        name_len: 16,
        spans: 20,
        attributes: 40,
        value_len: 1_500,
        advance_secs: 10,
    };
    let held = heap_after(&vec![flood; 300]);
    let bound = limits().heap_bound() as isize;
    eprintln!("the store holds {held} bytes of its bound of {bound}");
    assert!(held <= bound, "the store holds {held} bytes, over its bound of {bound}");
    assert!(held >= bound / 3, "the store holds {held} bytes: the bound ({bound}) says little if it is far above");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_sequence_of_admitted_batches_stays_under_the_heap_bound(
        shapes in proptest::collection::vec(
            (0usize..300, 1usize..6_000, 1usize..=200, 0usize..30, 0usize..60, 0usize..1_500, 0u64..30).prop_map(
                |(series, distinct, name_len, spans, attributes, value_len, advance_secs)| BatchShape {
                    series, distinct, name_len, spans, attributes, value_len, advance_secs,
                },
            ),
            1..120,
        ),
    ) {
        let _measuring = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = heap_after(&shapes);
        let bound = limits().heap_bound() as isize;
        prop_assert!(held <= bound, "the store holds {} bytes, over its bound of {}", held, bound);
    }
}
