//! What the first argument of `proxy_grpc_call` / `proxy_grpc_stream` names. Envoy's
//! `Context::grpcCall` and `Context::grpcStream` (source/extensions/common/wasm/context.cc)
//! first try `GrpcService::ParseFromString` on the bytes; only when that fails are they a
//! cluster name (and an unknown one answers `ParseFailure`). A serialised
//! `envoy.config.core.v3.GrpcService` names its cluster in `envoy_grpc.cluster_name` (and may
//! set `envoy_grpc.authority`); one without `envoy_grpc` cannot get an Envoy gRPC client here.
//!
//! The parse is checked at the protobuf wire level, as far as it decides the outcome: the tag and
//! wire-type grammar (groups included), the message fields of `GrpcService` parsed as messages,
//! and the two strings of `EnvoyGrpc` valid UTF-8 (proto3 strings). A plain cluster name fails
//! that parse in practice (most letters start an invalid or truncated field), which is why
//! the Rust SDK's `dispatch_grpc_call("cluster", …)` works.

/// What the bytes name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Not a `GrpcService`: a cluster name.
    ClusterName(String),
    /// A `GrpcService` with `envoy_grpc`.
    EnvoyGrpc { cluster: String, authority: Option<String> },
    /// A `GrpcService` without `envoy_grpc` (Google gRPC, or no target at all).
    OtherService,
}

/// `GrpcService` fields that are messages (envoy_grpc, google_grpc, timeout, initial_metadata,
/// retry_policy).
const SERVICE_MESSAGE_FIELDS: [u32; 5] = [1, 2, 3, 5, 6];
/// `EnvoyGrpc` string fields (cluster_name, authority).
const ENVOY_GRPC_STRINGS: [u32; 2] = [1, 2];

pub(crate) fn parse(bytes: &[u8]) -> Target {
    match parse_service(bytes) {
        Some(Some((cluster, authority))) => Target::EnvoyGrpc { cluster, authority },
        Some(None) => Target::OtherService,
        None => Target::ClusterName(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// `None` when the bytes are not a `GrpcService`; `Some(None)` when one without `envoy_grpc`.
fn parse_service(bytes: &[u8]) -> Option<Option<(String, Option<String>)>> {
    let mut envoy_grpc: Option<(String, Option<String>)> = None;
    let mut reader = Reader { bytes, at: 0 };
    reader.message(None, &mut |field, value| {
        let Value::Bytes(payload) = value else {
            return true;
        };
        match field {
            1 => match parse_envoy_grpc(payload) {
                // The oneof's last member wins; a repeated envoy_grpc merges.
                Some((cluster, authority)) => {
                    let previous = envoy_grpc.take().unwrap_or_default();
                    envoy_grpc = Some((cluster.unwrap_or(previous.0), authority.or(previous.1)));
                    true
                }
                None => false,
            },
            2 if well_formed(payload) => {
                envoy_grpc = None;
                true
            }
            field if SERVICE_MESSAGE_FIELDS.contains(&field) => well_formed(payload),
            _ => true,
        }
    })?;
    Some(envoy_grpc)
}

/// `EnvoyGrpc`: (cluster_name, authority) as set, or `None` when malformed.
fn parse_envoy_grpc(bytes: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let (mut cluster, mut authority) = (None, None);
    let mut reader = Reader { bytes, at: 0 };
    reader.message(None, &mut |field, value| match (field, value) {
        (field, Value::Bytes(text)) if ENVOY_GRPC_STRINGS.contains(&field) => match std::str::from_utf8(text) {
            Ok(text) => {
                let slot = if field == 1 { &mut cluster } else { &mut authority };
                *slot = Some(text.to_owned());
                true
            }
            Err(_) => false,
        },
        _ => true,
    })?;
    Some((cluster.filter(|c| !c.is_empty()), authority.filter(|a| !a.is_empty())))
}

fn well_formed(bytes: &[u8]) -> bool {
    Reader { bytes, at: 0 }.message(None, &mut |_, _| true).is_some()
}

enum Value<'a> {
    Scalar,
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(slice)
    }

    /// Reads fields until the end (or the end-group tag of `group`), handing each to `visit`,
    /// which may reject it. `None` on any malformation.
    fn message(&mut self, group: Option<u32>, visit: &mut dyn FnMut(u32, Value<'a>) -> bool) -> Option<()> {
        while self.at < self.bytes.len() {
            let tag = self.varint()?;
            let field = u32::try_from(tag >> 3).ok().filter(|field| (1..=0x1fff_ffff).contains(field))?;
            let value = match tag & 7 {
                0 => self.varint().map(|_| Value::Scalar)?,
                1 => self.take(8).map(|_| Value::Scalar)?,
                2 => {
                    let len = usize::try_from(self.varint()?).ok()?;
                    Value::Bytes(self.take(len)?)
                }
                3 => {
                    self.message(Some(field), &mut |_, _| true)?;
                    Value::Scalar
                }
                4 => return (group == Some(field)).then_some(()),
                5 => self.take(4).map(|_| Value::Scalar)?,
                _ => return None,
            };
            if !visit(field, value) {
                return None;
            }
        }
        group.is_none().then_some(())
    }
}
