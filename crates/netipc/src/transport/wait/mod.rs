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
//!    has passed since the wait started (at least one yield and one try,
//!    even if the cap passed while this thread was preempted). When the
//!    peer shares our CPU, the answer cannot arrive while we spin (the peer
//!    needs the CPU to produce it); yielding hands the CPU over without the
//!    sleep/wake-up round trip of blocking, and keeps both processes
//!    runnable, which lets the scheduler move one of them to an idle CPU.
//!    When nothing else wants the CPU, a yield returns at once and this is
//!    plain polling.
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
//!
//! The policies and their configuration are in `config.rs`; the per-session
//! state, the polling loop and the adaptive estimate in `waiter.rs`.

#![forbid(unsafe_code)]

mod config;
mod waiter;

pub use config::{
    WaitConfig, WaitPolicy, DEFAULT_MAX_SPIN, DEFAULT_MISS_LIMIT, DEFAULT_PROBE_INTERVAL,
    LATENCY_FIRST_MAX_SPIN, REFERENCE_SPINS,
};
pub use waiter::{WaitStats, Waiter};
