//! One logical call of a client context: its deadline and abort checks,
//! the at-least-once retry, overflow recovery and size learning
//! (PROTOCOL.md §10.3–§10.5, PROTOCOL-LOOKUP §19.8).
//!
//! The deadline covers everything the call does — each attempt's sends and
//! receives, the reconnect before the retry, every overflow round — and a
//! retry or reconnect gets only the time left. A timeout or an abort is
//! final: no retry, the session is dropped and the context is Broken.

use std::sync::Arc;
use std::time::Instant;

use super::next_pow2;
use super::{CallError, Client, ClientError, ClientState, ServiceKind};
use crate::transport::{ConnectFailure, SessionError};
use crate::wire::{Header, Status, MAX_REQUEST_PAYLOAD};

/// Rounds of overflow recovery before a call gives up.
const MAX_OVERFLOW_ROUNDS: u32 = 8;

/// A request already encoded into the context's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing {
    /// Items for a batch (`BATCH` flag), `None` for a plain request.
    pub batch: Option<u32>,
}

/// Which limit a call overflowed.
enum Overflow {
    /// The request payload (`len` bytes) is over the session's limit.
    Request(usize),
    /// The batch (`n` items) is over the session's batch limit.
    Batch(u32),
    /// The server answered LIMIT_EXCEEDED: the response did not fit.
    Response,
}

enum AttemptError {
    /// A limit was too small; renegotiate.
    Overflow(Overflow),
    /// Anything else.
    Failure(CallError),
}

impl<K: ServiceKind> Client<K> {
    /// Runs one exchange with retry and overflow recovery, under the
    /// logical call's deadline (a new one of the default length when no
    /// call is running). On success the response payload is in the session
    /// (see [`Client::payload`]).
    pub(crate) fn exchange(&mut self, out: Outgoing) -> Result<Header, CallError> {
        let result = if self.abort.is_aborted() {
            Err(CallError::Aborted)
        } else if self.state != ClientState::Ready {
            Err(CallError::NotReady(self.state))
        } else {
            self.calls += 1;
            self.logical_call(|c| c.call_with_recovery(out))
        };
        if let Err(e) = &result {
            self.failures += 1;
            self.last_error = Some(ClientError::Call(e.clone()));
        }
        result
    }

    fn call_with_recovery(&mut self, out: Outgoing) -> Result<Header, CallError> {
        if self.request.len() > self.request_ceiling as usize {
            return Err(CallError::RequestTooLarge {
                len: self.request.len(),
                limit: self.request_ceiling,
            });
        }
        let mut retried = false;
        let mut rounds = 0;
        loop {
            if let Some(e) = self.out_of_bounds() {
                return Err(self.end_bounded(e));
            }
            let before = self.sizes();
            match self.attempt(out) {
                Ok(h) => return Ok(h),
                Err(AttemptError::Overflow(what)) => {
                    self.learn(what, before[1]);
                    self.reconnect()?;
                    rounds += 1;
                    if self.sizes_grew(before) {
                        self.overflow_recoveries += 1;
                    } else {
                        self.break_session();
                        return Err(CallError::Overflow { rounds });
                    }
                    if rounds >= MAX_OVERFLOW_ROUNDS {
                        self.break_session();
                        return Err(CallError::Overflow { rounds });
                    }
                }
                Err(AttemptError::Failure(e @ (CallError::Timeout | CallError::Aborted))) => {
                    return Err(self.end_bounded(e));
                }
                Err(AttemptError::Failure(e)) => {
                    if retried {
                        self.break_session();
                        return Err(e);
                    }
                    retried = true;
                    self.reconnect()?;
                }
            }
        }
    }

    /// `Aborted` when the abort handle is aborted, `Timeout` when the
    /// call's deadline has passed.
    fn out_of_bounds(&self) -> Option<CallError> {
        if self.abort.is_aborted() {
            Some(CallError::Aborted)
        } else if self.call_deadline.map_or(false, |at| Instant::now() >= at) {
            Some(CallError::Timeout)
        } else {
            None
        }
    }

    /// Ends a call that timed out or was aborted: the session is dropped
    /// and the context is Broken until the next refresh.
    fn end_bounded(&mut self, e: CallError) -> CallError {
        self.break_session();
        e
    }

    /// Raises the proposal an overflow showed to be too small (PROTOCOL.md
    /// §10.5). `response_limit` is the failed session's response limit.
    fn learn(&mut self, what: Overflow, response_limit: u32) {
        let proposal = &mut self.config.proposal;
        match what {
            Overflow::Request(len) => {
                let want = next_pow2(len as u64).min(self.request_ceiling);
                proposal.max_request_payload = proposal.max_request_payload.max(want);
            }
            Overflow::Batch(n) => {
                let batch = proposal.max_request_batch_items.max(n.next_power_of_two());
                proposal.max_request_batch_items = batch;
                proposal.max_response_batch_items = batch;
            }
            Overflow::Response => {
                let want = next_pow2(2 * u64::from(response_limit)).min(MAX_REQUEST_PAYLOAD);
                proposal.max_response_payload = proposal.max_response_payload.max(want);
            }
        }
    }

    /// The session's request and response limits and batch limit, then this
    /// context's proposals: what overflow recovery must see grow.
    fn sizes(&self) -> [u32; 6] {
        let ack = self.session.as_ref().map(|s| *s.negotiated());
        [
            ack.map_or(0, |a| a.agreed_max_request_payload_bytes),
            ack.map_or(0, |a| a.agreed_max_response_payload_bytes),
            ack.map_or(0, |a| a.agreed_max_request_batch_items),
            self.config.proposal.max_request_payload,
            self.config.proposal.max_response_payload,
            self.config.proposal.max_request_batch_items,
        ]
    }

    fn sizes_grew(&self, before: [u32; 6]) -> bool {
        self.sizes()
            .iter()
            .zip(before)
            .any(|(now, then)| *now > then)
    }

    pub(super) fn break_session(&mut self) {
        self.session = None;
        self.state = ClientState::Broken;
    }

    /// Drops the session and handshakes again within the time the call has
    /// left; the state becomes the connect result. An abort or the call's
    /// deadline ending the attempt fails the call with `Aborted` /
    /// `Timeout` and leaves the context Broken.
    pub(super) fn reconnect(&mut self) -> Result<(), CallError> {
        self.session = None;
        match self.connect(self.call_deadline) {
            Ok(()) => {
                self.reconnects += 1;
                Ok(())
            }
            Err(e) => match self.out_of_bounds() {
                Some(bounded) => Err(self.end_bounded(bounded)),
                None if e.kind() == ConnectFailure::Aborted => {
                    Err(self.end_bounded(CallError::Aborted))
                }
                None => Err(CallError::Reconnect(e)),
            },
        }
    }

    fn attempt(&mut self, out: Outgoing) -> Result<Header, AttemptError> {
        let session = match self.session.as_mut() {
            Some(s) => s,
            None => return Err(AttemptError::Failure(CallError::NotReady(self.state))),
        };
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        let len = self.request.len() as u32;
        if let Some(n) = out.batch {
            if n > session.negotiated().agreed_max_request_batch_items {
                return Err(AttemptError::Overflow(Overflow::Batch(n)));
            }
        }
        let header = match out.batch {
            Some(n) => Header::batch_request(K::METHOD, len, n, id),
            None => Header::request(K::METHOD, len, id),
        };
        let response = match session.call_until(&header, &self.request, self.call_deadline) {
            Ok(h) => h,
            Err(SessionError::RequestTooLarge { len, .. }) => {
                return Err(AttemptError::Overflow(Overflow::Request(len)))
            }
            Err(SessionError::Timeout) => return Err(AttemptError::Failure(CallError::Timeout)),
            Err(SessionError::Aborted) => return Err(AttemptError::Failure(CallError::Aborted)),
            Err(e) => return Err(AttemptError::Failure(CallError::Session(Arc::new(e)))),
        };
        if response.code != K::METHOD.code() {
            return Err(AttemptError::Failure(CallError::Mismatch(
                "response carries another method code",
            )));
        }
        match response.status() {
            Ok(Status::Ok) => {}
            Ok(Status::LimitExceeded) => return Err(AttemptError::Overflow(Overflow::Response)),
            Ok(status) => return Err(AttemptError::Failure(CallError::Status(status))),
            Err(_) => {
                return Err(AttemptError::Failure(CallError::UnknownStatus(
                    response.transport_status,
                )))
            }
        }
        if let Some(n) = out.batch {
            if !response.is_batch() || response.item_count != n {
                return Err(AttemptError::Failure(CallError::Mismatch(
                    "batch response item count differs from the request",
                )));
            }
        }
        Ok(response)
    }
}
