//! Level 1: endpoints, the handshake, UDS SEQPACKET sessions and the Linux
//! shared-memory data plane.

pub mod config;
pub mod endpoint;
pub mod error;
pub mod handshake;
pub mod session;
pub mod shm;
pub mod uds;
pub mod wait;

pub use config::{ServerSessionConfig, SessionConfig};
pub use endpoint::{connect, connect_timeout, Endpoint, Listener, ListenerConfig};
pub use error::{EndpointError, HandshakeError, InUseReason, Incompatibility, TransportError};
pub use handshake::{
    client_handshake, negotiate, server_handshake, ClientProposal, ServerPolicy, SessionIds,
};
pub use session::{ClientSession, ConnectError, ConnectFailure, ServerSession, SessionError};
pub use uds::{InFlight, Limits, UdsChannel, UdsConn};
