//! The managed server: one method per endpoint, a worker thread per session,
//! batch splitting, size learning and a shutdown that returns promptly
//! (PROTOCOL.md §10.5–§10.6).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{next_pow2, ServeError, ServerConfig, ServerError, SessionEvent, SessionObserver};
use crate::deadline::Deadline;
use crate::transport::handshake::SessionIds;
use crate::transport::shm::region::sweep_stale;
use crate::transport::{Endpoint, Listener, ServerSession};
use crate::wire::{BatchBuilder, BatchView, Flags, Header, Kind, Method, Status};

/// How often idle loops look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// How long a new session waits for a worker slot when the server is at
/// its session limit: a few polls, so that sessions whose clients just left
/// are noticed first.
const SLOT_GRACE: Duration = Duration::from_millis(500);

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
            request_ceiling: config.request_ceiling(),
            response_ceiling: config.effective_response_ceiling(),
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
                observer: self.config.observer.clone(),
            };
            let endpoint = self.endpoint.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("netipc-session-{session_id}"))
                .spawn(
                    move || match ServerSession::accept(conn, &endpoint, session_id, &config) {
                        Ok(session) => worker.run(session, session_id),
                        Err(error) => {
                            worker.shared.refused.fetch_add(1, Ordering::Relaxed);
                            worker.report(&SessionEvent::Refused {
                                session_id,
                                error: &error,
                            });
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
    observer: Option<SessionObserver>,
}

/// Releases a worker slot when the session ends, however it ends.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    /// Takes a worker slot. At the limit, waits up to [`SLOT_GRACE`] for
    /// one to free: a client that reconnects at once (a retry, overflow
    /// recovery) would otherwise be refused because the server has not yet
    /// noticed its previous session end, which takes up to one poll.
    fn take(active: &'a AtomicUsize, max: usize) -> Option<Slot<'a>> {
        let deadline = Deadline::after(SLOT_GRACE);
        loop {
            let n = active.load(Ordering::SeqCst);
            if n < max {
                if active
                    .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return Some(Slot(active));
                }
                continue;
            }
            if deadline.expired() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<H: Handler> Worker<H> {
    fn report(&self, event: &SessionEvent<'_>) {
        if let Some(observer) = &self.observer {
            observer.report(event);
        }
    }

    fn run(self, session: ServerSession, session_id: u64) {
        let shared = &*self.shared;
        let _slot = match Slot::take(&shared.active, self.max_sessions) {
            Some(slot) => slot,
            None => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                self.report(&SessionEvent::TurnedAway { session_id });
                return;
            }
        };
        shared.served.fetch_add(1, Ordering::Relaxed);
        self.report(&SessionEvent::Accepted {
            session_id,
            profile: session.negotiated().selected_profile,
        });
        let requests = self.serve(session);
        self.report(&SessionEvent::Ended {
            session_id,
            requests,
        });
    }

    /// Answers requests until the session ends; returns how many.
    fn serve(&self, mut session: ServerSession) -> u64 {
        let shared = &*self.shared;
        let mut answered = 0u64;
        let response_limit = session.negotiated().agreed_max_response_payload_bytes as usize;
        let mut out = Vec::new();
        while !shared.stop.load(Ordering::Relaxed) {
            let request = match session.recv(POLL) {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(_) => return answered,
            };
            if request.kind != Kind::Request {
                return answered;
            }
            let payload = session.payload();
            shared.learned_request.fetch_max(
                next_pow2(payload.len() as u64).min(shared.request_ceiling),
                Ordering::Relaxed,
            );
            let (status, flags, items) = if request.code != self.handler.method().code() {
                (Status::Unsupported, Flags::NONE, 1)
            } else {
                out.clear();
                let served = catch_unwind(AssertUnwindSafe(|| {
                    self.dispatch(&request, payload, &mut out, response_limit)
                }));
                match served {
                    Err(_) => {
                        shared.handler_failures.fetch_add(1, Ordering::Relaxed);
                        (Status::InternalError, Flags::NONE, 1)
                    }
                    Ok(Err(ServeError::BadRequest)) => (Status::BadEnvelope, Flags::NONE, 1),
                    Ok(Err(ServeError::Handler(_))) => {
                        shared.handler_failures.fetch_add(1, Ordering::Relaxed);
                        (Status::InternalError, Flags::NONE, 1)
                    }
                    Ok(Err(ServeError::TooLarge)) => {
                        shared.learned_response.fetch_max(
                            next_pow2(2 * response_limit as u64).min(shared.response_ceiling),
                            Ordering::Relaxed,
                        );
                        (Status::LimitExceeded, Flags::NONE, 1)
                    }
                    Ok(Ok(())) => {
                        shared.learned_response.fetch_max(
                            next_pow2(out.len() as u64).min(shared.response_ceiling),
                            Ordering::Relaxed,
                        );
                        if out.len() > response_limit {
                            (Status::LimitExceeded, Flags::NONE, 1)
                        } else if request.is_batch() {
                            (Status::Ok, Flags::BATCH, request.item_count)
                        } else {
                            (Status::Ok, Flags::NONE, 1)
                        }
                    }
                }
            };
            let body: &[u8] = if status == Status::Ok { &out } else { &[] };
            let mut response = Header::response_to(&request, status, body.len() as u32);
            response.flags = flags;
            response.item_count = items;
            shared.requests.fetch_add(1, Ordering::Relaxed);
            answered += 1;
            if session.send(&response, body).is_err() || ends_session(status) {
                return answered;
            }
        }
        answered
    }

    /// Runs the handler on a plain request or on every item of a batch,
    /// appending the response payload to `out`.
    fn dispatch(
        &self,
        request: &Header,
        payload: &[u8],
        out: &mut Vec<u8>,
        response_limit: usize,
    ) -> Result<(), ServeError> {
        if !request.is_batch() {
            return self.handler.serve_within(payload, out, response_limit);
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

/// Whether the session ends after a response with `status`
/// (PROTOCOL-LOOKUP.md §19.2): after LIMIT_EXCEEDED (the client reconnects
/// with larger limits), BAD_ENVELOPE and INTERNAL_ERROR the managed server
/// closes the session; the client recovers with a new handshake.
/// UNSUPPORTED and OK keep it open.
fn ends_session(status: Status) -> bool {
    matches!(
        status,
        Status::LimitExceeded | Status::BadEnvelope | Status::InternalError
    )
}
