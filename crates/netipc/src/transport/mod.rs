//! Level 1: endpoints, the handshake, UDS SEQPACKET sessions and the Linux
//! shared-memory data plane; on Windows the named-pipe baseline and Windows
//! shared memory ([`windows`]).
//!
//! The handshake, the error types and the wait strategy are the same on
//! every platform. The UDS, Linux shared-memory, endpoint and session
//! modules are built on Unix only; the Windows transport is built on
//! Windows only.

#[cfg(unix)]
mod abort;
#[cfg(unix)]
mod client_session;
pub mod config;
#[cfg(unix)]
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
#[cfg(unix)]
pub mod shm;
#[cfg(unix)]
pub mod uds;
pub mod wait;
#[cfg(windows)]
pub mod windows;

#[cfg(unix)]
pub use abort::AbortHandle;
#[cfg(unix)]
pub use client_session::ClientSession;
pub use config::{ServerSessionConfig, SessionConfig, DEFAULT_RESPONSE_CAP};
#[cfg(unix)]
pub use connect_error::{ConnectError, ConnectFailure};
#[cfg(unix)]
pub use endpoint::{connect, connect_timeout, Endpoint, Listener, ListenerConfig};
pub use error::{EndpointError, HandshakeError, InUseReason, Incompatibility, TransportError};
pub use handshake::{
    client_handshake, negotiate, server_handshake, ClientProposal, HandshakeConn, ServerPolicy,
    SessionIds,
};
#[cfg(unix)]
pub use peer::PeerCredentials;
#[cfg(unix)]
pub use server_session::Accepted;
#[cfg(unix)]
pub use session::{ServerSession, SessionError, SessionStopper};
#[cfg(unix)]
pub use uds::{InFlight, Limits, UdsChannel, UdsConn};
