//! The clocks of the measurements: a monotonic clock and the process's CPU
//! time in nanoseconds, and an absolute sleep on the monotonic clock.
//!
//! On Unix these are `CLOCK_MONOTONIC`, `CLOCK_PROCESS_CPUTIME_ID` and
//! `clock_nanosleep(TIMER_ABSTIME)`; on Windows `Instant` (the performance
//! counter), `GetProcessTimes` (kernel + user time of all threads, in
//! 100 ns units) and a relative sleep to the deadline.

#[cfg(unix)]
mod imp {
    /// Nanoseconds of a clock reading.
    fn ns(ts: rustix::time::Timespec) -> u64 {
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    #[inline]
    pub fn mono_ns() -> u64 {
        ns(rustix::time::clock_gettime(
            rustix::time::ClockId::Monotonic,
        ))
    }

    /// CPU time of the whole process (all threads) in nanoseconds.
    #[inline]
    pub fn cpu_ns() -> u64 {
        ns(rustix::time::clock_gettime(
            rustix::time::ClockId::ProcessCPUTime,
        ))
    }

    /// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns` (absolute, so
    /// that the time spent between reading the clock and sleeping does not
    /// drift the schedule).
    pub fn sleep_until(deadline_ns: u64) {
        let request = rustix::time::Timespec {
            tv_sec: (deadline_ns / 1_000_000_000) as _,
            tv_nsec: (deadline_ns % 1_000_000_000) as _,
        };
        loop {
            match rustix::thread::clock_nanosleep_absolute(
                rustix::time::ClockId::Monotonic,
                &request,
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                _ => return,
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessTimes};

    /// The origin of [`mono_ns`]: the first reading in the process.
    static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

    /// Nanoseconds since the first call, from `Instant` (the performance
    /// counter on Windows).
    #[inline]
    pub fn mono_ns() -> u64 {
        let now = Instant::now();
        let mut epoch = EPOCH.lock().unwrap_or_else(|e| e.into_inner());
        let origin = *epoch.get_or_insert(now);
        now.duration_since(origin).as_nanos() as u64
    }

    /// Kernel plus user time of the whole process (all threads) in
    /// nanoseconds; 0 if the call fails.
    pub fn cpu_ns() -> u64 {
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut creation, mut exit, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no
        // closing; the four pointers are to distinct, writable FILETIMEs
        // that live across the call.
        let ok = unsafe {
            GetProcessTimes(
                GetCurrentProcess(),
                &mut creation,
                &mut exit,
                &mut kernel,
                &mut user,
            )
        };
        if ok == 0 {
            return 0;
        }
        let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
        (ticks(kernel) + ticks(user)).saturating_mul(100)
    }

    /// Sleeps until [`mono_ns`] reaches `deadline_ns`.
    pub fn sleep_until(deadline_ns: u64) {
        let now = mono_ns();
        if deadline_ns > now {
            std::thread::sleep(Duration::from_nanos(deadline_ns - now));
        }
    }
}

pub use imp::{cpu_ns, mono_ns, sleep_until};
