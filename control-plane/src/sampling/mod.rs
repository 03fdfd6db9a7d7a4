//! Sampling strategies: the strategies file ([`file`]), its resolution into per-service
//! responses ([`resolve`], Jaeger's semantics), their Jaeger JSON ([`json`]), the set being served
//! ([`store`]) fed by its sources ([`sources`]: the file, kept in step by [`watch`], and policies), and the endpoints that serve it: HTTP
//! ([`http`]) and gRPC ([`grpc`]), with their metrics ([`metrics`]).

pub mod file;
pub mod grpc;
pub mod http;
pub mod json;
pub mod metrics;
pub mod resolve;
pub mod sources;
pub mod store;
pub mod watch;

/// The seed's strategies, served when no file is given (also `strategies/seed.json`).
pub const SEED_STRATEGIES: &str = include_str!("../../strategies/seed.json");

/// The seed strategies, resolved.
pub fn seed() -> Result<resolve::StrategySet, file::StrategiesError> {
    let validated = file::parse("embedded seed strategies", SEED_STRATEGIES.as_bytes(), file::Format::Json)?;
    Ok(resolve::StrategySet::resolve(&validated.file))
}
