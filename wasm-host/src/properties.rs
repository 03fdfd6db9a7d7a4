//! The properties (Envoy "attributes") a filter reads with `proxy_get_property`: node identity
//! and metadata under `xds.node.*` and the older `node.*`, plugin facts, and the request,
//! response, connection, source, destination and upstream attributes of the current stream.
//! Strings come back as raw bytes, integers as 8 little-endian bytes, booleans as one byte;
//! absent values and whole maps (which Envoy serialises as protobuf) are `NotFound` here.

use std::net::SocketAddr;

use crate::headers::Headers;
use crate::state::VmState;
use crate::stream::{StreamPhase, StreamState};

/// The longest property path resolved (`xds.node.metadata.KEY` has four segments).
const MAX_SEGMENTS: usize = 8;

/// The value writers: each writes into `out` and answers "found" (`Some`).
fn int(value: i64, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(&value.to_le_bytes());
    Some(())
}

fn len_int(len: usize, out: &mut Vec<u8>) -> Option<()> {
    int(i64::try_from(len).unwrap_or(i64::MAX), out)
}

fn text(value: &str, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(value.as_bytes());
    Some(())
}

/// The text of the last peer address asked for. Envoy formats an address once, when its
/// connection is accepted (`Address::Ipv4Instance` keeps `friendly_name_`), so `source.address`
/// costs a filter no formatting per request; the host keeps the text of the address it formatted
/// last, which is the connection's for every request on it.
#[derive(Debug, Default)]
pub(crate) struct AddressText {
    last: Option<(SocketAddr, Vec<u8>)>,
}

impl AddressText {
    fn of(&mut self, address: SocketAddr) -> &[u8] {
        if self.last.as_ref().is_none_or(|(cached, _)| *cached != address) {
            self.last = Some((address, address.to_string().into_bytes()));
        }
        self.last.as_ref().map_or(&[], |(_, text)| text)
    }
}

/// Writes the value at `path` (segments separated by NUL bytes, as the SDK serialises them) into
/// `out`, which the caller reuses from call to call (a lookup allocates nothing once it has
/// grown); `false` when there is none. Segments are matched as bytes, as Envoy's attribute names
/// are ASCII.
pub(crate) fn resolve(state: &mut VmState, raw_path: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let effective = state.effective_context;
    let stream = state.stream.as_ref().filter(|stream| stream.context_id == effective);
    let set = stream
        .filter(|s| !s.properties.is_empty())
        .and_then(|s| s.properties.get(raw_path))
        .or_else(|| Some(&state.root_properties).filter(|p| !p.is_empty()).and_then(|p| p.get(raw_path)));
    if let Some(value) = set {
        out.extend_from_slice(value);
        return true;
    }
    // Paths are short: split into a fixed array rather than allocating on every call.
    let mut parts: [&[u8]; MAX_SEGMENTS] = [&[]; MAX_SEGMENTS];
    let mut count = 0;
    for segment in raw_path.split(|byte| *byte == 0) {
        let Some(part) = parts.get_mut(count) else {
            return false;
        };
        *part = segment;
        count += 1;
    }
    let segments = &parts[..count];
    let env = &state.env;
    let found = match segments {
        [b"plugin_name"] => text(&env.plugin.name, out),
        [b"plugin_root_id"] => text(&env.plugin.root_id, out),
        [b"plugin_vm_id"] => text(&env.plugin.vm_id, out),
        [b"xds", b"node", rest @ ..] | [b"node", rest @ ..] => node(state, rest, out),
        [b"xds", b"cluster_name"] => text(&env.proxy.node.cluster, out),
        [b"request", rest @ ..] => stream.and_then(|stream| request(stream, rest, out)),
        [b"response", rest @ ..] => stream.and_then(|stream| response(stream, rest, out)),
        [b"source", b"address"] => {
            let address = stream.map(|stream| stream.source_address);
            address.map(|address| out.extend_from_slice(state.address_text.of(address)))
        }
        [b"source", b"port"] => stream.and_then(|stream| int(i64::from(stream.source_address.port()), out)),
        [b"destination", b"address"] => stream.and_then(|_| text(&env.proxy.listener_address.to_string(), out)),
        [b"destination", b"port"] => stream.and_then(|_| int(i64::from(env.proxy.listener_address.port()), out)),
        [b"upstream", b"address"] => stream
            .filter(|s| s.phase >= StreamPhase::ResponseHeaders)
            .and_then(|_| text(&env.proxy.upstream_address.to_string(), out)),
        [b"upstream", b"port"] => stream
            .filter(|s| s.phase >= StreamPhase::ResponseHeaders)
            .and_then(|_| int(i64::from(env.proxy.upstream_address.port()), out)),
        [b"connection", b"mtls"] => stream.map(|stream| out.push(u8::from(stream.peer_principal.is_some()))),
        [b"connection", b"uri_san_peer_certificate"] => {
            stream.and_then(|stream| stream.peer_principal.as_deref()).and_then(|principal| text(principal, out))
        }
        _ => None,
    };
    found.is_some()
}

fn node(state: &VmState, rest: &[&[u8]], out: &mut Vec<u8>) -> Option<()> {
    let node = &state.env.proxy.node;
    match rest {
        [b"id"] => text(&node.id, out),
        [b"cluster"] => text(&node.cluster, out),
        [b"metadata", key] => text(node.metadata.get(std::str::from_utf8(key).ok()?)?, out),
        _ => None,
    }
}

fn header(headers: &Headers, name: &[u8], out: &mut Vec<u8>) -> Option<()> {
    headers.get_bytes(name).map(|value| out.extend_from_slice(value))
}

fn request(stream: &StreamState, rest: &[&[u8]], out: &mut Vec<u8>) -> Option<()> {
    let headers = &stream.request_headers;
    match rest {
        [b"path"] => header(headers, b":path", out),
        [b"url_path"] => headers
            .get_bytes(b":path")
            .map(|path| out.extend_from_slice(path.split(|b| *b == b'?').next().unwrap_or_default())),
        [b"host"] => header(headers, b":authority", out),
        [b"scheme"] => header(headers, b":scheme", out),
        [b"method"] => header(headers, b":method", out),
        [b"headers", name] => header(headers, name, out),
        [b"referer"] => header(headers, b"referer", out),
        [b"useragent"] => header(headers, b"user-agent", out),
        [b"id"] => header(headers, b"x-request-id", out),
        [b"protocol"] => text("HTTP/1.1", out),
        [b"size"] => len_int(stream.request_body.len(), out),
        [b"total_size"] => len_int(stream.request_body.len() + headers.byte_size(), out),
        _ => None,
    }
}

fn response(stream: &StreamState, rest: &[&[u8]], out: &mut Vec<u8>) -> Option<()> {
    let headers = stream.response_headers.as_ref()?;
    match rest {
        [b"code"] => int(std::str::from_utf8(headers.get_bytes(b":status")?).ok()?.parse::<i64>().ok()?, out),
        [b"code_details"] => text(stream.response_code_details.as_deref().unwrap_or("via_upstream"), out),
        [b"headers", name] => header(headers, name, out),
        [b"trailers", name] => stream.response_trailers.as_ref().and_then(|trailers| header(trailers, name, out)),
        [b"size"] => len_int(stream.response_body.len(), out),
        [b"total_size"] => len_int(stream.response_body.len() + headers.byte_size(), out),
        _ => None,
    }
}
