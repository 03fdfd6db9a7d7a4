//! A telemetry batch as ingest decodes it: every field as prost decodes `TelemetryBatch`, except
//! the aggregate entries, which are read in place from the request body (their labels as offsets
//! into it, their latency buckets copied into one list per batch). A busy filter's batch carries a
//! few hundred entries with four label strings and a bucket list each: decoded by prost, every one
//! of them is an allocation on the request's worker, freed later by the store's thread on the
//! other core; read in place, all the entries of a batch cost two allocations (and their labels
//! are checked to be UTF-8 once).
//!
//! The wire is the same `acgs.telemetry.v1.TelemetryBatch`: what prost accepts is accepted (string
//! fields must be UTF-8, packed and unpacked buckets alike, unknown fields skipped, the last value
//! of a scalar field kept), and what it refuses is refused. The wire primitives (keys, varints,
//! skipping a field) are prost's own, as its generated code uses them; the fuzz target
//! `telemetry_batch` checks the two decodings against each other.

use std::ops::Range;

use acgs_proto::telemetry::{AggregateEntry, TelemetryBatch, LATENCY_BUCKETS};
use bytes::{Buf, Bytes};
use prost::encoding::{check_wire_type, decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::{DecodeError, Message};

/// `TelemetryBatch.aggregates`.
const AGGREGATES_TAG: u32 = 6;

/// A batch decoded for ingest.
#[derive(Debug, Clone, Default)]
pub struct ReceivedBatch {
    /// Every field but `aggregates`, which stays empty.
    pub batch: TelemetryBatch,
    /// The body the entries point into.
    body: Bytes,
    entries: Vec<EntryInPlace>,
    /// Every entry's latency buckets, one after the other.
    buckets: Vec<u64>,
}

/// One aggregate entry as read: where its strings are in the body, where its buckets are in the
/// batch's bucket list, its numbers.
#[derive(Debug, Clone, Default)]
struct EntryInPlace {
    service: Range<u32>,
    operation: Range<u32>,
    category: Range<u32>,
    source: Range<u32>,
    /// At most [`LATENCY_BUCKETS`] of them; `buckets_received` says how many came.
    buckets: Range<u32>,
    buckets_received: u32,
    status_class: u32,
    hash_status: i32,
    count: u64,
    latency_sum_micros: u64,
    latency_max_micros: u64,
}

/// One aggregate entry of a [`ReceivedBatch`], its fields as `AggregateEntry` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregate<'a> {
    pub service: Label<'a>,
    pub operation: Label<'a>,
    pub status_class: u32,
    pub hash_status: i32,
    pub category: Label<'a>,
    pub count: u64,
    /// At most [`LATENCY_BUCKETS`]: see `buckets_received`.
    pub latency_buckets: &'a [u64],
    /// Latency buckets on the wire, beyond [`LATENCY_BUCKETS`] too.
    pub buckets_received: usize,
    pub latency_sum_micros: u64,
    pub latency_max_micros: u64,
    pub source: Label<'a>,
}

/// A string field of an entry, UTF-8 (checked when decoded): compared as bytes, read as text
/// only when needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a>(&'a [u8]);

impl<'a> Label<'a> {
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn as_str(&self) -> &'a str {
        std::str::from_utf8(self.0).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Aggregate<'_> {
    /// The entry as prost's type (tests, the fuzz target's comparison).
    pub fn to_owned_entry(&self) -> AggregateEntry {
        AggregateEntry {
            service: self.service.as_str().to_owned(),
            operation: self.operation.as_str().to_owned(),
            status_class: self.status_class,
            hash_status: self.hash_status,
            category: self.category.as_str().to_owned(),
            count: self.count,
            latency_buckets: self.latency_buckets.to_vec(),
            latency_sum_micros: self.latency_sum_micros,
            latency_max_micros: self.latency_max_micros,
            source: self.source.as_str().to_owned(),
        }
    }
}

impl ReceivedBatch {
    /// Decodes a request body.
    pub fn decode(body: Bytes) -> Result<Self, MalformedBatch> {
        let mut batch = TelemetryBatch::default();
        let mut reader = EntryReader::default();
        let mut rest = &body[..];
        // Fields other than the aggregates are merged by prost, a run of them at a time.
        let mut run_start = 0;
        while rest.has_remaining() {
            let field_start = body.len() - rest.len();
            let (tag, wire_type) = decode_key(&mut rest)?;
            if tag != AGGREGATES_TAG {
                skip_field(wire_type, tag, &mut rest, DecodeContext::default())?;
                continue;
            }
            batch.merge(&body[run_start..field_start])?;
            check_wire_type(WireType::LengthDelimited, wire_type)?;
            let len = length(&mut rest)?;
            let start = body.len() - rest.len();
            reader.read(&body, start..start + len)?;
            rest.advance(len);
            run_start = body.len() - rest.len();
        }
        batch.merge(&body[run_start..])?;
        Ok(Self { batch, body, entries: reader.entries, buckets: reader.buckets })
    }

    /// The aggregate entries, in the order they came.
    pub fn aggregates(&self) -> impl ExactSizeIterator<Item = Aggregate<'_>> {
        self.entries.iter().map(|entry| Aggregate {
            service: self.label(&entry.service),
            operation: self.label(&entry.operation),
            status_class: entry.status_class,
            hash_status: entry.hash_status,
            category: self.label(&entry.category),
            count: entry.count,
            latency_buckets: &self.buckets[entry.buckets.start as usize..entry.buckets.end as usize],
            buckets_received: entry.buckets_received as usize,
            latency_sum_micros: entry.latency_sum_micros,
            latency_max_micros: entry.latency_max_micros,
            source: self.label(&entry.source),
        })
    }

    /// Cuts every entry's `service`, `operation` and `source` to at most `max` bytes at a
    /// character boundary; how many were cut.
    pub fn cut_labels(&mut self, max: usize) -> u64 {
        let mut cut = 0;
        for entry in &mut self.entries {
            for range in [&mut entry.service, &mut entry.operation, &mut entry.source] {
                if range.len() > max {
                    let text = Label(&self.body[range.start as usize..range.end as usize]).as_str();
                    range.end = range.start + to_u32(text.floor_char_boundary(max));
                    cut += 1;
                }
            }
        }
        cut
    }

    /// Records in the batch: aggregate entries plus span records.
    pub fn record_count(&self) -> u64 {
        (self.entries.len() + self.batch.spans.len()) as u64
    }

    fn label(&self, range: &Range<u32>) -> Label<'_> {
        Label(&self.body[range.start as usize..range.end as usize])
    }
}

/// A batch built in the process (tests, tools) takes the same form as one received.
impl From<TelemetryBatch> for ReceivedBatch {
    fn from(mut batch: TelemetryBatch) -> Self {
        let mut body = Vec::new();
        let mut ranges = Vec::with_capacity(batch.aggregates.len());
        for entry in std::mem::take(&mut batch.aggregates) {
            let start = body.len();
            entry.encode_raw(&mut body);
            ranges.push(start..body.len());
        }
        let body = Bytes::from(body);
        let mut reader = EntryReader::default();
        for range in ranges {
            // An entry prost has encoded reads back.
            let _ = reader.read(&body, range);
        }
        Self { batch, body, entries: reader.entries, buckets: reader.buckets }
    }
}

/// Why a body is not a `TelemetryBatch`.
#[derive(Debug, thiserror::Error)]
pub enum MalformedBatch {
    #[error(transparent)]
    Wire(#[from] DecodeError),
    #[error("a length-delimited field runs past the end of the body")]
    Truncated,
    #[error("aggregates[{entry}].{field}: not UTF-8")]
    NotUtf8 { entry: usize, field: &'static str },
}

/// A length prefix, checked against what is left.
fn length(buf: &mut &[u8]) -> Result<usize, MalformedBatch> {
    let len = usize::try_from(decode_varint(buf)?).unwrap_or(usize::MAX);
    if len > buf.len() {
        return Err(MalformedBatch::Truncated);
    }
    Ok(len)
}

/// Reads a batch's aggregate entries, one after the other.
#[derive(Debug, Default)]
struct EntryReader {
    entries: Vec<EntryInPlace>,
    buckets: Vec<u64>,
}

impl EntryReader {
    /// Reads the `AggregateEntry` at `range` of `body`.
    fn read(&mut self, body: &[u8], range: Range<usize>) -> Result<(), MalformedBatch> {
        let index = self.entries.len();
        let end = range.end;
        let mut buf = &body[range];
        let first_bucket = to_u32(self.buckets.len());
        let mut entry = EntryInPlace { buckets: first_bucket..first_bucket, ..EntryInPlace::default() };
        while buf.has_remaining() {
            let (tag, wire_type) = decode_key(&mut buf)?;
            match tag {
                1 | 2 | 5 | 10 => {
                    check_wire_type(WireType::LengthDelimited, wire_type)?;
                    let len = length(&mut buf)?;
                    let start = end - buf.len();
                    let (field, slot) = match tag {
                        1 => ("service", &mut entry.service),
                        2 => ("operation", &mut entry.operation),
                        5 => ("category", &mut entry.category),
                        _ => ("source", &mut entry.source),
                    };
                    std::str::from_utf8(&buf[..len]).map_err(|_| MalformedBatch::NotUtf8 { entry: index, field })?;
                    *slot = to_u32(start)..to_u32(start + len);
                    buf.advance(len);
                }
                // As prost reads them: a uint32 and an enum keep the low 32 bits of the varint.
                3 => entry.status_class = varint(wire_type, &mut buf)? as u32,
                4 => entry.hash_status = varint(wire_type, &mut buf)? as i32,
                6 => entry.count = varint(wire_type, &mut buf)?,
                7 if wire_type == WireType::LengthDelimited => {
                    let len = length(&mut buf)?;
                    let mut packed = &buf[..len];
                    while packed.has_remaining() {
                        self.push_bucket(&mut entry, decode_varint(&mut packed)?);
                    }
                    buf.advance(len);
                }
                7 => {
                    let count = varint(wire_type, &mut buf)?;
                    self.push_bucket(&mut entry, count);
                }
                8 => entry.latency_sum_micros = varint(wire_type, &mut buf)?,
                9 => entry.latency_max_micros = varint(wire_type, &mut buf)?,
                _ => skip_field(wire_type, tag, &mut buf, DecodeContext::default())?,
            }
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Keeps a bucket while the entry has fewer than a histogram's; counts it either way.
    fn push_bucket(&mut self, entry: &mut EntryInPlace, count: u64) {
        if (entry.buckets_received as usize) < LATENCY_BUCKETS {
            self.buckets.push(count);
            entry.buckets.end += 1;
        }
        entry.buckets_received = entry.buckets_received.saturating_add(1);
    }
}

/// A varint field's value.
fn varint(wire_type: WireType, buf: &mut &[u8]) -> Result<u64, DecodeError> {
    check_wire_type(WireType::Varint, wire_type)?;
    decode_varint(buf)
}

/// Offsets fit: a body is at most a few MB (`--max-body-bytes`).
fn to_u32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
