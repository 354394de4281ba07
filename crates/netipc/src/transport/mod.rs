//! Level 1: endpoints, the handshake, UDS SEQPACKET sessions and the Linux
//! shared-memory data plane; on Windows the named-pipe baseline and Windows
//! shared memory ([`windows`]).
//!
//! The handshake, the error types and the wait strategy are the same on
//! every platform. The UDS, Linux shared-memory, endpoint and session
//! modules are built on Unix only; the Windows transport is built on
//! Windows only.

pub mod config;
#[cfg(unix)]
pub mod endpoint;
pub mod error;
pub mod handshake;
#[cfg(unix)]
pub mod session;
#[cfg(unix)]
pub mod shm;
#[cfg(unix)]
pub mod uds;
pub mod wait;
#[cfg(windows)]
pub mod windows;

pub use config::{ServerSessionConfig, SessionConfig};
#[cfg(unix)]
pub use endpoint::{connect, connect_timeout, Endpoint, Listener, ListenerConfig};
pub use error::{EndpointError, HandshakeError, InUseReason, Incompatibility, TransportError};
pub use handshake::{
    client_handshake, negotiate, server_handshake, ClientProposal, HandshakeConn, ServerPolicy,
    SessionIds,
};
#[cfg(unix)]
pub use session::{ClientSession, ConnectError, ConnectFailure, ServerSession, SessionError};
#[cfg(unix)]
pub use uds::{InFlight, Limits, UdsChannel, UdsConn};
