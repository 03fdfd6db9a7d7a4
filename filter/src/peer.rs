//! The caller's address as a span names it: the host part of what Envoy reports as
//! `source.address` (`10.0.3.7:43000`, `[::1]:5000`), which is the same for every connection a
//! client opens, where the port is not.

/// `host:port` or `[v6]:port` without the port and brackets; anything else (a Unix socket's
/// path, an IPv6 address without a port, an address without a port) as it is.
pub fn address_host(address: &[u8]) -> &[u8] {
    let Some(colon) = address.iter().rposition(|b| *b == b':') else {
        return address;
    };
    let (host, port) = (&address[..colon], &address[colon + 1..]);
    if port.is_empty() || !port.iter().all(u8::is_ascii_digit) {
        return address;
    }
    match host.strip_prefix(b"[").and_then(|host| host.strip_suffix(b"]")) {
        Some(v6) => v6,
        None if host.contains(&b':') => address,
        None => host,
    }
}

#[cfg(test)]
mod tests;
