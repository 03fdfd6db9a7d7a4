//! Hand-built spans for the analyses' tests.

use std::sync::Arc;

use acgs_proto::telemetry::HashStatus;

use super::model::{Attribute, Span};
use super::report::{Analysis, Finding, Report};
use super::{analyze_traces, AnalysisOptions};

/// 2023-11-14T22:13:20Z, the time hand-built spans start at by default.
pub const T0: u64 = 1_700_000_000_000_000;

/// A span with defaults: starts at [`T0`], 1 ms, HTTP 200, valid hash, no parent, no peer.
pub fn span(trace: u128, id: u64, service: &str, operation: &str) -> Span {
    Span {
        trace_id: Arc::from(format!("{trace:032x}")),
        span_id: id,
        parent_span_id: None,
        service: Arc::from(service),
        operation: Arc::from(operation),
        start_micros: T0,
        duration_micros: 1_000,
        http_status: Some(200),
        error: false,
        hash_status: Some(HashStatus::Valid),
        peer: None,
        remote: None,
        client: false,
        server: false,
        attributes: Vec::new(),
    }
}

/// Builder-style changes to a span.
pub trait SpanExt {
    fn parent(self, id: u64) -> Self;
    fn at(self, micros: u64) -> Self;
    fn took(self, micros: u64) -> Self;
    fn status(self, status: u16) -> Self;
    fn hash(self, status: Option<HashStatus>) -> Self;
    fn server(self) -> Self;
    fn peer(self, peer: &str) -> Self;
    fn calls_external(self, remote: &str) -> Self;
    fn attr(self, key: &str, value: &str) -> Self;
}

impl SpanExt for Span {
    fn parent(mut self, id: u64) -> Self {
        self.parent_span_id = Some(id);
        self
    }
    fn at(mut self, micros: u64) -> Self {
        self.start_micros = micros;
        self
    }
    fn took(mut self, micros: u64) -> Self {
        self.duration_micros = micros;
        self
    }
    fn status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self.error = status >= 500;
        self
    }
    fn hash(mut self, status: Option<HashStatus>) -> Self {
        self.hash_status = status;
        self
    }
    fn server(mut self) -> Self {
        self.server = true;
        self
    }
    fn peer(mut self, peer: &str) -> Self {
        self.peer = Some(Arc::from(peer));
        self
    }
    fn calls_external(mut self, remote: &str) -> Self {
        self.client = true;
        self.remote = Some(Arc::from(remote));
        self
    }
    fn attr(mut self, key: &str, value: &str) -> Self {
        self.attributes.push(Attribute { key: key.to_owned(), value: value.to_owned() });
        self
    }
}

/// The report over the traces with default options.
pub fn report(traces: &[Vec<Span>]) -> Report {
    report_with(traces, AnalysisOptions::default())
}

pub fn report_with(traces: &[Vec<Span>], options: AnalysisOptions) -> Report {
    analyze_traces(traces.iter().map(Vec::as_slice), options, "test")
}

/// (rule, service, operation) of one analysis' findings, in report order.
pub fn findings_of(report: &Report, analysis: Analysis) -> Vec<(String, String, Option<String>)> {
    report
        .findings
        .iter()
        .filter(|f| f.analysis == analysis)
        .map(|f: &Finding| (f.rule.clone(), f.service.clone(), f.operation.clone()))
        .collect()
}

/// `n` single-span healthy traces of `service`/`operation`, one every `every_micros` from `from`.
pub fn steady(
    service: &str,
    operation: &str,
    n: u64,
    from: u64,
    every_micros: u64,
    first_trace: u128,
) -> Vec<Vec<Span>> {
    (0..n).map(|i| vec![span(first_trace + u128::from(i), 1, service, operation).at(from + i * every_micros)]).collect()
}
