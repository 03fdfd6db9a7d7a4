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

/// Longest service name either endpoint accepts (HTTP `?service=`, gRPC `serviceName`).
pub const MAX_SERVICE_LEN: usize = 512;

/// Checks a requested service name: not empty, at most [`MAX_SERVICE_LEN`] bytes. The message
/// names the field as the endpoint calls it.
pub fn check_service_name(field: &'static str, service: &str) -> Result<(), String> {
    if service.is_empty() {
        Err(format!("{field} must not be empty"))
    } else if service.len() > MAX_SERVICE_LEN {
        Err(format!("{field} is {} bytes, longer than {MAX_SERVICE_LEN}", service.len()))
    } else {
        Ok(())
    }
}

/// The seed's strategies, served when no file is given (also `strategies/seed.json`).
pub const SEED_STRATEGIES: &str = include_str!("../../strategies/seed.json");

/// The seed strategies, resolved.
pub fn seed() -> Result<resolve::StrategySet, file::StrategiesError> {
    let validated = file::parse("embedded seed strategies", SEED_STRATEGIES.as_bytes(), file::Format::Json)?;
    Ok(resolve::StrategySet::resolve(&validated.file))
}
