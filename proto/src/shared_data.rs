//! Keys of the filter's Envoy shared data (`proxy_set_shared_data`), which every VM of one Envoy
//! process shares: one VM polls the control plane under the lease and writes the strategy record,
//! and every VM applies the record it reads. An embedder running the filter (the demo) watches the
//! strategy record to see when a new strategy is in force.

/// The polling lease (which VM polls the control plane, and until when).
pub const LEASE_KEY: &str = "acgs.sampling.lease";
/// The last strategy fetched from the control plane.
pub const STRATEGY_KEY: &str = "acgs.sampling.strategy";
