//! `acgs-tracing bench pipeline`: what recording every hop costs, against head sampling at the
//! gateway, in the same run (docs/mesh.md). The request chain of [`crate::mesh::chain`]
//! (gateway → service-a → service-b, with the applications' own spans), the real filter,
//! Envoy's tracing from the rendered Telemetry, and the rendered Collector tiers; service-a's
//! strategy is `--rate`, service-b's 1.0. Per client request: the spans sent to the Collector and
//! their OTLP wire bytes; at `--rps` requests per second, the spans and bytes the sampling tier
//! holds during its `decision_wait`; and the traces the storage keeps. The clients send their own
//! `x-request-id`s, the same in both runs, so both must keep exactly the requests service-a's
//! strategy keeps on that coin (the filter and Istio's percentage draw the same one).

use std::process::ExitCode;
use std::time::Duration;

use acgs_wasm_host::{FilterModule, RecordedSpan};
use anyhow::Context as _;
use clap::Args;
use prost::Message as _;
use serde::Serialize;

use crate::collector::{otlp_span, CollectorStandIn};
use crate::commands::args::OutputFormat;
use crate::mesh::chain::{client_request, AppCall, Chain, ChainConfig, Entry, SERVICE_A, SERVICE_B};
use crate::mesh::sidecar::load_filter;
use crate::rollout::render::{render, RenderOptions};

/// Record-everything and tail sampling vs head sampling at the gateway.
#[derive(Debug, Args)]
pub struct PipelineBench {
    /// Client requests per run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub requests: u64,

    /// service-a's probabilistic strategy (where the traces enter).
    #[arg(long, default_value_t = 0.1, value_parser = probability)]
    pub rate: f64,

    /// The request rate the memory figures are given for.
    #[arg(long, default_value_t = 1_000.0)]
    pub rps: f64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// One way of running the pipeline.
#[derive(Debug, Serialize)]
pub struct PipelineRun {
    /// Istio's percentage at the gateway.
    pub gateway_percent: f64,
    pub spans_per_request: f64,
    pub otlp_bytes_per_request: f64,
    /// Spans and OTLP bytes waiting in the sampling tier at `rps` over `decision_wait`.
    pub held_spans: f64,
    pub held_bytes: f64,
    pub kept_traces: u64,
    /// Whether the kept requests are exactly those the strategy keeps (by their `x-request-id`).
    pub kept_exactly_the_strategy: bool,
}

/// The benchmark's result.
#[derive(Debug, Serialize)]
pub struct PipelineBenchReport {
    pub requests: u64,
    pub rate: f64,
    pub rps: f64,
    pub decision_wait_s: f64,
    pub otlp_bytes_per_span: f64,
    pub record_everything: PipelineRun,
    pub head_sampling: PipelineRun,
    /// Bytes sent to the Collector with head sampling / recording everything.
    pub ratio: f64,
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{text} is not a probability in [0, 1]")),
    }
}

/// The `x-request-id` of the `n`th client request: a UUID whose first 8 hex digits (Envoy's coin)
/// are spread uniformly.
fn request_id(n: u64) -> String {
    let mut mixed = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:08x}-0000-4000-8000-{n:012x}", (mixed ^ (mixed >> 31)) as u32)
}

/// Whether Envoy's coin for `id` keeps it at `rate` (whole hundredths of a percent).
fn coin_keeps(id: &str, rate: f64) -> bool {
    u32::from_str_radix(&id[..8], 16).is_ok_and(|draw| f64::from(draw % 10_000) < rate * 10_000.0)
}

fn filter_config(service: &str, rate: f64) -> serde_json::Value {
    serde_json::json!({
        "service": service,
        "fallback_strategy": {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": rate}}
    })
}

impl PipelineBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let manifests = render(&RenderOptions::default())?;
        let filter = load_filter(None)?;
        let noop =
            FilterModule::from_bytes(acgs_filter_artifacts::NOOP_FILTER_WASM).context("loading the no-op filter")?;
        let head_percent = (self.rate * 10_000.0).ceil() / 100.0;
        let (record, record_bytes, wait) = self.run(&manifests, &filter, &noop, 100.0)?;
        let (head, head_bytes, _) = self.run(&manifests, &filter, &noop, head_percent)?;
        let spans = |run: &PipelineRun| run.spans_per_request * self.requests as f64;
        let report = PipelineBenchReport {
            requests: self.requests,
            rate: self.rate,
            rps: self.rps,
            decision_wait_s: wait.as_secs_f64(),
            otlp_bytes_per_span: (record_bytes + head_bytes) / (spans(&record) + spans(&head)).max(1.0),
            ratio: head.otlp_bytes_per_request / record.otlp_bytes_per_request.max(f64::MIN_POSITIVE),
            record_everything: record,
            head_sampling: head,
        };
        match self.format {
            OutputFormat::Text => print_text(&report),
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        let exact =
            report.record_everything.kept_exactly_the_strategy && report.head_sampling.kept_exactly_the_strategy;
        Ok(if exact { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::EXIT_FAILED) })
    }

    /// One run: the chain at `gateway_percent`; returns the run, its OTLP bytes and the wait.
    fn run(
        &self,
        manifests: &[crate::rollout::bundle::Manifest],
        filter: &FilterModule,
        noop: &FilterModule,
        gateway_percent: f64,
    ) -> anyhow::Result<(PipelineRun, f64, Duration)> {
        let config = ChainConfig {
            filters: [filter_config(SERVICE_A, self.rate), filter_config(SERVICE_B, 1.0)],
            control_plane: None,
            gateway_percent: Some(gateway_percent),
        };
        let mut chain = Chain::start(manifests, filter, noop, &config)?;
        let mut collector: CollectorStandIn<RecordedSpan> = CollectorStandIn::from_render(manifests)?;
        let (mut spans, mut bytes) = (0u64, 0f64);
        for n in 0..self.requests {
            let mut client = client_request("GET", "/v1/a/items", SERVICE_A, true);
            client.headers.push("x-request-id", request_id(n));
            chain.send_request(Entry::ServiceA, client, AppCall::Plain);
            if n % 500 == 499 || n + 1 == self.requests {
                for span in chain.spans() {
                    spans += 1;
                    bytes += otlp_span(&span).encoded_len() as f64;
                    collector.receive(&span, Duration::ZERO);
                }
            }
        }
        let wait = collector.decision_wait();
        collector.tick(wait);
        // The gateway's span carries the request id (`guid:x-request-id`, its 15th character now
        // Envoy's trace reason): the request's number is in its last 12 hex digits.
        let mut kept: Vec<u64> = collector
            .stored("otlp/jaeger")
            .iter()
            .filter_map(|(span, _)| span.attribute("guid:x-request-id"))
            .filter_map(|id| u64::from_str_radix(id.get(24..)?, 16).ok())
            .collect();
        kept.sort_unstable();
        kept.dedup();
        let expected: Vec<u64> = (0..self.requests).filter(|n| coin_keeps(&request_id(*n), self.rate)).collect();
        let per_request = |total: f64| total / self.requests as f64;
        let held_spans = self.rps * per_request(spans as f64) * wait.as_secs_f64();
        let run = PipelineRun {
            gateway_percent,
            spans_per_request: per_request(spans as f64),
            otlp_bytes_per_request: per_request(bytes),
            held_spans,
            held_bytes: self.rps * per_request(bytes) * wait.as_secs_f64(),
            kept_traces: kept.len() as u64,
            kept_exactly_the_strategy: kept == expected,
        };
        Ok((run, bytes, wait))
    }
}

fn print_text(report: &PipelineBenchReport) {
    println!(
        "pipeline benchmark: {} requests gateway → service-a (strategy {}) → service-b (1.0), decision_wait {} s",
        report.requests, report.rate, report.decision_wait_s
    );
    println!("  OTLP bytes per span                    {:>10.0}", report.otlp_bytes_per_span);
    for (name, run) in [("record everything", &report.record_everything), ("head sampling", &report.head_sampling)] {
        println!("  {name} (gateway at {} %):", run.gateway_percent);
        println!("    spans to the Collector per request   {:>10.2}", run.spans_per_request);
        println!("    OTLP bytes per request               {:>10.0}", run.otlp_bytes_per_request);
        println!(
            "    held in decision_wait at {} rps    {:>10.0} spans, {:.1} MB on the wire",
            report.rps,
            run.held_spans,
            run.held_bytes / 1e6
        );
        println!(
            "    traces kept                          {:>10} ({})",
            run.kept_traces,
            if run.kept_exactly_the_strategy { "exactly the strategy's" } else { "NOT the strategy's" }
        );
    }
    println!("  ratio head/record (bytes to the Collector) {:>6.3}", report.ratio);
}
