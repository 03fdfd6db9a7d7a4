//! One HTTP stream: reads `:method`, `:path`, the hash header, `traceparent`, `x-request-id` and
//! `baggage`, asks the engine, and applies the decision. The metadata headers (hash status,
//! category, compliance, sampling decision and rule) are set on the request in every case, a
//! local reply included, because Envoy reads its span's custom tags from the request headers
//! when the span ends; then either a local 403 with the JSON body, or the request is forwarded
//! (with the injected hash, the rewritten `traceparent` and the new `baggage` where the decision
//! says so). The hash header is always set on the response. When the stream ends (`on_log`,
//! after local replies too) it records the request in the VM's telemetry buffer, with its span
//! when sampled.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::root::StreamShared;
use crate::decision::{RequestDecision, RequestView, Verdict};
use crate::operation::strip_query;
use crate::span::{request_record, Finished};
use crate::span_headers::{
    decision_value, BAGGAGE_HEADER, CATEGORY_HEADER, COMPLIANT_HEADER, HASH_STATUS_HEADER, REQUEST_ID_HEADER,
    SAMPLING_DECISION_HEADER, SAMPLING_RULE_HEADER, TRACEPARENT_HEADER,
};

pub(super) struct ConstitutionalStream {
    shared: Rc<StreamShared>,
    /// What `on_log` reports: when the request arrived, its method and path, the decision.
    seen: Option<Seen>,
}

struct Seen {
    start_nanos: u64,
    method: Vec<u8>,
    path: Vec<u8>,
    decision: RequestDecision,
}

impl ConstitutionalStream {
    pub(super) fn new(shared: Rc<StreamShared>) -> Self {
        Self { shared, seen: None }
    }

    /// The caller: its mTLS identity when there is one, else its IP address.
    fn peer(&self) -> String {
        if let Some(principal) = self.get_property(vec!["connection", "uri_san_peer_certificate"]) {
            return String::from_utf8_lossy(&principal).into_owned();
        }
        let address = self.get_property(vec!["source", "address"]).unwrap_or_default();
        let address = String::from_utf8_lossy(&address);
        match address.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.trim_matches(['[', ']']).to_owned(),
            _ => address.into_owned(),
        }
    }
}

impl Context for ConstitutionalStream {}

impl HttpContext for ConstitutionalStream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let config = &self.shared.config;
        let method = self.get_http_request_header_bytes(":method").unwrap_or_default();
        let path = self.get_http_request_header_bytes(":path").unwrap_or_default();
        let hash = self.get_http_request_header_bytes(&config.header);
        let traceparent = self.get_http_request_header_bytes(TRACEPARENT_HEADER);
        let request_id = self.get_http_request_header_bytes(REQUEST_ID_HEADER);
        let baggage = self.get_http_request_header_bytes(BAGGAGE_HEADER);
        let now = super::now_nanos(self);
        let view = RequestView {
            method: &method,
            path: &path,
            hash: hash.as_deref(),
            traceparent: traceparent.as_deref(),
            request_id: request_id.as_deref(),
            baggage: baggage.as_deref(),
        };
        let decision = self.shared.engine.borrow_mut().decide(&view, now);
        let path = strip_query(&path).to_vec();
        let rejected = matches!(decision.verdict, Verdict::Reject { .. });
        if let Some(stats) = &self.shared.stats {
            stats.count(decision.hash_status, rejected);
        }
        self.set_http_request_header(HASH_STATUS_HEADER, Some(decision.hash_status.as_str()));
        self.set_http_request_header(CATEGORY_HEADER, Some(decision.category.as_str()));
        self.set_http_request_header(COMPLIANT_HEADER, Some(decision.compliance.as_str()));
        self.set_http_request_header(SAMPLING_DECISION_HEADER, Some(decision_value(decision.sampled)));
        self.set_http_request_header(SAMPLING_RULE_HEADER, Some(&decision.rule));
        match &decision.verdict {
            Verdict::Reject { status, body } => {
                self.send_http_response(
                    u32::from(*status),
                    vec![
                        ("content-type", "application/json"),
                        (config.header.as_str(), config.constitutional_hash.as_str()),
                        (HASH_STATUS_HEADER, decision.hash_status.as_str()),
                    ],
                    Some(body),
                );
                self.seen = Some(Seen { start_nanos: now, method, path, decision });
                Action::Pause
            }
            Verdict::Forward => {
                if decision.inject_hash {
                    self.set_http_request_header(&config.header, Some(&config.constitutional_hash));
                }
                if let Some(traceparent) = &decision.traceparent_out {
                    self.set_http_request_header_bytes(TRACEPARENT_HEADER, Some(traceparent));
                }
                if let Some(baggage) = &decision.baggage_out {
                    self.set_http_request_header_bytes(BAGGAGE_HEADER, Some(baggage));
                }
                self.seen = Some(Seen { start_nanos: now, method, path, decision });
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let config = &self.shared.config;
        self.set_http_response_header(&config.header, Some(&config.constitutional_hash));
        Action::Continue
    }

    fn on_log(&mut self) {
        let Some(seen) = self.seen.take() else {
            return;
        };
        let end_nanos = super::now_nanos(self);
        let status = self
            .get_http_response_header_bytes(":status")
            .and_then(|s| std::str::from_utf8(&s).ok().and_then(|s| s.parse::<u16>().ok()));
        let sampled = seen.decision.sampled;
        let peer = if sampled || seen.decision.hash_status.is_violation() { self.peer() } else { String::new() };
        let (authority, user_agent) = if sampled {
            (self.get_http_request_header_bytes(":authority"), self.get_http_request_header_bytes("user-agent"))
        } else {
            (None, None)
        };
        let finished = Finished {
            decision: &seen.decision,
            service: &self.shared.service,
            constitutional_hash: &self.shared.config.constitutional_hash,
            method: &seen.method,
            path: &seen.path,
            status,
            authority: authority.as_deref(),
            user_agent: user_agent.as_deref(),
            start_nanos: seen.start_nanos,
            end_nanos,
            peer: &peer,
        };
        let mut span_buffer = self.shared.span_buffer.borrow_mut();
        self.shared.telemetry.borrow_mut().record(request_record(&finished, &mut span_buffer));
    }
}
