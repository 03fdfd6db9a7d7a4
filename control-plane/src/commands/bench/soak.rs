//! `acgs-tracing bench soak`: the real control plane (`acgs-tracing serve` in a child process, on
//! loopback) under mixed load for `--seconds` (filters' telemetry batches at
//! `--batches-per-second` on some keep-alive connections, Jaeger strategy polls as fast as they
//! are answered on the others), measured in slices: requests, errors (answers that are not 2xx,
//! 503s of a full ingest queue included), the worst slice's p99 per kind, and the server's
//! resident memory after each slice. The RSS slope is the least-squares slope of those samples
//! after the first quarter of the run (the warm-up, while the span buffer and the windows fill),
//! in MB per minute: a leak shows as a slope that does not fall to zero as the run gets longer.
//! The baseline is the server before the load (`rss_start_mb`); at the end the server gets
//! SIGTERM and must exit 0 (`clean_shutdown`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::child_server::ChildServer;
use super::ingest::{batch_requests, realistic_batch, TOKEN};
use super::load::{self, LoadResult};
use super::sampling::sampling_request;
use crate::commands::args::OutputFormat;

/// Mixed sampling and telemetry load for a while, watching errors, latency and memory.
#[derive(Debug, Args)]
pub struct SoakBench {
    /// Seconds of load (the goal is stated over 600).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(8..=3600))]
    pub seconds: u64,

    /// Connections posting telemetry batches (each a filter VM).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub telemetry_connections: u64,

    /// Telemetry batches per second over all telemetry connections (a filter VM flushes on a
    /// timer; a flood beyond what the store applies is answered 503 by design, see `bench ingest`).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batches_per_second: u64,

    /// Connections polling sampling strategies.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub sampling_connections: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Serialize)]
pub struct SoakBenchReport {
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub sampling_p99_ms: f64,
    pub telemetry_p99_ms: f64,
    pub rss_start_mb: f64,
    pub rss_end_mb: f64,
    pub rss_slope_mb_per_min: f64,
    pub clean_shutdown: bool,
}

/// Slices the run is measured in (one RSS sample after each).
const SLICES: u64 = 16;

impl SoakBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let server = ChildServer::start(TOKEN)?;
        let report = runtime.block_on(self.run(&server));
        let clean_shutdown = server.stop()?;
        let report = SoakBenchReport { clean_shutdown, ..report? };
        match self.format {
            OutputFormat::Text => print_text(&report),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn run(&self, server: &ChildServer) -> anyhow::Result<SoakBenchReport> {
        let rss_start_mb = server.memory_mb("VmRSS").unwrap_or_default();
        let telemetry = batch_requests(&realistic_batch());
        let sampling = sampling_request("/api/sampling?service=groqcloud-policy");
        let slice = Duration::from_secs(self.seconds).div_f64(SLICES as f64);
        let every = Duration::from_secs(self.telemetry_connections).div_f64(self.batches_per_second as f64);
        let started = Instant::now();
        let (mut requests, mut errors, mut sampling_p99_ms, mut telemetry_p99_ms) = (0, 0, 0.0f64, 0.0f64);
        let mut rss = Vec::new();
        for _ in 0..SLICES {
            let (posted, polled): (anyhow::Result<LoadResult>, anyhow::Result<LoadResult>) = tokio::join!(
                load::run_paced(
                    server.http_addr,
                    usize::try_from(self.telemetry_connections)?,
                    slice,
                    Some(every),
                    telemetry.clone()
                ),
                load::run(server.http_addr, usize::try_from(self.sampling_connections)?, slice, sampling.clone()),
            );
            let (posted, polled) = (posted?, polled?);
            requests += posted.ok + posted.overloaded + posted.other + polled.ok + polled.overloaded + polled.other;
            errors += posted.overloaded + posted.other + polled.overloaded + polled.other;
            telemetry_p99_ms = telemetry_p99_ms.max(posted.p99_ms);
            sampling_p99_ms = sampling_p99_ms.max(polled.p99_ms);
            rss.push((started.elapsed().as_secs_f64() / 60.0, server.memory_mb("VmRSS").unwrap_or_default()));
        }
        let after_warm_up = &rss[rss.len() / 4..];
        Ok(SoakBenchReport {
            seconds: started.elapsed().as_secs_f64(),
            requests,
            errors,
            sampling_p99_ms,
            telemetry_p99_ms,
            rss_start_mb,
            rss_end_mb: rss.last().map_or(0.0, |(_, mb)| *mb),
            rss_slope_mb_per_min: slope(after_warm_up),
            clean_shutdown: false,
        })
    }
}

/// The least-squares slope of `points` (x, y); 0 for fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mean_x, mean_y) = points.iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    let (covariance, variance) = points
        .iter()
        .fold((0.0, 0.0), |(c, v), (x, y)| (c + (x - mean_x) * (y - mean_y), v + (x - mean_x) * (x - mean_x)));
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

fn print_text(report: &SoakBenchReport) {
    println!("soak: {:.0} s of mixed telemetry and sampling load", report.seconds);
    println!("  requests                 {:>12}", report.requests);
    println!("  errors (not 2xx)         {:>12}", report.errors);
    println!("  sampling p99 (worst)     {:>12.2} ms", report.sampling_p99_ms);
    println!("  telemetry p99 (worst)    {:>12.2} ms", report.telemetry_p99_ms);
    println!("  RSS before / after       {:>7.1} / {:.1} MB", report.rss_start_mb, report.rss_end_mb);
    println!("  RSS slope after warm-up  {:>12.2} MB/min (goal < 1 over 600 s, 0 errors)", report.rss_slope_mb_per_min);
    println!("  SIGTERM → exit 0         {:>12}", if report.clean_shutdown { "yes" } else { "NO" });
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_is_the_least_squares_fit() {
        assert_eq!(slope(&[(0.0, 10.0), (1.0, 12.0), (2.0, 14.0)]), 2.0);
        assert_eq!(slope(&[(0.0, 10.0), (1.0, 14.0), (2.0, 12.0)]), 1.0);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
    }
}
