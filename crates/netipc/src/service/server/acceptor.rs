//! The acceptor: one thread that accepts connections, checks who is
//! connecting, holds each connection until its HELLO arrives, runs the
//! handshake and starts one worker thread per established session.
//!
//! Nothing before the handshake costs a thread: connections waiting for
//! their HELLO are polled together with the listening socket. Their number
//! is capped (2 × `max_sessions`; the longest-silent one is closed to make
//! room for a newcomer) and each has a deadline (the handshake timeout).
//! The handshake itself runs here once the HELLO is queued, so it never
//! waits for the client.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::worker::{report, Slot, Worker};
use super::{Handler, Shared, POLL};
use crate::service::{ServerConfig, SessionEvent};
use crate::transport::handshake::SessionIds;
use crate::transport::{
    Accepted, Endpoint, Listener, PeerCredentials, ServerSession, ServerSessionConfig,
    SessionStopper, UdsConn,
};

/// Back-off of a connection that waits for a session slot or for its
/// shared-memory region, and of the listener after an accept error.
const RETRY: Duration = Duration::from_millis(10);

/// A connection whose handshake has not run yet.
struct Pending {
    conn: UdsConn,
    accepted: Instant,
    /// Closed unanswered when this passes.
    deadline: Instant,
    /// Set while the HELLO is queued but the connection waits for a slot or
    /// for its region: not polled (it is readable), looked at again then.
    parked_until: Option<Instant>,
}

pub(super) struct Acceptor<H: Handler> {
    listener: Listener,
    endpoint: Endpoint,
    config: ServerConfig,
    handler: Arc<H>,
    shared: Arc<Shared>,
    ids: SessionIds,
    own_uid: u32,
    pending: Vec<Pending>,
    listener_paused_until: Option<Instant>,
    workers: Vec<(JoinHandle<()>, Option<SessionStopper>)>,
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
            endpoint,
            config,
            handler,
            shared,
            ids: SessionIds::new(),
            own_uid: rustix::process::geteuid().as_raw(),
            pending: Vec::new(),
            listener_paused_until: None,
            workers: Vec::new(),
        }
    }

    fn max_sessions(&self) -> usize {
        self.config.max_sessions.max(1)
    }

    fn max_pending(&self) -> usize {
        self.max_sessions().saturating_mul(2)
    }

    pub(super) fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.workers.retain(|(w, _)| !w.is_finished());
            self.expire();
            let (listener_ready, ready) = self.poll();
            self.serve_ready(&ready);
            if listener_ready {
                self.accept_some();
            }
        }
        // The listener drops first: the socket file is removed before the
        // sessions end, so no new client connects during shutdown.
        let Acceptor {
            listener,
            pending,
            workers,
            ..
        } = self;
        drop(listener);
        drop(pending);
        // Blocked sends and receives return at once.
        for (_, stopper) in &workers {
            if let Some(s) = stopper {
                s.stop();
            }
        }
        for (w, _) in workers {
            let _ = w.join();
        }
    }

    fn refused(&self) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the connections whose handshake deadline passed.
    fn expire(&mut self) {
        let now = Instant::now();
        let before = self.pending.len();
        self.pending.retain(|p| p.deadline > now);
        let expired = before - self.pending.len();
        self.shared
            .refused
            .fetch_add(expired as u64, Ordering::Relaxed);
    }

    /// Waits (at most `POLL`, less when something is due) for the listener
    /// or a pending connection to become readable. Returns whether the
    /// listener is, and the indexes of the pending connections to look at
    /// (readable, or parked and due).
    fn poll(&mut self) -> (bool, Vec<usize>) {
        let now = Instant::now();
        let listener_on = self.listener_paused_until.map_or(true, |t| t <= now);
        if listener_on {
            self.listener_paused_until = None;
        }
        let mut wake = now + POLL;
        let mut polled = Vec::with_capacity(self.pending.len());
        let mut due = Vec::new();
        for (i, p) in self.pending.iter().enumerate() {
            wake = wake.min(p.deadline);
            match p.parked_until {
                Some(t) if t <= now => due.push(i),
                Some(t) => wake = wake.min(t),
                None => polled.push(i),
            }
        }
        if let Some(t) = self.listener_paused_until {
            wake = wake.min(t);
        }
        let timeout = if due.is_empty() {
            wake.saturating_duration_since(now)
        } else {
            Duration::ZERO
        };
        let mut fds = Vec::with_capacity(polled.len() + 1);
        if listener_on {
            fds.push(PollFd::new(&self.listener, PollFlags::IN));
        }
        for &i in &polled {
            fds.push(PollFd::new(&self.pending[i].conn, PollFlags::IN));
        }
        let ts = Timespec::try_from(timeout).ok();
        if poll(&mut fds, ts.as_ref()).is_err() {
            // EINTR (or ENOMEM): nothing is known to be ready this round.
            return (false, due);
        }
        let ready = |fd: &PollFd<'_>| !fd.revents().is_empty();
        let listener_ready = listener_on && ready(&fds[0]);
        let skip = usize::from(listener_on);
        let mut look = due;
        look.extend(
            polled
                .iter()
                .zip(&fds[skip..])
                .filter(|(_, fd)| ready(fd))
                .map(|(&i, _)| i),
        );
        look.sort_unstable();
        (listener_ready, look)
    }

    /// Runs the handshake of each connection in `ready` (sorted indexes
    /// into `pending`) that can have a slot; parks the others.
    fn serve_ready(&mut self, ready: &[usize]) {
        if ready.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut next = ready.iter().peekable();
        for (i, p) in pending.into_iter().enumerate() {
            if next.peek() == Some(&&i) {
                next.next();
                if let Some(parked) = self.start(p) {
                    self.pending.push(parked);
                }
            } else {
                self.pending.push(p);
            }
        }
    }

    /// The session settings of the next handshake: only the learned
    /// response limit changes between sessions.
    fn session_config(&self) -> ServerSessionConfig {
        let mut config = self.config.session.clone();
        config.policy.max_response_payload = self.shared.learned_response.load(Ordering::Relaxed);
        config
    }

    /// Handshakes a connection whose HELLO is queued and starts its worker.
    /// Returns the connection when it must wait (for a slot, or for its
    /// shared-memory region).
    fn start(&mut self, mut p: Pending) -> Option<Pending> {
        let now = Instant::now();
        let slot = match Slot::take(&self.shared, self.max_sessions()) {
            Some(slot) => slot,
            None if now.saturating_duration_since(p.accepted) < self.config.slot_wait => {
                p.parked_until = Some(now + RETRY);
                return Some(p);
            }
            None => {
                // Turned away: it completes its handshake and sees the
                // session close on first use.
                self.refused();
                let id = self.ids.next_id();
                let accepted =
                    ServerSession::accept(p.conn, &self.endpoint, id, &self.session_config());
                let event = match &accepted {
                    Ok(_) => SessionEvent::TurnedAway { session_id: id },
                    Err(error) => SessionEvent::Refused {
                        session_id: id,
                        error,
                    },
                };
                report(&self.config.observer, &event);
                return None;
            }
        };
        let id = self.ids.next_id();
        match ServerSession::accept_or_defer(p.conn, &self.endpoint, id, &self.session_config()) {
            Ok(Accepted::Session(session)) => {
                self.spawn(*session, slot, id);
                None
            }
            Ok(Accepted::Deferred(conn)) => {
                // No region for it now and nothing else to offer: the
                // HELLO stays queued and is tried again with a new id.
                drop(slot);
                p.conn = conn;
                p.parked_until = Some(now + RETRY);
                Some(p)
            }
            Err(error) => {
                self.refused();
                report(
                    &self.config.observer,
                    &SessionEvent::Refused {
                        session_id: id,
                        error: &error,
                    },
                );
                None
            }
        }
    }

    fn spawn(&mut self, session: ServerSession, slot: Slot, id: u64) {
        // Without the handle (descriptor exhaustion) the session still ends
        // at shutdown, within one receive slice or send timeout.
        let stopper = session.stopper().ok();
        let worker = Worker {
            handler: self.handler.clone(),
            shared: self.shared.clone(),
            _slot: slot,
            observer: self.config.observer.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("netipc-session-{id}"))
            .spawn(move || worker.run(session, id));
        match spawned {
            Ok(handle) => {
                self.shared.served.fetch_add(1, Ordering::Relaxed);
                self.workers.push((handle, stopper));
            }
            // The closure, with the session and the slot, is dropped.
            Err(_) => self.refused(),
        }
    }

    /// Accepts the connections queued on the listener (at most as many as
    /// may be pending, so a flood cannot starve the handshakes).
    fn accept_some(&mut self) {
        for _ in 0..self.max_pending() {
            let conn = match self.listener.accept(Some(Duration::ZERO)) {
                Ok(Some(conn)) => conn,
                Ok(None) => return,
                Err(_) => {
                    // EMFILE and friends: the listener stays readable, so
                    // leave it alone for a moment instead of spinning.
                    self.listener_paused_until = Some(Instant::now() + RETRY);
                    return;
                }
            };
            let allowed = PeerCredentials::of(&conn).map_or(false, |c| {
                self.config.peer_check.allows(c.uid, self.own_uid)
            });
            if !allowed {
                self.refused();
                continue;
            }
            if self.pending.len() >= self.max_pending() {
                // Make room by closing the connection that has been silent
                // longest; if every one has its HELLO queued, the newcomer
                // is the one closed.
                match self.pending.iter().position(|p| p.parked_until.is_none()) {
                    Some(i) => {
                        self.pending.remove(i);
                        self.refused();
                    }
                    None => {
                        self.refused();
                        continue;
                    }
                }
            }
            let now = Instant::now();
            self.pending.push(Pending {
                conn,
                accepted: now,
                deadline: after(now, self.config.session.handshake_timeout),
                parked_until: None,
            });
        }
    }
}

/// `now + d`, or a year from now when that cannot be represented.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}
