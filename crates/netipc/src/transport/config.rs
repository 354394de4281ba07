//! Settings of a session, one type per side, built once and reused for
//! every connection: [`SessionConfig`] (client) and
//! [`ServerSessionConfig`] (server). The defaults are written here and
//! nowhere else.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::handshake::{ClientProposal, ServerPolicy};
use super::wait::WaitConfig;

/// Longest wait for the peer's half of the handshake, by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a response, by default.
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest time a server waits for room in the socket buffer while sending
/// to a client that does not read, by default.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client keeps retrying a shared-memory attach, by default.
const DEFAULT_SHM_ATTACH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response payload a client accepts, by default: 64 MiB.
pub const DEFAULT_RESPONSE_CAP: u32 = 64 << 20;

/// Client-side settings of a session (Level 1): what the HELLO proposes,
/// the timeouts and the receive policy.
///
/// Build it with [`SessionConfig::new`] (or `default()`) and the `with_…`
/// methods; the Level 2 [`ClientConfig`](crate::service::ClientConfig)
/// holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// What the client proposes in its HELLO; zero fields take the
    /// protocol's defaults. Default: [`ClientProposal::default`].
    pub proposal: ClientProposal,
    /// Longest wait for the HELLO_ACK. Default 5 s.
    pub handshake_timeout: Duration,
    /// Longest wait for a response. Default 30 s.
    pub response_timeout: Duration,
    /// How long to keep retrying the shared-memory attach after a handshake
    /// that selected shared memory. Default 5 s.
    pub shm_attach_timeout: Duration,
    /// Spin-then-block policy of receives. Default [`WaitConfig::default`].
    pub wait: WaitConfig,
    /// Largest response payload accepted, whatever the server announces:
    /// the session's receive limit is the smaller of this and the
    /// HELLO_ACK's response limit, and a shared-memory session whose
    /// announced limit is larger is refused
    /// ([`ConnectError::ShmResponseOverCap`](crate::transport::ConnectError::ShmResponseOverCap)).
    /// Default 64 MiB.
    pub response_cap: u32,
    /// Check the server's identity before sending the auth token: the
    /// socket's peer (`SO_PEERCRED`) must run as our effective uid or as
    /// root, or connecting fails with
    /// [`ConnectFailure::PeerNotTrusted`](crate::transport::ConnectFailure::PeerNotTrusted).
    /// Default `true`.
    pub require_trusted_peer: bool,
}

impl SessionConfig {
    /// The defaults with the given proposal.
    pub fn new(proposal: ClientProposal) -> Self {
        SessionConfig {
            proposal,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            shm_attach_timeout: DEFAULT_SHM_ATTACH_TIMEOUT,
            wait: WaitConfig::default(),
            response_cap: DEFAULT_RESPONSE_CAP,
            require_trusted_peer: true,
        }
    }

    /// Sets the largest response payload accepted.
    pub fn with_response_cap(mut self, bytes: u32) -> Self {
        self.response_cap = bytes;
        self
    }

    /// Sets whether the server must run as our uid or root.
    pub fn with_trusted_peer_check(mut self, on: bool) -> Self {
        self.require_trusted_peer = on;
        self
    }

    /// Sets the HELLO proposal.
    pub fn with_proposal(mut self, proposal: ClientProposal) -> Self {
        self.proposal = proposal;
        self
    }

    /// Sets the longest wait for the HELLO_ACK.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the longest wait for a response.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets how long a shared-memory attach is retried.
    pub fn with_shm_attach_timeout(mut self, timeout: Duration) -> Self {
        self.shm_attach_timeout = timeout;
        self
    }

    /// Sets the receive policy.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.wait = wait;
        self
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig::new(ClientProposal::default())
    }
}

/// Server-side settings of a session (Level 1): the handshake policy, the
/// HELLO timeout and the receive policy. The Level 2
/// [`ServerConfig`](crate::service::ServerConfig) holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSessionConfig {
    /// The handshake policy. Default: [`ServerPolicy::default`].
    pub policy: ServerPolicy,
    /// Longest wait for the HELLO. Default 5 s.
    pub handshake_timeout: Duration,
    /// Longest wait for room in the socket buffer while sending to a
    /// client that stopped reading (`SO_SNDTIMEO`); the session ends when
    /// it passes. Default 5 s.
    pub send_timeout: Duration,
    /// Spin-then-block policy of receives. Default [`WaitConfig::default`].
    pub wait: WaitConfig,
}

impl ServerSessionConfig {
    /// The defaults with the given policy.
    pub fn new(policy: ServerPolicy) -> Self {
        ServerSessionConfig {
            policy,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            wait: WaitConfig::default(),
        }
    }

    /// Sets the longest wait for room in the socket buffer while sending.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets the handshake policy.
    pub fn with_policy(mut self, policy: ServerPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the longest wait for the HELLO.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the receive policy.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.wait = wait;
        self
    }
}

impl Default for ServerSessionConfig {
    fn default() -> Self {
        ServerSessionConfig::new(ServerPolicy::default())
    }
}
