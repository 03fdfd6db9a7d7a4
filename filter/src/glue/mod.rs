//! The proxy-wasm glue: the only part of the filter that talks to the host. It moves bytes between
//! Envoy and the decision logic ([`crate::decision`]) and owns nothing else: [`exports`] is the
//! ABI the host calls and the table of this VM's contexts, [`host`] the host calls the filter
//! makes; the root context parses and validates the configuration and owns the per-VM engine;
//! each HTTP stream reads the headers the decision needs (in one host call), applies the decision
//! (headers, local reply) and counts it.

mod exports;
mod host;
mod lending;
mod logger;
mod root;
mod stats;
mod stream;
