//! Level 1: endpoints, the handshake, sessions and their data planes — UDS
//! SEQPACKET and Linux shared memory on Unix, the named-pipe baseline and
//! Windows shared memory on Windows (the `windows` module).
//!
//! One API above both platforms: [`Endpoint`], [`Listener`],
//! [`ListenerConfig`], [`connect`], [`connect_timeout`], [`ClientSession`],
//! [`ServerSession`], [`AbortHandle`], [`PeerCredentials`] and their errors
//! have the same names and signatures on Unix and on Windows; each
//! re-exports the platform's types. The
//! handshake, the limits, the chunking and receive rules, the error types
//! and the wait strategy are the same code on every platform.

#[cfg(unix)]
mod abort;
mod address;
#[cfg(unix)]
mod client_session;
mod common;
pub mod config;
mod connect_error;
#[cfg(unix)]
pub mod endpoint;
pub mod error;
pub mod handshake;
#[cfg(unix)]
mod peer;
#[cfg(unix)]
mod server_session;
#[cfg(unix)]
pub mod session;
mod session_error;
#[cfg(unix)]
pub mod shm;
#[cfg(unix)]
pub mod uds;
pub mod wait;
#[cfg(windows)]
pub mod windows;

pub use address::Endpoint;
pub use common::{InFlight, Limits};
pub use config::{ServerSessionConfig, SessionConfig, DEFAULT_RESPONSE_CAP};
pub use connect_error::{ConnectError, ConnectFailure};
pub use error::{EndpointError, HandshakeError, InUseReason, Incompatibility, TransportError};
pub use handshake::{
    client_handshake, negotiate, server_handshake, ClientProposal, HandshakeConn, ServerPolicy,
    SessionIds,
};
pub use session_error::SessionError;

#[cfg(unix)]
pub use abort::AbortHandle;
#[cfg(unix)]
pub use client_session::ClientSession;
#[cfg(unix)]
pub use endpoint::{connect, connect_timeout, Listener, ListenerConfig};
#[cfg(unix)]
pub use peer::PeerCredentials;
#[cfg(unix)]
pub use server_session::Accepted;
#[cfg(unix)]
pub use session::{ServerSession, SessionStopper};
#[cfg(unix)]
pub use shm::ShmError;
#[cfg(unix)]
pub use uds::{UdsChannel, UdsConn};

#[cfg(windows)]
pub use windows::shm::ShmError;
#[cfg(windows)]
pub use windows::{
    connect, connect_timeout, AbortHandle, ClientSession, PeerCredentials,
    PipeListener as Listener, PipeListenerConfig as ListenerConfig, ServerSession,
};
