//! Jaeger's remote-sampling JSON (`/sampling`, `/api/sampling`): camelCase field names in the
//! proto's field order, the strategy type as its enum name, defaults emitted (a zero rate is
//! `0`, an empty operation list `[]`, `defaultUpperBoundTracesPerSecond` always present), absent
//! sub-strategies left out, numbers as Go's encoding/json writes them (`1`, not `1.0`), so that
//! clients written against Jaeger, including ones that require every field, read it unchanged.

use acgs_proto::jaeger::api_v2::{SamplingStrategyResponse, SamplingStrategyType};
use serde::{Serialize, Serializer};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    strategy_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilistic_sampling: Option<Probabilistic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limiting_sampling: Option<RateLimiting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_sampling: Option<PerOperation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Probabilistic {
    #[serde(serialize_with = "go_float")]
    sampling_rate: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateLimiting {
    max_traces_per_second: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation<'a> {
    operation: &'a str,
    probabilistic_sampling: Probabilistic,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerOperation<'a> {
    #[serde(serialize_with = "go_float")]
    default_sampling_probability: f64,
    #[serde(serialize_with = "go_float")]
    default_lower_bound_traces_per_second: f64,
    per_operation_strategies: Vec<Operation<'a>>,
    #[serde(serialize_with = "go_float")]
    default_upper_bound_traces_per_second: f64,
}

/// Integral values as integers, the rest in the shortest form that reads back the same.
fn go_float<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

/// How the rate-limiting strategy type is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSpelling {
    /// `RATE_LIMITING`, the proto enum name: Jaeger and every client written against it.
    Jaeger,
    /// `RATELIMITING`, the only spelling the Rust `opentelemetry_sdk` (0.33) Jaeger remote
    /// sampler reads (its enum is `rename_all = "UPPERCASE"`); asked for with
    /// `?compat=opentelemetry-rust` (docs/sampling.md).
    OpenTelemetryRust,
}

/// The JSON body for `response`, Jaeger's spelling.
pub fn encode(response: &SamplingStrategyResponse) -> Vec<u8> {
    encode_spelled(response, TypeSpelling::Jaeger)
}

/// The JSON body for `response` with the strategy type spelled as `spelling` says.
pub fn encode_spelled(response: &SamplingStrategyResponse, spelling: TypeSpelling) -> Vec<u8> {
    let strategy_type = match (SamplingStrategyType::try_from(response.strategy_type), spelling) {
        (Ok(SamplingStrategyType::RateLimiting), TypeSpelling::Jaeger) => "RATE_LIMITING",
        (Ok(SamplingStrategyType::RateLimiting), TypeSpelling::OpenTelemetryRust) => "RATELIMITING",
        _ => "PROBABILISTIC",
    };
    let body = Response {
        strategy_type,
        probabilistic_sampling: response
            .probabilistic_sampling
            .as_ref()
            .map(|p| Probabilistic { sampling_rate: p.sampling_rate }),
        rate_limiting_sampling: response
            .rate_limiting_sampling
            .as_ref()
            .map(|r| RateLimiting { max_traces_per_second: r.max_traces_per_second }),
        operation_sampling: response.operation_sampling.as_ref().map(|o| PerOperation {
            default_sampling_probability: o.default_sampling_probability,
            default_lower_bound_traces_per_second: o.default_lower_bound_traces_per_second,
            per_operation_strategies: o
                .per_operation_strategies
                .iter()
                .map(|op| Operation {
                    operation: &op.operation,
                    probabilistic_sampling: Probabilistic {
                        sampling_rate: op.probabilistic_sampling.as_ref().map_or(0.0, |p| p.sampling_rate),
                    },
                })
                .collect(),
            default_upper_bound_traces_per_second: o.default_upper_bound_traces_per_second,
        }),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}
