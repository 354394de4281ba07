//! The managed server: one method per endpoint, a worker thread per session,
//! batch splitting, size learning and a shutdown that returns promptly
//! (PROTOCOL.md §10.5–§10.6).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::next_pow2;
use crate::transport::handshake::{ServerPolicy, SessionIds};
use crate::transport::session::{ServerSession, ServerSessionConfig};
use crate::transport::shm::region::sweep_stale;
use crate::transport::wait::WaitConfig;
use crate::transport::{EndpointError, Listener, ListenerConfig};
use crate::wire::{BatchBuilder, BatchView, Flags, Header, Kind, Method, Profiles, Status};

/// How often idle loops look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A typed handler failed; the client receives INTERNAL_ERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl HandlerError {
    /// A handler error with a message for the server's log.
    pub fn new(msg: impl Into<String>) -> Self {
        HandlerError(msg.into())
    }
}

/// Why one request (or batch item) could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeError {
    /// The request payload does not decode: answered BAD_ENVELOPE.
    BadRequest,
    /// The handler failed: answered INTERNAL_ERROR.
    Handler(HandlerError),
}

impl From<HandlerError> for ServeError {
    fn from(e: HandlerError) -> Self {
        ServeError::Handler(e)
    }
}

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
}

/// Settings of a managed server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The shared secret clients must present.
    pub auth_token: u64,
    /// Profiles offered. Default: UDS and shared memory.
    pub profiles: Profiles,
    /// Profiles preferred. Default: shared memory.
    pub preferred: Profiles,
    /// Response payload limit announced before anything was learned.
    pub response_payload: u32,
    /// UDS packet size to propose (0 = SO_SNDBUF − 32).
    pub packet_size: u32,
    /// Concurrent sessions served; an extra client completes its handshake
    /// and is then disconnected (it sees the session close on first use).
    pub max_sessions: usize,
    /// Socket file mode.
    pub socket_mode: u32,
    /// Longest wait for a client's HELLO.
    pub handshake_timeout: Duration,
    /// Spin-then-block policy of workers' receives.
    pub wait: WaitConfig,
}

impl ServerConfig {
    /// Defaults with the given auth token.
    pub fn new(auth_token: u64) -> Self {
        ServerConfig {
            auth_token,
            profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            preferred: Profiles::SHM_HYBRID,
            response_payload: 1024,
            packet_size: 0,
            max_sessions: 8,
            socket_mode: 0o600,
            handshake_timeout: Duration::from_secs(5),
            wait: WaitConfig::default(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the endpoint failed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The stale shared-memory sweep failed.
    #[error("cannot sweep stale shared-memory files in {dir}: {source}")]
    Sweep {
        /// Run directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The acceptor thread could not be started.
    #[error("cannot start the acceptor thread: {0}")]
    Thread(std::io::Error),
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
}

/// A running server for one endpoint. Dropping it shuts it down.
pub struct ManagedServer {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    socket_path: PathBuf,
}

impl std::fmt::Debug for ManagedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedServer")
            .field("socket_path", &self.socket_path)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ManagedServer {
    /// Removes stale shared-memory files of `service`, binds
    /// `{run_dir}/{service}.sock` and starts accepting. Returns once the
    /// socket is bound.
    pub fn start(
        run_dir: impl AsRef<Path>,
        service: &str,
        config: ServerConfig,
        handler: impl Handler,
    ) -> Result<ManagedServer, ServerError> {
        let run_dir = run_dir.as_ref().to_path_buf();
        sweep_stale(&run_dir, service).map_err(|source| ServerError::Sweep {
            dir: run_dir.clone(),
            source,
        })?;
        let listener = Listener::bind(
            &run_dir,
            service,
            &ListenerConfig {
                socket_mode: config.socket_mode,
                ..ListenerConfig::default()
            },
        )?;
        let socket_path = listener.path().to_path_buf();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            handler_failures: AtomicU64::new(0),
            learned_request: AtomicU32::new(0),
            learned_response: AtomicU32::new(config.response_payload.max(1)),
        });
        let acceptor = Acceptor {
            listener,
            run_dir,
            service: service.to_string(),
            config,
            handler: Arc::new(handler),
            shared: shared.clone(),
            ids: SessionIds::new(),
            workers: Vec::new(),
        };
        let acceptor = std::thread::Builder::new()
            .name(format!("netipc-accept-{service}"))
            .spawn(move || acceptor.run())
            .map_err(ServerError::Thread)?;
        Ok(ManagedServer {
            shared,
            acceptor: Some(acceptor),
            socket_path,
        })
    }

    /// The listening socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
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
    /// shared-memory file, and waits for all threads. Idle sessions are
    /// noticed within one 100 ms poll, so this returns well within a second
    /// unless a handler is busy.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for ManagedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Acceptor<H: Handler> {
    listener: Listener,
    run_dir: PathBuf,
    service: String,
    config: ServerConfig,
    handler: Arc<H>,
    shared: Arc<Shared>,
    ids: SessionIds,
    workers: Vec<JoinHandle<()>>,
}

impl<H: Handler> Acceptor<H> {
    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.workers.retain(|w| !w.is_finished());
            let conn = match self.listener.accept(Some(POLL)) {
                Ok(Some(conn)) => conn,
                Ok(None) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let session_id = self.ids.next_id();
            let config = ServerSessionConfig {
                policy: ServerPolicy {
                    supported: self.config.profiles,
                    preferred: self.config.preferred,
                    max_response_payload: self.shared.learned_response.load(Ordering::Relaxed),
                    packet_size: self.config.packet_size,
                    auth_token: self.config.auth_token,
                },
                handshake_timeout: self.config.handshake_timeout,
                wait: self.config.wait,
            };
            let worker = Worker {
                handler: self.handler.clone(),
                shared: self.shared.clone(),
                max_sessions: self.config.max_sessions.max(1),
            };
            let run_dir = self.run_dir.clone();
            let service = self.service.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("netipc-session-{session_id}"))
                .spawn(move || {
                    match ServerSession::accept(conn, &run_dir, &service, session_id, &config) {
                        Ok(session) => worker.run(session),
                        Err(_) => {
                            worker.shared.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            match spawned {
                Ok(handle) => self.workers.push(handle),
                Err(_) => {
                    self.shared.refused.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Listener drops here: the socket file is removed before workers
        // finish, so no new client can connect during shutdown.
        drop(self.listener);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

struct Worker<H: Handler> {
    handler: Arc<H>,
    shared: Arc<Shared>,
    max_sessions: usize,
}

/// Releases a worker slot when the session ends, however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<H: Handler> Worker<H> {
    fn run(self, mut session: ServerSession) {
        let shared = &*self.shared;
        let taken = shared.active.fetch_add(1, Ordering::SeqCst);
        let _slot = Slot(&shared.active);
        if taken >= self.max_sessions {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        shared.served.fetch_add(1, Ordering::Relaxed);
        let response_limit = session.negotiated().agreed_max_response_payload_bytes as usize;
        let mut out = Vec::new();
        while !shared.stop.load(Ordering::Relaxed) {
            let request = match session.recv(POLL) {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(_) => return,
            };
            if request.kind != Kind::Request {
                return;
            }
            let payload = session.payload();
            shared
                .learned_request
                .fetch_max(next_pow2(payload.len() as u64), Ordering::Relaxed);
            let (status, flags, items, ends_session) = if request.code
                != self.handler.method().code()
            {
                (Status::Unsupported, Flags::NONE, 1, false)
            } else {
                out.clear();
                let served = catch_unwind(AssertUnwindSafe(|| {
                    self.dispatch(&request, payload, &mut out)
                }));
                match served {
                    Err(_) => {
                        shared.handler_failures.fetch_add(1, Ordering::Relaxed);
                        (Status::InternalError, Flags::NONE, 1, true)
                    }
                    Ok(Err(ServeError::BadRequest)) => (Status::BadEnvelope, Flags::NONE, 1, false),
                    Ok(Err(ServeError::Handler(_))) => {
                        shared.handler_failures.fetch_add(1, Ordering::Relaxed);
                        (Status::InternalError, Flags::NONE, 1, false)
                    }
                    Ok(Ok(())) => {
                        shared
                            .learned_response
                            .fetch_max(next_pow2(out.len() as u64), Ordering::Relaxed);
                        if out.len() > response_limit {
                            (Status::LimitExceeded, Flags::NONE, 1, true)
                        } else if request.is_batch() {
                            (Status::Ok, Flags::BATCH, request.item_count, false)
                        } else {
                            (Status::Ok, Flags::NONE, 1, false)
                        }
                    }
                }
            };
            let body: &[u8] = if status == Status::Ok { &out } else { &[] };
            let mut response = Header::response_to(&request, status, body.len() as u32);
            response.flags = flags;
            response.item_count = items;
            shared.requests.fetch_add(1, Ordering::Relaxed);
            if session.send(&response, body).is_err() || ends_session {
                return;
            }
        }
    }

    /// Runs the handler on a plain request or on every item of a batch,
    /// appending the response payload to `out`.
    fn dispatch(
        &self,
        request: &Header,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ServeError> {
        if !request.is_batch() {
            return self.handler.serve(payload, out);
        }
        if !self.handler.allows_batch() {
            return Err(ServeError::BadRequest);
        }
        let items =
            BatchView::new(payload, request.item_count).map_err(|_| ServeError::BadRequest)?;
        let mut builder =
            BatchBuilder::new(out, request.item_count).map_err(|_| ServeError::BadRequest)?;
        for item in items.iter() {
            let mut result = Ok(());
            builder
                .push_with(|buf| result = self.handler.serve(item, buf))
                .map_err(|_| ServeError::BadRequest)?;
            result?;
        }
        builder.finish().map_err(|_| ServeError::BadRequest)?;
        Ok(())
    }
}
