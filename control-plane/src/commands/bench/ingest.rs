//! `acgs-tracing bench ingest`: realistic telemetry batches (as the filter sends them: about 10 %
//! span records, the rest aggregate entries) posted to `POST /v1/telemetry` of the real control
//! plane on loopback by concurrent clients, authenticated and deduplicated (every post carries a
//! new (vm_id, seq)), against a plain prost decode of the same batches in the same process on one
//! core. Records are aggregate entries plus span records.
//!
//! With `--replicas N` a paced load (each client one batch every [`PACE`], as filter VMs flush on
//! a timer: below one replica's capacity, so nothing is shed) goes through one replica and through
//! N replicas in the same process, each client (a filter VM) to one of them as consistent hashing
//! pins a VM (docs/scale-out.md); the report compares the process CPU seconds per million records
//! of both: what running N replicas costs over one for the same telemetry. Both sets run side by
//! side and are measured in alternating windows, the median window of each reported, so that a
//! burst of the machine's noise falls on both alike rather than on whichever ran second. The load
//! generator runs in the process for both, so its share is in both. Both paced sets configure the
//! replicas as the Deployment does (the built-in alert evaluator off).
//!
//! Every set starts measuring at the replicas' steady state: after a warm-up that fills each
//! replica's span buffer, as in a replica that has run a while.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acgs_proto::telemetry::{AggregateEntry, Category, HashStatus, SpanRecord, SpanSource, TelemetryBatch};
use bytes::Bytes;
use clap::Args;
use cpu_time::ProcessTime;
use http_body_util::Full;
use prost::Message as _;
use serde::Serialize;

use super::load::{self, LoadArgs, MakeRequest};
use crate::alerts::rules::AlertConfig;
use crate::commands::args::OutputFormat;
use crate::server::{start, RunningServer, ServerConfig};
use crate::telemetry::store::StoreLimits;
use crate::telemetry::TelemetryConfig;

pub(super) const TOKEN: &str = "bench-token";
const AGGREGATES: usize = 180;
const SPANS: usize = 20;
/// Each client's batch interval in the CPU comparison.
const PACE: Duration = Duration::from_millis(5);
/// Measured windows of each paced set, alternating.
const PACED_WINDOWS: usize = 5;
/// Warm-up rounds of 300 ms at most (a paced replica fills its span buffer in about 10).
const WARM_UP_ROUNDS: usize = 40;

/// Telemetry ingest vs plain decoding.
#[derive(Debug, Args)]
#[command(mut_arg("connections", |arg| {
    arg.help("Concurrent keep-alive connections (each a filter VM)")
        .default_value("8")
        .value_parser(clap::value_parser!(u64).range(1..=256))
}))]
pub struct IngestBench {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Also run the load through this many replicas and compare with one.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub replicas: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Serialize)]
pub struct IngestBenchReport {
    pub connections: u64,
    pub records_per_batch: usize,
    pub batch_bytes: usize,
    pub records_per_s: f64,
    pub decode_records_per_s: f64,
    pub ratio: f64,
    /// Batches answered 503 (ingest's queue full: the filters would retry them later).
    pub overloaded_batches: u64,
    /// Batches refused otherwise (401, 400, 413...): none when the benchmark is right.
    pub refused_batches: u64,
    /// Process CPU seconds per million records ingested by one replica at full load (503s
    /// included in the CPU, not in the records).
    pub cpu_seconds_per_million: f64,
    /// The run through `--replicas` replicas, when more than one.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub replicated: Option<ReplicatedRun>,
}

/// The same load through several replicas.
#[derive(Debug, Serialize)]
pub struct ReplicatedRun {
    pub replicas: u64,
    /// The paced load through one replica.
    pub paced_records_per_s: f64,
    pub paced_cpu_seconds_per_million: f64,
    /// The same paced load through the replicas.
    pub replicas_records_per_s: f64,
    pub replicas_cpu_seconds_per_million: f64,
    /// Batches shed in either paced run (none when the pace is below capacity, as intended).
    pub replicas_overloaded_batches: u64,
    /// CPU per million records through the replicas over through one (goal ≤ 1.2).
    pub cpu_per_million_ratio: f64,
}

/// What one measured run through `replicas` servers gave.
#[derive(Debug, Clone, Copy)]
struct Measured {
    records_per_s: f64,
    cpu_seconds_per_million: f64,
    overloaded: u64,
    refused: u64,
}

/// Control planes on loopback taking the same load, client `i` on replica `i % replicas`, warmed
/// up to their steady state.
struct Replicas {
    servers: Vec<RunningServer>,
    connections: usize,
    make: MakeRequest,
    records_per_batch: f64,
}

impl Replicas {
    /// Starts `replicas` control planes and warms them up. `deployed`: configured as the
    /// Deployment runs replicas (the built-in alert evaluator off; Prometheus evaluates the rules).
    async fn start(
        template: &TelemetryBatch,
        replicas: usize,
        connections: usize,
        pace: Option<Duration>,
        deployed: bool,
    ) -> anyhow::Result<Self> {
        let mut servers = Vec::with_capacity(replicas);
        for _ in 0..replicas {
            let loopback = ServerConfig::loopback(None);
            let config = ServerConfig {
                telemetry: TelemetryConfig { token: Some(TOKEN.to_owned()), ..TelemetryConfig::default() },
                alerts: AlertConfig { builtin: !deployed, ..loopback.alerts.clone() },
                ..loopback
            };
            servers.push(start(config).await?);
        }
        let records_per_batch = (template.aggregates.len() + template.spans.len()) as f64;
        let set = Self { servers, connections, make: batch_requests(template), records_per_batch };
        // Steady state: every replica's span buffer full (from then on each span stored replaces
        // the oldest, in memory already touched), as in a replica that has run a while. Until then
        // the first touch of the buffer's memory costs page faults a long-running replica no
        // longer pays.
        let span_buffer = StoreLimits::default().span_buffer as u64;
        for _ in 0..WARM_UP_ROUNDS {
            set.load(Duration::from_millis(300), pace).await?;
            let full = set
                .servers
                .iter()
                .all(|server| server.telemetry.store().read().is_ok_and(|store| store.spans_received() >= span_buffer));
            if full {
                break;
            }
        }
        Ok(set)
    }

    /// Loads every replica for `duration`; each replica's clients' results.
    async fn load(&self, duration: Duration, pace: Option<Duration>) -> anyhow::Result<Vec<load::LoadResult>> {
        let replicas = self.servers.len();
        let per_replica = |i: usize| self.connections / replicas + usize::from(i < self.connections % replicas);
        futures::future::try_join_all(self.servers.iter().enumerate().filter(|(i, _)| per_replica(*i) > 0).map(
            |(i, server)| load::run_paced(server.http_addr, per_replica(i), duration, pace, Arc::clone(&self.make)),
        ))
        .await
    }

    /// One measured window of load: records/s and the process's CPU per million records.
    async fn measure(&self, duration: Duration, pace: Option<Duration>) -> anyhow::Result<Measured> {
        let cpu = ProcessTime::now();
        let results = self.load(duration, pace).await?;
        let cpu_seconds = cpu.elapsed().as_secs_f64();
        let ingested = results.iter().map(|r| r.ok).sum::<u64>() as f64 * self.records_per_batch;
        Ok(Measured {
            records_per_s: results.iter().map(|r| r.ok_per_s).sum::<f64>() * self.records_per_batch,
            cpu_seconds_per_million: cpu_seconds / ingested.max(1.0) * 1e6,
            overloaded: results.iter().map(|r| r.overloaded).sum(),
            refused: results.iter().map(|r| r.other).sum(),
        })
    }

    async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// The paced load through one replica and through `replicas`, both sets warmed up first, then
/// measured in alternating windows ([`PACED_WINDOWS`] each, together as long as `duration`), so
/// that the machine's noise falls on both alike; the median window of each.
async fn paced_comparison(
    template: &TelemetryBatch,
    replicas: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(Measured, Measured)> {
    let one = Replicas::start(template, 1, connections, Some(PACE), true).await?;
    let many = Replicas::start(template, replicas, connections, Some(PACE), true).await?;
    let window = duration / PACED_WINDOWS as u32;
    let (mut ones, mut manys) = (Vec::new(), Vec::new());
    for _ in 0..PACED_WINDOWS {
        ones.push(one.measure(window, Some(PACE)).await?);
        manys.push(many.measure(window, Some(PACE)).await?);
    }
    one.shutdown().await;
    many.shutdown().await;
    Ok((median(ones), median(manys)))
}

/// The window with the median CPU per million records; the shed batches of all windows.
fn median(mut windows: Vec<Measured>) -> Measured {
    let overloaded = windows.iter().map(|w| w.overloaded).sum();
    let refused = windows.iter().map(|w| w.refused).sum();
    windows.sort_by(|a, b| a.cpu_seconds_per_million.total_cmp(&b.cpu_seconds_per_million));
    let middle = windows.get(windows.len() / 2).copied().unwrap_or(Measured {
        records_per_s: 0.0,
        cpu_seconds_per_million: 0.0,
        overloaded: 0,
        refused: 0,
    });
    Measured { overloaded, refused, ..middle }
}

impl IngestBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let template = realistic_batch();
        let records = template.aggregates.len() + template.spans.len();
        let encoded = template.encode_to_vec();
        let decode_records_per_s = decode_rate(&encoded, records);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let connections = self.load.clients()?;
        let duration = self.load.duration();
        let replicas = usize::try_from(self.replicas)?;
        let report = runtime.block_on(async {
            let full_load = Replicas::start(&template, 1, connections, None, false).await?;
            let one = full_load.measure(duration, None).await?;
            full_load.shutdown().await;
            let replicated = if replicas > 1 {
                let (paced_one, many) = paced_comparison(&template, replicas, connections, duration * 2).await?;
                Some(ReplicatedRun {
                    replicas: self.replicas,
                    paced_records_per_s: paced_one.records_per_s,
                    paced_cpu_seconds_per_million: paced_one.cpu_seconds_per_million,
                    replicas_records_per_s: many.records_per_s,
                    replicas_cpu_seconds_per_million: many.cpu_seconds_per_million,
                    replicas_overloaded_batches: paced_one.overloaded + many.overloaded,
                    cpu_per_million_ratio: many.cpu_seconds_per_million
                        / paced_one.cpu_seconds_per_million.max(f64::MIN_POSITIVE),
                })
            } else {
                None
            };
            anyhow::Ok(IngestBenchReport {
                connections: self.load.connections,
                records_per_batch: records,
                batch_bytes: encoded.len(),
                records_per_s: one.records_per_s,
                decode_records_per_s,
                ratio: one.records_per_s / decode_records_per_s.max(f64::MIN_POSITIVE),
                overloaded_batches: one.overloaded,
                refused_batches: one.refused,
                cpu_seconds_per_million: one.cpu_seconds_per_million,
                replicated,
            })
        })?;
        match self.format {
            OutputFormat::Text => print_text(&report),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A batch as a busy filter VM sends it: many (operation, status, hash status) aggregates with
/// latency histograms, and the sampled spans with their attributes.
pub(super) fn realistic_batch() -> TelemetryBatch {
    let statuses = [HashStatus::Valid, HashStatus::Missing, HashStatus::Mismatch, HashStatus::Exempt];
    let aggregates = (0..AGGREGATES)
        .map(|i| {
            let buckets = vec![i as u64 % 7, 3, 9, 4, 1];
            let count = buckets.iter().sum();
            AggregateEntry {
                service: "groqcloud-policy".to_owned(),
                operation: format!("GET /v1/policies/{{id}}/rules/{}", i / 4),
                status_class: 2 + (i % 3) as u32,
                hash_status: statuses[i % statuses.len()] as i32,
                category: Category::Other.as_str().to_owned(),
                count,
                latency_buckets: buckets,
                latency_sum_micros: count * 420,
                latency_max_micros: 900,
                source: if i % 4 == 1 {
                    "spiffe://cluster.local/ns/default/sa/client".to_owned()
                } else {
                    String::new()
                },
            }
        })
        .collect();
    // As the filter sends them: the facts typed, the control plane writes the attributes.
    let spans = (0..SPANS)
        .map(|i| SpanRecord {
            trace_id: vec![i as u8 + 1; 16],
            span_id: vec![i as u8 + 1; 8],
            parent_span_id: Vec::new(),
            name: "GET /v1/policies/{id}".to_owned(),
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_000_450_000,
            attributes: Vec::new(),
            peer: "10.0.0.9".to_owned(),
            hash_status: HashStatus::Valid as i32,
            category: Category::Other.as_str().to_owned(),
            sampling_rule: "probabilistic(0.1)@groqcloud-policy".to_owned(),
            method: "GET".to_owned(),
            path: "/v1/policies/7".to_owned(),
            status_code: 200,
            authority: "groqcloud-policy:8080".to_owned(),
            user_agent: "acgs-bench/1.0".to_owned(),
        })
        .collect();
    TelemetryBatch {
        vm_id: String::new(),
        seq: 0,
        service: "groqcloud-policy".to_owned(),
        window_start_unix_nanos: 1,
        window_end_unix_nanos: 2,
        aggregates,
        spans,
        dropped: None,
        constitutional_hash: "cdd01ef066bc6cf2".to_owned(),
        span_source: SpanSource::Filter as i32,
    }
}

/// Records per second of a plain decode of `encoded`, one core.
fn decode_rate(encoded: &[u8], records: usize) -> f64 {
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..50 {
            std::hint::black_box(TelemetryBatch::decode(encoded).ok());
        }
        rounds += 50;
    }
    rounds as f64 * records as f64 / started.elapsed().as_secs_f64()
}

/// Posts of the batch, each with its client's vm_id and the next seq. The body is the batch
/// encoded once, followed by the vm_id and seq fields (protobuf keeps the last value of a field),
/// so building a request costs a copy, not an encode.
pub(super) fn batch_requests(template: &TelemetryBatch) -> MakeRequest {
    let base = Bytes::from(template.encode_to_vec());
    let seq = Arc::new(AtomicU64::new(1));
    Arc::new(move |client, _| {
        let trailer = TelemetryBatch {
            vm_id: format!("bench-vm-{client}"),
            seq: seq.fetch_add(1, Ordering::Relaxed),
            ..TelemetryBatch::default()
        };
        let mut body = Vec::with_capacity(base.len() + 32);
        body.extend_from_slice(&base);
        trailer.encode(&mut body).unwrap_or_default();
        let mut request = hyper::Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = hyper::Uri::from_static("/v1/telemetry");
        let headers = request.headers_mut();
        headers.insert("host", hyper::header::HeaderValue::from_static("acgs-control-plane"));
        headers.insert("content-type", hyper::header::HeaderValue::from_static("application/x-protobuf"));
        headers.insert("authorization", hyper::header::HeaderValue::from_static("Bearer bench-token"));
        request
    })
}

fn print_text(report: &IngestBenchReport) {
    println!(
        "ingest benchmark: {} connections, batches of {} records ({} bytes)",
        report.connections, report.records_per_batch, report.batch_bytes
    );
    println!("  ingested (HTTP, auth, dedupe)  {:>12.0} records/s", report.records_per_s);
    println!("  plain prost decode, one core   {:>12.0} records/s", report.decode_records_per_s);
    println!("  ratio                          {:>12.2}", report.ratio);
    println!("  batches shed (503, retried)    {:>12}", report.overloaded_batches);
    println!("  batches refused (4xx)          {:>12}", report.refused_batches);
    println!("  CPU s per million records      {:>12.3}", report.cpu_seconds_per_million);
    if let Some(run) = &report.replicated {
        println!(
            "  paced ({PACE:?} per client), one replica {:>12.0} records/s, {:.3} CPU s per million",
            run.paced_records_per_s, run.paced_cpu_seconds_per_million
        );
        println!(
            "  paced, {} replicas               {:>12.0} records/s, {:.3} CPU s per million",
            run.replicas, run.replicas_records_per_s, run.replicas_cpu_seconds_per_million
        );
        println!("  batches shed while paced       {:>12}", run.replicas_overloaded_batches);
        println!("  cpu_per_million_ratio          {:>12.2}", run.cpu_per_million_ratio);
    }
}
