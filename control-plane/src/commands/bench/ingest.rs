//! `acgs-tracing bench ingest`: realistic telemetry batches (as the filter sends them: about 10 %
//! span records, the rest aggregate entries) posted to `POST /v1/telemetry` of the real control
//! plane on loopback by concurrent clients, authenticated and deduplicated (every post carries a
//! new (vm_id, seq)), against a plain prost decode of the same batches in the same process on one
//! core. Records are aggregate entries plus span records.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acgs_proto::telemetry::{AggregateEntry, Category, HashStatus, SpanRecord, SpanSource, TelemetryBatch};
use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use prost::Message as _;
use serde::Serialize;

use super::load::{self, LoadArgs, MakeRequest};
use crate::commands::args::OutputFormat;
use crate::server::{start, ServerConfig};
use crate::telemetry::TelemetryConfig;

pub(super) const TOKEN: &str = "bench-token";
const AGGREGATES: usize = 180;
const SPANS: usize = 20;

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
}

impl IngestBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let template = realistic_batch();
        let records = template.aggregates.len() + template.spans.len();
        let encoded = template.encode_to_vec();
        let decode_records_per_s = decode_rate(&encoded, records);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let report = runtime.block_on(async {
            let config = ServerConfig {
                telemetry: TelemetryConfig { token: Some(TOKEN.to_owned()), ..TelemetryConfig::default() },
                ..ServerConfig::loopback(None)
            };
            let server = start(config).await?;
            let make = batch_requests(&template);
            let connections = self.load.clients()?;
            load::run(server.http_addr, connections, Duration::from_millis(300), Arc::clone(&make)).await?;
            let result = load::run(server.http_addr, connections, self.load.duration(), make).await?;
            server.shutdown().await;
            let records_per_s = result.ok_per_s * records as f64;
            anyhow::Ok(IngestBenchReport {
                connections: self.load.connections,
                records_per_batch: records,
                batch_bytes: encoded.len(),
                records_per_s,
                decode_records_per_s,
                ratio: records_per_s / decode_records_per_s.max(f64::MIN_POSITIVE),
                overloaded_batches: result.overloaded,
                refused_batches: result.other,
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
}
