//! Request aggregates in fixed time windows: what the alert evaluator, the analysis endpoint and
//! the demo read. Each window holds, per series (service, operation, status class, hash status),
//! the merged latency histogram. Batches are placed by the control plane's receive time, not the
//! filter's clock, so a sidecar with a skewed clock cannot move its data into the past or future.
//! The store keeps a bounded number of windows, a bounded number of series per window, and a
//! bounded number of series over all its windows (the history budget): a new series that would
//! exceed the budget pushes the oldest windows out first (the history gets shorter, the current
//! window stays complete); what still does not fit is refused. The caller counts both.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use foldhash::HashMap;

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
    history_budget: usize,
    /// Series over all windows.
    entries: usize,
    windows: VecDeque<Window>,
}

/// What adding a histogram did, when it fitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Added {
    /// Series of older windows pushed out by the history budget to make room.
    pub history_evicted: usize,
}

impl WindowStore {
    /// Windows of `width` (at least 1 s), keeping the newest `retain`, each with at most
    /// `max_series` series and all of them together at most `history_budget`.
    pub fn new(width: Duration, retain: usize, max_series: usize, history_budget: usize) -> Self {
        Self {
            width_secs: width.as_secs().max(1),
            retain: retain.max(1),
            max_series,
            history_budget,
            entries: 0,
            windows: VecDeque::new(),
        }
    }

    pub fn width(&self) -> Duration {
        Duration::from_secs(self.width_secs)
    }

    /// Series over all retained windows.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Adds a histogram to `key` in the window holding `at_unix_secs`.
    pub fn add(
        &mut self,
        at_unix_secs: u64,
        key: SeriesKey,
        histogram: &LatencyHistogram,
    ) -> Result<Added, SeriesLimit> {
        let start = at_unix_secs - at_unix_secs % self.width_secs;
        self.open_window(start);
        let mut added = Added::default();
        let index = self.position(start);
        if let Some(existing) = self.windows[index].series.get_mut(&key) {
            existing.merge(histogram);
            return Ok(added);
        }
        if self.windows[index].series.len() >= self.max_series {
            return Err(SeriesLimit { limit: self.max_series });
        }
        while self.entries >= self.history_budget && self.windows.len() > 1 && self.windows[0].start_unix_secs != start
        {
            added.history_evicted += self.evict_oldest();
        }
        if self.entries >= self.history_budget {
            return Err(SeriesLimit { limit: self.history_budget });
        }
        let index = self.position(start);
        self.windows[index].series.insert(key, histogram.clone());
        self.entries += 1;
        Ok(added)
    }

    /// The window starting at `start`; a time before every retained window (the clock stepped
    /// back further than the retention) counts in the oldest.
    fn position(&self, start: u64) -> usize {
        // From the newest: telemetry lands in the current window (of up to `retain` windows).
        self.windows.iter().rposition(|w| w.start_unix_secs == start).unwrap_or(0)
    }

    /// Makes sure the window starting at `start` exists, ending the oldest beyond the retention
    /// (their normal end, not a loss).
    fn open_window(&mut self, start: u64) {
        if self.windows.iter().rev().any(|w| w.start_unix_secs == start) {
            return;
        }
        let insert_at = self.windows.partition_point(|w| w.start_unix_secs < start);
        self.windows.insert(insert_at, Window { start_unix_secs: start, series: HashMap::default() });
        while self.windows.len() > self.retain {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) -> usize {
        let series = self.windows.pop_front().map_or(0, |window| window.series.len());
        self.entries -= series;
        series
    }

    /// The windows whose start is at or after `since_unix_secs`, oldest first.
    pub fn since(&self, since_unix_secs: u64) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(move |w| w.start_unix_secs + self.width_secs > since_unix_secs)
    }

    /// All retained windows, oldest first.
    pub fn windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter()
    }
}

#[cfg(test)]
mod tests;
