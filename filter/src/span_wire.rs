//! The wire form of `acgs.telemetry.v1.SpanRecord` (proto/proto/telemetry.proto) as the filter
//! writes it by hand: its field numbers, the writers of its fields, and the block of the fields a
//! request's method and path decide (name, category, method, path), encoded once per route
//! ([`crate::route`]) and copied into each of its spans. A message's fields may come in any order,
//! so the block is one copy in the middle of the span. The tests decode what is written here with
//! the generated type, field by field.

use std::borrow::Cow;
use std::rc::Rc;

use acgs_proto::telemetry::MAX_SPAN_VALUE_BYTES;
use prost::encoding::WireType;

use crate::category::Category;

/// Field numbers of `acgs.telemetry.v1.SpanRecord`.
pub mod field {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const PARENT_SPAN_ID: u32 = 3;
    pub const NAME: u32 = 4;
    pub const START: u32 = 5;
    pub const END: u32 = 6;
    pub const PEER: u32 = 8;
    pub const HASH_STATUS: u32 = 9;
    pub const CATEGORY: u32 = 10;
    pub const SAMPLING_RULE: u32 = 11;
    pub const METHOD: u32 = 12;
    pub const PATH: u32 = 13;
    pub const STATUS_CODE: u32 = 14;
    pub const AUTHORITY: u32 = 15;
    pub const USER_AGENT: u32 = 16;
}

/// A varint, written with one copy: prost's `encode_varint` pushes byte by byte through
/// `BufMut`, each push checking the capacity, and the two nine-byte timestamps of every span made
/// that a fifth of the span's cost. One byte (keys, most lengths) is one push.
#[inline]
fn put_varint_value(value: u64, buf: &mut Vec<u8>) {
    if value < 0x80 {
        buf.push(value as u8);
    } else {
        put_long_varint(value, buf);
    }
}

/// All ten bytes a varint can take are written, each with its continuation bit, without a branch
/// on the value (the two nine-byte timestamps of every span took a branch per byte); the last
/// byte's bit is cleared and the unused bytes are cut off. The ten bytes go in as one copy of a
/// constant length (stores, where a length known only at run time is a call out of the module on
/// wasm32).
fn put_long_varint(value: u64, buf: &mut Vec<u8>) {
    // How many bytes the value takes, as prost's `encoded_len_varint` counts them (1 to 10).
    let len = (((value | 1).leading_zeros() ^ 63) * 9 + 73) as usize / 64;
    let mut bytes = [0u8; 10];
    let mut rest = value;
    for slot in &mut bytes {
        *slot = rest as u8 | 0x80;
        rest >>= 7;
    }
    bytes[len - 1] &= 0x7f;
    let start = buf.len();
    buf.extend_from_slice(&bytes);
    buf.truncate(start + len);
}

/// A field's key (inlined, so that a constant field's key is a constant).
#[inline]
fn put_key(field: u32, wire_type: WireType, buf: &mut Vec<u8>) {
    put_varint_value(u64::from(field << 3 | wire_type as u32), buf);
}

/// A bytes or string field; empty values are not written (proto3 defaults).
#[inline]
pub fn put_len_field(field: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes.is_empty() {
        put_key(field, WireType::LengthDelimited, buf);
        put_varint_value(bytes.len() as u64, buf);
        buf.extend_from_slice(bytes);
    }
}

/// A varint field; zero is not written (proto3 default).
#[inline]
pub fn put_varint(field: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        put_key(field, WireType::Varint, buf);
        put_varint_value(value, buf);
    }
}

/// A request's value as a span's text (its UTF-8 bytes), cut to [`MAX_SPAN_VALUE_BYTES`] at a
/// character boundary (as the control plane cuts what it receives, so a client's 60 KB header
/// costs every buffer on the way 1 KB): borrowed when it is ASCII (checked a word at a time) or
/// UTF-8, else carried lossily so that a batch always decodes.
pub fn text(bytes: &[u8]) -> Cow<'_, [u8]> {
    let cut = bytes.get(..MAX_SPAN_VALUE_BYTES).unwrap_or(bytes);
    if cut.is_ascii() {
        return Cow::Borrowed(cut);
    }
    match std::str::from_utf8(cut) {
        Ok(_) => Cow::Borrowed(cut),
        // Only the cut split a character: the text before it.
        Err(error) if error.error_len().is_none() && cut.len() < bytes.len() => {
            Cow::Borrowed(&cut[..error.valid_up_to()])
        }
        Err(_) => Cow::Owned(bounded(&String::from_utf8_lossy(cut)).as_bytes().to_vec()),
    }
}

/// `text` cut to [`MAX_SPAN_VALUE_BYTES`] at a character boundary.
pub fn bounded(text: &str) -> &str {
    &text[..text.floor_char_boundary(MAX_SPAN_VALUE_BYTES)]
}

/// The fields a request's method and path decide, encoded: its operation name and category,
/// and the method and path themselves (carried lossily when they are not UTF-8).
pub fn route_fields(operation: &str, category: Category, method: &[u8], path: &[u8]) -> Rc<[u8]> {
    let mut buf = Vec::with_capacity(operation.len() + method.len() + path.len() + 32);
    put_len_field(field::NAME, operation.as_bytes(), &mut buf);
    put_len_field(field::CATEGORY, category.as_str().as_bytes(), &mut buf);
    put_len_field(field::METHOD, &text(method), &mut buf);
    put_len_field(field::PATH, &text(path), &mut buf);
    buf.into()
}

#[cfg(test)]
mod tests;
