//! The errors of a session, the same on every platform: why a client
//! could not connect ([`ConnectError`], classified by [`ConnectFailure`])
//! and why a send or receive failed ([`SessionError`]).

#![forbid(unsafe_code)]

use std::path::PathBuf;

use super::error::{EndpointError, HandshakeError, TransportError};
use super::ShmError;
use crate::wire::WireError;

/// Why a client could not establish a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Connecting the socket or opening the pipe failed (`NotFound` when
    /// no provider listens).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The handshake failed or was rejected.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The server selected shared memory but its region could not be
    /// attached; the session has been closed.
    #[error("cannot attach the shared-memory region {path:?}")]
    ShmAttach {
        /// Region file (Unix) or section name (Windows).
        path: PathBuf,
        /// Last attach error.
        source: ShmError,
    },
}

impl ConnectError {
    /// The kind of failure: the one classification every layer and tool
    /// uses to decide what to do (or what to tell a person).
    pub fn kind(&self) -> ConnectFailure {
        match self {
            ConnectError::Endpoint(e) => match e {
                EndpointError::NotFound { .. } => ConnectFailure::NotFound,
                EndpointError::PermissionDenied { .. } => ConnectFailure::PermissionDenied,
                EndpointError::Timeout { .. } => ConnectFailure::TimedOut,
                _ => ConnectFailure::Other,
            },
            ConnectError::Handshake(e) => match e {
                HandshakeError::AuthFailed => ConnectFailure::AuthFailed,
                HandshakeError::NoCommonProfile | HandshakeError::Incompatible(_) => {
                    ConnectFailure::Incompatible
                }
                HandshakeError::LimitRejected => ConnectFailure::LimitRejected,
                HandshakeError::Timeout => ConnectFailure::TimedOut,
                HandshakeError::PeerClosed => ConnectFailure::PeerClosed,
                _ => ConnectFailure::Protocol,
            },
            ConnectError::ShmAttach { .. } => ConnectFailure::SharedMemory,
        }
    }
}

/// The kind of a [`ConnectError`] ([`ConnectError::kind`]): why a client
/// could not connect, as a value a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// No provider listens at the endpoint (no socket file, a stale one,
    /// or no pipe of that name).
    #[error("no provider")]
    NotFound,
    /// The socket or pipe exists but we may not connect to it (EACCES /
    /// EPERM, ERROR_ACCESS_DENIED).
    #[error("permission denied")]
    PermissionDenied,
    /// The provider rejected our auth token.
    #[error("auth token rejected")]
    AuthFailed,
    /// No common profile, or protocol versions or packet sizes that cannot
    /// work together.
    #[error("incompatible provider")]
    Incompatible,
    /// The provider refused our size proposal.
    #[error("size proposal rejected")]
    LimitRejected,
    /// Connecting or the handshake did not complete in time.
    #[error("timed out")]
    TimedOut,
    /// The provider closed the connection during the handshake or the
    /// shared-memory attach (for example because it is at its session
    /// limit).
    #[error("closed by the provider")]
    PeerClosed,
    /// The provider broke the handshake protocol or rejected it with an
    /// unexpected status.
    #[error("handshake protocol error")]
    Protocol,
    /// The shared-memory region the provider announced cannot be attached.
    #[error("shared memory unavailable")]
    SharedMemory,
    /// Anything else (an I/O error).
    #[error("I/O error")]
    Other,
}

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
    /// A response did not answer the request in flight.
    #[error("unexpected response: {0}")]
    Unexpected(&'static str),
}
