//! The proxy-wasm glue: the only part of the filter that talks to the host. It moves bytes between
//! Envoy and the decision logic ([`crate::decision`]) and owns nothing else: the root context
//! parses and validates the configuration and owns the per-VM engine; each HTTP stream reads the
//! headers the decision needs (in one host call, [`host`]), applies the decision (headers, local
//! reply) and counts it.

mod host;
mod root;
mod stats;
mod stream;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::FilterRoot::default())
    });
}}
