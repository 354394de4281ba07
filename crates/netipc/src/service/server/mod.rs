//! The managed server: one method per endpoint, one acceptor that runs
//! every handshake (`acceptor.rs`) on a thread of the library or of the
//! caller (`runner.rs`), a worker thread per established session
//! (`worker.rs`), batch splitting, size learning and a shutdown that
//! returns promptly whatever the clients do (PROTOCOL.md §10.5–§10.6).

#[cfg(unix)]
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(unix)]
use rustix::io::Errno;
#[cfg(unix)]
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use super::{ServeError, ServerConfig, ServerError};
#[cfg(unix)]
use crate::transport::shm::region::sweep_stale;
use crate::transport::{Endpoint, Listener};
use crate::wire::Method;

#[cfg(unix)]
mod acceptor;
// A pipe handle cannot be polled: on Windows each connection gets its own
// thread for the handshake.
#[cfg(windows)]
#[path = "acceptor_windows.rs"]
mod acceptor;
mod runner;
mod worker;

use runner::RunPhase;
pub use runner::ServerRunner;

/// How often idle loops look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What a managed server runs for each request item.
///
/// The typed service modules provide adapters (for example
/// [`super::increment::handler`]) so that plugin code only sees values, never
/// bytes.
pub trait Handler: Send + Sync + 'static {
    /// The one method this endpoint serves; other codes get UNSUPPORTED.
    fn method(&self) -> Method;
    /// Whether batch requests are accepted (split per item). A method that
    /// is always non-batch, like CGROUPS_SNAPSHOT, answers BAD_ENVELOPE to a
    /// batch.
    fn allows_batch(&self) -> bool {
        true
    }
    /// Answers one request item: decodes `request` and appends the encoded
    /// response item to `out`. Batches are split by the server, which calls
    /// this once per item, in order.
    fn serve(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), ServeError>;
    /// Answers a plain (non-batch) request knowing the session's agreed
    /// response payload limit `budget`, for methods whose items depend on
    /// it (the lookups, PROTOCOL-LOOKUP §17). Defaults to
    /// [`serve`](Self::serve).
    fn serve_within(
        &self,
        request: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Result<(), ServeError> {
        let _ = budget;
        self.serve(request, out)
    }
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Sessions being served now.
    pub active_sessions: usize,
    /// Sessions that completed the handshake.
    pub sessions_served: u64,
    /// Handshakes that failed or were rejected, and sessions turned away.
    pub sessions_refused: u64,
    /// Requests answered.
    pub requests: u64,
    /// Handler failures and panics (answered INTERNAL_ERROR).
    pub handler_failures: u64,
    /// Learned request size.
    pub learned_request: u32,
    /// Learned (announced) response size.
    pub learned_response: u32,
}

struct Shared {
    stop: AtomicBool,
    active: AtomicUsize,
    served: AtomicU64,
    refused: AtomicU64,
    requests: AtomicU64,
    handler_failures: AtomicU64,
    learned_request: AtomicU32,
    learned_response: AtomicU32,
    /// Learned sizes never exceed the configured maxima
    /// (PROTOCOL-LOOKUP.md §19.9 item 1).
    request_ceiling: u32,
    response_ceiling: u32,
}

/// A running server for one endpoint. Dropping it shuts it down.
pub struct ManagedServer {
    shared: Arc<Shared>,
    /// The library's acceptor thread ([`ManagedServer::start`]).
    acceptor: Option<JoinHandle<()>>,
    /// Where the accept loop is, wherever it runs.
    phase: Arc<RunPhase>,
    endpoint: Endpoint,
}

impl std::fmt::Debug for ManagedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedServer")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ManagedServer {
    /// Checks the run directory (unless disabled, see
    /// [`ServerConfig::check_run_dir`]), raises the soft `RLIMIT_NOFILE` to
    /// the hard limit, removes the endpoint's stale shared-memory files,
    /// binds its socket and starts accepting on a thread of its own
    /// (`netipc-accept-<service>`). Returns once the socket is bound.
    ///
    /// Raising the descriptor limit affects the whole process; it lets a
    /// server hold its sessions and its bounded handshake queue even while
    /// idle connections pile up in the listen backlog.
    pub fn start(
        endpoint: Endpoint,
        config: ServerConfig,
        handler: impl Handler,
    ) -> Result<ManagedServer, ServerError> {
        let thread_name = format!("netipc-accept-{}", endpoint.service());
        let (mut server, runner) = ManagedServer::bind(endpoint, config, handler)?;
        // On failure the closure, and the runner in it, are dropped: the
        // listener closes and `server` drops without waiting.
        let acceptor = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || runner.run())
            .map_err(ServerError::Thread)?;
        server.acceptor = Some(acceptor);
        Ok(server)
    }

    /// Does what [`start`](ManagedServer::start) does up to binding the
    /// socket, and starts no thread: connections queue in the listen
    /// backlog until the returned [`ServerRunner`] runs, on a thread the
    /// caller owns. Sessions are still served on worker threads of their
    /// own.
    ///
    /// Stop the server with [`shutdown`](ManagedServer::shutdown) (or by
    /// dropping it) from another thread than the runner's: it makes
    /// [`ServerRunner::run`] return and waits until it has. A runner that
    /// has not started running is not waited for: it returns at once when
    /// run later, and the socket file is removed when it runs or is
    /// dropped.
    pub fn bind(
        endpoint: Endpoint,
        config: ServerConfig,
        handler: impl Handler,
    ) -> Result<(ManagedServer, ServerRunner), ServerError> {
        // On Windows the run directory is only hashed into the pipe name,
        // handles are not limited like descriptors, and kernel objects
        // vanish with their last handle (nothing stale to sweep).
        #[cfg(unix)]
        {
            if config.check_run_dir {
                check_run_dir(endpoint.run_dir())?;
            }
            raise_fd_limit();
            sweep_stale(&endpoint).map_err(|source| ServerError::Sweep {
                dir: endpoint.run_dir().to_path_buf(),
                source,
            })?;
        }
        let listener = Listener::bind(&endpoint, &config.listener)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            handler_failures: AtomicU64::new(0),
            learned_request: AtomicU32::new(0),
            learned_response: AtomicU32::new(
                config
                    .session
                    .policy
                    .effective_max_response_payload()
                    .max(1),
            ),
            request_ceiling: config.request_ceiling(),
            response_ceiling: config.effective_response_ceiling(),
        });
        let acceptor = acceptor::Acceptor::new(
            listener,
            endpoint.clone(),
            config,
            Arc::new(handler),
            shared.clone(),
        );
        let phase = RunPhase::new();
        let runner = ServerRunner::new(Box::new(move || acceptor.run()), phase.clone());
        let server = ManagedServer {
            shared,
            acceptor: None,
            phase,
            endpoint,
        };
        Ok((server, runner))
    }

    /// The endpoint served.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The listening socket's path (Unix only; on Windows the pipe name is
    /// `Endpoint::pipe_name` of [`ManagedServer::endpoint`]).
    #[cfg(unix)]
    pub fn socket_path(&self) -> &Path {
        self.endpoint.socket_path()
    }

    /// Current counters.
    pub fn stats(&self) -> ServerStats {
        let s = &self.shared;
        ServerStats {
            active_sessions: s.active.load(Ordering::Relaxed),
            sessions_served: s.served.load(Ordering::Relaxed),
            sessions_refused: s.refused.load(Ordering::Relaxed),
            requests: s.requests.load(Ordering::Relaxed),
            handler_failures: s.handler_failures.load(Ordering::Relaxed),
            learned_request: s.learned_request.load(Ordering::Relaxed),
            learned_response: s.learned_response.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, ends every session, removes the socket and every
    /// shared-memory file, and waits for all threads. The acceptor notices
    /// within one 100 ms poll and then shuts every session's socket down,
    /// so sends blocked on a client that does not read and receives waiting
    /// for a client return at once: this returns well within a second
    /// whatever the clients do, unless a handler is busy.
    ///
    /// For a server from [`bind`](ManagedServer::bind), this waits until a
    /// [`ServerRunner::run`] in progress has returned; a runner that never
    /// started is not waited for (see `bind`).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        match self.acceptor.take() {
            Some(acceptor) => {
                let _ = acceptor.join();
            }
            None => self.phase.wait_not_running(),
        }
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Refuses a run directory other users could tamper with: writable by group
/// or others without the sticky bit (they could replace the socket or the
/// region files). A missing directory is left to `bind` to report.
#[cfg(unix)]
fn check_run_dir(dir: &Path) -> Result<(), ServerError> {
    let st = match rustix::fs::stat(dir) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => {
            return Err(ServerError::RunDir {
                dir: dir.to_path_buf(),
                source: e.into(),
            })
        }
    };
    let mode = st.st_mode as u32;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(ServerError::UnsafeRunDir {
            dir: dir.to_path_buf(),
            reason: "writable by group or others without the sticky bit",
        });
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Failure changes
/// nothing and is ignored: the server then works within the limit it has.
#[cfg(unix)]
fn raise_fd_limit() {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}
