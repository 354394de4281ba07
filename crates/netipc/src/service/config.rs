//! Settings of the Level 2 client contexts and the managed server. Each
//! holds the Level 1 settings it connects or serves with, built once; the
//! Level 2 defaults are written here and nowhere else.

use std::time::Duration;

use crate::auth::AuthToken;
use crate::transport::handshake::{ClientProposal, ServerPolicy};
use crate::transport::wait::WaitConfig;
use crate::transport::{ListenerConfig, ServerSessionConfig, SessionConfig};
use crate::wire::Profiles;

/// Profiles a Level 2 client offers and a managed server supports unless
/// configured otherwise: the UDS baseline and shared memory.
const DEFAULT_PROFILES: Profiles = Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);

/// Profiles preferred by default: shared memory.
const DEFAULT_PREFERRED: Profiles = Profiles::SHM_HYBRID;

/// Sessions a managed server serves at once by default.
const DEFAULT_MAX_SESSIONS: usize = 8;

/// Settings of a client context: the Level 1 [`SessionConfig`] it connects
/// with, the batch size the caller intends to use and the deadline of one
/// call.
///
/// Sizes are never configured by the caller: the context fills the
/// proposal's payload and batch limits from the service's schema once, and
/// raises them when a call overflows them.
///
/// ```
/// use std::time::Duration;
/// use netipc::auth::AuthToken;
/// use netipc::service::ClientConfig;
///
/// let config = ClientConfig::new(AuthToken::new(0x1234))
///     .uds_only()
///     .with_batch_items(64)
///     .with_call_timeout(Duration::from_secs(2));
/// assert_eq!(config.batch_items, 64);
/// assert_eq!(config.call_timeout, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// What every connection of the context uses: the proposal (profiles
    /// and auth token; sizes are filled in by the context), the timeouts
    /// and the receive policy.
    pub session: SessionConfig,
    /// Largest batch the caller intends to send (1 = no batches); sizes the
    /// first request proposal. Default 1.
    pub batch_items: u32,
    /// Deadline of one logical call: every chunk, shared-memory wait,
    /// retry and reconnect it makes. Zero means the default, 30 s.
    pub call_timeout: Duration,
}

impl ClientConfig {
    /// Defaults with the given auth token: UDS and shared memory offered,
    /// shared memory preferred, no batches, the [`SessionConfig`] timeouts.
    pub fn new(auth_token: AuthToken) -> Self {
        ClientConfig {
            session: SessionConfig::new(ClientProposal {
                supported: DEFAULT_PROFILES,
                preferred: DEFAULT_PREFERRED,
                auth_token,
                ..ClientProposal::default()
            }),
            batch_items: 1,
            call_timeout: Duration::ZERO,
        }
    }

    /// Offers only the UDS baseline.
    pub fn uds_only(self) -> Self {
        self.with_profiles(Profiles::BASELINE, Profiles::BASELINE)
    }

    /// Sets the profiles offered and preferred.
    pub fn with_profiles(mut self, supported: Profiles, preferred: Profiles) -> Self {
        self.session.proposal.supported = supported;
        self.session.proposal.preferred = preferred;
        self
    }

    /// Sets the intended batch size (at least 1).
    pub fn with_batch_items(mut self, n: u32) -> Self {
        self.batch_items = n.max(1);
        self
    }

    /// Sets the deadline of one call (zero: the default, 30 s). A call
    /// can set its own with
    /// [`Client::call_with_timeout`](super::Client::call_with_timeout).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets the longest time a connection attempt may take: connecting
    /// (waiting for room in the provider's backlog), the handshake and the
    /// shared-memory attach.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.session.handshake_timeout = timeout;
        self
    }

    /// Sets the longest wait for one response, within the call's deadline.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.session.response_timeout = timeout;
        self
    }

    /// Sets the largest response payload accepted, whatever the provider
    /// announces (default 64 MiB).
    pub fn with_response_cap(mut self, bytes: u32) -> Self {
        self.session.response_cap = bytes;
        self
    }

    /// Sets whether the provider must run as our uid or root (default on;
    /// see [`SessionConfig::require_trusted_peer`]).
    pub fn with_trusted_peer_check(mut self, on: bool) -> Self {
        self.session.require_trusted_peer = on;
        self
    }

    /// Sets how long to keep trying to attach a shared-memory region the
    /// server announced before falling back to UDS for good.
    pub fn with_shm_attach_timeout(mut self, timeout: Duration) -> Self {
        self.session.shm_attach_timeout = timeout;
        self
    }

    /// Sets the spin-then-block policy of receives.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.session.wait = wait;
        self
    }
}

/// Settings of a managed server: the Level 1 session settings it serves
/// every connection with, its socket and its session limit.
///
/// ```
/// use netipc::auth::AuthToken;
/// use netipc::service::ServerConfig;
///
/// let config = ServerConfig::new(AuthToken::new(0x1234))
///     .with_max_sessions(32)
///     .with_socket_mode(0o660);
/// assert_eq!(config.max_sessions, 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The handshake policy (profiles, auth token, the response limit
    /// announced before anything was learned, packet size), the HELLO
    /// timeout and the receive policy of the workers.
    pub session: ServerSessionConfig,
    /// The socket file's mode and the listen backlog.
    pub listener: ListenerConfig,
    /// Concurrent sessions served; an extra client completes its handshake
    /// and is then disconnected (it sees the session close on first use).
    /// Default 8.
    pub max_sessions: usize,
}

impl ServerConfig {
    /// Defaults with the given auth token: UDS and shared memory supported,
    /// shared memory preferred, 1024-byte responses until larger ones are
    /// learned, automatic packet size, 8 sessions, socket mode 0600.
    pub fn new(auth_token: AuthToken) -> Self {
        ServerConfig {
            session: ServerSessionConfig::new(ServerPolicy {
                supported: DEFAULT_PROFILES,
                preferred: DEFAULT_PREFERRED,
                auth_token,
                ..ServerPolicy::default()
            }),
            listener: ListenerConfig::default(),
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }

    /// Supports only the UDS baseline.
    pub fn uds_only(self) -> Self {
        self.with_profiles(Profiles::BASELINE, Profiles::BASELINE)
    }

    /// Sets the profiles supported and preferred.
    pub fn with_profiles(mut self, supported: Profiles, preferred: Profiles) -> Self {
        self.session.policy.supported = supported;
        self.session.policy.preferred = preferred;
        self
    }

    /// Sets the response payload limit announced before anything was
    /// learned.
    pub fn with_response_payload(mut self, bytes: u32) -> Self {
        self.session.policy.max_response_payload = bytes;
        self
    }

    /// Sets the UDS packet size to propose (0 = `SO_SNDBUF` − 32).
    pub fn with_packet_size(mut self, bytes: u32) -> Self {
        self.session.policy.packet_size = bytes;
        self
    }

    /// Sets how many sessions are served at once (at least 1).
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n.max(1);
        self
    }

    /// Sets the socket file's permission bits.
    pub fn with_socket_mode(mut self, mode: u32) -> Self {
        self.listener = self.listener.with_socket_mode(mode);
        self
    }

    /// Sets the longest wait for a client's HELLO.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.session.handshake_timeout = timeout;
        self
    }

    /// Sets the spin-then-block policy of the workers' receives.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.session.wait = wait;
        self
    }
}
