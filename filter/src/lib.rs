//! The constitutional-hash Envoy Wasm filter. Its decision logic lives in plain modules with no
//! proxy-wasm import, tested natively: configuration ([`config`]), the hash check ([`hash`]),
//! categories ([`category`]), operation names ([`operation`]) and what a request's route says ([`route`]), sampling ([`sampling`],
//! [`request_id`], [`traceparent`]) and how its decision travels ([`baggage`]), the per-request
//! decision ([`decision`]) and the per-VM telemetry buffer ([`telemetry`]), with the JSON it reads
//! ([`json`]), the caller's address ([`peer`]) and byte strings read a word at a time ([`words`]). On `wasm32` the `glue` module moves bytes between Envoy and that logic.

pub mod baggage;
pub mod category;
pub mod config;
pub mod decimal;
pub mod decision;
pub mod hash;
pub mod header_map;
pub mod json;
pub mod mix_hash;
pub mod operation;
pub mod peer;
pub mod poll;
pub mod request_id;
pub mod route;
pub mod sampling;
pub mod span;
pub mod span_headers;
pub mod span_wire;
pub mod telemetry;
pub mod traceparent;
pub mod words;

#[cfg(target_arch = "wasm32")]
mod glue;
