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

use super::common::{check_send_size, check_shm_message, recv_on_channel, shm_too_large};
use super::error::TransportError;
use super::shm::region::{ShmError, ShmRegion};
use super::uds::{Limits, UdsChannel};
use super::wait::Waiter;
use crate::wire::{Header, HelloAck, HEADER_LEN};

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
        check_send_size(payload, &self.limits)?;
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
                Err(ShmError::MessageTooLarge { len, .. }) => Err(shm_too_large(len, &self.limits)),
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
                let received =
                    recv_on_channel(&mut self.chan, &mut self.waiter, slice, rest, response);
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
