//! The wait strategy used by receivers: poll for a while, then block.
//!
//! A receiver that expects an answer soon can avoid the cost of going to
//! sleep in the kernel (and of being woken again) by polling for a while
//! first. Polling burns CPU, so the window has to be chosen with care: long
//! enough to catch answers that arrive quickly, short (or zero) when answers
//! come late and blocking is cheaper.
//!
//! [`Waiter`] holds the per-session state of that decision. The transport
//! calls [`Waiter::spin`] with a non-blocking "try once" closure (an atomic
//! load for shared memory, a `MSG_DONTWAIT` receive for a socket). If the
//! closure produced a value while polling it is returned; otherwise the
//! caller blocks in its own way and, once the block ends (data or timeout),
//! calls [`Waiter::finish_wait`] so the waiter can learn how long the answer
//! really took.
//!
//! # Policies
//!
//! * [`WaitPolicy::Fixed`] polls a fixed number of times. `Fixed { spins: 128 }`
//!   is the behaviour of the reference peers.
//! * [`WaitPolicy::NoSpin`] checks exactly once and then lets the caller block.
//! * [`WaitPolicy::Adaptive`] learns from observed waits; see below.
//!
//! # The adaptive algorithm
//!
//! The waiter keeps an exponentially weighted moving average (EWMA, weight
//! 1/8) of how long receives had to wait for their data. Each sample is the
//! time from the start of the poll to the arrival of the data (or to the
//! timeout), clamped to `2 × max_spin` so one long idle period cannot dominate
//! the average for long.
//!
//! A wait that does not find the data on its first try has up to two polling
//! phases before the caller blocks:
//!
//! 1. **Spin**: tight polling with a CPU relax hint, no system calls, for the
//!    *spin window*: `clamp(2 × e, max_spin / 8, max_spin)` where `e` is the
//!    average — about twice the typical answer time, never less than an
//!    eighth of the cap (a sleep and a wake-up cost far more than a few
//!    microseconds of polling) and never more than the cap.
//! 2. **Yield**: polling with `sched_yield` between tries, until `max_spin`
//!    has passed since the wait started. When the peer shares our CPU, the
//!    answer cannot arrive while we spin (the peer needs the CPU to produce
//!    it); yielding hands the CPU over without the sleep/wake-up round trip
//!    of blocking, and keeps both processes runnable, which lets the
//!    scheduler move one of them to an idle CPU. When nothing else wants the
//!    CPU, a yield returns at once and this is plain polling.
//!
//! Two conditions switch phases off:
//!
//! * **Sparse traffic**: `e > max_spin`. Answers come later than we are
//!   willing to poll, so both phases are skipped and the caller blocks right
//!   away.
//! * **Repeated misses**: a spin phase that ends without data is a *miss*.
//!   After [`WaitConfig::miss_limit`] misses in a row the spin phase is
//!   skipped (the yield phase still runs) until a spin succeeds again. This
//!   stops the waiter from burning its spin window every time when the peer
//!   can only answer after we let go of the CPU.
//!
//! In either state, every [`WaitConfig::probe_interval`]-th wait spins anyway
//! (for the cap when traffic looked sparse, for the learned window after
//! misses) to find out whether things changed: blocked samples include the
//! kernel's wake-up latency, and misses are cleared only by a successful spin.
//! Blocked waits keep feeding the average, so a peer that speeds up is
//! noticed.
//!
//! All state is a handful of integers: no allocation, no clock reads when the
//! data is there on the first try, and no system calls while spinning.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

/// How a receiver polls before it blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Poll `spins` times (with a CPU relax hint between tries), then block.
    /// `Fixed { spins: 128 }` is the reference behaviour. `spins` of 0 or 1
    /// behave like [`WaitPolicy::NoSpin`].
    Fixed {
        /// Number of tries before giving up.
        spins: u32,
    },
    /// Learn from recent waits (see the module docs), never polling longer
    /// than `max_spin` in one go.
    Adaptive {
        /// Upper bound of the polling phases; also the average wait above
        /// which the waiter stops polling altogether.
        max_spin: Duration,
    },
    /// Never poll: try once, then block.
    NoSpin,
}

/// Configuration of a [`Waiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitConfig {
    /// The polling policy.
    pub policy: WaitPolicy,
    /// [`WaitPolicy::Adaptive`] only: while spinning is switched off, every
    /// `probe_interval`-th wait spins anyway to re-measure the peer. 0
    /// disables probing.
    pub probe_interval: u32,
    /// [`WaitPolicy::Adaptive`] only: after this many consecutive spin phases
    /// that found nothing, skip the spin phase until a probe succeeds. 0
    /// disables the rule.
    pub miss_limit: u32,
}

/// Default cap of the adaptive polling phases.
pub const DEFAULT_MAX_SPIN: Duration = Duration::from_micros(50);

/// Cap of the adaptive polling phases in [`WaitConfig::latency_first`].
pub const LATENCY_FIRST_MAX_SPIN: Duration = Duration::from_micros(250);

/// Default [`WaitConfig::probe_interval`].
pub const DEFAULT_PROBE_INTERVAL: u32 = 64;

/// Default [`WaitConfig::miss_limit`].
pub const DEFAULT_MISS_LIMIT: u32 = 3;

/// Number of tries of the reference peers' fixed poll.
pub const REFERENCE_SPINS: u32 = 128;

impl WaitConfig {
    /// Adaptive polling with a 250 µs cap: favours latency, spends CPU on
    /// polling whenever the peer answers within a quarter of a millisecond.
    pub const fn latency_first() -> Self {
        WaitConfig::adaptive(LATENCY_FIRST_MAX_SPIN)
    }

    /// No polling at all: every wait that does not find its data on the first
    /// try blocks in the kernel. Lowest CPU use, highest latency.
    pub const fn cpu_first() -> Self {
        WaitConfig {
            policy: WaitPolicy::NoSpin,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            miss_limit: DEFAULT_MISS_LIMIT,
        }
    }

    /// The reference peers' behaviour: 128 tries, then block.
    pub const fn reference() -> Self {
        WaitConfig {
            policy: WaitPolicy::Fixed {
                spins: REFERENCE_SPINS,
            },
            probe_interval: DEFAULT_PROBE_INTERVAL,
            miss_limit: DEFAULT_MISS_LIMIT,
        }
    }

    /// Adaptive polling with the given cap and default tuning.
    pub const fn adaptive(max_spin: Duration) -> Self {
        WaitConfig {
            policy: WaitPolicy::Adaptive { max_spin },
            probe_interval: DEFAULT_PROBE_INTERVAL,
            miss_limit: DEFAULT_MISS_LIMIT,
        }
    }
}

impl Default for WaitConfig {
    /// Adaptive polling with a 50 µs cap ([`DEFAULT_MAX_SPIN`]): request/response
    /// traffic between busy peers is served from the poll loop, while a quiet
    /// session stops polling after a few slow answers.
    fn default() -> Self {
        WaitConfig::adaptive(DEFAULT_MAX_SPIN)
    }
}

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

/// Per-session wait state. See the [module docs](self).
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
            let cap = duration_ns(max_spin);
            while duration_ns(start.elapsed()) < cap {
                std::thread::yield_now();
                if let Some(v) = try_once() {
                    self.stats.yield_hits += 1;
                    self.observe(start.elapsed());
                    return Some(v);
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
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    fn adaptive(cap_us: u64, probe: u32) -> Waiter {
        Waiter::new(WaitConfig {
            policy: WaitPolicy::Adaptive {
                max_spin: US * cap_us as u32,
            },
            probe_interval: probe,
            miss_limit: DEFAULT_MISS_LIMIT,
        })
    }

    /// One poll that finds nothing; returns the number of tries.
    fn miss(w: &mut Waiter) -> u32 {
        let mut n = 0u32;
        let r: Option<()> = w.spin(|| {
            n += 1;
            None
        });
        assert_eq!(r, None);
        n
    }

    #[test]
    fn fresh_adaptive_waiter_polls_the_minimum_window() {
        let w = adaptive(50, 64);
        assert_eq!(w.expected_wait(), Duration::ZERO);
        assert_eq!(w.spin_window(), Duration::from_nanos(50_000 / 8));
    }

    #[test]
    fn fast_answers_give_twice_the_typical_time() {
        let mut w = adaptive(50, 64);
        for _ in 0..200 {
            w.observe(US * 10);
        }
        // Converged onto 10 µs (integer EWMA may stop a few ns short).
        let e = w.expected_wait();
        assert!(
            e <= US * 10 && e >= US * 10 - Duration::from_nanos(16),
            "{e:?}"
        );
        let win = w.spin_window();
        assert!(
            win <= US * 20 && win >= US * 20 - Duration::from_nanos(32),
            "{win:?}"
        );
    }

    #[test]
    fn window_is_capped_at_max_spin() {
        let mut w = adaptive(50, 64);
        for _ in 0..200 {
            w.observe(US * 40);
        }
        assert_eq!(w.spin_window(), US * 50);
    }

    #[test]
    fn very_fast_answers_keep_the_floor() {
        let mut w = adaptive(80, 64);
        for _ in 0..200 {
            w.observe(Duration::from_nanos(300));
        }
        assert_eq!(w.spin_window(), US * 10);
    }

    #[test]
    fn sparse_traffic_turns_polling_off_and_fast_traffic_back_on() {
        let mut w = adaptive(50, 0);
        w.observe(US);
        // Idle periods: samples are clamped to 2 × cap = 100 µs.
        let mut slow = 0;
        while w.spin_window() > Duration::ZERO {
            w.observe(Duration::from_secs(1));
            slow += 1;
            assert!(slow < 50, "polling never turned off");
        }
        // A single long wait must not disable polling on its own…
        assert!(slow > 1, "one slow answer disabled polling");
        // …and the average is bounded by the clamp.
        assert!(w.expected_wait() <= US * 100);
        // Fast answers (as measured through blocking) bring it back.
        let mut fast = 0;
        while w.spin_window() == Duration::ZERO {
            w.observe(US * 5);
            fast += 1;
            assert!(fast < 50, "polling never came back");
        }
        assert!(w.spin_window() >= US * 50 / 8);
    }

    #[test]
    fn average_reaches_zero_from_small_values() {
        let mut w = adaptive(50, 64);
        w.observe(Duration::from_nanos(40));
        for _ in 0..200 {
            w.observe(Duration::ZERO);
        }
        assert_eq!(w.expected_wait(), Duration::ZERO);
    }

    #[test]
    fn other_policies_do_not_learn() {
        for cfg in [WaitConfig::reference(), WaitConfig::cpu_first()] {
            let mut w = Waiter::new(cfg);
            w.observe(US * 10);
            w.finish_wait();
            assert_eq!(w.expected_wait(), Duration::ZERO);
            assert_eq!(w.spin_window(), Duration::ZERO);
        }
    }

    #[test]
    fn fixed_policy_tries_exactly_spins_times() {
        let mut w = Waiter::new(WaitConfig {
            policy: WaitPolicy::Fixed { spins: 128 },
            probe_interval: 0,
            miss_limit: 0,
        });
        let mut n = 0u32;
        let r: Option<()> = w.spin(|| {
            n += 1;
            None
        });
        assert_eq!(r, None);
        assert_eq!(n, 128);

        let mut w0 = Waiter::new(WaitConfig {
            policy: WaitPolicy::Fixed { spins: 0 },
            probe_interval: 0,
            miss_limit: 0,
        });
        let mut n0 = 0u32;
        let r0: Option<()> = w0.spin(|| {
            n0 += 1;
            None
        });
        assert_eq!(r0, None);
        assert_eq!(n0, 1);
    }

    #[test]
    fn spin_returns_the_first_value() {
        let mut w = Waiter::new(WaitConfig::reference());
        let mut n = 0u32;
        let r = w.spin(|| {
            n += 1;
            (n == 5).then_some(n * 10)
        });
        assert_eq!(r, Some(50));
        assert_eq!(n, 5);

        let mut a = Waiter::default();
        let mut m = 0u32;
        let r = a.spin(|| {
            m += 1;
            (m == 3).then_some("x")
        });
        assert_eq!(r, Some("x"));
        assert_eq!(m, 3);
    }

    #[test]
    fn no_spin_tries_once() {
        let mut w = Waiter::new(WaitConfig::cpu_first());
        let mut n = 0u32;
        let r: Option<()> = w.spin(|| {
            n += 1;
            None
        });
        assert_eq!(r, None);
        assert_eq!(n, 1);
    }

    #[test]
    fn zero_window_tries_once_except_on_probes() {
        let mut w = adaptive(20, 4);
        // Drive the window to zero.
        for _ in 0..100 {
            w.observe(Duration::from_secs(1));
        }
        assert_eq!(w.spin_window(), Duration::ZERO);
        let mut counts = Vec::new();
        for _ in 0..8 {
            let mut n = 0u32;
            let r: Option<()> = w.spin(|| {
                n += 1;
                None
            });
            assert_eq!(r, None);
            counts.push(n);
            // Do not feed the poll's own duration back.
            w.pending = None;
        }
        // Calls 4 and 8 are probes (poll for the full cap: more than one try);
        // the others try exactly once.
        for (i, n) in counts.iter().enumerate() {
            if i % 4 == 3 {
                assert!(*n > 1, "probe {i} tried only once: {counts:?}");
            } else {
                assert_eq!(*n, 1, "call {i}: {counts:?}");
            }
        }
    }

    #[test]
    fn probing_disabled_never_polls_in_zero_window() {
        let mut w = adaptive(20, 0);
        for _ in 0..100 {
            w.observe(Duration::from_secs(1));
        }
        for _ in 0..200 {
            let mut n = 0u32;
            let _: Option<()> = w.spin(|| {
                n += 1;
                None
            });
            assert_eq!(n, 1);
            w.pending = None;
        }
    }

    #[test]
    fn missed_spin_is_learned_by_finish_wait() {
        let mut w = adaptive(20, 0);
        let _: Option<()> = w.spin(|| None);
        assert!(w.pending.is_some());
        w.finish_wait();
        assert!(w.pending.is_none());
        // The poll itself lasted at least the window, so the average moved up.
        assert!(w.expected_wait() > Duration::ZERO);
        // A second finish_wait is a no-op.
        let e = w.expected_wait();
        w.finish_wait();
        assert_eq!(w.expected_wait(), e);
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let mut w = Waiter::new(WaitConfig::adaptive(Duration::MAX));
        w.observe(Duration::MAX);
        w.observe(Duration::ZERO);
        let _ = w.spin_window();
        let mut z = Waiter::new(WaitConfig::adaptive(Duration::ZERO));
        assert_eq!(z.spin_window(), Duration::ZERO);
        assert_eq!(miss(&mut z), 1);
        z.observe(Duration::from_secs(1));
        assert_eq!(z.spin_window(), Duration::ZERO);
        assert_eq!(miss(&mut z), 1);
    }

    #[test]
    fn presets() {
        assert_eq!(
            WaitConfig::default().policy,
            WaitPolicy::Adaptive {
                max_spin: DEFAULT_MAX_SPIN
            }
        );
        assert_eq!(WaitConfig::cpu_first().policy, WaitPolicy::NoSpin);
        assert!(matches!(
            WaitConfig::latency_first().policy,
            WaitPolicy::Adaptive { max_spin } if max_spin > DEFAULT_MAX_SPIN
        ));
        assert_eq!(
            WaitConfig::reference().policy,
            WaitPolicy::Fixed { spins: 128 }
        );
    }

    #[test]
    fn repeated_misses_skip_the_spin_phase_until_a_probe_hits() {
        let mut w = adaptive(10, 4);
        // The waits themselves look short (as when the peer needs our CPU and
        // answers right after we let go of it).
        for i in 0..DEFAULT_MISS_LIMIT {
            assert!(w.spin_window() > Duration::ZERO, "miss {i}");
            assert!(miss(&mut w) > 1);
            w.pending = None;
            w.observe(US);
        }
        assert_eq!(w.spin_window(), Duration::ZERO);
        assert_eq!(w.misses_in_row, DEFAULT_MISS_LIMIT);
        // Three waits without a spin phase (only yielding), then a probe that
        // spins and misses again.
        for _ in 0..3 {
            miss(&mut w);
            assert_eq!(w.misses_in_row, DEFAULT_MISS_LIMIT);
        }
        miss(&mut w);
        assert_eq!(w.misses_in_row, DEFAULT_MISS_LIMIT + 1);
        assert_eq!(w.spin_window(), Duration::ZERO);
        // Data found while yielding does not count as a successful spin.
        let mut n = 0u32;
        assert_eq!(
            w.spin(|| {
                n += 1;
                (n == 2).then_some(())
            }),
            Some(())
        );
        assert_eq!(w.stats().yield_hits, 1);
        assert_eq!(w.misses_in_row, DEFAULT_MISS_LIMIT + 1);
        for _ in 0..2 {
            miss(&mut w);
        }
        // The next probe finds data in its spin phase (the clock is only read
        // every 8 tries, so the third try is always inside it): spinning
        // resumes.
        let mut n = 0u32;
        assert_eq!(
            w.spin(|| {
                n += 1;
                (n == 3).then_some(())
            }),
            Some(())
        );
        assert_eq!(w.misses_in_row, 0);
        assert!(w.spin_window() > Duration::ZERO);
        let st = w.stats();
        assert_eq!(st.hits, 1);
        assert_eq!(st.yield_hits, 1);
        assert_eq!(st.blocked, u64::from(DEFAULT_MISS_LIMIT) + 6);
        assert_eq!(st.skipped, 0);
    }

    #[test]
    fn sparse_traffic_neither_spins_nor_yields() {
        let mut w = adaptive(20, 0);
        for _ in 0..100 {
            w.observe(Duration::from_secs(1));
        }
        for _ in 0..10 {
            assert_eq!(miss(&mut w), 1);
            w.pending = None;
        }
        assert_eq!(w.stats().skipped, 10);
        assert_eq!(w.stats().blocked, 0);
    }

    #[test]
    fn only_a_successful_spin_clears_misses() {
        let mut w = adaptive(10, 0);
        for _ in 0..DEFAULT_MISS_LIMIT - 1 {
            miss(&mut w);
        }
        // Data on the first try says nothing about spinning.
        assert_eq!(w.spin(|| Some(1)), Some(1));
        assert_eq!(w.stats().ready, 1);
        assert_eq!(w.misses_in_row, DEFAULT_MISS_LIMIT - 1);
        // A hit in the spin phase (third try: before the first clock check).
        let mut n = 0;
        assert_eq!(
            w.spin(|| {
                n += 1;
                (n == 3).then_some(2)
            }),
            Some(2)
        );
        assert_eq!(w.misses_in_row, 0);
        miss(&mut w);
        assert!(w.spin_window() > Duration::ZERO);
    }

    #[test]
    fn miss_limit_zero_keeps_polling() {
        let mut w = Waiter::new(WaitConfig {
            miss_limit: 0,
            ..WaitConfig::adaptive(US * 10)
        });
        for _ in 0..10 {
            assert!(miss(&mut w) > 1);
            w.pending = None;
        }
        assert!(w.spin_window() > Duration::ZERO);
    }
}
