//! Where trace data comes from. Each source turns its format into traces of
//! [`super::model::Span`]s and hands them to an [`super::Analyzer`] one trace at a time; what it
//! cannot read is recorded as an input error in the report (the rest is still analysed).
//!
//! - [`jaeger_json`]: a Jaeger JSON export (the UI's download, or `/api/traces` responses),
//!   parsed as a stream;
//! - [`jaeger_api`]: a Jaeger query service (`/api/services`, `/api/traces`);
//! - [`otlp_json`]: an OTLP/JSON file (one `TracesData` document, or one per line as the
//!   Collector's file exporter writes);
//! - [`collected`]: the spans the control plane collected from the filters.

pub mod collected;
pub mod jaeger_api;
pub mod jaeger_json;
pub mod otlp_json;

use std::collections::HashSet;
use std::sync::Arc;

/// Shares one allocation per distinct service or operation name.
#[derive(Debug, Default)]
pub struct Interner {
    names: HashSet<Arc<str>>,
}

impl Interner {
    /// Names kept at most; past it, names are allocated per span (correct, just slower).
    const LIMIT: usize = 1_000_000;

    pub fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(existing) = self.names.get(name) {
            return Arc::clone(existing);
        }
        let name: Arc<str> = Arc::from(name);
        if self.names.len() < Self::LIMIT {
            self.names.insert(Arc::clone(&name));
        }
        name
    }
}

/// Input errors kept in a report at most (the rest are counted in the last message).
pub const MAX_INPUT_ERRORS: usize = 20;

/// Collects per-span input errors up to [`MAX_INPUT_ERRORS`], counting the rest.
#[derive(Debug, Default)]
pub struct InputErrors {
    messages: Vec<String>,
    more: u64,
}

impl InputErrors {
    pub fn push(&mut self, message: String) {
        if self.messages.len() < MAX_INPUT_ERRORS {
            self.messages.push(message);
        } else {
            self.more += 1;
        }
    }

    /// Hands the errors to the analyzer.
    pub fn report_to(self, analyzer: &mut super::Analyzer) {
        for message in self.messages {
            analyzer.input_error(message);
        }
        if self.more > 0 {
            analyzer.input_error(format!("… and {} more input errors of the same kinds", self.more));
        }
    }
}
