//! The managed server: one method per endpoint, a worker thread per session,
//! batch splitting, size learning and a shutdown that returns promptly
//! (PROTOCOL.md §10.5–§10.6).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{next_pow2, DEFAULT_PREFERRED, DEFAULT_PROFILES};
use crate::auth::AuthToken;
use crate::transport::handshake::{ServerPolicy, SessionIds};
use crate::transport::session::{ServerSession, ServerSessionConfig};
use crate::transport::shm::region::sweep_stale;
use crate::transport::wait::WaitConfig;
use crate::transport::{Endpoint, EndpointError, Listener, ListenerConfig};
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

/// Settings of a managed server: the Level 1 session settings it serves
/// every connection with, its socket and its session limit.
///
/// ```
/// use netipc::auth::AuthToken;
/// use netipc::service::ServerConfig;
///
/// let config = ServerConfig::new(AuthToken::new(0x1234))
///     .with_max_sessions(32)
///     .with_socket_mode(0o660);
/// assert_eq!(config.max_sessions, 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The handshake policy (profiles, auth token, the response limit
    /// announced before anything was learned, packet size), the HELLO
    /// timeout and the receive policy of the workers.
    pub session: ServerSessionConfig,
    /// The socket file's mode and the listen backlog.
    pub listener: ListenerConfig,
    /// Concurrent sessions served; an extra client completes its handshake
    /// and is then disconnected (it sees the session close on first use).
    /// Default 8.
    pub max_sessions: usize,
}

impl ServerConfig {
    /// Defaults with the given auth token: UDS and shared memory supported,
    /// shared memory preferred, 1024-byte responses until larger ones are
    /// learned, automatic packet size, 8 sessions, socket mode 0600.
    pub fn new(auth_token: AuthToken) -> Self {
        ServerConfig {
            session: ServerSessionConfig::new(ServerPolicy {
                supported: DEFAULT_PROFILES,
                preferred: DEFAULT_PREFERRED,
                auth_token,
                ..ServerPolicy::default()
            }),
            listener: ListenerConfig::default(),
            max_sessions: 8,
        }
    }

    /// Supports only the UDS baseline.
    pub fn uds_only(self) -> Self {
        self.with_profiles(Profiles::BASELINE, Profiles::BASELINE)
    }

    /// Sets the profiles supported and preferred.
    pub fn with_profiles(mut self, supported: Profiles, preferred: Profiles) -> Self {
        self.session.policy.supported = supported;
        self.session.policy.preferred = preferred;
        self
    }

    /// Sets the response payload limit announced before anything was
    /// learned.
    pub fn with_response_payload(mut self, bytes: u32) -> Self {
        self.session.policy.max_response_payload = bytes;
        self
    }

    /// Sets the UDS packet size to propose (0 = `SO_SNDBUF` − 32).
    pub fn with_packet_size(mut self, bytes: u32) -> Self {
        self.session.policy.packet_size = bytes;
        self
    }

    /// Sets how many sessions are served at once (at least 1).
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n.max(1);
        self
    }

    /// Sets the socket file's permission bits.
    pub fn with_socket_mode(mut self, mode: u32) -> Self {
        self.listener = self.listener.with_socket_mode(mode);
        self
    }

    /// Sets the longest wait for a client's HELLO.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.session.handshake_timeout = timeout;
        self
    }

    /// Sets the spin-then-block policy of the workers' receives.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.session.wait = wait;
        self
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
    /// Removes the endpoint's stale shared-memory files, binds its socket
    /// and starts accepting. Returns once the socket is bound.
    pub fn start(
        endpoint: Endpoint,
        config: ServerConfig,
        handler: impl Handler,
    ) -> Result<ManagedServer, ServerError> {
        sweep_stale(endpoint.run_dir(), endpoint.service()).map_err(|source| {
            ServerError::Sweep {
                dir: endpoint.run_dir().to_path_buf(),
                source,
            }
        })?;
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
        });
        let thread_name = format!("netipc-accept-{}", endpoint.service());
        let acceptor = Acceptor {
            listener,
            endpoint: Arc::new(endpoint.clone()),
            config,
            handler: Arc::new(handler),
            shared: shared.clone(),
            ids: SessionIds::new(),
            workers: Vec::new(),
        };
        let acceptor = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || acceptor.run())
            .map_err(ServerError::Thread)?;
        Ok(ManagedServer {
            shared,
            acceptor: Some(acceptor),
            endpoint,
        })
    }

    /// The endpoint served.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The listening socket's path.
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
    endpoint: Arc<Endpoint>,
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
            // The session settings were built once; only the learned
            // response limit changes between sessions.
            let mut config = self.config.session;
            config.policy.max_response_payload =
                self.shared.learned_response.load(Ordering::Relaxed);
            let worker = Worker {
                handler: self.handler.clone(),
                shared: self.shared.clone(),
                max_sessions: self.config.max_sessions.max(1),
            };
            let endpoint = self.endpoint.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("netipc-session-{session_id}"))
                .spawn(
                    move || match ServerSession::accept(conn, &endpoint, session_id, &config) {
                        Ok(session) => worker.run(session),
                        Err(_) => {
                            worker.shared.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                );
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
