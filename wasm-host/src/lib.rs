//! A proxy-wasm ABI 0.2.1 host on wasmtime that runs a filter .wasm the way Envoy does, for the
//! machines where no Envoy binary can run (docs/contracts.md, "What stands in for what cannot run in the tests").
//!
//! A [`Proxy`] is one Envoy process with one HTTP Wasm plugin: it owns one VM per worker thread
//! ([`Worker`]), each with its own root context and tick timer, and the process-wide state the
//! VMs share (shared data with CAS, shared queues, metrics, the clusters callouts reach: [`Cluster`]). A
//! [`Worker`] handles one HTTP stream at a time through the filter's callbacks in Envoy's order,
//! with Envoy's status codes for every host call (each host-call module cites the Envoy source it follows).
//!
//! With [`ProxyConfig::tracing`] the proxy also runs Envoy's tracing around each stream (request
//! ids, the sampling decision and the span before the filters, the router's `traceparent`, custom
//! tags at the end) and buffers the spans it would export ([`Proxy::take_spans`]).
//!
//! Deliberate differences from Envoy, all documented where they live: streams on one worker are
//! handled one after another (Envoy interleaves them on its event loop); events (callout
//! responses, ticks, queue notifications) are delivered when the embedder gives the worker time
//! ([`Worker::run_due`], [`Worker::run_for`], or while a stream is paused); HTTP callouts go over
//! plain HTTP/1.1 and gRPC callouts over HTTP/2 without TLS, both to loopback endpoints; the
//! downstream is modelled as an HTTP/1.1 client (the codec's header limits).

mod abi;
mod callout;
mod cluster;
mod codec_limits;
mod config;
mod envoy_tracing;
mod error;
mod grpc;
mod headers;
mod hostcalls;
mod local_reply;
mod logs;
mod memory;
mod module;
mod process;
mod properties;
mod proxy;
mod state;
mod stream;
mod worker;

pub use cluster::{Cluster, LoadBalancing};
pub use config::{
    FailurePolicy, NodeInfo, PluginConfig, ProxyConfig, DEFAULT_MAX_HEADERS_COUNT, DEFAULT_MAX_REQUEST_HEADERS_KB,
    MAX_REQUEST_HEADERS_KB_LIMIT,
};
pub use envoy_tracing::{CustomTag, RecordedSpan, SpanKind, TracingConfig, TrafficDirection};
pub use error::HostError;
pub use headers::{Headers, HttpRequest, HttpResponse};
pub use logs::{LogLevel, LogRecord};
pub use module::FilterModule;
pub use process::Stats;
pub use proxy::Proxy;
pub use stream::{LocalReply, StreamOutcome, Upstream};
pub use worker::Worker;
