//! Latency statistics: exact nearest-rank percentiles over every recorded sample, so a report never
//! hides a tail behind bucket rounding. Samples are nanoseconds; reports are milliseconds.

use serde::Serialize;

/// Latency percentiles of one set of deliveries, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// The nearest-rank `p`-th percentile (0 < p <= 100) of samples sorted in ascending order:
/// the smallest sample such that at least `p` percent of samples are at most it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Sort `samples` in place and summarise them; `None` when there are none.
pub fn summarize(samples: &mut [u64]) -> Option<LatencySummary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let sum: u128 = samples.iter().map(|s| u128::from(*s)).sum();
    let pick = |p: f64| percentile(samples, p).map_or(0.0, ms);
    Some(LatencySummary {
        count: samples.len() as u64,
        p50_ms: pick(50.0),
        p90_ms: pick(90.0),
        p99_ms: pick(99.0),
        max_ms: ms(samples[samples.len() - 1]),
        mean_ms: sum as f64 / samples.len() as f64 / 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 90.0), Some(90));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.5), Some(1));
    }

    #[test]
    fn nearest_rank_on_small_sets() {
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2], 51.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 75.0), Some(3));
        assert_eq!(percentile(&[1, 2, 3, 4], 76.0), Some(4));
    }

    #[test]
    fn out_of_range_percentiles_and_empty_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1], 0.0), None);
        assert_eq!(percentile(&[1], 100.5), None);
        assert_eq!(percentile(&[1], f64::NAN), None);
        assert_eq!(summarize(&mut []), None);
    }

    #[test]
    fn summary_sorts_and_converts_to_milliseconds() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|i| i * 1_000_000).collect();
        let summary = summarize(&mut samples).unwrap();
        assert_eq!(summary.count, 1000);
        assert_eq!(summary.p50_ms, 500.0);
        assert_eq!(summary.p90_ms, 900.0);
        assert_eq!(summary.p99_ms, 990.0);
        assert_eq!(summary.max_ms, 1000.0);
        assert_eq!(summary.mean_ms, 500.5);
        assert!(samples.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn single_outlier_shows_in_max_and_p99_of_small_sets() {
        let mut samples = vec![1_000_000; 99];
        samples.push(2_000_000_000);
        let summary = summarize(&mut samples).unwrap();
        assert_eq!(summary.p99_ms, 1.0);
        assert_eq!(summary.max_ms, 2000.0);
        samples.push(2_000_000_000);
        assert_eq!(summarize(&mut samples).unwrap().p99_ms, 2000.0);
    }
}
