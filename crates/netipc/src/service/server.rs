//! The managed server: one method per endpoint, a worker thread per session,
//! batch splitting, size learning and a shutdown that returns promptly
//! (PROTOCOL.md §10.5–§10.6).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{next_pow2, ServeError, ServerConfig, ServerError};
use crate::transport::handshake::SessionIds;
use crate::transport::shm::region::sweep_stale;
use crate::transport::{Endpoint, Listener, ServerSession};
use crate::wire::{BatchBuilder, BatchView, Flags, Header, Kind, Method, Status};

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
        sweep_stale(&endpoint).map_err(|source| ServerError::Sweep {
            dir: endpoint.run_dir().to_path_buf(),
            source,
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
            let mut config = self.config.session.clone();
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
