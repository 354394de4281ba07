//! Serving on a thread the caller owns: [`ServerRunner`] carries the bound
//! listener and the accept loop out of [`ManagedServer::bind`], and a
//! shared phase tells the server whether that loop is running, so that
//! shutdown waits for it exactly when it must.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(doc)]
use super::ManagedServer;

/// The accept loop of a server bound with [`ManagedServer::bind`], to be
/// run on a thread the caller owns.
///
/// [`run`](ServerRunner::run) accepts connections and serves them (each
/// session still gets a worker thread of its own) until the server is
/// stopped by [`ManagedServer::shutdown`] or by dropping the
/// [`ManagedServer`], from another thread. Dropping the runner without
/// running it closes the listening socket: the server then serves
/// nothing, and its shutdown returns at once.
#[must_use = "a bound server serves nothing until its runner runs"]
pub struct ServerRunner {
    accept: Box<dyn FnOnce() + Send>,
    phase: PhaseGuard,
}

impl std::fmt::Debug for ServerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRunner").finish_non_exhaustive()
    }
}

impl ServerRunner {
    pub(super) fn new(accept: Box<dyn FnOnce() + Send>, phase: Arc<RunPhase>) -> Self {
        ServerRunner {
            accept,
            phase: PhaseGuard(phase),
        }
    }

    /// Runs the accept loop on the calling thread. Returns once the server
    /// was stopped ([`ManagedServer::shutdown`] or drop, from another
    /// thread) and every session thread has ended: the socket and the
    /// shared-memory files are removed by then and no handler runs any
    /// more. Returns at once when the server was already stopped.
    ///
    /// Never call it from a handler of the same server, and never shut
    /// the server down on the thread that runs this (it would wait for
    /// itself).
    pub fn run(self) {
        let ServerRunner { accept, phase } = self;
        phase.0.set(Phase::Running);
        accept();
        // `phase` drops here (or while unwinding): the loop is finished.
    }
}

/// Where the accept loop of a bound server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started: the runner exists and has not run.
    Idle,
    /// `run` is in progress.
    Running,
    /// `run` returned (or unwound), or the runner was dropped unrun.
    Finished,
}

/// The phase of a server's accept loop, shared by the server and its
/// runner.
#[derive(Debug)]
pub(super) struct RunPhase {
    phase: Mutex<Phase>,
    changed: Condvar,
}

impl RunPhase {
    pub(super) fn new() -> Arc<RunPhase> {
        Arc::new(RunPhase {
            phase: Mutex::new(Phase::Idle),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // Only whole values are stored under the lock: a panic elsewhere
        // cannot leave it half-written.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, phase: Phase) {
        *self.lock() = phase;
        self.changed.notify_all();
    }

    /// Waits while the accept loop runs. The stop flag must be set before:
    /// a loop that starts after this looked sees it and returns at once,
    /// so an idle runner is not waited for (it may never run).
    pub(super) fn wait_not_running(&self) {
        let mut phase = self.lock();
        while *phase == Phase::Running {
            phase = self.changed.wait(phase).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Marks the loop finished when the runner goes away, however it goes:
/// after `run`, while a panic unwinds through it, or dropped unrun.
struct PhaseGuard(Arc<RunPhase>);

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        self.0.set(Phase::Finished);
    }
}
