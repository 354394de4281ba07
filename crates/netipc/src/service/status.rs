//! What a client context reports about itself: [`ClientState`] (PROTOCOL.md
//! §10.1), [`NegotiatedLimits`] and the [`ClientStatus`] snapshot.

use std::sync::Arc;
use std::time::Duration;

use super::ClientError;
use crate::transport::{ConnectError, ConnectFailure, PeerCredentials};
use crate::wire::Profiles;

/// Connection state of a client context (PROTOCOL.md §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientState {
    /// Not connected; the next [`Client::refresh`](super::Client::refresh) tries.
    Disconnected,
    /// A connection attempt is running.
    Connecting,
    /// Connected; calls can be made.
    Ready,
    /// No provider listens at the endpoint; the next refresh tries again.
    NotFound,
    /// The provider rejected our auth token. Sticks until the context is
    /// closed: retrying cannot help.
    AuthFailed,
    /// The provider shares no profile or protocol version with us. Sticks
    /// until the context is closed.
    Incompatible,
    /// An established session failed (or a call timed out or was
    /// aborted); the next refresh reconnects.
    Broken,
}

impl std::fmt::Display for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientState::Disconnected => "disconnected",
            ClientState::Connecting => "connecting",
            ClientState::Ready => "ready",
            ClientState::NotFound => "not found",
            ClientState::AuthFailed => "auth failed",
            ClientState::Incompatible => "incompatible",
            ClientState::Broken => "broken",
        })
    }
}

/// Limits of the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedLimits {
    /// Largest request payload.
    pub max_request_payload: u32,
    /// Largest request batch.
    pub max_request_batch_items: u32,
    /// Largest response payload (the HELLO_ACK's, lowered to the client's
    /// response cap).
    pub max_response_payload: u32,
    /// Largest response batch.
    pub max_response_batch_items: u32,
    /// UDS packet size.
    pub packet_size: u32,
}

/// A snapshot of a client context's state and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientStatus {
    /// Current state.
    pub state: ClientState,
    /// Successful connects from Disconnected / NotFound.
    pub connects: u64,
    /// Successful reconnects (after Broken, a retry or an overflow).
    pub reconnects: u64,
    /// Calls made while Ready.
    pub calls: u64,
    /// Calls that returned an error (including not-Ready calls).
    pub failures: u64,
    /// Overflow recoveries (renegotiations with larger limits).
    pub overflow_recoveries: u64,
    /// Selected profile of the current session.
    pub profile: Option<Profiles>,
    /// Server-assigned id of the current session.
    pub session_id: Option<u64>,
    /// Limits of the current session.
    pub limits: Option<NegotiatedLimits>,
    /// The provider process of the current session: its pid, uid and gid
    /// as the kernel reported them for the socket (`SO_PEERCRED`).
    pub peer: Option<PeerCredentials>,
    /// Request payload this context proposes (learned, never shrinks).
    pub request_proposal: u32,
    /// Response payload this context hints (learned, never shrinks).
    pub response_hint: u32,
    /// The default deadline of one call.
    pub call_timeout: Duration,
    /// True while the context's abort handle is aborted.
    pub aborted: bool,
    /// The last failure, connecting or calling.
    pub last_error: Option<ClientError>,
    /// The last failed connection attempt: why the context is (or was) not
    /// connected. [`ClientStatus::connect_failure`] gives its kind.
    pub last_connect_error: Option<Arc<ConnectError>>,
}

impl ClientStatus {
    /// The kind of the last failed connection attempt: no provider,
    /// permission denied, auth token rejected, incompatible, untrusted
    /// provider, timed out ….
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        self.last_connect_error.as_ref().map(|e| e.kind())
    }
}

/// The state a failed connect leaves (PROTOCOL.md §10.1).
pub(super) fn state_after(failure: ConnectFailure) -> ClientState {
    match failure {
        ConnectFailure::NotFound => ClientState::NotFound,
        ConnectFailure::AuthFailed => ClientState::AuthFailed,
        ConnectFailure::Incompatible => ClientState::Incompatible,
        _ => ClientState::Disconnected,
    }
}
