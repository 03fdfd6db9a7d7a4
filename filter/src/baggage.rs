//! How a trace's sampling decision travels from the hop where the trace entered the mesh to the
//! later hops: one member of the W3C `baggage` header (<https://www.w3.org/TR/baggage/>),
//! `acgs.sampling=<keep|drop>:<rule>`, the rule percent-encoded.
//!
//! Why baggage: Envoy decides and rewrites `traceparent` itself (docs/mesh.md), but leaves
//! `baggage` alone, and the OpenTelemetry SDKs' default propagators carry it from an app's
//! inbound request to its outbound calls. Members of other owners are kept as they came; only
//! our own member is replaced. Reading is strict: a member that is not `keep`/`drop` followed by a
//! printable rule is ignored (the hop then decides as an entry hop would), so a hostile header
//! can neither break the request nor smuggle bytes into the span tags.

/// The member's key.
pub const MEMBER_KEY: &str = "acgs.sampling";
use std::rc::Rc;

/// Longest `baggage` header the W3C limits allow; a longer result is not written.
pub const MAX_BAGGAGE_LEN: usize = 8_192;
/// Longest rule accepted from a member.
pub const MAX_RULE_LEN: usize = 512;

/// A decision read from an incoming `baggage` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagated {
    pub keep: bool,
    pub rule: String,
}

/// Our member of `baggage`, if there is a well-formed one (the first one counts).
pub fn find(baggage: &[u8]) -> Option<Propagated> {
    let value = baggage.split(|b| *b == b',').find_map(|member| {
        let (key, value) = split_once(member, b'=')?;
        (trim(key) == MEMBER_KEY.as_bytes()).then_some(value)
    })?;
    let value = trim(value.split(|b| *b == b';').next().unwrap_or_default());
    let decoded = percent_decode(value)?;
    let (decision, rule) = split_once(&decoded, b':')?;
    let keep = match decision {
        b"keep" => true,
        b"drop" => false,
        _ => return None,
    };
    let printable = rule.iter().all(|b| (0x20..0x7f).contains(b));
    if rule.is_empty() || rule.len() > MAX_RULE_LEN || !printable {
        return None;
    }
    Some(Propagated { keep, rule: String::from_utf8_lossy(rule).into_owned() })
}

/// The `baggage` header to forward: the incoming members without ours, then ours with the
/// decision; `None` when the result would exceed [`MAX_BAGGAGE_LEN`].
pub fn with_decision(incoming: Option<&[u8]>, keep: bool, rule: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(incoming.map_or(0, <[u8]>::len) + MEMBER_KEY.len() + rule.len() + 8);
    for member in incoming.unwrap_or_default().split(|b| *b == b',') {
        let key = split_once(member, b'=').map_or(member, |(key, _)| key);
        let member = trim(member);
        if member.is_empty() || trim(key) == MEMBER_KEY.as_bytes() {
            continue;
        }
        out.extend_from_slice(member);
        out.push(b',');
    }
    out.extend_from_slice(MEMBER_KEY.as_bytes());
    out.push(b'=');
    out.extend_from_slice(if keep { b"keep:" } else { b"drop:" });
    percent_encode(rule.as_bytes(), &mut out);
    (out.len() <= MAX_BAGGAGE_LEN).then_some(out)
}

/// [`with_decision`] for one VM, remembering the last header it wrote for a request without
/// `baggage`: an entry hop writes the same few headers (one per rule) over and over.
#[derive(Debug, Default)]
pub struct BaggageWriter {
    /// The decision and rule of the last header written without incoming members, and the header.
    last: Option<(bool, Rc<str>, Rc<[u8]>)>,
}

impl BaggageWriter {
    /// The `baggage` header to forward ([`with_decision`]).
    pub fn with_decision(&mut self, incoming: Option<&[u8]>, keep: bool, rule: &Rc<str>) -> Option<Rc<[u8]>> {
        if incoming.is_some() {
            return with_decision(incoming, keep, rule).map(Rc::from);
        }
        match &self.last {
            Some((last_keep, last_rule, header)) if *last_keep == keep && Rc::ptr_eq(last_rule, rule) => {
                Some(Rc::clone(header))
            }
            _ => {
                let header: Rc<[u8]> = with_decision(None, keep, rule)?.into();
                self.last = Some((keep, Rc::clone(rule), Rc::clone(&header)));
                Some(header)
            }
        }
    }
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Without the optional white space (spaces and tabs) around it.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// The W3C `baggage-octet` set, minus `%`, which always starts an escape.
fn is_plain(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x24 | 0x26..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Runs of plain bytes are copied whole (a rule is mostly plain: `constitutional@service`).
fn percent_encode(mut bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    while !bytes.is_empty() {
        let plain = bytes.iter().position(|b| !is_plain(*b)).unwrap_or(bytes.len());
        out.extend_from_slice(&bytes[..plain]);
        let Some((byte, rest)) = bytes[plain..].split_first() else { break };
        out.extend_from_slice(&[b'%', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]]);
        bytes = rest;
    }
}

fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let digit = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((first, tail)) = rest.split_first() {
        if *first == b'%' {
            let (high, low) = (digit(*tail.first()?)?, digit(*tail.get(1)?)?);
            out.push(high << 4 | low);
            rest = &tail[2..];
        } else {
            out.push(*first);
            rest = tail;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
