//! Latency distributions for the analyses: an HDR histogram (3 significant digits, so a
//! percentile is within 0.1 % of the recorded value, and exact below 2.048 ms) with constant
//! memory per series, whatever the number of spans.
//!
//! Percentiles use the nearest-rank definition (the smallest recorded value with at least q of
//! the values at or below it), reported as the lower bound of that value's HDR bucket.

use hdrhistogram::Histogram;

/// Latencies of one series.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self { histogram: new_histogram() }
    }
}

fn new_histogram() -> Histogram<u64> {
    // Auto-resizing with 3 significant digits: the constructor only fails for sigfig > 5.
    match Histogram::new(3) {
        Ok(histogram) => histogram,
        Err(_) => unreachable!("3 significant digits are within HdrHistogram's 0..=5"),
    }
}

impl Latencies {
    pub fn record_micros(&mut self, micros: u64) {
        // An auto-resizing histogram accepts every u64 up to its (resizable) maximum.
        let _ = self.histogram.record(micros);
    }

    /// Adds every value `other` recorded.
    pub fn merge(&mut self, other: &Latencies) {
        // Auto-resizing: adding never runs out of range.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q` percentile (0..=1) in microseconds; 0 when empty.
    pub fn quantile_micros(&self, q: f64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.lowest_equivalent(self.histogram.value_at_quantile(q))
    }

    /// The largest value, reported like the percentiles (lower bound of its bucket).
    pub fn max_micros(&self) -> u64 {
        self.histogram.lowest_equivalent(self.histogram.max())
    }

    /// Counts per bucket of `bounds_micros` (value ≤ bound), plus one overflow bucket.
    pub fn bucket_counts(&self, bounds_micros: &[u64]) -> Vec<u64> {
        let mut counts = vec![0; bounds_micros.len() + 1];
        for value in self.histogram.iter_recorded() {
            let index = bounds_micros.partition_point(|bound| *bound < value.value_iterated_to());
            counts[index] += value.count_at_value();
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_are_exact_for_values_hdr_represents_exactly() {
        let mut latencies = Latencies::default();
        for _ in 0..99 {
            latencies.record_micros(1_000);
        }
        latencies.record_micros(8_000);
        assert_eq!(latencies.quantile_micros(0.5), 1_000);
        assert_eq!(latencies.quantile_micros(0.99), 1_000);
        assert_eq!(latencies.quantile_micros(1.0), 8_000);
        latencies.record_micros(8_000);
        assert_eq!(latencies.quantile_micros(0.99), 8_000);
        assert_eq!(latencies.bucket_counts(&[1_000, 5_000]), vec![99, 0, 2]);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Latencies::default().quantile_micros(0.99), 0);
    }
}
