//! Why a send or receive on an established session failed
//! ([`SessionError`]), the same on every platform.

#![forbid(unsafe_code)]

use super::error::TransportError;
use super::ShmError;
use crate::wire::WireError;

/// Why a send or receive on an established session failed. After any error
/// except [`SessionError::RequestTooLarge`] the session must be dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The message is larger than the negotiated limit; nothing was sent.
    #[error("message of {len} payload bytes exceeds the negotiated limit of {limit}")]
    RequestTooLarge {
        /// Payload length.
        len: usize,
        /// Negotiated limit.
        limit: u32,
    },
    /// Socket or pipe failure, or protocol violation.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Shared-memory failure or corrupt publication.
    #[error(transparent)]
    Shm(#[from] ShmError),
    /// A message read from shared memory has a bad envelope.
    #[error("malformed shared-memory message")]
    Wire(#[from] WireError),
    /// A message read from shared memory breaks the negotiated limits or its
    /// own length.
    #[error("shared-memory message: {0}")]
    BadMessage(&'static str),
    /// The peer closed the session.
    #[error("peer closed the session")]
    PeerClosed,
    /// No message arrived in time.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// The wait was aborted through the session's
    /// [`AbortHandle`](crate::transport::AbortHandle).
    #[error("aborted")]
    Aborted,
    /// A response did not answer the request in flight.
    #[error("unexpected response: {0}")]
    Unexpected(&'static str),
}
