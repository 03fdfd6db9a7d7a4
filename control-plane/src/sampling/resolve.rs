//! From a strategies file to the response each service gets, resolved once per load so a lookup
//! is one hash-map probe whatever the number of services.
//!
//! Resolution is Jaeger's (its static strategy provider): a service strategy with operation
//! strategies becomes per-operation sampling whose default probability is the service's
//! probabilistic rate (Jaeger's 0.001 for a rate-limited one); the default strategy's operation
//! strategies are merged into every service's list where the service does not name the operation;
//! a service without its own operations inherits the default's per-operation settings (a
//! probabilistic one with its own rate as the default probability, a rate-limited one as they
//! are, as in `parseStrategies` of Jaeger's current file provider); an unknown service gets the default
//! strategy; no default strategy means probabilistic 0.001. Rate-limiting params are truncated to
//! an integer (`maxTracesPerSecond` is an int32).
//!
//! Then the project's constitutional selector: its services are sampled at 1.0, and its
//! operations get a 1.0 per-operation strategy in every probabilistic response (rate-limited
//! responses cannot express it in Jaeger's protocol; the filter samples those operations itself).

use std::collections::HashMap;
use std::sync::Arc;

use acgs_proto::jaeger::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

use super::file::{DefaultStrategy, OperationStrategy, StrategiesFile, StrategyKind};
use super::json;

/// Jaeger's default sampling probability (no default strategy, rate-limited parents).
pub const JAEGER_DEFAULT_PROBABILITY: f64 = 0.001;

/// One service's strategy, ready to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub response: SamplingStrategyResponse,
    /// The Jaeger JSON body (cheap to clone into each response).
    pub json: bytes::Bytes,
    /// A strong entity tag of the body.
    pub etag: String,
}

impl Served {
    fn new(response: SamplingStrategyResponse) -> Arc<Self> {
        let json = bytes::Bytes::from(json::encode(&response));
        let etag = format!("\"{:016x}\"", fnv1a(&json));
        Arc::new(Self { response, json, etag })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Every service's resolved strategy.
#[derive(Debug, Clone)]
pub struct StrategySet {
    default: Arc<Served>,
    services: HashMap<String, Arc<Served>>,
}

impl StrategySet {
    pub fn resolve(file: &StrategiesFile) -> Self {
        let default_response = file.default_strategy.as_ref().map_or_else(
            || probabilistic(JAEGER_DEFAULT_PROBABILITY),
            |default| with_operations(strategy(default.kind, default.param), &default.operation_strategies),
        );
        let default_operations = default_response.operation_sampling.clone();
        let constitutional = file.constitutional.clone().unwrap_or_default();
        let mut services = HashMap::with_capacity(file.service_strategies.len());
        for service in &file.service_strategies {
            let mut response = with_operations(strategy(service.kind, service.param), &service.operation_strategies);
            merge_default_operations(&mut response, default_operations.as_ref());
            if constitutional.services.contains(&service.service) {
                force_full_sampling(&mut response);
            }
            add_constitutional_operations(&mut response, &constitutional.operations);
            services.insert(service.service.clone(), Served::new(response));
        }
        let mut default_response = default_response;
        add_constitutional_operations(&mut default_response, &constitutional.operations);
        Self { default: Served::new(default_response), services }
    }

    /// The strategy of `service` (the default one for a service the file does not name).
    pub fn lookup(&self, service: &str) -> &Arc<Served> {
        self.services.get(service).unwrap_or(&self.default)
    }

    /// Whether the file names `service`.
    pub fn knows(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    pub fn default_strategy(&self) -> &Arc<Served> {
        &self.default
    }
}

fn probabilistic(rate: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: rate }),
        rate_limiting_sampling: None,
        operation_sampling: None,
    }
}

fn strategy(kind: StrategyKind, param: f64) -> SamplingStrategyResponse {
    match kind {
        StrategyKind::Probabilistic => probabilistic(param),
        StrategyKind::Ratelimiting => SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            probabilistic_sampling: None,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy { max_traces_per_second: param.trunc() as i32 }),
            operation_sampling: None,
        },
    }
}

fn operation(name: &str, rate: f64) -> OperationSamplingStrategy {
    OperationSamplingStrategy {
        operation: name.to_owned(),
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: rate }),
    }
}

/// Jaeger's `parseServiceStrategies`: operation strategies (probabilistic ones only) under a
/// default probability taken from the strategy.
fn with_operations(
    mut response: SamplingStrategyResponse,
    operations: &[OperationStrategy],
) -> SamplingStrategyResponse {
    if operations.is_empty() {
        return response;
    }
    let default_probability =
        response.probabilistic_sampling.as_ref().map_or(JAEGER_DEFAULT_PROBABILITY, |p| p.sampling_rate);
    let per_operation_strategies = operations
        .iter()
        .filter(|op| op.kind == StrategyKind::Probabilistic)
        .map(|op| operation(&op.operation, op.param))
        .collect();
    response.operation_sampling = Some(PerOperationSamplingStrategies {
        default_sampling_probability: default_probability,
        default_lower_bound_traces_per_second: 0.0,
        per_operation_strategies,
        default_upper_bound_traces_per_second: 0.0,
    });
    response
}

/// Jaeger's merge of the default strategy's operations into a service's.
fn merge_default_operations(
    response: &mut SamplingStrategyResponse,
    defaults: Option<&PerOperationSamplingStrategies>,
) {
    let Some(defaults) = defaults else {
        return;
    };
    match (&mut response.operation_sampling, &response.probabilistic_sampling) {
        (Some(own), _) => {
            for default_op in &defaults.per_operation_strategies {
                if !own.per_operation_strategies.iter().any(|op| op.operation == default_op.operation) {
                    own.per_operation_strategies.push(default_op.clone());
                }
            }
        }
        (None, Some(probabilistic)) => {
            let mut inherited = defaults.clone();
            inherited.default_sampling_probability = probabilistic.sampling_rate;
            response.operation_sampling = Some(inherited);
        }
        (None, None) => response.operation_sampling = Some(defaults.clone()),
    }
}

fn force_full_sampling(response: &mut SamplingStrategyResponse) {
    *response =
        SamplingStrategyResponse { operation_sampling: response.operation_sampling.take(), ..probabilistic(1.0) };
    if let Some(operations) = &mut response.operation_sampling {
        operations.default_sampling_probability = 1.0;
        for op in &mut operations.per_operation_strategies {
            op.probabilistic_sampling = Some(ProbabilisticSamplingStrategy { sampling_rate: 1.0 });
        }
    }
}

fn add_constitutional_operations(response: &mut SamplingStrategyResponse, operations: &[String]) {
    if operations.is_empty() {
        return;
    }
    let Some(rate) = response.probabilistic_sampling.as_ref().map(|p| p.sampling_rate) else {
        return;
    };
    let per_operation = response.operation_sampling.get_or_insert_with(|| PerOperationSamplingStrategies {
        default_sampling_probability: rate,
        default_lower_bound_traces_per_second: 0.0,
        per_operation_strategies: Vec::new(),
        default_upper_bound_traces_per_second: 0.0,
    });
    for name in operations {
        match per_operation.per_operation_strategies.iter_mut().find(|op| op.operation == *name) {
            Some(existing) => {
                existing.probabilistic_sampling = Some(ProbabilisticSamplingStrategy { sampling_rate: 1.0 })
            }
            None => per_operation.per_operation_strategies.push(operation(name, 1.0)),
        }
    }
}

/// The default strategy's type, for summaries.
pub fn describe(default: Option<&DefaultStrategy>) -> String {
    match default {
        None => format!("probabilistic {JAEGER_DEFAULT_PROBABILITY} (Jaeger's default)"),
        Some(default) => match default.kind {
            StrategyKind::Probabilistic => format!("probabilistic {}", default.param),
            StrategyKind::Ratelimiting => format!("ratelimiting {}/s", default.param.trunc()),
        },
    }
}

#[cfg(test)]
mod tests;
