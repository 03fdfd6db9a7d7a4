//! Dependencies: the service graph, with calls, errors, error rate and p99 per edge.
//!
//! Edges come from these facts:
//! - a span whose parent (in the same trace) belongs to another service: parent service → service;
//!   else a server span without a parent in the trace that records its caller (the filter's mTLS
//!   peer): caller → service;
//! - and a client span with no child in the trace that names its remote end (`peer.service`,
//!   `server.address`, the host of its URL): service → remote, marked external.
//!
//! The p99 of an edge is the callee side's span duration. Edges raise no findings: they are the
//! map the other findings are read against.

use std::collections::HashMap;
use std::sync::Arc;

use super::latency::Latencies;
use super::report::{millis, DependencyEdge, DependencySection};
use super::SpanContext;

#[derive(Debug, Default)]
struct Edge {
    external: bool,
    errors: u64,
    latencies: Latencies,
}

/// Accumulates the service graph.
#[derive(Debug, Default)]
pub struct DependencyAnalysis {
    edges: HashMap<(Arc<str>, Arc<str>), Edge>,
}

impl DependencyAnalysis {
    pub fn observe(&mut self, context: &SpanContext<'_>) {
        let span = context.span;
        let inbound = match context.parent {
            Some(parent) if parent.service != span.service => Some(Arc::clone(&parent.service)),
            None if span.peer.is_some() && !span.client => Some(Arc::clone(&context.caller)),
            _ => None,
        };
        if let Some(from) = inbound {
            self.record(from, Arc::clone(&span.service), false, span);
        }
        if let (Some(remote), true, false) = (&span.remote, span.client, context.has_children) {
            self.record(Arc::clone(&span.service), Arc::clone(remote), true, span);
        }
    }

    fn record(&mut self, from: Arc<str>, to: Arc<str>, external: bool, span: &super::model::Span) {
        let edge = self.edges.entry((from, to)).or_default();
        edge.external |= external;
        edge.errors += u64::from(span.error);
        edge.latencies.record_micros(span.duration_micros);
    }

    pub fn finish(self) -> DependencySection {
        let mut edges: Vec<DependencyEdge> = self
            .edges
            .into_iter()
            .map(|((from, to), edge)| {
                let calls = edge.latencies.count();
                DependencyEdge {
                    from: from.to_string(),
                    to: to.to_string(),
                    external: edge.external,
                    calls,
                    errors: edge.errors,
                    error_rate: if calls == 0 { 0.0 } else { edge.errors as f64 / calls as f64 },
                    p99_ms: millis(edge.latencies.quantile_micros(0.99) as f64),
                }
            })
            .collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        DependencySection { edges }
    }
}

#[cfg(test)]
mod tests;
