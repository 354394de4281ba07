//! [`Waiter`]: the per-session wait state, the polling loop of
//! [`Waiter::spin`] and the adaptive estimate of how long answers take.

use std::time::{Duration, Instant};

use super::{WaitConfig, WaitPolicy};

/// Counters of how [`Waiter::spin`] calls ended (for tuning and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitStats {
    /// The data was there on the first try.
    pub ready: u64,
    /// The data arrived during the spin phase.
    pub hits: u64,
    /// The data arrived during the yield phase.
    pub yield_hits: u64,
    /// Polled in vain; the caller had to block.
    pub blocked: u64,
    /// Did not poll at all (sparse traffic or [`WaitPolicy::NoSpin`]); the
    /// caller had to block.
    pub skipped: u64,
}

/// How often (in tries) the spin phase reads the clock.
const CLOCK_CHECK_MASK: u32 = 7;

/// EWMA weight as a shift: new = old + (sample - old) / 2^EWMA_SHIFT.
const EWMA_SHIFT: u32 = 3;

/// Per-session wait state. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct Waiter {
    config: WaitConfig,
    stats: WaitStats,
    /// Adaptive: EWMA of observed waits, in nanoseconds.
    ewma_ns: u64,
    /// Adaptive: consecutive spin phases that found nothing.
    misses_in_row: u32,
    /// Adaptive: waits since the last probe while spinning is switched off.
    since_probe: u32,
    /// Start of a poll that gave up; consumed by [`Waiter::finish_wait`].
    pending: Option<Instant>,
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter::new(WaitConfig::default())
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What one adaptive wait will do after a failed first try.
struct Plan {
    /// Spin phase length (0 = skip).
    spin_ns: u64,
    /// Run the yield phase (until the cap) after the spin phase.
    yield_phase: bool,
}

impl Waiter {
    /// A fresh waiter. An adaptive waiter starts optimistic: its average is 0,
    /// so its first spin window is the minimum one (`max_spin / 8`).
    pub fn new(config: WaitConfig) -> Self {
        Waiter {
            config,
            stats: WaitStats::default(),
            ewma_ns: 0,
            misses_in_row: 0,
            since_probe: 0,
            pending: None,
        }
    }

    /// The configuration this waiter was built with.
    pub fn config(&self) -> &WaitConfig {
        &self.config
    }

    /// Adaptive policy: the spin window the next wait will use, not counting
    /// probes (zero while traffic is sparse or after repeated misses). Other
    /// policies: zero (they count tries, not time).
    pub fn spin_window(&self) -> Duration {
        match self.config.policy {
            WaitPolicy::Adaptive { max_spin } if !self.sparse(max_spin) && !self.miss_limited() => {
                Duration::from_nanos(self.learned_window(max_spin))
            }
            _ => Duration::ZERO,
        }
    }

    /// Adaptive policy: the learned average wait. Other policies: zero.
    pub fn expected_wait(&self) -> Duration {
        Duration::from_nanos(self.ewma_ns)
    }

    /// How the waits so far ended.
    pub fn stats(&self) -> WaitStats {
        self.stats
    }

    /// Calls `try_once` until it returns `Some` or the policy says to stop
    /// polling, relaxing the CPU between tries (see the module docs).
    ///
    /// `try_once` is always called at least once. `None` means the caller
    /// should now block and call [`Waiter::finish_wait`] when the block ends.
    /// A closure that wants to stop polling early (an error, end of stream)
    /// can return `Some` of an error value.
    #[inline]
    pub fn spin<T>(&mut self, mut try_once: impl FnMut() -> Option<T>) -> Option<T> {
        self.pending = None;
        if let Some(v) = try_once() {
            // Data was already there: a zero-length wait, no clock needed.
            // (Misses are left alone: this says nothing about spinning.)
            self.stats.ready += 1;
            self.observe(Duration::ZERO);
            return Some(v);
        }
        match self.config.policy {
            WaitPolicy::NoSpin | WaitPolicy::Fixed { spins: 0 | 1 } => {
                self.stats.skipped += 1;
                None
            }
            WaitPolicy::Fixed { spins } => {
                for _ in 1..spins {
                    std::hint::spin_loop();
                    if let Some(v) = try_once() {
                        self.stats.hits += 1;
                        return Some(v);
                    }
                }
                self.stats.blocked += 1;
                None
            }
            WaitPolicy::Adaptive { max_spin } if max_spin.is_zero() => {
                self.stats.skipped += 1;
                None
            }
            WaitPolicy::Adaptive { max_spin } => self.adaptive_poll(max_spin, try_once),
        }
    }

    #[inline]
    fn adaptive_poll<T>(
        &mut self,
        max_spin: Duration,
        mut try_once: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        let start = Instant::now();
        let plan = self.plan(max_spin);
        if plan.spin_ns > 0 {
            let mut tries: u32 = 0;
            loop {
                std::hint::spin_loop();
                if let Some(v) = try_once() {
                    self.stats.hits += 1;
                    self.misses_in_row = 0;
                    self.observe(start.elapsed());
                    return Some(v);
                }
                tries = tries.wrapping_add(1);
                if tries & CLOCK_CHECK_MASK == 0 && duration_ns(start.elapsed()) >= plan.spin_ns {
                    break;
                }
            }
            self.misses_in_row = self.misses_in_row.saturating_add(1);
        }
        if plan.yield_phase {
            // At least one yield and one try, even when the cap has already
            // passed (this thread was preempted during the spin phase): the
            // yield is what lets a peer on our CPU produce the answer.
            let cap = duration_ns(max_spin);
            loop {
                std::thread::yield_now();
                if let Some(v) = try_once() {
                    self.stats.yield_hits += 1;
                    self.observe(start.elapsed());
                    return Some(v);
                }
                if duration_ns(start.elapsed()) >= cap {
                    break;
                }
            }
        }
        if plan.spin_ns > 0 || plan.yield_phase {
            self.stats.blocked += 1;
        } else {
            self.stats.skipped += 1;
        }
        self.pending = Some(start);
        None
    }

    /// Decides the phases of the next adaptive wait, counting probes.
    fn plan(&mut self, max_spin: Duration) -> Plan {
        let sparse = self.sparse(max_spin);
        if !sparse && !self.miss_limited() {
            self.since_probe = 0;
            return Plan {
                spin_ns: self.learned_window(max_spin),
                yield_phase: true,
            };
        }
        let probe = self.config.probe_interval > 0 && {
            self.since_probe += 1;
            self.since_probe >= self.config.probe_interval
        };
        if probe {
            self.since_probe = 0;
        }
        let spin_ns = match (probe, sparse) {
            (false, _) => 0,
            (true, true) => duration_ns(max_spin),
            (true, false) => self.learned_window(max_spin),
        };
        Plan {
            spin_ns,
            yield_phase: !sparse,
        }
    }

    fn sparse(&self, max_spin: Duration) -> bool {
        self.ewma_ns > duration_ns(max_spin)
    }

    fn miss_limited(&self) -> bool {
        let limit = self.config.miss_limit;
        limit > 0 && self.misses_in_row >= limit
    }

    /// `clamp(2 × average, cap / 8, cap)`.
    fn learned_window(&self, max_spin: Duration) -> u64 {
        let cap = duration_ns(max_spin);
        self.ewma_ns.saturating_mul(2).clamp(cap / 8, cap)
    }

    /// Reports the end of the blocking wait that followed an unsuccessful
    /// [`Waiter::spin`] (data arrived, or the caller's timeout expired). Feeds
    /// the time since the poll started to the learning. Does nothing if the
    /// last poll succeeded or the policy does not learn.
    pub fn finish_wait(&mut self) {
        if let Some(start) = self.pending.take() {
            self.observe(start.elapsed());
        }
    }

    /// Feeds one observed wait (time from the start of waiting until the data
    /// was available, or until giving up) to the learning. Only the adaptive
    /// policy uses it; the others ignore it.
    pub fn observe(&mut self, waited: Duration) {
        let max_spin = match self.config.policy {
            WaitPolicy::Adaptive { max_spin } => max_spin,
            _ => return,
        };
        let cap = duration_ns(max_spin).saturating_mul(2);
        let sample = duration_ns(waited).min(cap);
        // i128 keeps the difference exact for any cap. The arithmetic shift
        // rounds towards −∞, so a falling average always reaches the samples
        // (a rising one may stop up to 7 ns short, which is irrelevant).
        let delta = (i128::from(sample) - i128::from(self.ewma_ns)) >> EWMA_SHIFT;
        let next = i128::from(self.ewma_ns) + delta;
        self.ewma_ns = u64::try_from(next.max(0)).unwrap_or(u64::MAX);
    }
}

#[cfg(test)]
mod tests;
