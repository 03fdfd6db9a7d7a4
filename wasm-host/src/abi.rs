//! The numbers of the proxy-wasm ABI 0.2.1 as Envoy uses them: host-call statuses, map and
//! buffer types, stream types, filter actions, and the header-pair serialisation.

/// Host-call results (Envoy's `WasmResult`).
pub(crate) mod status {
    pub(crate) const OK: i32 = 0;
    pub(crate) const NOT_FOUND: i32 = 1;
    pub(crate) const BAD_ARGUMENT: i32 = 2;
    pub(crate) const PARSE_FAILURE: i32 = 4;
    pub(crate) const INVALID_MEMORY_ACCESS: i32 = 6;
    pub(crate) const EMPTY: i32 = 7;
    pub(crate) const CAS_MISMATCH: i32 = 8;
    pub(crate) const INTERNAL_FAILURE: i32 = 10;
    pub(crate) const BROKEN_CONNECTION: i32 = 11;
    pub(crate) const UNIMPLEMENTED: i32 = 12;
}

/// WASI errno values the host answers with.
pub(crate) mod errno {
    pub(crate) const SUCCESS: i32 = 0;
    pub(crate) const BADF: i32 = 8;
    pub(crate) const INVAL: i32 = 28;
    pub(crate) const NOSYS: i32 = 52;
    pub(crate) const SPIPE: i32 = 70;
}

/// The header maps a filter can address (`proxy_*_header_map_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapType {
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseTrailers,
    GrpcInitialMetadata,
    GrpcTrailingMetadata,
    CallResponseHeaders,
    CallResponseTrailers,
}

impl MapType {
    pub(crate) fn from_abi(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::RequestHeaders,
            1 => Self::RequestTrailers,
            2 => Self::ResponseHeaders,
            3 => Self::ResponseTrailers,
            4 => Self::GrpcInitialMetadata,
            5 => Self::GrpcTrailingMetadata,
            6 => Self::CallResponseHeaders,
            7 => Self::CallResponseTrailers,
            _ => return None,
        })
    }
}

/// The buffers a filter can address (`proxy_get_buffer_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferType {
    RequestBody,
    ResponseBody,
    DownstreamData,
    UpstreamData,
    CallResponseBody,
    GrpcReceiveBuffer,
    VmConfiguration,
    PluginConfiguration,
}

impl BufferType {
    pub(crate) fn from_abi(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::RequestBody,
            1 => Self::ResponseBody,
            2 => Self::DownstreamData,
            3 => Self::UpstreamData,
            4 => Self::CallResponseBody,
            5 => Self::GrpcReceiveBuffer,
            6 => Self::VmConfiguration,
            7 => Self::PluginConfiguration,
            _ => return None,
        })
    }
}

/// `proxy_continue_stream` / `proxy_close_stream` targets.
pub(crate) const STREAM_TYPE_REQUEST: i32 = 0;
pub(crate) const STREAM_TYPE_RESPONSE: i32 = 1;

/// What a stream callback returned: `Continue` (0) or `StopIteration` (1, the SDK's `Pause`).
pub(crate) const ACTION_CONTINUE: i32 = 0;

/// Metric types of `proxy_define_metric`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub(crate) fn from_abi(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Counter,
            1 => Self::Gauge,
            2 => Self::Histogram,
            _ => return None,
        })
    }
}

/// The size of the pairs' serialisation ([`serialize_pairs_into`]).
pub(crate) fn serialized_pairs_len<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> usize {
    pairs.map(|(k, v)| k.len() + v.len() + 10).sum::<usize>() + 4
}

/// Serialises header pairs into `out`, which is exactly [`serialized_pairs_len`] long: u32
/// count, (u32 key length, u32 value length) per pair, then each key and value followed by a NUL
/// byte, all little-endian. `None` when `out` is not that long.
pub(crate) fn serialize_pairs_into<'a>(
    pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
    out: &mut [u8],
) -> Option<()> {
    if out.len() != serialized_pairs_len(pairs.clone()) {
        return None;
    }
    let (count, mut sizes) = out.split_at_mut(4);
    count.copy_from_slice(&u32_len(pairs.len()).to_le_bytes());
    let (size_table, mut data) = sizes.split_at_mut(pairs.len() * 8);
    sizes = size_table;
    for (key, value) in pairs {
        let (entry, rest) = sizes.split_at_mut(8);
        entry[..4].copy_from_slice(&u32_len(key.len()).to_le_bytes());
        entry[4..].copy_from_slice(&u32_len(value.len()).to_le_bytes());
        sizes = rest;
        for part in [key, value] {
            let (target, rest) = data.split_at_mut(part.len() + 1);
            target[..part.len()].copy_from_slice(part);
            target[part.len()] = 0;
            data = rest;
        }
    }
    Some(())
}

/// Parses the pair serialisation a guest passes in; `None` when it is malformed.
pub(crate) fn parse_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let count = usize::try_from(read_u32(bytes, 0)?).ok()?;
    let mut sizes_at = 4usize;
    let mut data_at = 4usize.checked_add(count.checked_mul(8)?)?;
    if data_at > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        let key_len = usize::try_from(read_u32(bytes, sizes_at)?).ok()?;
        let value_len = usize::try_from(read_u32(bytes, sizes_at + 4)?).ok()?;
        sizes_at += 8;
        let key = bytes.get(data_at..data_at.checked_add(key_len)?)?.to_vec();
        data_at = data_at.checked_add(key_len + 1)?;
        let value = bytes.get(data_at..data_at.checked_add(value_len)?)?.to_vec();
        data_at = data_at.checked_add(value_len + 1)?;
        pairs.push((key, value));
    }
    (data_at <= bytes.len()).then_some(pairs)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Lengths handed to a 32-bit guest; larger values cannot occur (guest memory is 4 GiB).
pub(crate) fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
