//! A provider's life after it started: serving on the plugin's thread
//! (`netipc_server_run`), stopping, counters and freeing.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::adapter::server::{Runner, Running, StatsData};
use crate::args;
use crate::result::*;

/// Server counter: sessions being served now.
pub const NETIPC_SERVER_STAT_ACTIVE_SESSIONS: u32 = 0;
/// Server counter: sessions that completed the handshake.
pub const NETIPC_SERVER_STAT_SESSIONS_SERVED: u32 = 1;
/// Server counter: handshakes that failed or were rejected (wrong token,
/// no common profile) and sessions turned away (all workers busy).
pub const NETIPC_SERVER_STAT_SESSIONS_REFUSED: u32 = 2;
/// Server counter: requests answered.
pub const NETIPC_SERVER_STAT_REQUESTS: u32 = 3;
/// Server counter: handler calls that failed (answered INTERNAL_ERROR).
pub const NETIPC_SERVER_STAT_HANDLER_FAILURES: u32 = 4;

/// A running provider (opaque): a listening socket, an acceptor and one
/// worker thread per session. The library starts the acceptor's thread,
/// unless the provider was configured with
/// `netipc_server_config_set_caller_thread()`: then a thread of the plugin
/// runs it in `netipc_server_run()`. Its functions may be called from any
/// thread.
#[derive(Debug)]
pub struct netipc_server {
    phase: Mutex<Phase>,
    done: Arc<Done>,
    /// The counters when stopping began.
    final_stats: Mutex<StatsData>,
    /// Who runs the accept loop.
    runner: Mutex<RunSlot>,
}

#[derive(Debug)]
enum Phase {
    Running(Running),
    Stopping(JoinHandle<()>),
    Stopped,
}

/// The accept loop of a provider, as far as `netipc_server_run()` is
/// concerned.
#[derive(Debug)]
enum RunSlot {
    /// A library thread runs it.
    Library,
    /// Waiting for the plugin's thread.
    Ready(Runner),
    /// Stopping began before any thread ran it: discarded.
    Discarded,
    /// `netipc_server_run()` was called.
    Taken,
}

#[derive(Debug, Default)]
struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn finish(&self) {
        *lock(&self.finished) = true;
        self.cv.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Updates under these locks are single assignments; a caught panic
    // cannot leave them half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl netipc_server {
    /// The handle of a server just started (or, for a caller thread, just
    /// bound).
    pub(crate) fn new(mut running: Running) -> netipc_server {
        let runner = match running.take_runner() {
            Some(runner) => RunSlot::Ready(runner),
            None => RunSlot::Library,
        };
        netipc_server {
            phase: Mutex::new(Phase::Running(running)),
            done: Arc::new(Done::default()),
            final_stats: Mutex::new(StatsData::default()),
            runner: Mutex::new(runner),
        }
    }

    /// The accept loop for the calling thread: `None` when stopping began
    /// before it ran (nothing to serve).
    fn take_runner(&self) -> Result<Option<Runner>, Failure> {
        let mut slot = lock(&self.runner);
        match std::mem::replace(&mut *slot, RunSlot::Taken) {
            RunSlot::Ready(runner) => Ok(Some(runner)),
            RunSlot::Discarded => Ok(None),
            RunSlot::Taken => Err(Failure::invalid(
                "netipc_server_run() was already called on this server",
            )),
            RunSlot::Library => {
                *slot = RunSlot::Library;
                Err(Failure::invalid(
                    "this server runs on a library thread; configure it with \
                     netipc_server_config_set_caller_thread() to run it on yours",
                ))
            }
        }
    }

    /// Begins stopping (once) and waits up to `timeout` for it to finish.
    fn stop(&self, timeout: Option<Duration>) -> Result<(), Failure> {
        // An accept loop no thread has taken yet will never serve: closing
        // it now removes the socket at once.
        let unrun = {
            let mut slot = lock(&self.runner);
            match std::mem::replace(&mut *slot, RunSlot::Discarded) {
                RunSlot::Ready(runner) => Some(runner),
                other => {
                    *slot = other;
                    None
                }
            }
        };
        drop(unrun);
        {
            let mut phase = lock(&self.phase);
            if let Phase::Running(_) = &*phase {
                let Phase::Running(running) = std::mem::replace(&mut *phase, Phase::Stopped) else {
                    unreachable!("checked above");
                };
                *lock(&self.final_stats) = running.stats();
                let done = self.done.clone();
                let spawned = std::thread::Builder::new()
                    .name("netipc-stop".into())
                    .spawn(move || {
                        running.shutdown();
                        done.finish();
                    });
                match spawned {
                    Ok(handle) => *phase = Phase::Stopping(handle),
                    // The closure, and the server in it, were dropped,
                    // which stops the server on this thread.
                    Err(_) => self.done.finish(),
                }
            }
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut finished = lock(&self.done.finished);
        while !*finished {
            finished = match deadline {
                None => self
                    .done
                    .cv
                    .wait(finished)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Failure::new(
                            NETIPC_ERR_TIMEOUT,
                            "a handler is still running; the server keeps stopping",
                        ));
                    }
                    self.done
                        .cv
                        .wait_timeout(finished, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(finished);
        let mut phase = lock(&self.phase);
        if let Phase::Stopping(_) = &*phase {
            if let Phase::Stopping(handle) = std::mem::replace(&mut *phase, Phase::Stopped) {
                // The thread has finished its work; this only reaps it.
                let _ = handle.join();
            }
        }
        Ok(())
    }
}

/// Serves a provider started with `netipc_server_config_set_caller_thread()`
/// on the calling thread, a thread the plugin owns: accepts clients and
/// runs their handshakes here (each session is then served on a library
/// worker thread, where the handler runs). Blocks until the provider is
/// stopped by `netipc_server_stop()` from another thread, and returns
/// `NETIPC_OK` once every session has ended: no handler runs any more.
/// Returns `NETIPC_OK` at once when stopping began before it was called.
///
/// Call it once per server. `NETIPC_ERR_INVALID_ARGUMENT` for NULL, for a
/// provider the library runs on its own thread (started without
/// `netipc_server_config_set_caller_thread()`), and for a second call.
///
/// The shutdown sequence of a plugin-owned thread: `netipc_server_stop()`
/// from another thread (this function then returns as soon as handlers in
/// progress have finished, even when that stop timed out), join the thread
/// that called this, then `netipc_server_free()`. Never call `netipc_server_free()` while a thread
/// is in, or may still enter, this function, and never call
/// `netipc_server_stop()` from the thread in it (it would wait for
/// itself) or from a handler.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_run(server: *const netipc_server) -> netipc_result {
    guard(|| {
        // SAFETY: a live server handle per the contract.
        let server = unsafe { args::handle(server, "server") }?;
        if let Some(runner) = server.take_runner()? {
            // The server handle is not touched again: `stop` reaches this
            // loop through the server's shared state, not through us.
            runner.run();
        }
        Ok(())
    })
}

/// Stops the provider: no new connections (the socket is removed at once),
/// every session ends, shared-memory files are removed. Waits up to
/// `timeout_ms` milliseconds for handler calls in progress.
///
/// Returns `NETIPC_OK` when everything has stopped: no handler runs any
/// more and `ctx` may be freed. Returns `NETIPC_ERR_TIMEOUT` when a handler
/// is still running after `timeout_ms`; stopping goes on in the background,
/// and calling this again (or `netipc_server_free()`) waits for it.
/// Idle sessions end within about 100 ms. Calling it on a stopped server
/// returns `NETIPC_OK`. Must not be called from inside a handler.
///
/// For a provider served on the plugin's thread, this makes
/// `netipc_server_run()` return (`NETIPC_OK` here means it has returned,
/// or never will serve if it was not called yet: it then returns at once).
#[no_mangle]
pub unsafe extern "C" fn netipc_server_stop(
    server: *const netipc_server,
    timeout_ms: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live server handle per the contract.
        let server = unsafe { args::handle(server, "server") }?;
        server.stop(Some(Duration::from_millis(u64::from(timeout_ms))))
    })
}

/// Reads a counter (`NETIPC_SERVER_STAT_*`) into `*value`. After stopping
/// began, the counters are those at that moment.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_stat(
    server: *const netipc_server,
    which: u32,
    value: *mut u64,
) -> netipc_result {
    guard(|| {
        args::require(value, "value")?;
        // SAFETY: a live server handle per the contract.
        let server = unsafe { args::handle(server, "server") }?;
        let stats = match &*lock(&server.phase) {
            Phase::Running(running) => running.stats(),
            _ => *lock(&server.final_stats),
        };
        let v = match which {
            NETIPC_SERVER_STAT_ACTIVE_SESSIONS => stats.active_sessions,
            NETIPC_SERVER_STAT_SESSIONS_SERVED => stats.sessions_served,
            NETIPC_SERVER_STAT_SESSIONS_REFUSED => stats.sessions_refused,
            NETIPC_SERVER_STAT_REQUESTS => stats.requests,
            NETIPC_SERVER_STAT_HANDLER_FAILURES => stats.handler_failures,
            _ => return Err(Failure::invalid(format!("unknown server counter {which}"))),
        };
        // SAFETY: checked non-NULL above.
        unsafe { args::put(value, v, "value") }
    })
}

/// Stops the provider (waiting without limit for handlers in progress) and
/// frees it. NULL is ignored. When it returns no handler runs any more.
/// Must not be called from inside a handler; no other thread may use the
/// server during or after this call. For a provider served on the
/// plugin's thread this includes `netipc_server_run()`: stop the server
/// first, join the thread that ran it, then free.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_free(server: *mut netipc_server) {
    guard_value((), || {
        // SAFETY: NULL or a live server handle per the contract.
        if let Some(s) = unsafe { server.as_ref() } {
            let _ = s.stop(None);
        }
        // SAFETY: NULL or a handle from a start function, not used again.
        unsafe { args::free_box(server) }
    })
}
