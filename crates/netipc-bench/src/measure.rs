//! Measurement mechanics shared by every client: the batch-size generator,
//! the rate limiter, latency samples and percentiles, and the CSV line.

use crate::common::{cpu_ns, mono_ns, sleep_until, LANG};

/// The seeded xorshift32 batch-size generator: sizes 2…1000, the same
/// sequence in every client process.
#[derive(Debug, Clone)]
pub struct BatchSizes {
    state: u32,
}

impl BatchSizes {
    /// Seed of the sequence.
    pub const SEED: u32 = 12345;

    /// A fresh sequence.
    pub fn new() -> Self {
        BatchSizes { state: Self::SEED }
    }

    /// The next batch size, `(x mod 999) + 2`.
    #[inline]
    pub fn next_size(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        (x % 999) + 2
    }
}

/// Paces iterations on an absolute schedule: the interval is
/// ⌊1e9 / rate⌋ ns, the schedule starts when the limiter is created, and an
/// iteration that is late runs at once (no busy-wait, no catch-up limit).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval_ns: u64,
    next_ns: u64,
}

impl RateLimiter {
    /// A limiter for `rate` iterations per second; 0 means unthrottled.
    pub fn new(rate: u64) -> Self {
        RateLimiter {
            interval_ns: 1_000_000_000u64.checked_div(rate).unwrap_or(0),
            next_ns: mono_ns(),
        }
    }

    /// Sleeps until the next slot (if it is in the future) and advances the
    /// schedule by one interval.
    #[inline]
    pub fn wait(&mut self) {
        if self.interval_ns == 0 {
            return;
        }
        if mono_ns() < self.next_ns {
            sleep_until(self.next_ns);
        }
        self.next_ns += self.interval_ns;
    }
}

/// Sample capacity: min(10M, rate × duration), or `unthrottled` at rate 0.
pub fn sample_capacity(rate: u64, duration_sec: u64, unthrottled: u64) -> usize {
    let cap = if rate == 0 {
        unthrottled
    } else {
        rate.saturating_mul(duration_sec)
            .min(crate::common::MAX_SAMPLES)
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Latency samples in nanoseconds, kept in a preallocated array; samples
/// beyond its capacity are dropped.
#[derive(Debug)]
pub struct Samples {
    ns: Vec<u64>,
    cap: usize,
}

impl Samples {
    /// An empty set holding at most `cap` samples.
    pub fn with_capacity(cap: usize) -> Self {
        Samples {
            ns: Vec::with_capacity(cap),
            cap,
        }
    }

    /// Records one sample (dropped once the array is full).
    #[inline]
    pub fn push(&mut self, ns: u64) {
        if self.ns.len() < self.cap {
            self.ns.push(ns);
        }
    }

    /// Number of samples kept.
    pub fn len(&self) -> usize {
        self.ns.len()
    }

    /// p50, p95 and p99 in whole microseconds.
    pub fn percentiles_us(&mut self) -> [u64; 3] {
        self.ns.sort_unstable();
        [50, 95, 99].map(|p| percentile_us(&self.ns, p))
    }
}

/// Element ⌊p/100 × (n−1)⌋ of sorted `ns`, divided by 1000 with
/// truncation; 0 without samples.
pub fn percentile_us(sorted_ns: &[u64], p: u64) -> u64 {
    if sorted_ns.is_empty() {
        return 0;
    }
    let n = sorted_ns.len() as u128;
    let index = (p as u128 * (n - 1) / 100) as usize;
    sorted_ns[index] / 1000
}

/// Wall and CPU clocks of a measurement window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    wall_start: u64,
    cpu_start: u64,
    end: u64,
}

impl Window {
    /// Starts a window of `duration_sec` seconds now.
    pub fn start(duration_sec: u64) -> Self {
        let cpu_start = cpu_ns();
        let wall_start = mono_ns();
        Window {
            wall_start,
            cpu_start,
            end: wall_start.saturating_add(duration_sec.saturating_mul(1_000_000_000)),
        }
    }

    /// True while the window is open (checked before each iteration).
    #[inline]
    pub fn open(&self) -> bool {
        mono_ns() < self.end
    }

    /// Closes the window: wall seconds elapsed and CPU percent used.
    pub fn finish(&self) -> (f64, f64) {
        let wall = mono_ns().saturating_sub(self.wall_start) as f64 / 1e9;
        let cpu = cpu_ns().saturating_sub(self.cpu_start) as f64 / 1e9;
        let cpu_pct = if wall > 0.0 { cpu / wall * 100.0 } else { 0.0 };
        (wall, cpu_pct)
    }
}

/// The numbers a client prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Scenario label (column 1).
    pub label: String,
    /// Requests, items, snapshots or lookups per second.
    pub throughput: f64,
    /// p50, p95, p99 in µs.
    pub percentiles: [u64; 3],
    /// Client CPU percent.
    pub cpu_pct: f64,
}

impl Outcome {
    /// Builds the outcome of a finished run.
    pub fn new(
        label: String,
        count: u64,
        wall_sec: f64,
        samples: &mut Samples,
        cpu_pct: f64,
    ) -> Self {
        Outcome {
            label,
            throughput: if wall_sec > 0.0 {
                count as f64 / wall_sec
            } else {
                0.0
            },
            percentiles: samples.percentiles_us(),
            cpu_pct,
        }
    }

    /// The 10-column CSV line (without newline).
    pub fn csv(&self) -> String {
        let [p50, p95, p99] = self.percentiles;
        format!(
            "{},{LANG},{LANG},{:.0},{p50},{p95},{p99},{:.1},0.0,{:.1}",
            self.label, self.throughput, self.cpu_pct, self.cpu_pct
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ten_batch_sizes() {
        let mut g = BatchSizes::new();
        let got: Vec<u32> = (0..10).map(|_| g.next_size()).collect();
        assert_eq!(got, [598, 761, 237, 481, 886, 359, 146, 757, 678, 54]);
    }

    #[test]
    fn batch_sizes_stay_in_range() {
        let mut g = BatchSizes::new();
        let mut sum = 0u64;
        for _ in 0..100_000 {
            let s = g.next_size();
            assert!((2..=1000).contains(&s));
            sum += u64::from(s);
        }
        let mean = sum as f64 / 100_000.0;
        assert!((480.0..520.0).contains(&mean), "mean {mean}");
    }

    #[test]
    fn percentile_indexing() {
        let v: Vec<u64> = (1..=101).map(|i| i * 1000 + 999).collect();
        assert_eq!(percentile_us(&v, 50), 51);
        assert_eq!(percentile_us(&v, 95), 96);
        assert_eq!(percentile_us(&v, 99), 100);
        assert_eq!(percentile_us(&[], 50), 0);
        assert_eq!(percentile_us(&[1999], 99), 1);
        // n - 1 = 3: 0.5 × 3 = 1.5 → index 1; 0.99 × 3 = 2.97 → index 2.
        let w = [1000, 2000, 3000, 4000];
        assert_eq!(percentile_us(&w, 50), 2);
        assert_eq!(percentile_us(&w, 99), 3);
    }

    #[test]
    fn samples_drop_beyond_capacity() {
        let mut s = Samples::with_capacity(3);
        for v in [5000, 1000, 3000, 9000, 9000] {
            s.push(v);
        }
        assert_eq!(s.len(), 3);
        // Sorted 1000, 3000, 5000: index ⌊0.99 × 2⌋ = 1.
        assert_eq!(s.percentiles_us(), [3, 3, 3]);
    }

    #[test]
    fn capacities() {
        assert_eq!(sample_capacity(0, 5, 5_000_000), 5_000_000);
        assert_eq!(sample_capacity(0, 5, 2_000_000), 2_000_000);
        assert_eq!(sample_capacity(1000, 5, 5_000_000), 5000);
        assert_eq!(sample_capacity(100_000_000, 5, 5_000_000), 10_000_000);
    }

    #[test]
    fn csv_line_format() {
        let o = Outcome {
            label: "uds-pipeline-d16".into(),
            throughput: 123456.4,
            percentiles: [7, 12, 40],
            cpu_pct: 99.96,
        };
        assert_eq!(
            o.csv(),
            "uds-pipeline-d16,netipc,netipc,123456,7,12,40,100.0,0.0,100.0"
        );
        assert_eq!(o.csv().split(',').count(), 10);
    }

    #[test]
    fn limiter_paces_iterations() {
        let mut l = RateLimiter::new(1000);
        let t0 = mono_ns();
        for _ in 0..21 {
            l.wait();
        }
        let elapsed = mono_ns() - t0;
        assert!(elapsed >= 19_000_000, "elapsed {elapsed}");
        let mut free = RateLimiter::new(0);
        let t0 = mono_ns();
        for _ in 0..1000 {
            free.wait();
        }
        assert!(mono_ns() - t0 < 10_000_000);
    }
}
