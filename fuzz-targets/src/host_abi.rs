//! The proxy-wasm host's ABI surface under a fuzzed filter: the input becomes a module whose
//! callbacks make a fuzzed sequence of host calls (any import of the ABI or WASI, any arguments:
//! small integers for enums and lengths, pointers into the input's own bytes, pointers to
//! scratch space, raw values), and one request runs through it, then a second. Whatever the
//! filter does, the host neither panics nor hangs, every stream ends with a valid HTTP status,
//! and a trapped VM fails its streams by the failure policy rather than taking the proxy down.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use acgs_wasm_host::{
    FailurePolicy, FilterModule, Headers, HttpRequest, HttpResponse, PluginConfig, Proxy, ProxyConfig, TracingConfig,
};

/// An import: its module, its name, its parameter types (`i` i32, `I` i64), whether it returns an i32.
type Import = (&'static str, &'static str, &'static str, bool);

/// Every host function of proxy-wasm ABI 0.2.1 Envoy implements and the WASI calls the SDKs use.
const IMPORTS: [Import; 52] = [
    ("env", "proxy_log", "iii", true),
    ("env", "proxy_get_log_level", "i", true),
    ("env", "proxy_get_current_time_nanoseconds", "i", true),
    ("env", "proxy_set_tick_period_milliseconds", "i", true),
    ("env", "proxy_done", "", true),
    ("env", "proxy_get_header_map_pairs", "iii", true),
    ("env", "proxy_set_header_map_pairs", "iii", true),
    ("env", "proxy_get_header_map_value", "iiiii", true),
    ("env", "proxy_replace_header_map_value", "iiiii", true),
    ("env", "proxy_add_header_map_value", "iiiii", true),
    ("env", "proxy_remove_header_map_value", "iii", true),
    ("env", "proxy_get_header_map_size", "ii", true),
    ("env", "proxy_get_buffer_bytes", "iiiii", true),
    ("env", "proxy_set_buffer_bytes", "iiiii", true),
    ("env", "proxy_get_property", "iiii", true),
    ("env", "proxy_set_property", "iiii", true),
    ("env", "proxy_continue_stream", "i", true),
    ("env", "proxy_continue_request", "", true),
    ("env", "proxy_continue_response", "", true),
    ("env", "proxy_close_stream", "i", true),
    ("env", "proxy_send_local_response", "iiiiiiii", true),
    ("env", "proxy_set_effective_context", "i", true),
    ("env", "proxy_get_shared_data", "iiiii", true),
    ("env", "proxy_set_shared_data", "iiiii", true),
    ("env", "proxy_register_shared_queue", "iii", true),
    ("env", "proxy_resolve_shared_queue", "iiiii", true),
    ("env", "proxy_enqueue_shared_queue", "iii", true),
    ("env", "proxy_dequeue_shared_queue", "iii", true),
    ("env", "proxy_define_metric", "iiii", true),
    ("env", "proxy_increment_metric", "iI", true),
    ("env", "proxy_record_metric", "iI", true),
    ("env", "proxy_get_metric", "ii", true),
    ("env", "proxy_http_call", "iiiiiiiiii", true),
    ("env", "proxy_grpc_call", "iiiiiiiiiiii", true),
    ("env", "proxy_grpc_stream", "iiiiiiiii", true),
    ("env", "proxy_grpc_send", "iiii", true),
    ("env", "proxy_grpc_cancel", "i", true),
    ("env", "proxy_grpc_close", "i", true),
    ("env", "proxy_get_status", "iii", true),
    ("env", "proxy_call_foreign_function", "iiiiii", true),
    ("wasi_snapshot_preview1", "fd_write", "iiii", true),
    ("wasi_snapshot_preview1", "fd_read", "iiii", true),
    ("wasi_snapshot_preview1", "fd_close", "i", true),
    ("wasi_snapshot_preview1", "fd_seek", "iIii", true),
    ("wasi_snapshot_preview1", "fd_fdstat_get", "ii", true),
    ("wasi_snapshot_preview1", "fd_prestat_dir_name", "iii", true),
    ("wasi_snapshot_preview1", "environ_sizes_get", "ii", true),
    ("wasi_snapshot_preview1", "clock_time_get", "iIi", true),
    ("wasi_snapshot_preview1", "clock_res_get", "ii", true),
    ("wasi_snapshot_preview1", "random_get", "ii", true),
    ("wasi_snapshot_preview1", "sched_yield", "", true),
    ("wasi_snapshot_preview1", "proc_exit", "i", false),
];

/// The callbacks the calls are spread over: export, parameters, the value it returns after its calls.
const CALLBACKS: [(&str, &str, &str); 10] = [
    ("proxy_on_vm_start", "i32 i32", "(i32.const 1)"),
    ("proxy_on_configure", "i32 i32", "(i32.const 1)"),
    ("proxy_on_context_create", "i32 i32", ""),
    ("proxy_on_request_headers", "i32 i32 i32", "(i32.const 0)"),
    ("proxy_on_request_body", "i32 i32 i32", "(i32.const 0)"),
    ("proxy_on_response_headers", "i32 i32 i32", "(i32.const 0)"),
    ("proxy_on_response_body", "i32 i32 i32", "(i32.const 0)"),
    ("proxy_on_log", "i32", ""),
    ("proxy_on_done", "i32", "(i32.const 1)"),
    ("proxy_on_tick", "i32", ""),
];

/// Where the input's own bytes sit in the module's memory, and the scratch space for results.
const DATA_AT: u32 = 1024;
const DATA_MAX: usize = 32 * 1024;
const SCRATCH_AT: u32 = 60_000;
/// Calls per module: enough to reach any state, few enough to compile quickly.
const MAX_CALLS: usize = 64;

/// One argument from four fuzzed bytes: the low two bits choose its shape.
fn argument(raw: u32) -> i64 {
    let value = raw >> 2;
    i64::from(match raw & 3 {
        0 => value % 64,
        1 => DATA_AT + value % DATA_MAX as u32,
        2 => SCRATCH_AT + (value % 64) * 8,
        _ => raw,
    })
}

/// The module's text: the imports, memory with the input as data, a bump allocator, and each
/// callback making the calls the input assigns to it.
fn module_text(data: &[u8]) -> String {
    let mut text = String::from("(module\n");
    for (index, (module, name, params, result)) in IMPORTS.iter().enumerate() {
        let params: Vec<&str> = params.chars().map(|kind| if kind == 'I' { "i64" } else { "i32" }).collect();
        let result = if *result { "(result i32)" } else { "" };
        let _ =
            writeln!(text, "(import \"{module}\" \"{name}\" (func $f{index} (param {}) {result}))", params.join(" "));
    }
    text.push_str(
        "(memory (export \"memory\") 2)
         (global $heap (mut i32) (i32.const 65536))
         (func (export \"proxy_abi_version_0_2_1\"))
         (func (export \"proxy_on_memory_allocate\") (param $size i32) (result i32)
           (local $p i32)
           (local.set $p (global.get $heap))
           (global.set $heap (i32.add (global.get $heap) (local.get $size)))
           (local.get $p))\n",
    );
    let escaped: String = data.iter().take(DATA_MAX).map(|byte| format!("\\{byte:02x}")).collect();
    let _ = writeln!(text, "(data (i32.const {DATA_AT}) \"{escaped}\")");
    let mut bodies = vec![String::new(); CALLBACKS.len()];
    for call in data.chunks_exact(2 + 4 * 12).take(MAX_CALLS) {
        let (callback, import) = (usize::from(call[0]) % CALLBACKS.len(), usize::from(call[1]) % IMPORTS.len());
        let (_, _, params, result) = IMPORTS[import];
        let body = &mut bodies[callback];
        let _ = write!(body, "(call $f{import}");
        for (kind, raw) in params.chars().zip(call[2..].chunks_exact(4)) {
            let value = argument(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
            let _ =
                if kind == 'I' { write!(body, " (i64.const {value})") } else { write!(body, " (i32.const {value})") };
        }
        body.push_str(if result { ")\n(drop)\n" } else { ")\n" });
    }
    for ((export, params, returns), body) in CALLBACKS.iter().zip(&bodies) {
        let result = if returns.is_empty() { "" } else { "(result i32)" };
        let _ = writeln!(text, "(func (export \"{export}\") (param {params}) {result}\n{body}{returns})");
    }
    text.push(')');
    text
}

fn request() -> HttpRequest {
    HttpRequest {
        headers: Headers::from_pairs([
            (":method", "POST"),
            (":path", "/v1/fuzz"),
            (":authority", "svc"),
            (":scheme", "http"),
            ("constitutional-hash", "cdd01ef066bc6cf2"),
        ]),
        body: b"body".to_vec(),
        trailers: Headers::new(),
        source_address: SocketAddr::from(([10, 0, 0, 9], 41_000)),
        peer_principal: None,
    }
}

/// The host under a filter built from `data`; true when the filter's VM started.
pub fn host_abi(data: &[u8]) -> bool {
    run(data).is_some()
}

/// The statuses of the two streams, `None` when the filter's VM did not start.
fn run(data: &[u8]) -> Option<[u16; 2]> {
    let wasm = wat::parse_str(module_text(data)).unwrap_or_else(|error| panic!("the generated module: {error}"));
    let module = FilterModule::from_bytes(&wasm).unwrap_or_else(|error| panic!("the generated module loads: {error}"));
    let plugin = PluginConfig {
        name: "fuzz".to_owned(),
        configuration: data.iter().take(64).copied().collect(),
        failure_policy: if data.first().is_some_and(|byte| byte & 1 == 1) {
            FailurePolicy::FailOpen
        } else {
            FailurePolicy::FailClosed
        },
        ..PluginConfig::default()
    };
    let config = ProxyConfig {
        workers: 1,
        stream_timeout: Duration::from_millis(200),
        tracing: Some(TracingConfig::inbound("fuzz", 100.0)),
        ..ProxyConfig::default()
    };
    let mut proxy = Proxy::start(&module, plugin, config).ok()?;
    let mut upstream = |_: &Headers, _: &[u8]| HttpResponse {
        status: 200,
        headers: Headers::from_pairs([("content-type", "text/plain")]),
        body: b"ok".to_vec(),
        trailers: Headers::new(),
    };
    let mut statuses = [0; 2];
    for status in &mut statuses {
        let outcome = proxy.workers_mut()[0].handle(request(), &mut upstream);
        *status = outcome.response.status;
        assert!(outcome.reset || (100..=599).contains(status), "a stream ended with HTTP status {status}");
        proxy.run_due();
    }
    let _ = proxy.take_spans();
    Some(statuses)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One call record: callback, import, arguments (already shaped).
    fn call(callback: u8, import: &str, args: &[u32]) -> Vec<u8> {
        let index = IMPORTS.iter().position(|(_, name, _, _)| *name == import).expect("a known import");
        let mut record = vec![callback, u8::try_from(index).expect("few imports")];
        for slot in 0..12 {
            record.extend_from_slice(&args.get(slot).copied().unwrap_or(0).to_le_bytes());
        }
        record
    }

    #[test]
    fn every_import_links_against_the_host_and_only_proc_exit_stops_the_vm() {
        let calls: Vec<&str> =
            IMPORTS.iter().map(|(_, name, _, _)| *name).filter(|name| *name != "proc_exit").collect();
        let every: Vec<u8> = calls.iter().flat_map(|name| call(2, name, &[])).collect();
        assert_eq!(module_text(&every).matches("(call $f").count(), calls.len());
        assert!(host_abi(&every), "the VM starts with every import but proc_exit called at context creation");
        assert!(!host_abi(&call(2, "proc_exit", &[])), "proc_exit at context creation traps the VM's start");
    }

    #[test]
    fn a_fuzzed_local_reply_reaches_the_client_and_a_trap_fails_closed() {
        // proxy_send_local_response(403, details, 6, body, 4, no headers, -1) in on_request_headers:
        // 403 has the raw shape (low bits 3), the pointers point into the input itself.
        let reply = call(3, "proxy_send_local_response", &[403, 1, 6 << 2, (8 << 2) | 1, 4 << 2, 0, 0, u32::MAX]);
        assert_eq!(run(&reply), Some([403, 403]));
        // proc_exit in on_request_headers traps; callback byte 3 is odd, so fail-open lets it through.
        let exit_open = call(3, "proc_exit", &[0]);
        assert_eq!(run(&exit_open), Some([200, 200]));
        let mut exit_closed = call(3, "proc_exit", &[0]);
        exit_closed.splice(0..0, call(2, "proxy_log", &[2 << 2, 1, 4 << 2]));
        assert_eq!(run(&exit_closed), Some([503, 503]));
    }
}
