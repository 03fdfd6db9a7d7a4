//! `acgs-tracing bench sampling`: HTTP load on `/api/sampling` of the real control plane on
//! loopback vs a bare axum handler returning a fixed body of the same size, same concurrency, same
//! run (keep-alive HTTP/1.1 connections, each sending its next request when the previous answer
//! is in); plus the cost of a strategy lookup with 10 and 10,000 services in the file and the
//! process's resident memory with 10,000 services loaded.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use serde::Serialize;

use super::load::{self, LoadArgs, MakeRequest};
use crate::commands::args::OutputFormat;
use crate::sampling::file::{parse, Format};
use crate::sampling::resolve::StrategySet;
use crate::server::{start, ServerConfig};

/// Load on the sampling endpoint vs a bare handler.
#[derive(Debug, Args)]
#[command(mut_arg("seconds", |arg| arg.help("Seconds of load on each server")))]
pub struct SamplingBench {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Serialize)]
pub struct SamplingBenchReport {
    pub connections: u64,
    pub ours_rps: f64,
    pub bare_rps: f64,
    pub ratio: f64,
    pub p99_ms: f64,
    pub bare_p99_ms: f64,
    pub lookup_ns_10: f64,
    pub lookup_ns_10k: f64,
    pub rss_mb_10k: f64,
}

impl SamplingBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let (lookup_ns_10, lookup_ns_10k, rss_mb_10k, set_10k) = lookups()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let report = runtime.block_on(async {
            let server = start(ServerConfig::loopback(None)).await?;
            let body =
                server.store.current().context("seed strategies loaded")?.lookup("groqcloud-policy").json.clone();
            let bare = bare_server(body).await?;
            let duration = self.load.duration();
            let path = "/api/sampling?service=groqcloud-policy";
            // Warm both, then measure the baseline and ours back to back.
            let connections = self.load.clients()?;
            let warm_up = Duration::from_millis(300);
            load::run(bare, connections, warm_up, sampling_request(path)).await?;
            load::run(server.http_addr, connections, warm_up, sampling_request(path)).await?;
            let bare_result = load::run(bare, connections, duration, sampling_request(path)).await?;
            let ours = load::run(server.http_addr, connections, duration, sampling_request(path)).await?;
            server.store.replace(set_10k);
            let rss = super::memory_mb("VmRSS").unwrap_or(rss_mb_10k);
            server.shutdown().await;
            anyhow::Ok(SamplingBenchReport {
                connections: self.load.connections,
                ours_rps: ours.ok_per_s,
                bare_rps: bare_result.ok_per_s,
                ratio: ours.ok_per_s / bare_result.ok_per_s.max(f64::MIN_POSITIVE),
                p99_ms: ours.p99_ms,
                bare_p99_ms: bare_result.p99_ms,
                lookup_ns_10,
                lookup_ns_10k,
                rss_mb_10k: rss,
            })
        })?;
        match self.format {
            OutputFormat::Text => print_text(&report),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A strategies file with `n` services.
fn file_with(n: usize) -> anyhow::Result<StrategySet> {
    let services: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"service": format!("service-{i:05}"), "type": "probabilistic", "param": (i % 100) as f64 / 100.0}))
        .collect();
    let text = serde_json::json!({"default_strategy": {"type": "probabilistic", "param": 1.0}, "service_strategies": services}).to_string();
    Ok(StrategySet::resolve(&parse("generated", text.as_bytes(), Format::Json)?.file))
}

/// ns per lookup with 10 and 10,000 services, and the RSS with the 10,000-service set resolved.
fn lookups() -> anyhow::Result<(f64, f64, f64, StrategySet)> {
    const LOOKUPS: usize = 2_000_000;
    let time = |set: &StrategySet, n: usize| {
        let names: Vec<String> = (0..n.min(1_000)).map(|i| format!("service-{:05}", i * (n / n.min(1_000)))).collect();
        let started = Instant::now();
        for i in 0..LOOKUPS {
            std::hint::black_box(set.lookup(&names[i % names.len()]));
        }
        started.elapsed().as_nanos() as f64 / LOOKUPS as f64
    };
    let small = file_with(10)?;
    let large = file_with(10_000)?;
    let (ns_10, ns_10k) = (time(&small, 10), time(&large, 10_000));
    Ok((ns_10, ns_10k, super::memory_mb("VmRSS").unwrap_or(0.0), large))
}

async fn bare_server(body: Bytes) -> anyhow::Result<SocketAddr> {
    let app = Router::new().route(
        "/api/sampling",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The sampling request, for every client.
pub(super) fn sampling_request(path: &'static str) -> MakeRequest {
    Arc::new(move |_, _| {
        let mut request = hyper::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = hyper::Uri::from_static(path);
        request.headers_mut().insert("host", hyper::header::HeaderValue::from_static("acgs-control-plane"));
        request
    })
}

fn print_text(report: &SamplingBenchReport) {
    println!("sampling benchmark: {} keep-alive connections on loopback", report.connections);
    println!("  ours (/api/sampling)   {:>10.0} requests/s   p99 {:.3} ms", report.ours_rps, report.p99_ms);
    println!("  bare axum handler      {:>10.0} requests/s   p99 {:.3} ms", report.bare_rps, report.bare_p99_ms);
    println!("  ratio ours/bare        {:>10.2}", report.ratio);
    println!("  lookup, 10 services    {:>10.1} ns", report.lookup_ns_10);
    println!("  lookup, 10k services   {:>10.1} ns", report.lookup_ns_10k);
    println!("  RSS with 10k services  {:>10.1} MB", report.rss_mb_10k);
}
