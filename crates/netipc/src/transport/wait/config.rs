//! How a receiver polls before it blocks: [`WaitPolicy`], [`WaitConfig`]
//! and its presets.

use std::time::Duration;

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

/// Configuration of a session's waiter (the Level 1 `Waiter`).
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
    /// Adaptive polling with a 50 µs cap (`DEFAULT_MAX_SPIN`): request/response
    /// traffic between busy peers is served from the poll loop, while a quiet
    /// session stops polling after a few slow answers.
    fn default() -> Self {
        WaitConfig::adaptive(DEFAULT_MAX_SPIN)
    }
}
