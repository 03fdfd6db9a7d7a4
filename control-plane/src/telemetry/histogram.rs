//! The latency histogram both sides agree on: fixed buckets
//! ([`acgs_proto::telemetry::LATENCY_BUCKET_BOUNDS_MICROS`] plus an overflow bucket), so the
//! filter's per-VM histograms merge exactly by adding counts, and percentiles over any set of
//! windows, services or operations come from the merged counts.
//!
//! Percentiles are estimated by linear interpolation inside the bucket that holds the rank (as
//! Prometheus' `histogram_quantile` does); the overflow bucket reports the largest latency seen.

use acgs_proto::telemetry::{LATENCY_BUCKETS, LATENCY_BUCKET_BOUNDS_MICROS};

/// Counts per fixed latency bucket, with count, sum and max.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    buckets: [u64; LATENCY_BUCKETS],
    count: u64,
    sum_micros: u64,
    max_micros: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { buckets: [0; LATENCY_BUCKETS], count: 0, sum_micros: 0, max_micros: 0 }
    }
}

/// A wire histogram that does not fit the agreed buckets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got} latency buckets, at most {LATENCY_BUCKETS}")]
pub struct TooManyBuckets {
    pub got: usize,
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn observe_micros(&mut self, micros: u64) {
        let index = LATENCY_BUCKET_BOUNDS_MICROS.partition_point(|bound| *bound < micros);
        self.buckets[index] += 1;
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.max_micros = self.max_micros.max(micros);
    }

    /// Adds a histogram received on the wire (trailing zero buckets may be omitted). The count is
    /// the sum of the buckets.
    pub fn merge_wire(&mut self, buckets: &[u64], sum_micros: u64, max_micros: u64) -> Result<(), TooManyBuckets> {
        if buckets.len() > LATENCY_BUCKETS {
            return Err(TooManyBuckets { got: buckets.len() });
        }
        for (slot, count) in self.buckets.iter_mut().zip(buckets) {
            *slot = slot.saturating_add(*count);
            self.count = self.count.saturating_add(*count);
        }
        self.sum_micros = self.sum_micros.saturating_add(sum_micros);
        self.max_micros = self.max_micros.max(max_micros);
        Ok(())
    }

    /// Adds another histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (slot, count) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *slot = slot.saturating_add(*count);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
        self.max_micros = self.max_micros.max(other.max_micros);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_micros(&self) -> u64 {
        self.sum_micros
    }

    pub fn max_micros(&self) -> u64 {
        self.max_micros
    }

    /// Per-bucket counts (not cumulative), overflow last.
    pub fn buckets(&self) -> &[u64; LATENCY_BUCKETS] {
        &self.buckets
    }

    /// The `q` quantile (0..=1) in microseconds; `None` when empty.
    pub fn quantile_micros(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        for (index, count) in self.buckets.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            if (below + count) as f64 >= rank {
                let Some(upper) = LATENCY_BUCKET_BOUNDS_MICROS.get(index) else {
                    return Some(self.max_micros as f64);
                };
                let lower = if index == 0 { 0 } else { LATENCY_BUCKET_BOUNDS_MICROS[index - 1] };
                let upper = (*upper).min(self.max_micros.max(lower)) as f64;
                let within = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
                return Some(lower as f64 + (upper - lower as f64) * within);
            }
            below += count;
        }
        Some(self.max_micros as f64)
    }
}

#[cfg(test)]
mod tests;
