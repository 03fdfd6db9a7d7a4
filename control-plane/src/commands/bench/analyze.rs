//! `acgs-tracing bench analyze`: N spans (default 1,000,000) written as a Jaeger JSON export
//! (traces of ten spans over the seed services, filter attributes, some violations, one slow
//! service), then the full analysis of the file (streamed, as `analyze --file` does) against a
//! plain `serde_json` parse of the same file into `serde_json::Value` in the same run. Prints
//! `spans`, `parse_s`, `analyze_s`, `ratio` (analyze_s / parse_s) and `peak_rss_mb` (the
//! process's peak resident memory after the analysis, before the baseline parse runs).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use acgs_proto::telemetry::HashStatus;
use clap::Args;
use serde::Serialize;

use crate::analysis::source::jaeger_json;
use crate::analysis::{AnalysisOptions, Analyzer};
use crate::commands::args::OutputFormat;
use crate::rollout::render::DEFAULT_HASH;

const SPANS_PER_TRACE: u64 = 10;
const SERVICES: [&str; 4] = ["constitutional-core", "groqcloud-policy", "auth-service", "health-check"];

/// Trace analysis vs plain JSON parsing.
#[derive(Debug, Args)]
pub struct AnalyzeBench {
    /// Spans in the generated export.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(10..=100_000_000))]
    pub spans: u64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Serialize)]
pub struct AnalyzeBenchReport {
    pub spans: u64,
    pub file_mb: f64,
    pub parse_s: f64,
    pub analyze_s: f64,
    pub ratio: f64,
    pub peak_rss_mb: f64,
    pub issues_found: u64,
}

impl AnalyzeBench {
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let path = std::env::temp_dir().join(format!("acgs-bench-analyze-{}.json", std::process::id()));
        let result = self.run(&path);
        let _ = std::fs::remove_file(&path);
        let report = result?;
        match self.format {
            OutputFormat::Text => {
                println!("trace analysis of a Jaeger export ({} spans, {:.1} MB)", report.spans, report.file_mb);
                println!("  serde_json parse to Value {:>8.3} s", report.parse_s);
                println!("  full analysis             {:>8.3} s  ({} issues)", report.analyze_s, report.issues_found);
                println!("  ratio (analyze / parse)   {:>8.3}  (goal ≤ 1)", report.ratio);
                println!("  peak RSS after analysis   {:>8.1} MB", report.peak_rss_mb);
            }
            OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        }
        Ok(ExitCode::SUCCESS)
    }

    fn run(&self, path: &Path) -> anyhow::Result<AnalyzeBenchReport> {
        let progress = crate::commands::progress::spinner();
        progress.set_message(format!("writing a Jaeger export of {} spans", self.spans));
        write_export(path, self.spans)?;
        progress.set_message("analysing it");
        let file_mb = std::fs::metadata(path)?.len() as f64 / 1_048_576.0;
        let started = Instant::now();
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        jaeger_json::feed(BufReader::with_capacity(1 << 20, File::open(path)?), "bench", &mut analyzer, None);
        let report = analyzer.finish("bench");
        let analyze_s = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            report.summary.spans_analyzed == self.spans && report.data_quality.input_errors.is_empty(),
            "the analysis read {} of {} spans ({:?})",
            report.summary.spans_analyzed,
            self.spans,
            report.data_quality.input_errors
        );
        let peak_rss_mb = super::memory_mb("VmHWM").unwrap_or(0.0);
        progress.set_message("parsing it with serde_json (the baseline)");
        let started = Instant::now();
        let value: serde_json::Value = serde_json::from_reader(BufReader::with_capacity(1 << 20, File::open(path)?))?;
        let parse_s = started.elapsed().as_secs_f64();
        drop(std::hint::black_box(value));
        progress.finish_and_clear();
        Ok(AnalyzeBenchReport {
            spans: self.spans,
            file_mb,
            parse_s,
            analyze_s,
            ratio: analyze_s / parse_s.max(f64::MIN_POSITIVE),
            peak_rss_mb,
            issues_found: report.summary.total_issues,
        })
    }
}

/// Writes `spans` spans as `{"data": [trace, …]}` in Jaeger's format.
fn write_export(path: &Path, spans: u64) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(b"{\"data\":[")?;
    let traces = spans.div_ceil(SPANS_PER_TRACE);
    let mut written = 0;
    let start = 1_700_000_000_000_000u64;
    for trace in 0..traces {
        if trace > 0 {
            out.write_all(b",")?;
        }
        write!(out, "{{\"traceID\":\"{:032x}\",\"spans\":[", trace + 1)?;
        let in_trace = SPANS_PER_TRACE.min(spans - written);
        for index in 0..in_trace {
            let service = (trace + index) as usize % SERVICES.len();
            let status = match (trace * SPANS_PER_TRACE + index) % 100 {
                0 => HashStatus::Mismatch,
                1 => HashStatus::Missing,
                _ => HashStatus::Valid,
            };
            let code = if status == HashStatus::Valid { 200 } else { 403 };
            let duration = if service == 2 { 6_000 + index * 10 } else { 400 + (trace % 7) * 50 + index };
            let parent = if index == 0 {
                String::new()
            } else {
                format!("{{\"refType\":\"CHILD_OF\",\"traceID\":\"{:032x}\",\"spanID\":\"{:016x}\"}}", trace + 1, index)
            };
            if index > 0 {
                out.write_all(b",")?;
            }
            write!(
                out,
                "{{\"traceID\":\"{trace_id:032x}\",\"spanID\":\"{span_id:016x}\",\"flags\":1,\"operationName\":\"GET /v1/op/{op}\",\
\"references\":[{parent}],\"startTime\":{start},\"duration\":{duration},\"tags\":[\
{{\"key\":\"constitutional.hash\",\"type\":\"string\",\"value\":\"{DEFAULT_HASH}\"}},\
{{\"key\":\"constitutional.hash.status\",\"type\":\"string\",\"value\":\"{status}\"}},\
{{\"key\":\"acgs.category\",\"type\":\"string\",\"value\":\"constitutional\"}},\
{{\"key\":\"http.request.method\",\"type\":\"string\",\"value\":\"GET\"}},\
{{\"key\":\"url.path\",\"type\":\"string\",\"value\":\"/v1/op/{op}/{trace}\"}},\
{{\"key\":\"http.response.status_code\",\"type\":\"int64\",\"value\":{code}}},\
{{\"key\":\"span.kind\",\"type\":\"string\",\"value\":\"server\"}},\
{{\"key\":\"client.address\",\"type\":\"string\",\"value\":\"spiffe://cluster.local/ns/default/sa/client-{client}\"}}],\
\"logs\":[],\"processID\":\"p{service}\",\"warnings\":null}}",
                trace_id = trace + 1,
                span_id = index + 1,
                op = index % 3,
                start = start + trace * 1_000 + index * 10,
                client = trace % 5,
            )?;
        }
        written += in_trace;
        out.write_all(b"],\"processes\":{")?;
        for (index, service) in SERVICES.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            write!(out, "\"p{index}\":{{\"serviceName\":\"{service}\",\"tags\":[]}}")?;
        }
        out.write_all(b"},\"warnings\":null}")?;
    }
    out.write_all(b"],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}")?;
    out.flush()?;
    Ok(())
}
