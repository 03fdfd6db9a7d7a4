//! Steps 1–4 of the filter (docs/contracts.md) for one request, as one decision: exempt paths, the hash
//! classification, the mode's verdict (forward or a local 403 with the JSON body), the category
//! and compliance level, the operation name, and the sampling decision with the rule that made
//! it and how it travels on. The glue applies it; nothing here touches the host.
//!
//! Sampling (docs/mesh.md): a trace's fate is decided once, where it enters the mesh, and
//! travels in `baggage` ([`crate::baggage`]); a later hop takes it from there. Violations and
//! constitutional operations force `keep` at their hop (without taking a token from a rate
//! limiter), and what they force travels on. Without a propagated decision the hop decides as
//! the entry: with [`Tracer::None`] an incoming `traceparent`'s sampled flag decides (the
//! upstream filter wrote it); otherwise the current strategy for (service, operation), drawn
//! from Envoy's own `x-request-id` coin ([`crate::request_id`]). With [`Tracer::None`] the
//! filter's own span gets a fresh span id, which becomes the parent id of the forwarded
//! `traceparent`; with [`Tracer::Envoy`] `traceparent` is Envoy's and left alone.

use std::rc::Rc;

use crate::baggage::{self, BaggageWriter};
use crate::category::{categorize, Category, Compliance, RequestFacts};
use crate::config::{FilterConfig, Mode, Tracer};
use crate::hash::{classify, HashStatus};
use crate::json::Json;
use crate::operation::{strip_query, Operation, OperationNamer};
use crate::request_id::envoy_draw;
use crate::route::{Route, RouteCache};
use crate::sampling::{Sampled, Sampler, SamplingKey, Strategy};
use crate::span_wire::route_fields;
use crate::traceparent::{format, TraceParent, TRACEPARENT_LEN};

/// The request facts the decision needs, as raw header bytes.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub hash: Option<&'a [u8]>,
    pub traceparent: Option<&'a [u8]>,
    /// `x-request-id`, whose first digits are Envoy's sampling coin.
    pub request_id: Option<&'a [u8]>,
    pub baggage: Option<&'a [u8]>,
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
    pub operation: Operation,
    /// The span's fields the method and path decide, encoded ([`crate::span_wire::route_fields`]).
    pub span_fields: Rc<[u8]>,
    /// This hop's sampling decision (`acgs.sampling.decision`: keep or drop).
    pub sampled: bool,
    /// The rule that made it (`acgs.sampling.rule`).
    pub rule: Rc<str>,
    pub trace_id: [u8; 16],
    /// The filter's own span.
    pub span_id: [u8; 8],
    /// The incoming parent span, when a valid `traceparent` arrived.
    pub parent_span_id: Option<[u8; 8]>,
    /// The `traceparent` to forward ([`Tracer::None`] only; absent on a local reply).
    pub traceparent_out: Option<[u8; TRACEPARENT_LEN]>,
    /// The `baggage` to forward when the decision it carries changes here (absent on a local
    /// reply, and when the header would outgrow the W3C limit).
    pub baggage_out: Option<Rc<[u8]>>,
    /// Whether the configured hash must be added to the forwarded request (inject mode).
    pub inject_hash: bool,
    pub verdict: Verdict,
}

/// The per-VM decision state: configuration, operation names, the sampler, an id generator.
#[derive(Debug)]
pub struct Engine {
    config: Rc<FilterConfig>,
    service: String,
    operations: OperationNamer,
    routes: RouteCache,
    sampler: Sampler,
    baggage: BaggageWriter,
    ids: SplitMix64,
    missing_body: Vec<u8>,
    mismatch_body: Vec<u8>,
    rules: ForcedRules,
}

/// The rules of forced and parent-based decisions, named once per VM.
#[derive(Debug)]
struct ForcedRules {
    missing: Rc<str>,
    mismatch: Rc<str>,
    constitutional: Rc<str>,
    parent_sampled: Rc<str>,
    parent_unsampled: Rc<str>,
}

impl ForcedRules {
    fn new(service: &str) -> Self {
        Self {
            missing: format!("violation(missing)@{service}").into(),
            mismatch: format!("violation(mismatch)@{service}").into(),
            constitutional: format!("constitutional@{service}").into(),
            parent_sampled: "traceparent(sampled)".into(),
            parent_unsampled: "traceparent(unsampled)".into(),
        }
    }
}

impl Engine {
    pub fn new(config: Rc<FilterConfig>, service: &str, seed: u64) -> Self {
        let body = |status: HashStatus| {
            let member = |key: &str, value: &str| (key.to_owned(), Json::String(value.to_owned()));
            let body = Json::Object(vec![
                member("error", "constitutional_hash_invalid"),
                member("status", status.as_str()),
                member("expected_hash", &config.constitutional_hash),
            ]);
            body.to_string().into_bytes()
        };
        Self {
            missing_body: body(HashStatus::Missing),
            mismatch_body: body(HashStatus::Mismatch),
            operations: OperationNamer::new(&config.operations, config.max_operations),
            routes: RouteCache::new(seed.rotate_left(32)),
            baggage: BaggageWriter::default(),
            sampler: Sampler::new(config.fallback_strategy.clone(), Rc::from(service)),
            ids: SplitMix64(seed),
            rules: ForcedRules::new(service),
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
        let (operations, service) = (&mut self.operations, self.service.as_str());
        let Route { operation, exempt, category, span_fields } = self.routes.route(request.method, path, || {
            let exempt = is_exempt(path, &config.exempt_paths);
            let operation = operations.name(request.method, path);
            let facts = RequestFacts { exempt, service, path, operation: operation.as_str() };
            let category = categorize(&facts, &config.constitutional);
            let span_fields = route_fields(operation.as_str(), category, request.method, path);
            Route { operation, exempt, category, span_fields }
        });
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

        let incoming = request.traceparent.and_then(TraceParent::parse);
        let propagated = request.baggage.and_then(baggage::find);
        let span_id = self.ids.span_id();
        let trace_id = incoming.map_or_else(|| self.ids.trace_id(), |parent| parent.trace_id);
        let rules = &self.rules;
        let forced = match hash_status {
            HashStatus::Missing => Some(&rules.missing),
            HashStatus::Mismatch => Some(&rules.mismatch),
            _ if category == Category::Constitutional => Some(&rules.constitutional),
            _ => None,
        };
        let hop = match (forced, &propagated, incoming) {
            (Some(rule), ..) => Sampled { keep: true, rule: Rc::clone(rule) },
            (None, Some(propagated), _) => Sampled { keep: propagated.keep, rule: Rc::from(propagated.rule.as_str()) },
            (None, None, Some(parent)) if config.tracer == Tracer::None => {
                let rule = if parent.sampled() { &rules.parent_sampled } else { &rules.parent_unsampled };
                Sampled { keep: parent.sampled(), rule: Rc::clone(rule) }
            }
            (None, None, _) => {
                let key = request
                    .request_id
                    .and_then(envoy_draw)
                    .map_or(SamplingKey::TraceId(trace_id), SamplingKey::RequestId);
                self.sampler.should_sample(&operation, &key, now_nanos)
            }
        };
        let forwarded = verdict == Verdict::Forward;
        let traceparent_out =
            (forwarded && config.tracer == Tracer::None).then(|| format(&trace_id, &span_id, hop.keep));
        let unchanged = propagated.is_some_and(|p| p.keep == hop.keep && *p.rule == *hop.rule);
        let baggage_out = if forwarded && !unchanged {
            self.baggage.with_decision(request.baggage, hop.keep, &hop.rule)
        } else {
            None
        };
        RequestDecision {
            hash_status,
            category,
            compliance: Compliance::of(hash_status),
            operation,
            span_fields,
            sampled: hop.keep,
            rule: hop.rule,
            trace_id,
            span_id,
            parent_span_id: incoming.map(|parent| parent.parent_id),
            traceparent_out,
            baggage_out,
            inject_hash,
            verdict,
        }
    }
}

/// Exempt: the path equals an exempt path or lies plainly below it (`/health/deep`), never a
/// look-alike (`/healthzz`) and never a path that could resolve elsewhere once an application
/// normalises it (`/healthz/../admin`, `/healthz/..%2Fadmin`, `/healthz\..`): Istio's default
/// path normalisation (BASE: Envoy's `normalize_path`) resolves dot segments before the filter
/// runs, but not `%2F` or `%5C`, and a mesh set to `NONE` resolves nothing.
pub fn is_exempt(path: &[u8], exempt_paths: &[String]) -> bool {
    exempt_paths.iter().any(|exempt| {
        let exempt = exempt.as_bytes();
        path.starts_with(exempt)
            && match path.get(exempt.len()..) {
                Some([]) => true,
                Some(below @ [b'/', ..]) => is_plain(below),
                _ => false,
            }
    })
}

/// No dot segment, no backslash, and no percent-encoded dot, slash or backslash.
fn is_plain(below: &[u8]) -> bool {
    let dot_segment = below.split(|b| *b == b'/').any(|segment| segment == b"." || segment == b"..");
    let encoded = below.windows(3).any(|w| {
        w[0] == b'%' && matches!([w[1], w[2].to_ascii_lowercase()], [b'2', b'e'] | [b'2', b'f'] | [b'5', b'c'])
    });
    !dot_segment && !encoded && !below.contains(&b'\\')
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
