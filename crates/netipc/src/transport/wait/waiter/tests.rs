//! Unit tests of the waiter: they look at its private learning state.

use super::*;
use crate::transport::wait::{DEFAULT_MAX_SPIN, DEFAULT_MISS_LIMIT};

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
