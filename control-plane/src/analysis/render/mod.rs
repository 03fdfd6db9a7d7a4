//! How a report is shown: terminal tables ([`table`]), a self-contained HTML page ([`html`], its
//! dependency graph laid out by [`layout`]); JSON is the report's serde form.

pub mod html;
pub mod layout;
pub mod table;

use std::time::{Duration, UNIX_EPOCH};

/// RFC 3339 UTC time of a Unix second.
pub fn utc(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_secs)).to_string()
}

/// A rate as a percentage with two decimals, `-` when unknown.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.2} %", r * 100.0))
}
