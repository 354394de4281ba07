//! Who owns a region: the identity a server records in the header
//! (`owner_pid`, `owner_generation`) and the test whether that owner still
//! runs.
//!
//! A pid alone does not identify a process: after a restart (a container
//! restarted with its run directory kept, a reboot with a persistent run
//! directory) the new server may well get the pid of the old one, and a
//! plain `kill(pid, 0)` then calls every leftover region "live". So this
//! implementation records, as `owner_generation`, a value derived from the
//! owner's *start time* (field 22 of `/proc/PID/stat`, clock ticks since
//! boot), which any process can recompute for a running pid and compare.
//! Peers only require the generation to be non-zero (PROTOCOL §7.3), so this
//! choice is compatible with them.

use std::time::Duration;

use rustix::io::Errno;
use rustix::time::{clock_gettime, ClockId};

use super::layout::monotonic_generation;

/// How much earlier than the owner's start a region file's change time must
/// be before the file is judged to predate its owner. Covers the 10 ms
/// resolution of start times and the coarse file timestamps.
const CTIME_MARGIN: Duration = Duration::from_secs(2);

/// What `/proc/PID/stat` says about a process's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Start time in clock ticks since boot.
    Ticks(u64),
    /// The process does not exist.
    Gone,
    /// `/proc` could not tell (not mounted, unreadable, unparsable).
    Unknown,
}

fn start_of(pid: i32) -> Start {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Start::Gone,
        Err(e) if e.raw_os_error() == Some(Errno::SRCH.raw_os_error()) => return Start::Gone,
        Err(_) => return Start::Unknown,
    };
    // "pid (comm) state ppid …": comm may contain spaces and parentheses, so
    // fields are counted from the last ')'. Field 3 (state) is the first
    // after it, so field 22 (starttime) is the 20th.
    let rest = match text.rfind(')') {
        Some(i) => &text[i + 1..],
        None => return Start::Unknown,
    };
    match rest.split_whitespace().nth(19).map(str::parse::<u64>) {
        Some(Ok(ticks)) => Start::Ticks(ticks),
        _ => Start::Unknown,
    }
}

/// The generation recorded for a process that started `ticks` clock ticks
/// after boot: the ticks folded to 32 bits, never 0.
fn generation_from_ticks(ticks: u64) -> u32 {
    // Truncation after folding is the definition.
    let g = (ticks ^ (ticks >> 32)) as u32;
    if g == 0 {
        1
    } else {
        g
    }
}

/// The `owner_generation` this implementation records in regions created by
/// the running process `pid` — derived from its start time, so it differs
/// between two processes that had the same pid — or `None` when `/proc`
/// cannot tell (no such process, `/proc` not mounted).
pub fn process_generation(pid: i32) -> Option<u32> {
    if pid <= 0 {
        return None;
    }
    match start_of(pid) {
        Start::Ticks(t) => Some(generation_from_ticks(t)),
        Start::Gone | Start::Unknown => None,
    }
}

fn own_pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The generation to record in a region this process creates: its
/// [`process_generation`], or the monotonic-clock value of PROTOCOL §7.3
/// when `/proc` is unavailable.
pub(super) fn own_generation() -> u32 {
    process_generation(own_pid()).unwrap_or_else(monotonic_generation)
}

/// A file's change time, as `fstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChangeTime {
    pub(super) secs: i64,
    pub(super) nanos: u32,
}

fn nanos(secs: i64, nanos: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nanos)
}

/// Whether a file changed at `ctime` predates (by more than the margin) the
/// process that started `ticks` clock ticks after boot. `None` if the clock
/// tick rate is unknown or the start lies in the future.
fn predates(ctime: ChangeTime, ticks: u64) -> Option<bool> {
    let hz = rustix::param::clock_ticks_per_second();
    if hz == 0 {
        return None;
    }
    let started_ns = i128::from(ticks) * 1_000_000_000 / i128::from(hz);
    let boot = clock_gettime(ClockId::Boottime);
    let real = clock_gettime(ClockId::Realtime);
    let age = nanos(boot.tv_sec, boot.tv_nsec) - started_ns;
    if age < 0 {
        return None;
    }
    let started_real = nanos(real.tv_sec, real.tv_nsec) - age;
    let changed = nanos(ctime.secs, i64::from(ctime.nanos));
    let margin = i128::try_from(CTIME_MARGIN.as_nanos()).unwrap_or(i128::MAX);
    Some(changed.saturating_add(margin) < started_real)
}

/// Whether the owner recorded in a region header still runs, so the file
/// must be kept:
///
/// 1. `pid ≤ 0` or `generation == 0` → not live;
/// 2. `kill(pid, 0)` fails with anything but `EPERM` → not live;
/// 3. the process's start time is known (`/proc/PID/stat`):
///    * the recorded generation is that process's [`process_generation`]
///      → live (it is the owner);
///    * the pid is our own → not live (we know our own generation: the
///      file was left by an earlier process with our pid);
///    * the file's change time is more than 2 s older than the process's
///      start → not live (a process cannot own a region created before it
///      existed: the pid was reused);
///    * otherwise → live (a peer implementation that records another kind of
///      generation; we cannot prove it is not the owner);
/// 4. the process vanished meanwhile → not live; `/proc` cannot tell → live
///    (the plain pid rule of PROTOCOL §7.8).
pub(super) fn owner_is_live(pid: i32, generation: u32, ctime: ChangeTime) -> bool {
    if pid <= 0 || generation == 0 {
        return false;
    }
    let exists = rustix::process::Pid::from_raw(pid).map_or(false, |p| {
        matches!(
            rustix::process::test_kill_process(p),
            Ok(()) | Err(Errno::PERM)
        )
    });
    if !exists {
        return false;
    }
    match start_of(pid) {
        Start::Gone => false,
        Start::Unknown => true,
        Start::Ticks(ticks) => {
            if generation_from_ticks(ticks) == generation {
                true
            } else if pid == own_pid() {
                false
            } else {
                predates(ctime, ticks) != Some(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};

    fn now() -> ChangeTime {
        let t = clock_gettime(ClockId::Realtime);
        ChangeTime {
            secs: t.tv_sec,
            nanos: t.tv_nsec as u32,
        }
    }

    const LONG_AGO: ChangeTime = ChangeTime { secs: 0, nanos: 0 };

    struct Sleeper(Child);

    impl Sleeper {
        fn start() -> Sleeper {
            Sleeper(Command::new("sleep").arg("600").spawn().unwrap())
        }
        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn parses_our_own_start_time() {
        let g = process_generation(own_pid()).expect("/proc is mounted");
        assert_ne!(g, 0);
        assert_eq!(own_generation(), g);
        // Stable for the life of the process.
        assert_eq!(process_generation(own_pid()), Some(g));
        assert_eq!(process_generation(0), None);
        assert_eq!(process_generation(-1), None);
    }

    #[test]
    fn folding_never_gives_zero() {
        assert_eq!(generation_from_ticks(0), 1);
        assert_eq!(generation_from_ticks(1 << 32 | 1), 1);
        assert_eq!(generation_from_ticks(5), 5);
    }

    #[test]
    fn own_pid_needs_our_generation() {
        let me = own_pid();
        let g = own_generation();
        assert!(owner_is_live(me, g, now()));
        assert!(owner_is_live(me, g, LONG_AGO));
        // Same pid, another generation: left by an earlier process.
        assert!(!owner_is_live(me, g.wrapping_add(1).max(1), now()));
        assert!(!owner_is_live(me, 0, now()));
    }

    #[test]
    fn another_live_process() {
        let s = Sleeper::start();
        let g = process_generation(s.pid()).unwrap();
        assert!(owner_is_live(s.pid(), g, now()));
        let other = if g == 7 { 8 } else { 7 };
        // A file changed long before the process started is not its region.
        assert!(!owner_is_live(s.pid(), other, LONG_AGO));
        // A recent file with a foreign generation may belong to a peer
        // implementation: kept.
        assert!(owner_is_live(s.pid(), other, now()));
    }

    #[test]
    fn dead_process_is_not_live() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(!owner_is_live(pid, 1, now()));
        assert!(!owner_is_live(0, 1, now()));
        assert!(!owner_is_live(-3, 1, now()));
    }
}
