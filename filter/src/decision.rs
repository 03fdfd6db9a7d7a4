//! Steps 1–4 of the filter (DESIGN.md) for one request, as one decision: exempt paths, the hash
//! classification, the mode's verdict (forward or a local 403 with the JSON body), the category
//! and compliance level, the operation name, and the sampling decision with the `traceparent`
//! to forward. The glue applies it; nothing here touches the host.
//!
//! Sampling order: constitutional operations and violations are always sampled (without taking a
//! token from a rate limiter); otherwise an incoming valid `traceparent` decides (parent-based);
//! otherwise the current strategy decides for (service, operation). The filter's own span gets a
//! fresh span id, which becomes the parent id of the forwarded `traceparent`.

use std::rc::Rc;

use serde::Serialize;

use crate::category::{categorize, Category, Compliance, RequestFacts};
use crate::config::{FilterConfig, Mode};
use crate::hash::{classify, HashStatus};
use crate::operation::{strip_query, OperationNamer};
use crate::sampling::{Sampler, Strategy};
use crate::traceparent::{format, TraceParent, TRACEPARENT_LEN};

/// The request facts the decision needs, as raw header bytes.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub hash: Option<&'a [u8]>,
    pub traceparent: Option<&'a [u8]>,
}

/// Forward, or answer locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Reject { status: u16, body: Vec<u8> },
}

#[derive(Debug, Clone)]
pub struct RequestDecision {
    pub hash_status: HashStatus,
    pub category: Category,
    pub compliance: Compliance,
    pub operation: Rc<str>,
    pub sampled: bool,
    pub trace_id: [u8; 16],
    /// The filter's own span.
    pub span_id: [u8; 8],
    /// The incoming parent span, when a valid `traceparent` arrived.
    pub parent_span_id: Option<[u8; 8]>,
    /// The `traceparent` to forward (absent on a local reply).
    pub traceparent_out: Option<[u8; TRACEPARENT_LEN]>,
    /// Whether the configured hash must be added to the forwarded request (inject mode).
    pub inject_hash: bool,
    pub verdict: Verdict,
}

#[derive(Serialize)]
struct RejectionBody<'a> {
    error: &'static str,
    status: &'static str,
    expected_hash: &'a str,
}

/// The per-VM decision state: configuration, operation names, the sampler, an id generator.
#[derive(Debug)]
pub struct Engine {
    config: Rc<FilterConfig>,
    service: String,
    operations: OperationNamer,
    sampler: Sampler,
    ids: SplitMix64,
    missing_body: Vec<u8>,
    mismatch_body: Vec<u8>,
}

impl Engine {
    pub fn new(config: Rc<FilterConfig>, service: &str, seed: u64) -> Self {
        let body = |status: HashStatus| {
            let body = RejectionBody {
                error: "constitutional_hash_invalid",
                status: status.as_str(),
                expected_hash: &config.constitutional_hash,
            };
            serde_json::to_vec(&body).unwrap_or_default()
        };
        Self {
            missing_body: body(HashStatus::Missing),
            mismatch_body: body(HashStatus::Mismatch),
            operations: OperationNamer::new(&config.operations, config.max_operations),
            sampler: Sampler::new(config.fallback_strategy.clone()),
            ids: SplitMix64(seed),
            service: service.to_owned(),
            config,
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The strategy in force.
    pub fn strategy(&self) -> &Strategy {
        self.sampler.strategy()
    }

    /// Replaces the sampling strategy (from the control plane).
    pub fn apply_strategy(&mut self, strategy: Strategy) {
        self.sampler.apply(strategy);
    }

    pub fn decide(&mut self, request: &RequestView<'_>, now_nanos: u64) -> RequestDecision {
        let config = &self.config;
        let path = strip_query(request.path);
        let exempt = is_exempt(path, &config.exempt_paths);
        let operation = self.operations.name(request.method, request.path);
        let classified =
            if exempt { HashStatus::Exempt } else { classify(request.hash, config.constitutional_hash.as_bytes()) };
        let (hash_status, inject_hash) = match (classified, config.mode) {
            (HashStatus::Missing, Mode::Inject) => (HashStatus::Injected, true),
            (status, _) => (status, false),
        };
        let verdict = match (hash_status, config.mode) {
            (HashStatus::Missing, Mode::Strict) => Verdict::Reject { status: 403, body: self.missing_body.clone() },
            (HashStatus::Mismatch, Mode::Strict | Mode::Inject) => {
                Verdict::Reject { status: 403, body: self.mismatch_body.clone() }
            }
            _ => Verdict::Forward,
        };
        let facts = RequestFacts { exempt, service: &self.service, path, operation: &operation };
        let category = categorize(&facts, &config.constitutional);

        let incoming = request.traceparent.and_then(TraceParent::parse);
        let span_id = self.ids.span_id();
        let trace_id = incoming.map_or_else(|| self.ids.trace_id(), |parent| parent.trace_id);
        let forced = category == Category::Constitutional || hash_status.is_violation();
        let sampled = match incoming {
            _ if forced => true,
            Some(parent) => parent.sampled(),
            None => self.sampler.should_sample(&operation, &trace_id, now_nanos),
        };
        let traceparent_out = (verdict == Verdict::Forward).then(|| format(&trace_id, &span_id, sampled));
        RequestDecision {
            hash_status,
            category,
            compliance: Compliance::of(hash_status),
            operation,
            sampled,
            trace_id,
            span_id,
            parent_span_id: incoming.map(|parent| parent.parent_id),
            traceparent_out,
            inject_hash,
            verdict,
        }
    }
}

/// Exempt: the path equals an exempt path or lies below it (`/health/deep`), never a look-alike
/// (`/healthzz`).
pub fn is_exempt(path: &[u8], exempt_paths: &[String]) -> bool {
    exempt_paths.iter().any(|exempt| {
        let exempt = exempt.as_bytes();
        path.starts_with(exempt) && matches!(path.get(exempt.len()), None | Some(b'/'))
    })
}

/// Trace and span ids: SplitMix64 over a random seed (ids need uniqueness, not secrecy).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn non_zero(&mut self) -> u64 {
        loop {
            let value = self.next();
            if value != 0 {
                return value;
            }
        }
    }

    fn span_id(&mut self) -> [u8; 8] {
        self.non_zero().to_be_bytes()
    }

    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_be_bytes());
        id[8..].copy_from_slice(&self.non_zero().to_be_bytes());
        id
    }
}

#[cfg(test)]
mod tests;
