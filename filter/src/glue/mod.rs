//! The proxy-wasm glue: the only part of the filter that talks to the host. It moves bytes between
//! Envoy and the decision logic ([`crate::decision`]) and owns nothing else: the root context
//! parses and validates the configuration and owns the per-VM engine; each HTTP stream reads the
//! four headers the decision needs, applies the decision (headers, local reply) and counts it.

mod host;
mod root;
mod stats;
mod stream;

/// Wall-clock nanoseconds from the host.
fn now_nanos(context: &dyn proxy_wasm::traits::Context) -> u64 {
    context
        .get_current_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::FilterRoot::default())
    });
}}
