//! `proxy_http_call`: a callout to a named cluster, sent to the endpoint its load balancer picks
//! ([`crate::cluster`]); a cluster without endpoints answers the router's 503 "no healthy upstream";
//! the request runs on its own thread (Envoy's async client runs on the worker's event loop)
//! and its result comes back to the VM that made it, which delivers it as
//! `proxy_on_http_call_response` the next time the worker runs events. A failure (refused,
//! reset, timeout) is delivered as Envoy delivers it: a response with no headers, body or
//! trailers. The VM's gRPC callouts ([`crate::grpc`]) report on the same channel, so a worker
//! waiting for events wakes for either. Tokens are numbered as Envoy's `WasmBase` numbers HTTP
//! calls (`nextHttpCallId`: 4, 8, 12, …; include/proxy-wasm/wasm.h in proxy-wasm-cpp-host).

use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::grpc::{GrpcCallouts, GrpcEvent};
use crate::headers::{Headers, HttpResponse};

/// Largest callout response body the host reads (Envoy's async client buffers the whole body).
const MAX_RESPONSE_BODY: u64 = 16 * 1024 * 1024;

/// A validated callout request.
#[derive(Debug)]
pub(crate) struct CalloutRequest {
    /// `None`: the cluster has no endpoint.
    pub(crate) endpoint: Option<SocketAddr>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authority: String,
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Duration,
}

/// `kCalloutIncrement`: HTTP call tokens are multiples of 4.
const HTTP_TOKEN_INCREMENT: u32 = 4;

/// What came back for one token: `None` when the call failed.
#[derive(Debug)]
pub(crate) struct CalloutResult {
    pub(crate) token: u32,
    pub(crate) response: Option<HttpResponse>,
}

/// Something a callout of the VM reports.
#[derive(Debug)]
pub(crate) enum CalloutEvent {
    Http(CalloutResult),
    Grpc(GrpcEvent),
}

/// The callouts of one VM.
#[derive(Debug)]
pub(crate) struct Callouts {
    next_token: u32,
    in_flight: usize,
    sender: Sender<CalloutEvent>,
    receiver: Receiver<CalloutEvent>,
    /// The VM's gRPC calls and streams.
    pub(crate) grpc: GrpcCallouts,
}

impl Default for Callouts {
    fn default() -> Self {
        let (sender, receiver) = channel();
        let grpc = GrpcCallouts::new(sender.clone());
        Self { next_token: 0, in_flight: 0, sender, receiver, grpc }
    }
}

impl Callouts {
    /// Starts `request` and returns its token.
    pub(crate) fn dispatch(&mut self, request: CalloutRequest) -> u32 {
        self.next_token = self.next_token.wrapping_add(HTTP_TOKEN_INCREMENT).max(HTTP_TOKEN_INCREMENT);
        let token = self.next_token;
        self.in_flight += 1;
        let sender = self.sender.clone();
        let spawned = std::thread::Builder::new().name(format!("wasm-callout-{token}")).spawn(move || {
            let response = perform(&request)
                .map_err(|error| {
                    tracing::debug!(token, endpoint = ?request.endpoint, path = %request.path, "callout failed: {error}");
                })
                .ok();
            // The VM may be gone; then nobody waits for the answer.
            let _ = sender.send(CalloutEvent::Http(CalloutResult { token, response }));
        });
        if let Err(error) = spawned {
            tracing::warn!(token, "could not start the callout thread: {error}");
            let _ = self.sender.send(CalloutEvent::Http(CalloutResult { token, response: None }));
        }
        token
    }

    /// HTTP callouts whose response has not been delivered, and gRPC calls and streams still open.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight + self.grpc.in_flight()
    }

    /// An event that has arrived, waiting at most until `deadline` (not at all when `None`).
    pub(crate) fn next_event(&mut self, deadline: Option<Instant>) -> Option<CalloutEvent> {
        let received = match deadline {
            None => self.receiver.try_recv().ok(),
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                self.receiver.recv_timeout(wait).ok()
            }
        };
        if let Some(CalloutEvent::Http(_)) = received {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        received
    }
}

fn perform(request: &CalloutRequest) -> Result<HttpResponse, ureq::Error> {
    let Some(endpoint) = request.endpoint else {
        let mut headers = Headers::new();
        headers.push("content-type", "text/plain");
        let body = crate::grpc::NO_HEALTHY_UPSTREAM.as_bytes().to_vec();
        return Ok(HttpResponse { status: 503, headers, body, trailers: Headers::new() });
    };
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(request.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(format!("http://{endpoint}{}", request.path))
        .header("host", request.authority.as_str());
    for (name, value) in request.headers.iter() {
        if !name.starts_with(b":") && name != b"host" {
            builder = builder.header(name, value);
        }
    }
    let mut response = if request.body.is_empty() {
        agent.run(builder.body(())?)?
    } else {
        agent.run(builder.body(request.body.clone())?)?
    };
    let status = response.status().as_u16();
    let headers = Headers::from_pairs(response.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes())));
    let body = response.body_mut().with_config().limit(MAX_RESPONSE_BODY).read_to_vec()?;
    Ok(HttpResponse { status, headers, body, trailers: Headers::new() })
}
