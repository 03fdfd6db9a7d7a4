//! One HTTP stream: reads the request headers in one host call (`:method`, `:path`, the hash
//! header, `traceparent`, `x-request-id` and `baggage` are looked up in place), asks the engine,
//! and applies the decision. The metadata headers (hash status, category, compliance, sampling
//! decision and rule) are set on the request in every case, a local reply included, because
//! Envoy reads its span's custom tags from the request headers when the span ends; then either a
//! local 403 with the JSON body, or the request is forwarded (with the injected hash, the
//! rewritten `traceparent` and the new `baggage` where the decision says so). The hash header is
//! always set on the response. When the stream ends (`on_log`, after local replies too) it
//! records the request in the VM's telemetry buffer, with its span when sampled.

use std::rc::Rc;

use super::exports::{CONTINUE, PAUSE};
use super::host::{self, Headers};
use super::root::StreamShared;
use crate::decision::{RequestDecision, RequestView, Verdict};
use crate::header_map::{HeaderNames, Selected};
use crate::peer::address_host;
use crate::span::Finished;
use crate::span_headers::{
    decision_value, BAGGAGE_HEADER, CATEGORY_HEADER, COMPLIANT_HEADER, HASH_STATUS_HEADER, REQUEST_ID_HEADER,
    SAMPLING_DECISION_HEADER, SAMPLING_RULE_HEADER, TRACEPARENT_HEADER,
};
use crate::span_wire::text;

pub(super) struct ConstitutionalStream {
    shared: Rc<StreamShared>,
    /// What `on_log` reports: when the request arrived, its headers, the decision.
    seen: Option<Seen>,
}

struct Seen {
    start_nanos: u64,
    /// The request headers the filter reads, as they arrived, kept for a sampled request only
    /// (method, path, authority and user agent are written into its span): an unsampled stream
    /// holds no copy of its headers while it is in flight.
    headers: Option<Selected<{ RequestHeader::COUNT }>>,
    decision: RequestDecision,
}

/// The request headers the filter reads, by their place in [`request_header_names`].
pub(super) enum RequestHeader {
    Method,
    Path,
    Hash,
    TraceParent,
    RequestId,
    Baggage,
    Authority,
    UserAgent,
}

impl RequestHeader {
    pub(super) const COUNT: usize = 8;
}

/// The names of the request headers the filter reads, in [`RequestHeader`]'s order, with the
/// configured hash header among them (built once per configuration).
pub(super) fn request_header_names(hash_header: &str) -> HeaderNames<{ RequestHeader::COUNT }> {
    HeaderNames::new([
        b":method",
        b":path",
        hash_header.as_bytes(),
        TRACEPARENT_HEADER.as_bytes(),
        REQUEST_ID_HEADER.as_bytes(),
        BAGGAGE_HEADER.as_bytes(),
        b":authority",
        b"user-agent",
    ])
}

/// `connection.uri_san_peer_certificate` and `source.address`, in the ABI's path form.
const PEER_PRINCIPAL: &[u8] = b"connection\0uri_san_peer_certificate";
const SOURCE_ADDRESS: &[u8] = b"source\0address";

/// Writes the caller's name into `name` as span text: its mTLS identity when there is one, else
/// its address without the port (`10.0.3.7`, `::1`). Both are read where the host returned them
/// ([`host::read_property`]) and `name` is the VM's, reused: no allocation per request.
fn write_caller_name(name: &mut Vec<u8>) {
    name.clear();
    let mut identified = false;
    host::read_property(PEER_PRINCIPAL, &mut |principal| {
        if let Some(principal) = principal {
            name.extend_from_slice(&text(principal));
            identified = true;
        }
    });
    if !identified {
        host::read_property(SOURCE_ADDRESS, &mut |address| {
            name.extend_from_slice(&text(address_host(address.unwrap_or_default())));
        });
    }
}

/// The request headers a sampled request keeps for its span; an unsampled request's buffer is
/// handed back at once.
fn kept_for_span(
    sampled: bool,
    headers: Selected<{ RequestHeader::COUNT }>,
) -> Option<Selected<{ RequestHeader::COUNT }>> {
    if sampled {
        return Some(headers);
    }
    host::release_header_map(headers.into_map());
    None
}

impl ConstitutionalStream {
    pub(super) fn new(shared: Rc<StreamShared>) -> Self {
        Self { shared, seen: None }
    }
}

impl ConstitutionalStream {
    /// Decides, sets the metadata headers, and forwards the request (`Continue`) or answers it
    /// locally (`Pause`).
    pub(super) fn on_request_headers(&mut self) -> u32 {
        let config = &self.shared.config;
        let headers = host::header_map(Headers::Request).select(&self.shared.request_headers);
        let now = host::now_nanos();
        let view = RequestView {
            method: headers.get(RequestHeader::Method as usize).unwrap_or_default(),
            path: headers.get(RequestHeader::Path as usize).unwrap_or_default(),
            hash: headers.get(RequestHeader::Hash as usize),
            traceparent: headers.get(RequestHeader::TraceParent as usize),
            request_id: headers.get(RequestHeader::RequestId as usize),
            baggage: headers.get(RequestHeader::Baggage as usize),
        };
        let decision = self.shared.engine.borrow_mut().decide(&view, now);
        let rejected = matches!(decision.verdict, Verdict::Reject { .. });
        if let Some(stats) = &self.shared.stats {
            stats.count(decision.hash_status, rejected);
        }
        let request = Headers::Request;
        host::set_header(request, HASH_STATUS_HEADER, decision.hash_status.as_str().as_bytes());
        host::set_header(request, CATEGORY_HEADER, decision.category.as_str().as_bytes());
        host::set_header(request, COMPLIANT_HEADER, decision.compliance.as_str().as_bytes());
        host::set_header(request, SAMPLING_DECISION_HEADER, decision_value(decision.sampled).as_bytes());
        host::set_header(request, SAMPLING_RULE_HEADER, decision.rule.as_bytes());
        match &decision.verdict {
            Verdict::Reject { status, body } => {
                host::send_local_response(
                    u32::from(*status),
                    &[
                        ("content-type", b"application/json"),
                        (config.header.as_str(), config.constitutional_hash.as_bytes()),
                        (HASH_STATUS_HEADER, decision.hash_status.as_str().as_bytes()),
                    ],
                    body,
                );
                self.seen =
                    Some(Seen { start_nanos: now, headers: kept_for_span(decision.sampled, headers), decision });
                PAUSE
            }
            Verdict::Forward => {
                if decision.inject_hash {
                    host::set_header(request, &config.header, config.constitutional_hash.as_bytes());
                }
                if let Some(traceparent) = &decision.traceparent_out {
                    host::set_header(request, TRACEPARENT_HEADER, traceparent);
                }
                if let Some(baggage) = &decision.baggage_out {
                    host::set_header(request, BAGGAGE_HEADER, baggage);
                }
                self.seen =
                    Some(Seen { start_nanos: now, headers: kept_for_span(decision.sampled, headers), decision });
                CONTINUE
            }
        }
    }

    /// Sets the hash header on the response.
    pub(super) fn on_response_headers(&mut self) -> u32 {
        let config = &self.shared.config;
        host::set_header(Headers::Response, &config.header, config.constitutional_hash.as_bytes());
        CONTINUE
    }

    /// Records the finished request in the VM's telemetry (after a local reply too).
    pub(super) fn on_log(&mut self) {
        let Some(seen) = self.seen.take() else {
            return;
        };
        let end_nanos = host::now_nanos();
        let mut status = None;
        host::read_header(Headers::Response, ":status", &mut |value| {
            status = value.and_then(|value| std::str::from_utf8(value).ok()?.parse::<u16>().ok());
        });
        let mut peer = self.shared.caller.borrow_mut();
        if seen.decision.sampled || seen.decision.hash_status.is_violation() {
            write_caller_name(&mut peer);
        } else {
            peer.clear();
        }
        let header = |name: RequestHeader| seen.headers.as_ref().and_then(|headers| headers.get(name as usize));
        let finished = Finished {
            decision: &seen.decision,
            status,
            authority: header(RequestHeader::Authority),
            user_agent: header(RequestHeader::UserAgent),
            start_nanos: seen.start_nanos,
            end_nanos,
            peer: &peer,
        };
        let mut spans = self.shared.spans.borrow_mut();
        self.shared.telemetry.borrow_mut().record(spans.request_record(&finished));
        if let Some(headers) = seen.headers {
            host::release_header_map(headers.into_map());
        }
    }
}
