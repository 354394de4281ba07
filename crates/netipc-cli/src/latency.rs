//! Round-trip latency samples and their summary (min, p50, p90, p99, max).

use std::time::Duration;

use crate::format;

/// Summary of a set of round-trip times.
///
/// Percentiles use the nearest-rank method: `pN` is the smallest sample
/// such that at least N % of all samples are less than or equal to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: usize,
    /// Fastest round trip.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest round trip.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl LatencySummary {
    /// Summarises samples given in nanoseconds; sorts them in place.
    /// `None` when there are none.
    pub fn from_nanos(samples: &mut [u64]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: usize| {
            // ceil(p/100 · n), 1-based, then to an index.
            let r = (p * n).div_ceil(100).max(1);
            Duration::from_nanos(samples[r - 1])
        };
        let total: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        let mean = u64::try_from(total / n as u128).unwrap_or(u64::MAX);
        Some(LatencySummary {
            count: n,
            min: Duration::from_nanos(samples[0]),
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: Duration::from_nanos(samples[n - 1]),
            mean: Duration::from_nanos(mean),
        })
    }

    /// One line: `min 4.1 µs  p50 5.0 µs  p90 6.2 µs  p99 9.8 µs  max 30.1 µs`.
    pub fn line(&self) -> String {
        format!(
            "min {}  p50 {}  p90 {}  p99 {}  max {}",
            format::duration(self.min),
            format::duration(self.p50),
            format::duration(self.p90),
            format::duration(self.p99),
            format::duration(self.max),
        )
    }

    /// Round trips per second implied by the mean.
    pub fn per_second(&self) -> f64 {
        let mean = self.mean.as_secs_f64();
        if mean > 0.0 {
            1.0 / mean
        } else {
            f64::INFINITY
        }
    }
}

/// Collects samples without allocating while measuring.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            nanos: Vec::with_capacity(n),
        }
    }

    /// Records one round trip.
    #[inline]
    pub fn push(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Number of samples so far.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// The summary, or `None` without samples.
    pub fn summary(mut self) -> Option<LatencySummary> {
        LatencySummary::from_nanos(&mut self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = LatencySummary::from_nanos(&mut v).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.min, Duration::from_nanos(1));
        assert_eq!(s.p50, Duration::from_nanos(50));
        assert_eq!(s.p90, Duration::from_nanos(90));
        assert_eq!(s.p99, Duration::from_nanos(99));
        assert_eq!(s.max, Duration::from_nanos(100));
        assert_eq!(s.mean, Duration::from_nanos(50));
    }

    #[test]
    fn small_sets() {
        assert_eq!(LatencySummary::from_nanos(&mut []), None);
        let s = LatencySummary::from_nanos(&mut [7]).unwrap();
        assert_eq!(
            (s.min, s.p50, s.p99, s.max),
            (
                Duration::from_nanos(7),
                Duration::from_nanos(7),
                Duration::from_nanos(7),
                Duration::from_nanos(7)
            )
        );
        let s = LatencySummary::from_nanos(&mut [10, 20, 30]).unwrap();
        assert_eq!(s.p50, Duration::from_nanos(20));
        assert_eq!(s.p90, Duration::from_nanos(30));
    }

    #[test]
    fn outlier_shows_in_p99_only_when_common_enough() {
        let mut v = vec![1_000u64; 1000];
        v[0] = 1_000_000;
        let s = LatencySummary::from_nanos(&mut v).unwrap();
        assert_eq!(s.p99, Duration::from_nanos(1_000));
        assert_eq!(s.max, Duration::from_millis(1));
        assert!(
            s.line().starts_with("min 1.0 µs  p50 1.0 µs"),
            "{}",
            s.line()
        );
        assert!(s.per_second() > 900.0);
    }

    #[test]
    fn samples_collect() {
        let mut s = Samples::with_capacity(2);
        assert!(s.is_empty());
        s.push(Duration::from_micros(2));
        s.push(Duration::from_micros(1));
        assert_eq!(s.len(), 2);
        let sum = s.summary().unwrap();
        assert_eq!(sum.min, Duration::from_micros(1));
    }
}
