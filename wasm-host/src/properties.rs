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

fn int(value: i64) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

fn text(value: &str) -> Vec<u8> {
    value.as_bytes().to_vec()
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

/// The value at `path` (segments separated by NUL bytes, as the SDK serialises them).
pub(crate) fn resolve(state: &mut VmState, raw_path: &[u8]) -> Option<Vec<u8>> {
    let effective = state.effective_context;
    let stream = state.stream.as_ref().filter(|stream| stream.context_id == effective);
    if let Some(value) = stream.filter(|s| !s.properties.is_empty()).and_then(|s| s.properties.get(raw_path)) {
        return Some(value.clone());
    }
    if let Some(value) = Some(&state.root_properties).filter(|p| !p.is_empty()).and_then(|p| p.get(raw_path)) {
        return Some(value.clone());
    }
    // Paths are short: split into a fixed array rather than allocating on every call.
    let mut parts = [""; MAX_SEGMENTS];
    let mut count = 0;
    for segment in raw_path.split(|byte| *byte == 0) {
        *parts.get_mut(count)? = std::str::from_utf8(segment).ok()?;
        count += 1;
    }
    let segments = &parts[..count];
    let env = &state.env;
    match segments {
        ["plugin_name"] => Some(text(&env.plugin.name)),
        ["plugin_root_id"] => Some(text(&env.plugin.root_id)),
        ["plugin_vm_id"] => Some(text(&env.plugin.vm_id)),
        ["xds", "node", rest @ ..] | ["node", rest @ ..] => node(state, rest),
        ["xds", "cluster_name"] => Some(text(&env.proxy.node.cluster)),
        ["request", rest @ ..] => stream.and_then(|stream| request(stream, rest)),
        ["response", rest @ ..] => stream.and_then(|stream| response(stream, rest)),
        ["source", "address"] => {
            let address = stream?.source_address;
            Some(state.address_text.of(address).to_vec())
        }
        ["source", "port"] => stream.map(|stream| int(i64::from(stream.source_address.port()))),
        ["destination", "address"] => stream.map(|_| text(&env.proxy.listener_address.to_string())),
        ["destination", "port"] => stream.map(|_| int(i64::from(env.proxy.listener_address.port()))),
        ["upstream", "address"] => stream
            .filter(|s| s.phase >= StreamPhase::ResponseHeaders)
            .map(|_| text(&env.proxy.upstream_address.to_string())),
        ["upstream", "port"] => stream
            .filter(|s| s.phase >= StreamPhase::ResponseHeaders)
            .map(|_| int(i64::from(env.proxy.upstream_address.port()))),
        ["connection", "mtls"] => stream.map(|stream| vec![u8::from(stream.peer_principal.is_some())]),
        ["connection", "uri_san_peer_certificate"] => {
            stream.and_then(|stream| stream.peer_principal.as_deref().map(text))
        }
        _ => None,
    }
}

fn node(state: &VmState, rest: &[&str]) -> Option<Vec<u8>> {
    let node = &state.env.proxy.node;
    match rest {
        ["id"] => Some(text(&node.id)),
        ["cluster"] => Some(text(&node.cluster)),
        ["metadata", key] => node.metadata.get(*key).map(|value| text(value)),
        _ => None,
    }
}

fn header(headers: &Headers, name: &str) -> Option<Vec<u8>> {
    headers.get(name).map(<[u8]>::to_vec)
}

fn request(stream: &StreamState, rest: &[&str]) -> Option<Vec<u8>> {
    let headers = &stream.request_headers;
    match rest {
        ["path"] => header(headers, ":path"),
        ["url_path"] => headers.get(":path").map(|path| path.split(|b| *b == b'?').next().unwrap_or_default().to_vec()),
        ["host"] => header(headers, ":authority"),
        ["scheme"] => header(headers, ":scheme"),
        ["method"] => header(headers, ":method"),
        ["headers", name] => header(headers, name),
        ["referer"] => header(headers, "referer"),
        ["useragent"] => header(headers, "user-agent"),
        ["id"] => header(headers, "x-request-id"),
        ["protocol"] => Some(text("HTTP/1.1")),
        ["size"] => Some(int(i64::try_from(stream.request_body.len()).unwrap_or(i64::MAX))),
        ["total_size"] => Some(int(i64::try_from(stream.request_body.len() + headers.byte_size()).unwrap_or(i64::MAX))),
        _ => None,
    }
}

fn response(stream: &StreamState, rest: &[&str]) -> Option<Vec<u8>> {
    let headers = stream.response_headers.as_ref()?;
    match rest {
        ["code"] => headers
            .get(":status")
            .and_then(|status| std::str::from_utf8(status).ok())
            .and_then(|status| status.parse::<i64>().ok())
            .map(int),
        ["code_details"] => Some(text(stream.response_code_details.as_deref().unwrap_or("via_upstream"))),
        ["headers", name] => header(headers, name),
        ["trailers", name] => stream.response_trailers.as_ref().and_then(|trailers| header(trailers, name)),
        ["size"] => Some(int(i64::try_from(stream.response_body.len()).unwrap_or(i64::MAX))),
        ["total_size"] => {
            Some(int(i64::try_from(stream.response_body.len() + headers.byte_size()).unwrap_or(i64::MAX)))
        }
        _ => None,
    }
}
