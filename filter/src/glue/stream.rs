//! One HTTP stream: reads `:method`, `:path`, the hash header and `traceparent`, asks the engine,
//! and applies the decision — a local 403 with the JSON body, or the metadata headers (and the
//! injected hash and rewritten traceparent where the decision says so) on the forwarded request.
//! The hash header is always set on the response.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::root::StreamShared;
use crate::decision::{RequestView, Verdict};
use crate::span_headers::{CATEGORY_HEADER, COMPLIANT_HEADER, HASH_STATUS_HEADER, TRACEPARENT_HEADER};

pub(super) struct ConstitutionalStream {
    shared: Rc<StreamShared>,
}

impl ConstitutionalStream {
    pub(super) fn new(shared: Rc<StreamShared>) -> Self {
        Self { shared }
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
        let now = super::now_nanos(self);
        let view = RequestView {
            method: &method,
            path: &path,
            hash: hash.as_deref(),
            traceparent: traceparent.as_deref(),
        };
        let decision = self.shared.engine.borrow_mut().decide(&view, now);
        let rejected = matches!(decision.verdict, Verdict::Reject { .. });
        if let Some(stats) = &self.shared.stats {
            stats.count(decision.hash_status, rejected);
        }
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
                Action::Pause
            }
            Verdict::Forward => {
                if decision.inject_hash {
                    self.set_http_request_header(&config.header, Some(&config.constitutional_hash));
                }
                self.set_http_request_header(HASH_STATUS_HEADER, Some(decision.hash_status.as_str()));
                self.set_http_request_header(CATEGORY_HEADER, Some(decision.category.as_str()));
                self.set_http_request_header(COMPLIANT_HEADER, Some(decision.compliance.as_str()));
                if let Some(traceparent) = &decision.traceparent_out {
                    self.set_http_request_header_bytes(TRACEPARENT_HEADER, Some(traceparent));
                }
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let config = &self.shared.config;
        self.set_http_response_header(&config.header, Some(&config.constitutional_hash));
        Action::Continue
    }
}
