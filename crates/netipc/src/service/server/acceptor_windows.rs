//! The managed server's acceptor on Windows: a thread that only accepts
//! pipe connections, and a thread per connection that runs the handshake
//! (with its deadline) and then serves the session with the shared
//! [`Worker`]. Handshakes never run on the accepting thread, so a silent
//! client holds only its own thread, and only until the handshake deadline.
//!
//! The Unix acceptor multiplexes pending handshakes with `poll`; a pipe
//! handle cannot be polled, so here each connection gets its thread at once.
//! The session limit, the slot wait, turned-away sessions, size learning
//! and the observer events are those of the Unix server.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::worker::{report, Slot, Worker};
use super::{Handler, Shared, POLL};
use crate::service::{ServerConfig, SessionEvent};
use crate::transport::handshake::SessionIds;
use crate::transport::{Endpoint, Listener, ServerSession, ServerSessionConfig};

/// Back-off while a connection waits for a session slot, and of the
/// listener after an accept error.
const RETRY: Duration = Duration::from_millis(10);

pub(super) struct Acceptor<H: Handler> {
    listener: Listener,
    endpoint: Arc<Endpoint>,
    config: ServerConfig,
    handler: Arc<H>,
    shared: Arc<Shared>,
    ids: SessionIds,
    workers: Vec<JoinHandle<()>>,
}

impl<H: Handler> Acceptor<H> {
    pub(super) fn new(
        listener: Listener,
        endpoint: Endpoint,
        config: ServerConfig,
        handler: Arc<H>,
        shared: Arc<Shared>,
    ) -> Self {
        Acceptor {
            listener,
            endpoint: Arc::new(endpoint),
            config,
            handler,
            shared,
            ids: SessionIds::new(),
            workers: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.workers.retain(|w| !w.is_finished());
            match self.listener.accept(Some(POLL)) {
                Ok(Some(conn)) => self.spawn(conn),
                Ok(None) => {}
                Err(_) => std::thread::sleep(RETRY),
            }
        }
        // The pipe's instances close first, so no new client connects
        // during shutdown; the sessions see the stop flag within one
        // receive slice (a send blocked on a client that does not read
        // ends at the send timeout).
        drop(self.listener);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }

    /// The session settings of the next handshake: only the learned
    /// response limit changes between sessions.
    fn session_config(&self) -> ServerSessionConfig {
        let mut config = self.config.session.clone();
        config.policy.max_response_payload = self.shared.learned_response.load(Ordering::Relaxed);
        config
    }

    /// Hands a connection to its own thread: wait for a slot (up to the
    /// slot wait), handshake, serve.
    fn spawn(&mut self, conn: crate::transport::windows::PipeConn) {
        let id = self.ids.next_id();
        let config = self.session_config();
        let endpoint = self.endpoint.clone();
        let shared = self.shared.clone();
        let handler = self.handler.clone();
        let observer = self.config.observer.clone();
        let max_sessions = self.config.max_sessions.max(1);
        let slot_wait = self.config.slot_wait;
        let spawned = std::thread::Builder::new()
            .name(format!("netipc-session-{id}"))
            .spawn(move || {
                let waited_from = Instant::now();
                let slot = loop {
                    match Slot::take_shared(&shared, max_sessions) {
                        Some(slot) => break Some(slot),
                        None if waited_from.elapsed() < slot_wait
                            && !shared.stop.load(Ordering::SeqCst) =>
                        {
                            std::thread::sleep(RETRY)
                        }
                        None => break None,
                    }
                };
                let accepted = ServerSession::accept(conn, &endpoint, id, &config);
                match (accepted, slot) {
                    (Ok(session), Some(slot)) => {
                        shared.served.fetch_add(1, Ordering::Relaxed);
                        let worker = Worker {
                            handler,
                            shared: shared.clone(),
                            _slot: slot,
                            observer,
                        };
                        worker.run(session, id);
                    }
                    // Turned away: it completed its handshake and sees the
                    // session close on first use.
                    (Ok(_), None) => {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        report(&observer, &SessionEvent::TurnedAway { session_id: id });
                    }
                    (Err(error), _) => {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        report(
                            &observer,
                            &SessionEvent::Refused {
                                session_id: id,
                                error: &error,
                            },
                        );
                    }
                }
            });
        match spawned {
            Ok(handle) => self.workers.push(handle),
            Err(_) => {
                self.shared.refused.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(RETRY);
            }
        }
    }
}
