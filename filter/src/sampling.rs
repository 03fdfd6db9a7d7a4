//! Sampling strategies in the Jaeger remote-sampling JSON format (what `/api/sampling` serves,
//! camelCase, `strategyType` as its enum name or number), and the sampler that applies them the
//! way Jaeger's clients do:
//! - `operationSampling` present → per operation: the operation's probability (or the default
//!   one) OR a lower-bound token bucket of `defaultLowerBoundTracesPerSecond` per operation;
//!   at most [`MAX_TRACKED_OPERATIONS`] operations get their own sampler, the rest use the
//!   default probability; `defaultUpperBoundTracesPerSecond` is accepted and, as in the
//!   clients, not enforced;
//! - otherwise `RATE_LIMITING` → a token bucket of `maxTracesPerSecond` (capacity
//!   max(rate, 1), starting full);
//! - otherwise probabilistic by a [`SamplingKey`]: Envoy's own draw from `x-request-id` (see
//!   [`crate::request_id`]), or, for a request without a readable one, the trace id (sampled
//!   iff its low 56 bits are below rate × 2^56), so every hop of one trace decides alike.
//!
//! Every verdict names the rule that gave it (`probabilistic(0.1)@auth-service`,
//! `ratelimiting(5/s)@svc`, `operation(0.5)@svc:GET /x`, `lowerbound(1/s)@svc:GET /x`): the
//! filter writes it into the `acgs.sampling.rule` span tag.
//!
//! One deliberate difference: a zero rate never grants a trace (Jaeger's Go client lets a new
//! bucket's first request through even at rate 0); an operator who writes 0 means 0.

use std::collections::HashMap;
use std::rc::Rc;

use crate::decimal::Decimal;
use crate::json::Json;
use crate::mix_hash::MixState;
use crate::operation::Operation;

/// Operations one VM tracks with their own sampler (Jaeger clients' `maxOperations`).
pub const MAX_TRACKED_OPERATIONS: usize = 2_000;

/// How strictly a strategy document is read: configuration rejects unknown fields (typos);
/// responses from a control plane ignore them, as Jaeger's clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownFields {
    Reject,
    Ignore,
}

/// What is wrong with a strategy document: the JSON path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for StrategyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for StrategyError {}

fn fail<T>(path: &str, reason: impl Into<String>) -> Result<T, StrategyError> {
    Err(StrategyError { path: path.to_owned(), reason: reason.into() })
}

/// Per-operation sampling parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PerOperation {
    pub default_probability: f64,
    pub default_lower_bound_per_second: f64,
    pub operations: Vec<(String, f64)>,
}

/// A sampling strategy for one service.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Probabilistic { rate: f64 },
    RateLimiting { max_traces_per_second: f64 },
    PerOperation(PerOperation),
}

/// As a log line names it: `probabilistic 0.25`, `rate-limiting 5/s`, `per-operation: default
/// 0.1, lower bound 0/s, 2 operations`.
impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Probabilistic { rate } => write!(f, "probabilistic {}", Decimal(*rate)),
            Strategy::RateLimiting { max_traces_per_second } => {
                write!(f, "rate-limiting {}/s", Decimal(*max_traces_per_second))
            }
            Strategy::PerOperation(config) => write!(
                f,
                "per-operation: default {}, lower bound {}/s, {} operations",
                Decimal(config.default_probability),
                Decimal(config.default_lower_bound_per_second),
                config.operations.len()
            ),
        }
    }
}

impl Default for Strategy {
    fn default() -> Self {
        Self::Probabilistic { rate: 1.0 }
    }
}

impl Strategy {
    /// Parses a strategy response body.
    pub fn from_json(bytes: &[u8], unknown: UnknownFields) -> Result<Self, StrategyError> {
        let value = match Json::parse(bytes) {
            Ok(value) => value,
            Err(e) => return fail("", format!("not valid JSON: {e}")),
        };
        Self::from_value(&value, unknown)
    }

    pub fn from_value(value: &Json, unknown: UnknownFields) -> Result<Self, StrategyError> {
        let fields = object("", value)?;
        let mut kind = None;
        let mut probabilistic = None;
        let mut rate_limiting = None;
        let mut per_operation = None;
        for (key, value) in fields {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "strategyType" => kind = Some(strategy_type(key, value)?),
                "probabilisticSampling" => probabilistic = Some(probability_of(key, value, unknown)?),
                "rateLimitingSampling" => rate_limiting = Some(rate_limit(key, value, unknown)?),
                "operationSampling" => per_operation = Some(operations(key, value, unknown)?),
                _ if unknown == UnknownFields::Ignore => {}
                _ => return fail(key, "unknown field"),
            }
        }
        if let Some(per_operation) = per_operation {
            return Ok(Self::PerOperation(per_operation));
        }
        match (kind, probabilistic, rate_limiting) {
            (Some(Kind::RateLimiting), _, Some(max)) | (None, None, Some(max)) => {
                Ok(Self::RateLimiting { max_traces_per_second: max })
            }
            (Some(Kind::RateLimiting), _, None) => {
                fail("rateLimitingSampling", "required when strategyType is RATE_LIMITING")
            }
            (_, Some(rate), _) => Ok(Self::Probabilistic { rate }),
            (Some(Kind::Probabilistic), None, _) => {
                fail("probabilisticSampling", "required when strategyType is PROBABILISTIC")
            }
            (None, None, None) => {
                fail("", "no strategy: expected probabilisticSampling, rateLimitingSampling or operationSampling")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Probabilistic,
    RateLimiting,
}

fn object<'a>(path: &str, value: &'a Json) -> Result<&'a [(String, Json)], StrategyError> {
    match value.as_object() {
        Some(fields) => Ok(fields),
        None => fail(path, "must be an object"),
    }
}

fn strategy_type(path: &str, value: &Json) -> Result<Kind, StrategyError> {
    match (value.as_str(), value.as_u64()) {
        (Some("PROBABILISTIC"), _) | (_, Some(0)) => Ok(Kind::Probabilistic),
        (Some("RATE_LIMITING"), _) | (_, Some(1)) => Ok(Kind::RateLimiting),
        _ => fail(path, format!("{value} is not PROBABILISTIC or RATE_LIMITING")),
    }
}

fn number(path: &str, value: &Json) -> Result<f64, StrategyError> {
    match value.as_f64() {
        Some(number) if number.is_finite() => Ok(number),
        _ => fail(path, format!("{value} is not a number")),
    }
}

fn probability(path: &str, value: &Json) -> Result<f64, StrategyError> {
    let rate = number(path, value)?;
    if !(0.0..=1.0).contains(&rate) {
        return fail(path, format!("{value} is outside [0, 1]"));
    }
    Ok(rate)
}

fn per_second(path: &str, value: &Json) -> Result<f64, StrategyError> {
    let rate = number(path, value)?;
    if rate < 0.0 {
        return fail(path, format!("{value} is negative"));
    }
    Ok(rate)
}

/// Reads `{ "<field>": … }` with only the named fields.
fn single<'a>(
    path: &str,
    value: &'a Json,
    field: &str,
    unknown: UnknownFields,
) -> Result<(String, Option<&'a Json>), StrategyError> {
    let fields = object(path, value)?;
    let mut found = None;
    for (key, value) in fields {
        if key == field {
            found = Some(value);
        } else if unknown == UnknownFields::Reject {
            return fail(&format!("{path}.{key}"), "unknown field");
        }
    }
    Ok((format!("{path}.{field}"), found))
}

fn probability_of(path: &str, value: &Json, unknown: UnknownFields) -> Result<f64, StrategyError> {
    match single(path, value, "samplingRate", unknown)? {
        (inner, Some(rate)) => probability(&inner, rate),
        // proto3 JSON omits zero values.
        (_, None) => Ok(0.0),
    }
}

fn rate_limit(path: &str, value: &Json, unknown: UnknownFields) -> Result<f64, StrategyError> {
    match single(path, value, "maxTracesPerSecond", unknown)? {
        (inner, Some(rate)) => per_second(&inner, rate),
        (_, None) => Ok(0.0),
    }
}

fn operations(path: &str, value: &Json, unknown: UnknownFields) -> Result<PerOperation, StrategyError> {
    let mut parsed =
        PerOperation { default_probability: 0.0, default_lower_bound_per_second: 0.0, operations: Vec::new() };
    for (key, value) in object(path, value)? {
        let inner = format!("{path}.{key}");
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "defaultSamplingProbability" => parsed.default_probability = probability(&inner, value)?,
            "defaultLowerBoundTracesPerSecond" => parsed.default_lower_bound_per_second = per_second(&inner, value)?,
            "defaultUpperBoundTracesPerSecond" => {
                per_second(&inner, value)?;
            }
            "perOperationStrategies" => {
                let Some(items) = value.as_array() else {
                    return fail(&inner, "must be an array");
                };
                for (index, item) in items.iter().enumerate() {
                    let item_path = format!("{inner}[{index}]");
                    let mut operation = None;
                    let mut rate = 0.0;
                    for (field, value) in object(&item_path, item)? {
                        match field.as_str() {
                            "operation" => match value.as_str() {
                                Some(name) if !name.is_empty() => operation = Some(name.to_owned()),
                                _ => return fail(&format!("{item_path}.operation"), "must be a non-empty string"),
                            },
                            "probabilisticSampling" => {
                                rate = probability_of(&format!("{item_path}.probabilisticSampling"), value, unknown)?;
                            }
                            _ if unknown == UnknownFields::Ignore => {}
                            _ => return fail(&format!("{item_path}.{field}"), "unknown field"),
                        }
                    }
                    let Some(operation) = operation else {
                        return fail(&format!("{item_path}.operation"), "is required");
                    };
                    parsed.operations.push((operation, rate));
                }
            }
            _ if unknown == UnknownFields::Ignore => {}
            _ => return fail(&inner, "unknown field"),
        }
    }
    Ok(parsed)
}

/// Whether the probabilistic sampler keeps `trace_id` at `rate`.
pub fn ratio_samples(trace_id: &[u8; 16], rate: f64) -> bool {
    let mut low = [0u8; 8];
    low[1..].copy_from_slice(&trace_id[9..]);
    // rate × 2^56 is exact in f64 (a power-of-two scaling); the cast floors it.
    u64::from_be_bytes(low) < (rate * (1u64 << 56) as f64) as u64
}

/// What a probabilistic decision is drawn from: Envoy's own draw from `x-request-id` when the
/// request carries one Envoy could read (see [`crate::request_id`]), else the trace id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingKey {
    RequestId(u32),
    TraceId([u8; 16]),
}

impl SamplingKey {
    pub fn keeps(&self, rate: f64) -> bool {
        match self {
            Self::RequestId(draw) => crate::request_id::draw_keeps(*draw, rate),
            Self::TraceId(trace_id) => ratio_samples(trace_id, rate),
        }
    }
}

/// A sampler's verdict and the rule that gave it, e.g. `probabilistic(0.1)@auth-service` or
/// `operation(0.5)@groqcloud-policy:GET /v1/policies/{id}` (docs/mesh.md lists the forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampled {
    pub keep: bool,
    pub rule: Rc<str>,
}

/// A token bucket refilled continuously at `rate` per second.
#[derive(Debug, Clone)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    balance: f64,
    last_nanos: Option<u64>,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        let capacity = rate.max(1.0);
        Self { rate, capacity, balance: if rate > 0.0 { capacity } else { 0.0 }, last_nanos: None }
    }

    fn take(&mut self, now_nanos: u64) -> bool {
        if let Some(last) = self.last_nanos {
            let elapsed = now_nanos.saturating_sub(last) as f64 / 1e9;
            self.balance = (self.balance + elapsed * self.rate).min(self.capacity);
        }
        self.last_nanos = Some(now_nanos.max(self.last_nanos.unwrap_or(0)));
        if self.balance >= 1.0 {
            self.balance -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One operation's sampler with its rules: its probability, or else its lower bound.
#[derive(Debug, Clone)]
struct GuaranteedThroughput {
    rate: f64,
    lower_bound: TokenBucket,
    rate_rule: Rc<str>,
    lower_bound_rule: Rc<str>,
}

#[derive(Debug, Clone)]
enum State {
    Probabilistic {
        rate: f64,
        rule: Rc<str>,
    },
    RateLimiting {
        bucket: TokenBucket,
        rule: Rc<str>,
    },
    PerOperation {
        config: PerOperation,
        samplers: HashMap<Operation, GuaranteedThroughput, MixState>,
        overflow_rule: Rc<str>,
    },
}

/// Applies one strategy to requests; holds the buckets and the rule names (made once per
/// strategy and operation, not per request).
#[derive(Debug, Clone)]
pub struct Sampler {
    service: Rc<str>,
    strategy: Strategy,
    state: State,
}

impl Sampler {
    /// A sampler of `strategy` for `service` (the name its rules carry).
    pub fn new(strategy: Strategy, service: Rc<str>) -> Self {
        let state = match &strategy {
            Strategy::Probabilistic { rate } => State::Probabilistic {
                rate: *rate,
                rule: format!("probabilistic({})@{service}", Decimal(*rate)).into(),
            },
            Strategy::RateLimiting { max_traces_per_second: rate } => State::RateLimiting {
                bucket: TokenBucket::new(*rate),
                rule: format!("ratelimiting({}/s)@{service}", Decimal(*rate)).into(),
            },
            Strategy::PerOperation(config) => State::PerOperation {
                overflow_rule: format!("probabilistic({})@{service}", Decimal(config.default_probability)).into(),
                config: config.clone(),
                samplers: HashMap::default(),
            },
        };
        Self { service, strategy, state }
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// Switches to `strategy`; the same strategy again keeps the buckets as they are.
    pub fn apply(&mut self, strategy: Strategy) {
        if strategy != self.strategy {
            *self = Self::new(strategy, Rc::clone(&self.service));
        }
    }

    pub fn should_sample(&mut self, operation: &Operation, key: &SamplingKey, now_nanos: u64) -> Sampled {
        let verdict = |keep: bool, rule: &Rc<str>| Sampled { keep, rule: Rc::clone(rule) };
        match &mut self.state {
            State::Probabilistic { rate, rule } => verdict(key.keeps(*rate), rule),
            State::RateLimiting { bucket, rule } => verdict(bucket.take(now_nanos), rule),
            State::PerOperation { config, samplers, overflow_rule } => {
                if !samplers.contains_key(operation) {
                    if samplers.len() >= MAX_TRACKED_OPERATIONS {
                        return verdict(key.keeps(config.default_probability), overflow_rule);
                    }
                    let rate = config
                        .operations
                        .iter()
                        .find(|(name, _)| name == operation.as_str())
                        .map_or(config.default_probability, |(_, rate)| *rate);
                    let lower_bound = config.default_lower_bound_per_second;
                    let service = &self.service;
                    let operation_name = operation.as_str();
                    samplers.insert(
                        operation.clone(),
                        GuaranteedThroughput {
                            rate,
                            lower_bound: TokenBucket::new(lower_bound),
                            rate_rule: format!("operation({})@{service}:{operation_name}", Decimal(rate)).into(),
                            lower_bound_rule: format!(
                                "lowerbound({}/s)@{service}:{operation_name}",
                                Decimal(lower_bound)
                            )
                            .into(),
                        },
                    );
                }
                match samplers.get_mut(operation) {
                    // As Jaeger's GuaranteedThroughputProbabilisticSampler: the lower bound's
                    // bucket is charged even when the probability already keeps the trace.
                    Some(sampler) => {
                        let by_rate = key.keeps(sampler.rate);
                        let by_lower_bound = sampler.lower_bound.take(now_nanos);
                        match (by_rate, by_lower_bound) {
                            (true, _) => verdict(true, &sampler.rate_rule),
                            (false, kept) => verdict(kept, &sampler.lower_bound_rule),
                        }
                    }
                    None => verdict(key.keeps(config.default_probability), overflow_rule),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
