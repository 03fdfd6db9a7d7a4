//! Simulated client traffic: what the demo sends through the sidecars. Deterministic for a given
//! seed, so a run can be repeated; the mix of valid, missing and forged hashes is explicit so the
//! demo can check the filter's decisions against what it sent.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use acgs_wasm_host::{Headers, HttpRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::seed::{SeedService, CONSTITUTIONAL_HASH, HASH_HEADER, SEED_SERVICES};

/// What a simulated client put in a request's hash header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashPresented {
    /// The right hash.
    Valid,
    /// No header at all.
    Missing,
    /// A header with another value.
    Forged,
    /// A health probe: no header, on an exempt path.
    Probe,
}

/// Shares of the request mix (the rest carry the valid hash).
#[derive(Debug, Clone, Copy)]
pub struct TrafficMix {
    /// Share of requests without the header.
    pub missing: f64,
    /// Share of requests with a forged header.
    pub forged: f64,
    /// Share of requests that carry an incoming W3C traceparent, flagged sampled as a calling
    /// sidecar's Envoy sends it when it records every hop.
    pub with_traceparent: f64,
}

impl Default for TrafficMix {
    fn default() -> Self {
        Self { missing: 0.04, forged: 0.03, with_traceparent: 0.3 }
    }
}

/// One request the simulated clients will send.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Index into [`SEED_SERVICES`] of the service it is sent to.
    pub service: usize,
    /// What the client put in the hash header.
    pub presented: HashPresented,
    /// The request itself.
    pub request: HttpRequest,
}

/// Generates requests over the seed services: health-check gets probes on exempt paths, the others
/// get API calls with the mix's share of missing and forged hashes.
#[derive(Debug)]
pub struct TrafficGenerator {
    rng: StdRng,
    mix: TrafficMix,
}

impl TrafficGenerator {
    /// A generator with a fixed seed (same seed, same requests).
    pub fn new(seed: u64, mix: TrafficMix) -> Self {
        Self { rng: StdRng::seed_from_u64(seed), mix }
    }

    /// The next request, to a service drawn uniformly from the seed services.
    pub fn next_request(&mut self) -> PlannedRequest {
        let service = self.rng.random_range(0..SEED_SERVICES.len());
        self.request_to(service)
    }

    /// The next request to the seed service at index `service`.
    pub fn request_to(&mut self, service: usize) -> PlannedRequest {
        let seed = &SEED_SERVICES[service % SEED_SERVICES.len()];
        let path = seed.example_paths[self.rng.random_range(0..seed.example_paths.len())];
        let presented = if is_probe_service(seed) {
            HashPresented::Probe
        } else {
            let roll: f64 = self.rng.random();
            if roll < self.mix.missing {
                HashPresented::Missing
            } else if roll < self.mix.missing + self.mix.forged {
                HashPresented::Forged
            } else {
                HashPresented::Valid
            }
        };
        let method = if path.ends_with("validate") || path.ends_with("token") { "POST" } else { "GET" };
        let mut headers = Headers::new();
        headers.push(":method", method);
        headers.push(":path", path);
        headers.push(":authority", format!("{}.default.svc.cluster.local:8080", seed.name));
        headers.push(":scheme", "http");
        headers.push("user-agent", "acgs-demo-client/1.0");
        match presented {
            HashPresented::Valid => headers.push(HASH_HEADER, CONSTITUTIONAL_HASH),
            HashPresented::Forged => headers.push(HASH_HEADER, format!("{:016x}", self.rng.random::<u64>())),
            HashPresented::Missing | HashPresented::Probe => {}
        }
        if presented != HashPresented::Probe && self.rng.random::<f64>() < self.mix.with_traceparent {
            headers.push(
                "traceparent",
                format!("00-{:032x}-{:016x}-01", self.rng.random::<u128>() | 1, self.rng.random::<u64>() | 1),
            );
        }
        let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 3, self.rng.random_range(2..250))), 43_000);
        PlannedRequest {
            service,
            presented,
            request: HttpRequest {
                headers,
                body: Vec::new(),
                trailers: Headers::new(),
                source_address: client,
                peer_principal: Some("spiffe://cluster.local/ns/default/sa/acgs-client".to_owned()),
            },
        }
    }
}

/// Health-check is probed on exempt paths only (kubelet probes carry no hash).
fn is_probe_service(service: &SeedService) -> bool {
    service.example_paths.iter().all(|path| path.starts_with("/health") || path.starts_with("/ready"))
}
