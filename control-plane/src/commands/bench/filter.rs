//! `acgs-tracing bench filter`: full request/response cycles (context create, request headers,
//! response headers, log, done, delete) through our filter and through a no-op proxy-wasm filter
//! built with the same SDK, in the same host, on one thread, in one run. Blocks of the two
//! alternate so that machine noise hits both alike.
//!
//! The request is the common case with the whole feature set on: a valid hash on a constitutional
//! operation, no incoming traceparent (so one is generated), strict mode, metadata headers, the
//! response header and the per-VM aggregation. Times are the thread's CPU time per block (median
//! block), so other load on the machine slows the run down without moving the result much.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cpu_time::ThreadTime;

use acgs_wasm_host::{FilterModule, Headers, HttpRequest, HttpResponse, Worker};
use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::commands::args::OutputFormat;
use crate::mesh::seed::{plugin_config_polling, CONSTITUTIONAL_HASH, HASH_HEADER, SEED_SERVICES};
use crate::mesh::sidecar::{load_filter, SidecarSpec};
use crate::server::{start, ServerConfig};

/// Our filter vs a no-op filter, ns per full request cycle.
#[derive(Debug, Args)]
pub struct FilterBench {
    /// Measured requests per filter (after warm-up).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub requests: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// A filter .wasm to measure instead of the embedded one (an unstripped build names the
    /// filter's functions in `perf`; docs/performance.md).
    #[arg(long, value_name = "PATH")]
    pub wasm: Option<PathBuf>,

    /// A .wasm to measure as the baseline instead of the no-op filter (an A/B of two builds of
    /// ours: `added_ns_per_request` is then what the first costs over the second).
    #[arg(long, value_name = "PATH")]
    pub baseline_wasm: Option<PathBuf>,
}

/// The benchmark's result.
#[derive(Debug, Serialize)]
pub struct FilterBenchReport {
    pub requests: u64,
    pub ours_ns_per_request: f64,
    pub noop_ns_per_request: f64,
    pub added_ns_per_request: f64,
    pub ratio: f64,
    pub wasm_bytes: usize,
    pub memory_growth_bytes: i64,
}

/// Enough requests to pass a telemetry flush, so the buffer is in its steady state.
const WARM_UP: u64 = 300_000;
/// After [`WARM_UP`], warm-up goes on in blocks of this many requests until the VM's linear memory
/// has not grown for [`STEADY_BLOCKS`] blocks in a row: bounded buffers (up to 2,048 spans wait
/// between flushes, how many depends on how fast requests come) have then reached their size, so
/// growth measured afterwards is growth without bound. At most [`MAX_WARM_UP`] requests.
const WARM_UP_BLOCK: u64 = 50_000;
const STEADY_BLOCKS: u32 = 3;
const MAX_WARM_UP: u64 = 2_000_000;
const BLOCK: u64 = 5_000;

impl FilterBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let ours = load_filter(self.wasm.as_deref())?;
        let noop = match &self.baseline_wasm {
            Some(path) => load_filter(Some(path))?,
            None => {
                FilterModule::from_bytes(acgs_filter_artifacts::NOOP_FILTER_WASM).context("loading the no-op filter")?
            }
        };
        let core = &SEED_SERVICES[0];
        // The filter's telemetry goes to a real control plane, as in a mesh, so its buffer drains.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let control_plane = runtime.block_on(start(ServerConfig::loopback(None)))?;
        let mut spec = SidecarSpec::new(core.name, plugin_config_polling(core, core.sampling_rate, 60_000));
        spec.control_plane = Some(control_plane.http_addr);
        let mut ours_proxy = spec.start(&ours)?;
        let mut noop_proxy = spec.start(&noop)?;
        let ours_worker = ours_proxy.workers_mut().first_mut().context("no worker")?;
        let noop_worker = noop_proxy.workers_mut().first_mut().context("no worker")?;

        let request = bench_request();
        let response = bench_response();
        run(noop_worker, &request, &response, WARM_UP);
        run(ours_worker, &request, &response, WARM_UP);
        let (mut warmed, mut steady) = (WARM_UP, 0);
        while steady < STEADY_BLOCKS && warmed < MAX_WARM_UP {
            let before = ours_worker.memory_bytes();
            run(ours_worker, &request, &response, WARM_UP_BLOCK);
            warmed += WARM_UP_BLOCK;
            steady = if ours_worker.memory_bytes() == before { steady + 1 } else { 0 };
        }
        let memory_after_warm_up = ours_worker.memory_bytes();

        let (mut ours_blocks, mut noop_blocks) = (Vec::new(), Vec::new());
        let mut done = 0;
        while done < self.requests {
            let block = BLOCK.min(self.requests - done);
            let per_request = |time: Duration| time.as_nanos() as f64 / block as f64;
            ours_blocks.push(per_request(run(ours_worker, &request, &response, block)));
            noop_blocks.push(per_request(run(noop_worker, &request, &response, block)));
            done += block;
        }
        let memory_growth = ours_worker.memory_bytes() as i64 - memory_after_warm_up as i64;

        // The median block: a burst of noise from other processes moves the mean, not this.
        let (ours_ns, noop_ns) = (median(&mut ours_blocks), median(&mut noop_blocks));
        let report = FilterBenchReport {
            requests: self.requests,
            ours_ns_per_request: ours_ns,
            noop_ns_per_request: noop_ns,
            added_ns_per_request: ours_ns - noop_ns,
            ratio: ours_ns / noop_ns.max(f64::MIN_POSITIVE),
            wasm_bytes: ours.wasm_bytes_len(),
            memory_growth_bytes: memory_growth,
        };
        match self.format {
            OutputFormat::Text => print_text(&report),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Drives `count` full cycles and returns the CPU time this thread spent on them: on a shared
/// machine, time the scheduler gives to other processes is not counted (wall time would be).
fn run(worker: &mut Worker, request: &HttpRequest, response: &HttpResponse, count: u64) -> Duration {
    let mut upstream = |_: &Headers, _: &[u8]| response.clone();
    let started = ThreadTime::now();
    for _ in 0..count {
        let outcome = worker.handle(request.clone(), &mut upstream);
        std::hint::black_box(outcome);
    }
    started.elapsed()
}

fn bench_request() -> HttpRequest {
    let mut headers = Headers::new();
    headers.push(":method", "POST");
    headers.push(":path", "/v1/constitutional/validate");
    headers.push(":authority", "constitutional-core.default.svc.cluster.local:8080");
    headers.push(":scheme", "http");
    headers.push("user-agent", "acgs-bench/1.0");
    headers.push("content-type", "application/json");
    headers.push("x-request-id", "5f0c8a5e-4a48-4a35-9a55-5d6a1a0b5a1c");
    headers.push(HASH_HEADER, CONSTITUTIONAL_HASH);
    HttpRequest {
        headers,
        body: Vec::new(),
        trailers: Headers::new(),
        source_address: std::net::SocketAddr::from(([10, 0, 3, 7], 43_000)),
        peer_principal: None,
    }
}

fn bench_response() -> HttpResponse {
    let mut headers = Headers::new();
    headers.push("content-type", "application/json");
    headers.push("content-length", "11");
    HttpResponse { status: 200, headers, body: Vec::new(), trailers: Headers::new() }
}

fn print_text(report: &FilterBenchReport) {
    println!("filter benchmark: {} full request cycles per filter, one thread", report.requests);
    println!("  ours                 {:>9.0} ns/request", report.ours_ns_per_request);
    println!("  no-op (baseline)     {:>9.0} ns/request", report.noop_ns_per_request);
    println!("  added by our filter  {:>9.0} ns/request", report.added_ns_per_request);
    println!("  ratio ours/no-op     {:>9.2}", report.ratio);
    println!("  filter .wasm         {:>9} bytes", report.wasm_bytes);
    println!("  linear memory growth {:>9} bytes after warm-up", report.memory_growth_bytes);
}
