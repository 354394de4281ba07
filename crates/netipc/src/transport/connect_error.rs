//! Why a client could not establish a session: [`ConnectError`] and its
//! classification [`ConnectFailure`].

#![forbid(unsafe_code)]

use std::path::PathBuf;

use super::error::{EndpointError, HandshakeError, TransportError};
#[cfg(unix)]
use super::PeerCredentials;
use super::ShmError;

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
    /// The server selected shared memory with a response limit above the
    /// client's response cap, so its region would be larger than the
    /// client accepts; the session has been closed (a UDS session caps the
    /// limit instead).
    #[error("the server announced {limit}-byte responses over shared memory, above the {cap}-byte response cap")]
    ShmResponseOverCap {
        /// The response limit of the HELLO_ACK.
        limit: u32,
        /// The client's cap.
        cap: u32,
    },
    /// The process listening at the endpoint runs as another user (not
    /// ours, not root); the auth token was not sent (Unix only).
    #[cfg(unix)]
    #[error("the provider runs as uid {} (pid {}), neither our uid {our_uid} nor root", .peer.uid, .peer.pid)]
    PeerNotTrusted {
        /// What `SO_PEERCRED` reported.
        peer: PeerCredentials,
        /// Our effective uid.
        our_uid: u32,
    },
    /// The deadline of the connection attempt passed (connect, handshake
    /// or shared-memory attach).
    #[error("connecting timed out")]
    Timeout,
    /// The attempt was aborted through an
    /// [`AbortHandle`](crate::transport::AbortHandle).
    #[error("connecting was aborted")]
    Aborted,
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
                EndpointError::Aborted { .. } => ConnectFailure::Aborted,
                _ => ConnectFailure::Other,
            },
            ConnectError::Handshake(e) => match e {
                HandshakeError::AuthFailed => ConnectFailure::AuthFailed,
                HandshakeError::NoCommonProfile | HandshakeError::Incompatible(_) => {
                    ConnectFailure::Incompatible
                }
                HandshakeError::LimitRejected { .. } => ConnectFailure::LimitRejected,
                HandshakeError::Timeout => ConnectFailure::TimedOut,
                HandshakeError::PeerClosed => ConnectFailure::PeerClosed,
                HandshakeError::Transport(TransportError::Aborted) => ConnectFailure::Aborted,
                _ => ConnectFailure::Protocol,
            },
            ConnectError::ShmAttach { .. } | ConnectError::ShmResponseOverCap { .. } => {
                ConnectFailure::SharedMemory
            }
            #[cfg(unix)]
            ConnectError::PeerNotTrusted { .. } => ConnectFailure::PeerNotTrusted,
            ConnectError::Timeout => ConnectFailure::TimedOut,
            ConnectError::Aborted => ConnectFailure::Aborted,
        }
    }
}

/// The kind of a [`ConnectError`] ([`ConnectError::kind`]): why a client
/// could not connect, as a value a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// No provider listens at the endpoint (no socket file, or a stale one).
    #[error("no provider")]
    NotFound,
    /// The socket exists but we may not connect to it (EACCES / EPERM).
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
    /// The shared-memory region the provider announced cannot be attached
    /// (or would exceed the response cap).
    #[error("shared memory unavailable")]
    SharedMemory,
    /// The process at the endpoint runs as another user than ours or root;
    /// the auth token was not sent.
    #[error("provider runs as an untrusted user")]
    PeerNotTrusted,
    /// The attempt was aborted through an abort handle.
    #[error("aborted")]
    Aborted,
    /// Anything else (an I/O error).
    #[error("I/O error")]
    Other,
}
