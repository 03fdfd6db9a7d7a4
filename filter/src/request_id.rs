//! Envoy's own random-sampling draw, read from `x-request-id`, so that the filter's probabilistic
//! decision at the hop where a trace enters the mesh is the same coin Envoy flips.
//!
//! Envoy's connection manager generates `x-request-id` (a UUID) before any HTTP filter runs and
//! makes its `random_sampling` decision from it: `UUIDRequestIDExtension::modBy` reads the first
//! 8 hex digits as an integer and takes it modulo 10,000, and the request is traced when that is
//! below the percentage × 100 (envoy `source/extensions/request_id/uuid/config.cc`,
//! `source/common/http/conn_manager_utility.cc` `mutateTracingRequestHeader`; docs/mesh.md has the
//! lines). The filter sees that header but not the trace id Envoy is about to generate, so it
//! keeps a request at rate `r` when
//!
//! `draw % 10000 + frac < r × 10000`, where `frac` comes from the draw's higher digits,
//!
//! which is Envoy's test exactly when `r × 10000` is whole, and a subset of Envoy's test at
//! ⌈r × 10000⌉ otherwise: Istio's `randomSamplingPercentage` set to ⌈r × 10000⌉ / 100 at the
//! workload where traces start records every trace the filter keeps. Istio asks applications to
//! propagate `x-request-id`, so later hops that must decide draw the same coin.

/// The first 8 hex digits of `x-request-id` as Envoy reads them (`None` when they are not hex,
/// as Envoy's `modBy` then fails and it does not sample by the request id either).
pub fn envoy_draw(request_id: &[u8]) -> Option<u32> {
    let digits = request_id.get(..8)?;
    digits.iter().try_fold(0u32, |value, digit| Some(value << 4 | char::from(*digit).to_digit(16)?))
}

/// Whether the draw keeps a request at `rate` (0..=1).
pub fn draw_keeps(draw: u32, rate: f64) -> bool {
    let bucket = f64::from(draw % 10_000);
    // The remaining entropy (draw / 10000 < 429,497) spreads each bucket into parts.
    let fraction = f64::from(draw / 10_000) / 429_497.0;
    bucket + fraction < rate * 10_000.0
}

#[cfg(test)]
mod tests;
