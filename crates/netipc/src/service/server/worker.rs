//! A session's worker: receives requests, runs the handler (splitting
//! batches), learns sizes and answers, until the client leaves, the session
//! breaks or the server stops.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Handler, Shared, POLL};
use crate::service::{next_pow2, ServeError, SessionEvent, SessionObserver};
use crate::transport::ServerSession;
use crate::wire::{BatchBuilder, BatchView, Flags, Header, Kind, Status};

/// A session slot, taken by the acceptor before the handshake and released
/// when the session ends, however it ends (the guard moves into the
/// worker; if the worker thread cannot start it is released at once).
pub(super) struct Slot(Arc<Shared>);

impl Slot {
    /// Takes a slot if fewer than `max` are taken. Only the acceptor takes
    /// slots, so the check and the increment cannot race with another
    /// taker.
    #[cfg(unix)]
    pub(super) fn take(shared: &Arc<Shared>, max: usize) -> Option<Slot> {
        if active(&shared.active) >= max {
            return None;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        Some(Slot(shared.clone()))
    }
}

/// Takes a slot if fewer than `max` are taken, when several threads take
/// slots (the Windows acceptor's connection threads): a compare-and-swap
/// loop, so the limit holds under races.
#[cfg(windows)]
impl Slot {
    pub(super) fn take_shared(shared: &Arc<Shared>, max: usize) -> Option<Slot> {
        let mut now = active(&shared.active);
        loop {
            if now >= max {
                return None;
            }
            match shared
                .active
                .compare_exchange(now, now + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(Slot(shared.clone())),
                Err(seen) => now = seen,
            }
        }
    }
}

fn active(a: &AtomicUsize) -> usize {
    a.load(Ordering::SeqCst)
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) struct Worker<H: Handler> {
    pub(super) handler: Arc<H>,
    pub(super) shared: Arc<Shared>,
    /// Held, not read: released when the worker drops at the session's end.
    pub(super) _slot: Slot,
    pub(super) observer: Option<SessionObserver>,
}

/// Tells the server's observer, if any, about a session.
pub(super) fn report(observer: &Option<SessionObserver>, event: &SessionEvent<'_>) {
    if let Some(observer) = observer {
        observer.report(event);
    }
}

impl<H: Handler> Worker<H> {
    pub(super) fn run(self, session: ServerSession, session_id: u64) {
        report(
            &self.observer,
            &SessionEvent::Accepted {
                session_id,
                profile: session.negotiated().selected_profile,
            },
        );
        let requests = self.serve(session);
        report(
            &self.observer,
            &SessionEvent::Ended {
                session_id,
                requests,
            },
        );
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
