//! Request aggregates in fixed time windows: what the alert evaluator, the analysis endpoint and
//! the demo read. Each window holds, per series (service, operation, status class, hash status),
//! the merged latency histogram. Batches are placed by the control plane's receive time, not the
//! filter's clock, so a sidecar with a skewed clock cannot move its data into the past or future.
//! The store keeps a bounded number of windows and a bounded number of series per window; what
//! does not fit is refused and counted by the caller.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use acgs_proto::telemetry::HashStatus;

use super::histogram::LatencyHistogram;

/// Identifies one series of request aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub service: Arc<str>,
    pub operation: Arc<str>,
    /// HTTP status class 1..=5, 0 when no response was seen.
    pub code_class: u8,
    /// Never `Unspecified` (batches carrying it are refused).
    pub hash_status: HashStatus,
}

// === impl SeriesKey ===

impl SeriesKey {
    /// The fields in the order series are listed by (`/metrics`), the hash status by its label.
    fn sort_key(&self) -> (&str, &str, u8, &'static str) {
        (&self.service, &self.operation, self.code_class, self.hash_status.as_str())
    }
}

impl Ord for SeriesKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for SeriesKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One window's aggregates.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Start of the window, seconds since the Unix epoch.
    pub start_unix_secs: u64,
    pub series: HashMap<SeriesKey, LatencyHistogram>,
}

/// Refused: the window already holds the maximum number of series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("window series limit {limit} reached")]
pub struct SeriesLimit {
    pub limit: usize,
}

/// Bounded ring of windows.
#[derive(Debug)]
pub struct WindowStore {
    width_secs: u64,
    retain: usize,
    max_series: usize,
    windows: VecDeque<Window>,
}

impl WindowStore {
    /// Windows of `width` (at least 1 s), keeping the newest `retain`, each with at most
    /// `max_series` series.
    pub fn new(width: Duration, retain: usize, max_series: usize) -> Self {
        Self { width_secs: width.as_secs().max(1), retain: retain.max(1), max_series, windows: VecDeque::new() }
    }

    pub fn width(&self) -> Duration {
        Duration::from_secs(self.width_secs)
    }

    /// Adds a histogram to `key` in the window holding `at_unix_secs`.
    pub fn add(&mut self, at_unix_secs: u64, key: SeriesKey, histogram: &LatencyHistogram) -> Result<(), SeriesLimit> {
        let start = at_unix_secs - at_unix_secs % self.width_secs;
        let limit = self.max_series;
        let window = self.window_starting(start);
        let full = window.series.len() >= limit;
        match window.series.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut existing) => existing.get_mut().merge(histogram),
            std::collections::hash_map::Entry::Vacant(_) if full => return Err(SeriesLimit { limit }),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(histogram.clone());
            }
        }
        Ok(())
    }

    /// The windows whose start is at or after `since_unix_secs`, oldest first.
    pub fn since(&self, since_unix_secs: u64) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(move |w| w.start_unix_secs + self.width_secs > since_unix_secs)
    }

    /// All retained windows, oldest first.
    pub fn windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter()
    }

    fn window_starting(&mut self, start: u64) -> &mut Window {
        let position = self.windows.iter().position(|w| w.start_unix_secs == start);
        let index = match position {
            Some(index) => index,
            None => {
                let insert_at = self.windows.partition_point(|w| w.start_unix_secs < start);
                self.windows.insert(insert_at, Window { start_unix_secs: start, series: HashMap::new() });
                while self.windows.len() > self.retain {
                    self.windows.pop_front();
                }
                self.windows.iter().position(|w| w.start_unix_secs == start).unwrap_or(0)
            }
        };
        &mut self.windows[index]
    }
}

#[cfg(test)]
mod tests;
