//! Sessions: one abstraction over the data plane, used by Level 2.
//!
//! A session is a connected UDS SEQPACKET socket that has completed the
//! handshake, plus — when a shared-memory profile was selected — the
//! session's shared-memory region. Callers send and receive whole messages
//! and never branch on the transport:
//!
//! * on UDS, messages travel as (possibly chunked) packets;
//! * on shared memory, each message is one publication in the region, and
//!   the socket stays open only so that each side notices when the other
//!   goes away.
//!
//! The received payload stays in a buffer owned by the session and is
//! borrowed through [`ClientSession::payload`] / [`ServerSession::payload`]
//! until the next receive, so the steady state allocates nothing.
//!
//! This file holds what both sides share (the data plane and its receive
//! rules; [`SessionError`] is in `session_error.rs`, the same on every
//! platform); the client side is `client_session.rs`, the server side
//! `server_session.rs`.

#![forbid(unsafe_code)]

use rustix::fd::AsFd;
use std::time::Duration;

use super::error::TransportError;
use super::shm::region::{ShmError, ShmRegion};
use super::uds::{Limits, UdsChannel};
use super::wait::Waiter;
use crate::wire::{BatchView, Header, HelloAck, HEADER_LEN};

// The client side lives in its own files; it is part of this module's API.
pub use super::client_session::ClientSession;
pub use super::connect_error::{ConnectError, ConnectFailure};
pub use super::server_session::{ServerSession, SessionStopper};
// The same on every platform.
pub use super::session_error::SessionError;

/// The data plane of a session.
#[derive(Debug)]
pub(super) enum Plane {
    Uds,
    Shm { region: ShmRegion, buf: Vec<u8> },
}

/// Shared state and the send/receive logic of both session sides.
#[derive(Debug)]
pub(super) struct Core {
    pub(super) chan: UdsChannel,
    pub(super) plane: Plane,
    pub(super) ack: HelloAck,
    pub(super) limits: Limits,
    pub(super) waiter: Waiter,
}

impl Core {
    /// Sends one message; `track` records a request's id as in flight on
    /// UDS (shared memory carries one request at a time).
    pub(super) fn send(
        &mut self,
        header: &Header,
        payload: &[u8],
        track: bool,
    ) -> Result<(), SessionError> {
        if payload.len() > self.limits.max_send_payload as usize {
            return Err(SessionError::RequestTooLarge {
                len: payload.len(),
                limit: self.limits.max_send_payload,
            });
        }
        match &mut self.plane {
            Plane::Uds => {
                let sent = if track {
                    self.chan.send_request(header, payload)
                } else {
                    self.chan.send(header, payload)
                };
                sent.map_err(|e| match e {
                    TransportError::RequestTooLarge { len, limit } => {
                        SessionError::RequestTooLarge {
                            len: len as usize,
                            limit,
                        }
                    }
                    other => other.into(),
                })
            }
            Plane::Shm { region, .. } => match region.send(&header.encode(), payload) {
                Ok(()) => Ok(()),
                Err(ShmError::MessageTooLarge { len, .. }) => Err(SessionError::RequestTooLarge {
                    len: len.saturating_sub(HEADER_LEN),
                    limit: self.limits.max_send_payload,
                }),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Receives one message. `Ok(None)` when `slice` passed with nothing
    /// received and the peer still connected. Once the first packet of a
    /// chunked UDS message has arrived, the rest may take up to `rest`.
    /// `response` matches a response to the requests in flight on UDS.
    pub(super) fn recv(
        &mut self,
        slice: Duration,
        rest: Duration,
        response: bool,
    ) -> Result<Option<Header>, SessionError> {
        match &mut self.plane {
            Plane::Uds => {
                // Poll without blocking for the waiter's window first: an
                // answer that comes within it costs no sleep and no wake-up
                // on either side.
                let chan = &mut self.chan;
                let try_recv = |chan: &mut UdsChannel| {
                    let got = if response {
                        chan.try_recv_response(Some(rest))
                            .map(|m| m.map(|(h, _)| h))
                    } else {
                        chan.try_recv(Some(rest)).map(|m| m.map(|(h, _)| h))
                    };
                    got.transpose()
                };
                let received = match self.waiter.spin(|| try_recv(chan)) {
                    Some(result) => result,
                    None => {
                        // Block for the first packet within the slice; the
                        // rest of a chunked message gets its own deadline.
                        let blocked = if response {
                            chan.recv_response_split(Some(slice), Some(rest))
                                .map(|(h, _)| h)
                        } else {
                            chan.recv_split(Some(slice), Some(rest)).map(|(h, _)| h)
                        };
                        self.waiter.finish_wait();
                        blocked
                    }
                };
                match received {
                    Ok(header) => Ok(Some(header)),
                    Err(TransportError::Timeout) => Ok(None),
                    Err(TransportError::PeerClosed) => Err(SessionError::PeerClosed),
                    Err(e) => Err(e.into()),
                }
            }
            Plane::Shm { region, buf } => match region.recv_watching(
                buf,
                Some(slice),
                &mut self.waiter,
                self.chan.conn().as_fd(),
            ) {
                Ok(len) => check_shm_message(&buf[..len], &self.limits).map(Some),
                Err(ShmError::PeerGone) => Err(SessionError::PeerClosed),
                Err(ShmError::Timeout { .. }) => {
                    if self.chan.conn().is_hung_up() {
                        Err(SessionError::PeerClosed)
                    } else {
                        Ok(None)
                    }
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    pub(super) fn payload(&self) -> &[u8] {
        match &self.plane {
            Plane::Uds => self.chan.last_payload(),
            Plane::Shm { buf, .. } => buf.get(HEADER_LEN..).unwrap_or(&[]),
        }
    }
}

/// Validates a message read from shared memory: envelope, declared length,
/// negotiated limits and the batch directory — the same rules UDS receives
/// apply.
fn check_shm_message(msg: &[u8], limits: &Limits) -> Result<Header, SessionError> {
    let header = Header::decode(msg)?;
    if header.payload_len as usize != msg.len() - HEADER_LEN {
        return Err(SessionError::BadMessage(
            "payload_len differs from the published length",
        ));
    }
    if header.payload_len > limits.max_recv_payload {
        return Err(SessionError::BadMessage(
            "payload exceeds the negotiated limit",
        ));
    }
    if header.item_count > limits.max_recv_items {
        return Err(SessionError::BadMessage(
            "item_count exceeds the negotiated batch limit",
        ));
    }
    if header.is_batch() {
        BatchView::new(&msg[HEADER_LEN..], header.item_count)?;
    }
    Ok(header)
}
