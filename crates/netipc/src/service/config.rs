//! Settings of the Level 2 client contexts and the managed server. Each
//! holds the Level 1 settings it connects or serves with, built once; the
//! Level 2 defaults are written here and nowhere else.
//!
//! The defaults are the monitoring agent's habits (every agent call site
//! and provider uses them), so a plugin built with this crate behaves like
//! the agent's own plugins without configuring anything:
//!
//! | setting | default | why |
//! |---|---|---|
//! | profiles offered / supported | `0x07` (UDS, SHM_HYBRID, SHM_FUTEX) | what every agent call site offers |
//! | profiles preferred | `0x04` (SHM_FUTEX) | what every agent call site prefers; on Linux it runs the same data plane as 0x02 |
//! | client request proposal | 1024 bytes | what the newest reference servers accept unless configured larger |
//! | client response hint | 65 536 bytes | what the newest reference clients send (servers ignore it) |
//! | call timeout (`call_timeout`) | 5 s | the agent's call timeout |
//! | server request maximum | 1024 bytes | the newest reference servers' default |
//! | server response limit | 65 536 bytes, learned up to 1 MiB | the newest reference servers' default, and the protocol's growth ceiling |
//! | server sessions | 2 | the agent's providers run 2 worker sessions |

use std::time::Duration;

use super::session_log::SessionObserver;
use crate::auth::AuthToken;
use crate::transport::handshake::{ClientProposal, ServerPolicy};
use crate::transport::wait::WaitConfig;
use crate::transport::{ListenerConfig, ServerSessionConfig, SessionConfig};
use crate::wire::Profiles;

/// Profiles a Level 2 client offers and a managed server supports unless
/// configured otherwise: the UDS baseline and both shared-memory profiles
/// (0x07), as every agent call site offers.
#[cfg(unix)]
const DEFAULT_PROFILES: Profiles =
    Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0 | Profiles::SHM_FUTEX.0);

/// Profile preferred by default: SHM_FUTEX (0x04), the agent's preference.
#[cfg(unix)]
const DEFAULT_PREFERRED: Profiles = Profiles::SHM_FUTEX;

// On Windows 0x04 is SHM_BUSYWAIT (a core spinning on each side): there the
// defaults are the pipe and SHM_HYBRID (0x03), preferring SHM_HYBRID,
// whatever the Unix defaults are.
#[cfg(windows)]
use crate::transport::windows::{DEFAULT_PREFERRED, DEFAULT_PROFILES};

/// Sessions a managed server serves at once by default: the agent's
/// providers run 2 worker sessions.
const DEFAULT_MAX_SESSIONS: usize = 2;

/// Deadline of one call by default: the agent calls with a 5 s timeout.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Request payload a client proposes, and a server accepts, unless
/// configured otherwise (PROTOCOL-LOOKUP.md §19.1).
pub(crate) const DEFAULT_REQUEST_PAYLOAD: u32 = 1024;

/// Response payload hint a client sends (§19.9 item 5), and the response
/// limit a managed server announces before it learned larger responses.
pub(crate) const DEFAULT_RESPONSE_PAYLOAD: u32 = 65_536;

/// Largest response limit a managed server learns unless configured
/// otherwise (PROTOCOL.md §10.5, PROTOCOL-LOOKUP.md §19.9 item 1).
const DEFAULT_RESPONSE_CEILING: u32 = 1 << 20;

/// How long a client beyond the session limit waits for a slot, by default.
const DEFAULT_SLOT_WAIT: Duration = Duration::from_secs(1);

/// Which client processes a managed server talks to, judged by the
/// credentials the kernel records for the connecting process
/// (`SO_PEERCRED`) before anything is read from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PeerCheck {
    /// Only processes running as the server's own effective uid, or as
    /// root (the default). Others are disconnected before the handshake.
    #[default]
    SameUserOrRoot,
    /// The server's own uid, root, and the listed uids.
    Uids(Vec<u32>),
    /// Anyone who can connect to the socket (the file mode and the auth
    /// token are then the only checks).
    Anyone,
}

impl PeerCheck {
    /// Whether a client running as `peer_uid` is served by a server running
    /// as `own_uid`.
    pub fn allows(&self, peer_uid: u32, own_uid: u32) -> bool {
        let same = peer_uid == own_uid || peer_uid == 0;
        match self {
            PeerCheck::SameUserOrRoot => same,
            PeerCheck::Uids(uids) => same || uids.contains(&peer_uid),
            PeerCheck::Anyone => true,
        }
    }
}

/// Settings of a client context: the Level 1 [`SessionConfig`] it connects
/// with, the batch size the caller intends to use, the request ceiling and
/// the deadline of one call.
///
/// The context fills the proposal's sizes itself: it proposes its request
/// ceiling ([`ClientConfig::max_request_payload`]; unless configured, 1024
/// bytes or what a batch of [`ClientConfig::batch_items`] items needs) and
/// hints 65 536 response bytes. It never proposes more than the ceiling,
/// however large a request it is asked to send: the newest servers reject
/// a HELLO that proposes more than their request maximum. Batch limits
/// grow when a call needs more.
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
    /// first batch proposal. Default 1.
    pub batch_items: u32,
    /// The request ceiling: the request payload proposed in every HELLO,
    /// and the largest request a call may send. 0 (the default) means
    /// 1024, or, when `batch_items` > 1, what a batch of that many items of
    /// the service needs if that is more. Keep it at or below the
    /// provider's request maximum.
    pub max_request_payload: u32,
    /// Deadline of one logical call: every chunk, shared-memory wait,
    /// retry and reconnect it makes. Default 5 s, the agent's call
    /// timeout; zero means 30 s.
    pub call_timeout: Duration,
}

impl ClientConfig {
    /// Defaults with the given auth token, following the agent's call
    /// sites: profiles 0x07 offered with 0x04 (SHM_FUTEX) preferred, no
    /// batches, requests up to 1024 bytes (or what the configured batch
    /// needs), a 5 s call timeout and the other
    /// [`SessionConfig`] timeouts.
    pub fn new(auth_token: AuthToken) -> Self {
        ClientConfig {
            session: SessionConfig::new(ClientProposal {
                supported: DEFAULT_PROFILES,
                preferred: DEFAULT_PREFERRED,
                auth_token,
                ..ClientProposal::default()
            }),
            batch_items: 1,
            max_request_payload: 0,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Sets the request ceiling (0 = automatic): what every HELLO proposes
    /// and the largest request a call may send.
    pub fn with_request_payload(mut self, bytes: u32) -> Self {
        self.max_request_payload = bytes;
        self
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

    /// Sets the deadline of one call (default 5 s; zero: 30 s). A call
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
    /// Concurrent sessions served. A client beyond the limit waits up to
    /// `slot_wait` for a session to end; then it completes its handshake
    /// and is disconnected (it sees the session close on first use).
    /// At most 2 × `max_sessions` connections wait for their handshake at
    /// once; beyond that the longest-silent one is closed. Default 2, as
    /// the agent's providers.
    pub max_sessions: usize,
    /// The largest response limit size learning may announce (0 = 1 MiB).
    /// Never below the configured response limit
    /// (`session.policy.max_response_payload`). Default 1 MiB.
    pub response_ceiling: u32,
    /// How long a client beyond `max_sessions` waits for a slot (its HELLO
    /// stays unanswered meanwhile). Default 1 s.
    pub slot_wait: Duration,
    /// Which client processes are served. Default
    /// [`PeerCheck::SameUserOrRoot`].
    pub peer_check: PeerCheck,
    /// Refuse to start in a run directory writable by group or others
    /// without the sticky bit (others could replace the socket or the
    /// region files). Default true.
    pub check_run_dir: bool,
    /// Called for every session accepted, refused, turned away or ended
    /// (for logs). Default none.
    pub observer: Option<SessionObserver>,
}

impl ServerConfig {
    /// Defaults with the given auth token, following the agent's
    /// providers: profiles 0x07 supported with 0x04 (SHM_FUTEX) preferred,
    /// requests up to 1024 bytes (a larger proposal is rejected with
    /// LIMIT_EXCEEDED), 65 536-byte responses learned up to 1 MiB,
    /// automatic packet size, 2 sessions, socket mode 0600, a 1 s slot
    /// wait, only the same user and root served, the run directory checked.
    pub fn new(auth_token: AuthToken) -> Self {
        ServerConfig {
            session: ServerSessionConfig::new(ServerPolicy {
                supported: DEFAULT_PROFILES,
                preferred: DEFAULT_PREFERRED,
                max_request_payload: DEFAULT_REQUEST_PAYLOAD,
                max_response_payload: DEFAULT_RESPONSE_PAYLOAD,
                auth_token,
                ..ServerPolicy::default()
            }),
            listener: ListenerConfig::default(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            response_ceiling: DEFAULT_RESPONSE_CEILING,
            slot_wait: DEFAULT_SLOT_WAIT,
            peer_check: PeerCheck::default(),
            check_run_dir: true,
            observer: None,
        }
    }

    /// Sets the request maximum (0 = 1024): a client proposing more is
    /// rejected with LIMIT_EXCEEDED at the handshake. Raise it to accept
    /// clients that propose more, such as clients of the frozen protocol
    /// that propose learned sizes up to 1 MiB.
    pub fn with_request_payload(mut self, bytes: u32) -> Self {
        self.session.policy.max_request_payload = bytes;
        self
    }

    /// Sets the largest response limit size learning may announce
    /// (0 = 1 MiB).
    pub fn with_response_ceiling(mut self, bytes: u32) -> Self {
        self.response_ceiling = bytes;
        self
    }

    /// The request maximum every handshake enforces (0 meaning 1024).
    pub fn request_ceiling(&self) -> u32 {
        self.session.policy.effective_max_request_payload()
    }

    /// The largest response limit the server announces: the configured
    /// ceiling (0 meaning 1 MiB), but never below the configured response
    /// limit.
    pub fn effective_response_ceiling(&self) -> u32 {
        let ceiling = if self.response_ceiling == 0 {
            DEFAULT_RESPONSE_CEILING
        } else {
            self.response_ceiling
        };
        ceiling.max(self.session.policy.effective_max_response_payload())
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
    /// learned (default 65 536; 0 = 1024).
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

    /// Sets the socket file's permission bits (Unix only: a Windows pipe
    /// gets the default security descriptor).
    #[cfg(unix)]
    pub fn with_socket_mode(mut self, mode: u32) -> Self {
        self.listener = self.listener.with_socket_mode(mode);
        self
    }

    /// Sets the longest wait for a client's HELLO.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.session.handshake_timeout = timeout;
        self
    }

    /// Sets the callback told about every session
    /// ([`SessionEvent`](super::SessionEvent)).
    pub fn with_session_observer(
        mut self,
        f: impl Fn(&super::SessionEvent<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(SessionObserver::new(f));
        self
    }

    /// Sets the spin-then-block policy of the workers' receives.
    pub fn with_wait(mut self, wait: WaitConfig) -> Self {
        self.session.wait = wait;
        self
    }

    /// Sets the longest wait for room in a session's socket buffer while
    /// sending to a client that stopped reading.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.session.send_timeout = timeout;
        self
    }

    /// Sets how long a client beyond the session limit waits for a slot.
    pub fn with_slot_wait(mut self, wait: Duration) -> Self {
        self.slot_wait = wait;
        self
    }

    /// Sets which client processes are served.
    pub fn with_peer_check(mut self, check: PeerCheck) -> Self {
        self.peer_check = check;
        self
    }

    /// Sets whether the run directory's owner and mode are checked at
    /// start.
    pub fn with_run_dir_check(mut self, check: bool) -> Self {
        self.check_run_dir = check;
        self
    }
}
