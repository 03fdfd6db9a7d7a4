//! Trace categories and compliance levels (docs/contracts.md, domain facts), and the rules that put a
//! request in a category, first match wins:
//! 1. an exempt path (health checks, metrics) is `health`;
//! 2. a request the `constitutional` selector matches (its service, a path prefix, or an
//!    operation name) is `constitutional`;
//! 3. path segments name the rest: `consensus`; `db`, `database`, `query` → `database`;
//!    `external`, `llm`, `openai`, `groq` → `external_api`; `auth`, `token`, `login`,
//!    `oauth` → `auth`; anything else is `other`.

use crate::config::ConstitutionalSelector;

/// Categories and compliance levels, with their labels, are defined once in `acgs-proto`.
pub use acgs_proto::telemetry::{Category, Compliance};

/// What a request is, for categorisation.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub exempt: bool,
    pub service: &'a str,
    /// The path without its query string.
    pub path: &'a [u8],
    pub operation: &'a str,
}

const SEGMENT_CATEGORIES: [(&[&str], Category); 4] = [
    (&["consensus"], Category::Consensus),
    (&["db", "database", "query"], Category::Database),
    (&["external", "llm", "openai", "groq"], Category::ExternalApi),
    (&["auth", "token", "login", "oauth"], Category::Auth),
];

pub fn categorize(request: &RequestFacts<'_>, selector: &ConstitutionalSelector) -> Category {
    if request.exempt {
        return Category::Health;
    }
    if selector.matches(request.service, request.path, request.operation) {
        return Category::Constitutional;
    }
    for (names, category) in SEGMENT_CATEGORIES {
        let found = request
            .path
            .split(|byte| *byte == b'/')
            .any(|segment| names.iter().any(|name| segment.eq_ignore_ascii_case(name.as_bytes())));
        if found {
            return category;
        }
    }
    Category::Other
}

#[cfg(test)]
mod tests;
