//! Error types of Level 1: endpoints, the handshake and UDS sessions.
//!
//! Three enums, one per concern:
//!
//! * [`EndpointError`] — naming a service, binding a listener, connecting;
//! * [`TransportError`] — moving messages over an established session,
//!   including every rule a received message can break;
//! * [`HandshakeError`] — the HELLO / HELLO_ACK exchange, with one variant
//!   per rejection status so that Level 2 can map each to a client state.
//!
//! After any [`TransportError`] other than a local refusal
//! ([`TransportError::is_local_refusal`]) or a [`TransportError::Timeout`]
//! between messages, the session is unusable and should be dropped: the byte
//! stream may be out of step with the peer.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::wire::{Kind, Profiles, Status, WireError};

/// A failure to name, bind or reach an endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The service name breaks the naming rule (non-empty, not `.` or `..`,
    /// only `A-Z a-z 0-9 . _ -`). Names are rejected, never sanitised.
    #[error("invalid service name {name:?}: {reason}")]
    InvalidServiceName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `{run_dir}/{service}.sock` does not fit a Unix socket address.
    #[error("socket path {path:?} is {len} bytes long; a Unix socket path may have at most {max}")]
    PathTooLong {
        /// The path that was built.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// Nobody listens at the path (the file is missing, or it is a stale
    /// socket nobody accepts on). Level 2 maps this to NOT_FOUND.
    #[error("no listener at {path:?}")]
    NotFound {
        /// The socket path.
        path: PathBuf,
        /// The errno of `connect` (ENOENT or ECONNREFUSED).
        #[source]
        source: std::io::Error,
    },
    /// The caller may not use the path (EACCES / EPERM).
    #[error("permission denied for {path:?}")]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// The path is taken: a live listener answers there, or a file that is
    /// not a stale socket of ours occupies it. The file is left alone.
    #[error("address {path:?} is in use: {reason}")]
    AddressInUse {
        /// The socket path.
        path: PathBuf,
        /// Why the path is considered taken.
        reason: InUseReason,
    },
    /// `connect` did not complete in time (the listener's backlog is full).
    #[error("connecting to {path:?} timed out")]
    Timeout {
        /// The socket path.
        path: PathBuf,
    },
    /// Connecting was aborted through an
    /// [`AbortHandle`](crate::transport::AbortHandle).
    #[error("connecting to {path:?} was aborted")]
    Aborted {
        /// The socket path.
        path: PathBuf,
    },
    /// Any other system-call failure.
    #[error("{op} {path:?} failed")]
    Io {
        /// The operation that failed (e.g. `"bind"`).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
}

/// Why a socket path is considered in use (see [`EndpointError::AddressInUse`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InUseReason {
    /// A probe connection succeeded: a listener is alive there.
    #[error("a live listener accepted a probe connection")]
    LiveListener,
    /// The probe could not tell: its socket could not be created (for
    /// example descriptor exhaustion), or it failed with EAGAIN (a live
    /// listener whose backlog is full).
    #[error("probing the existing socket failed; leaving it in place")]
    ProbeFailed(#[source] std::io::Error),
    /// Another process bound the path between our stale check and our
    /// bind (`bind` reported EADDRINUSE), or replaced the stale entry while
    /// we probed it.
    #[error("bind reported the address in use")]
    BindRace,
    /// Windows: creating the first pipe instance failed with
    /// ERROR_ACCESS_DENIED or ERROR_PIPE_BUSY, so another process serves
    /// the name.
    #[error("another process already serves this pipe name")]
    PipeInstanceExists,
}

/// A failure while moving messages over an established session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A system call failed.
    #[error("{op} failed")]
    Io {
        /// The operation that failed (e.g. `"sendmsg"`).
        op: &'static str,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// The peer closed the connection (EOF, EPIPE or ECONNRESET).
    #[error("the peer closed the connection")]
    PeerClosed,
    /// Nothing arrived before the timeout (or a send could not complete
    /// in time). A receive that times out before the first packet of a
    /// message leaves the session usable.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// The wait was aborted through the session's
    /// [`AbortHandle`](crate::transport::AbortHandle); the session may be
    /// out of step and must be dropped.
    #[error("aborted")]
    Aborted,
    /// The timeout expired in the middle of a chunked message; the session
    /// is out of step.
    #[error("timed out after {received} of {total} bytes of a chunked message")]
    StalledMessage {
        /// Bytes of the message received (header included).
        received: usize,
        /// Bytes the message has (header included).
        total: usize,
    },
    /// A received outer header or chunk header does not decode.
    #[error("malformed header")]
    Wire(#[from] WireError),
    /// A received batch directory is invalid.
    #[error("malformed batch")]
    BadBatch(#[source] WireError),
    /// A received packet is shorter than a 32-byte header.
    #[error("packet of {len} bytes is shorter than a 32-byte header")]
    ShortPacket {
        /// Bytes received.
        len: usize,
    },
    /// A received packet is larger than allowed: larger than the agreed
    /// packet size, or (for a message that fits one packet) longer than its
    /// header plus `payload_len`.
    #[error("packet of {len} bytes exceeds the {limit} bytes allowed")]
    OversizePacket {
        /// Bytes the packet really had.
        len: usize,
        /// Bytes it was allowed to have.
        limit: usize,
    },
    /// A continuation chunk belongs to another message.
    #[error("chunk carries message id {found}, expected {expected}")]
    ChunkMessageIdMismatch {
        /// The message being reassembled.
        expected: u64,
        /// The id in the chunk header.
        found: u64,
    },
    /// A continuation chunk arrived out of order.
    #[error("chunk index {found}, expected {expected}")]
    ChunkIndexMismatch {
        /// The index the next chunk must have.
        expected: u64,
        /// The index in the chunk header.
        found: u32,
    },
    /// A chunk header announces a different number of chunks than the
    /// message length and packet size imply.
    #[error("chunk count {found}, expected {expected}")]
    ChunkCountMismatch {
        /// Chunks the message needs.
        expected: u64,
        /// The count in the chunk header.
        found: u32,
    },
    /// A chunk header announces a different total length than the outer header.
    #[error("chunk total_message_len {found}, expected {expected}")]
    ChunkTotalMismatch {
        /// `32 + payload_len` from the outer header.
        expected: u64,
        /// The total in the chunk header.
        found: u32,
    },
    /// A chunk header's `chunk_payload_len` is not the packet length minus 32.
    #[error("chunk announces {declared} payload bytes but the packet carries {actual}")]
    ChunkLengthMismatch {
        /// `chunk_payload_len` from the chunk header.
        declared: u32,
        /// Packet length minus 32.
        actual: usize,
    },
    /// A chunk carries more bytes than the message has left.
    #[error("chunk of {len} bytes overruns the message: only {remaining} bytes remain")]
    ChunkOverrun {
        /// Bytes in the chunk.
        len: usize,
        /// Bytes the message still needed.
        remaining: usize,
    },
    /// Every announced chunk arrived but the message is still incomplete
    /// (a sender sent short intermediate chunks).
    #[error("all {count} chunks received but only {received} of {total} message bytes")]
    ChunkIncomplete {
        /// Chunks announced.
        count: u64,
        /// Bytes of the message received (header included).
        received: usize,
        /// Bytes the message has (header included).
        total: usize,
    },
    /// Local refusal: the payload to send exceeds the sender's directional
    /// limit (the request limit on a client, the response limit on a
    /// server). Nothing was written.
    #[error("payload of {len} bytes exceeds the negotiated send limit of {limit}")]
    RequestTooLarge {
        /// Payload bytes.
        len: u32,
        /// The negotiated limit.
        limit: u32,
    },
    /// Local refusal: the item count to send exceeds the sender's batch
    /// limit. Nothing was written.
    #[error("{count} items exceed the negotiated send batch limit of {limit}")]
    TooManyItems {
        /// Items in the message.
        count: u32,
        /// The negotiated limit.
        limit: u32,
    },
    /// Local refusal: `header.payload_len` differs from the payload given.
    /// Nothing was written.
    #[error("header announces {header} payload bytes but {actual} were given")]
    PayloadLenMismatch {
        /// `payload_len` in the header.
        header: u32,
        /// Length of the payload slice.
        actual: usize,
    },
    /// Local refusal: the agreed packet size cannot carry a header and data.
    #[error("packet size {size} is too small; it must exceed 32 bytes")]
    BadPacketSize {
        /// The packet size.
        size: u32,
    },
    /// A received message announces more payload than the receive limit.
    #[error("incoming payload of {len} bytes exceeds the negotiated limit of {limit}")]
    IncomingTooLarge {
        /// `payload_len` from the header.
        len: u32,
        /// The negotiated limit.
        limit: u32,
    },
    /// A received message announces more items than the receive batch limit.
    #[error("incoming message has {count} items, the negotiated limit is {limit}")]
    IncomingTooManyItems {
        /// `item_count` from the header.
        count: u32,
        /// The negotiated limit.
        limit: u32,
    },
    /// A message of the wrong kind arrived (e.g. a REQUEST where a RESPONSE
    /// was expected).
    #[error("expected a {expected:?} message, got {found:?}")]
    UnexpectedKind {
        /// The kind wanted.
        expected: Kind,
        /// The kind received.
        found: Kind,
    },
    /// Local refusal: a request with this message id is already in flight.
    /// Nothing was written.
    #[error("message id {id} is already in flight")]
    DuplicateInFlight {
        /// The id.
        id: u64,
    },
    /// A response carries a message id no request is waiting for.
    #[error("response with message id {id} matches no request in flight")]
    UnknownResponseId {
        /// The id.
        id: u64,
    },
}

impl TransportError {
    /// Wraps an errno from the system call `op`.
    #[cfg(unix)]
    pub(crate) fn io(op: &'static str, errno: rustix::io::Errno) -> TransportError {
        TransportError::Io {
            op,
            source: errno.into(),
        }
    }

    /// True when the error is a local refusal: nothing was sent and the
    /// session is still in step with the peer.
    pub fn is_local_refusal(&self) -> bool {
        matches!(
            self,
            TransportError::RequestTooLarge { .. }
                | TransportError::TooManyItems { .. }
                | TransportError::PayloadLenMismatch { .. }
                | TransportError::BadPacketSize { .. }
                | TransportError::DuplicateInFlight { .. }
        )
    }

    /// True when the peer sent bytes that break the protocol (as opposed to
    /// an I/O failure, a timeout, a closed connection or a local refusal).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            TransportError::Wire(_)
                | TransportError::BadBatch(_)
                | TransportError::ShortPacket { .. }
                | TransportError::OversizePacket { .. }
                | TransportError::ChunkMessageIdMismatch { .. }
                | TransportError::ChunkIndexMismatch { .. }
                | TransportError::ChunkCountMismatch { .. }
                | TransportError::ChunkTotalMismatch { .. }
                | TransportError::ChunkLengthMismatch { .. }
                | TransportError::ChunkOverrun { .. }
                | TransportError::ChunkIncomplete { .. }
                | TransportError::IncomingTooLarge { .. }
                | TransportError::IncomingTooManyItems { .. }
                | TransportError::UnexpectedKind { .. }
                | TransportError::UnknownResponseId { .. }
        )
    }
}

/// What made a handshake incompatible (see [`HandshakeError::Incompatible`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatibility {
    /// The peer answered with status INCOMPATIBLE.
    #[error("the server answered INCOMPATIBLE")]
    PeerSaidIncompatible,
    /// The received header has an envelope version other than 1.
    #[error("envelope version {0}, expected 1")]
    HeaderVersion(u16),
    /// The received HELLO or HELLO_ACK has a layout version other than 1.
    #[error("handshake layout version {0}, expected 1")]
    LayoutVersion(u16),
    /// The agreed packet size, `min(client, server)`, is 32 bytes or less.
    #[error("agreed packet size {0} leaves no room after the 32-byte header")]
    PacketSize(u32),
}

/// A failed HELLO / HELLO_ACK exchange, on either side.
///
/// On the client each rejection status maps to its own variant:
///
/// | HELLO_ACK status | variant |
/// |---|---|
/// | AUTH_FAILED | [`AuthFailed`](Self::AuthFailed) |
/// | UNSUPPORTED | [`NoCommonProfile`](Self::NoCommonProfile) |
/// | INCOMPATIBLE | [`Incompatible`](Self::Incompatible) |
/// | LIMIT_EXCEEDED | [`LimitRejected`](Self::LimitRejected) (with the proposal and, if the ACK names it, the server's cap) |
/// | any other non-OK | [`Rejected`](Self::Rejected) |
///
/// On the server the same variants describe the rejection it sent;
/// [`HandshakeError::status`] gives the status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The auth tokens differ.
    #[error("authentication failed: the auth tokens differ")]
    AuthFailed,
    /// Client and server share no transport profile.
    #[error("no common transport profile")]
    NoCommonProfile,
    /// Versions, layouts or packet sizes cannot work together.
    #[error("incompatible peer: {0}")]
    Incompatible(Incompatibility),
    /// The HELLO proposed a larger request payload than the server accepts
    /// (LIMIT_EXCEEDED): above the server's configured request maximum.
    #[error(
        "the server rejected the proposed request payload of {proposed} bytes{}",
        cap_note(*.server_cap)
    )]
    LimitRejected {
        /// The `max_request_payload_bytes` the HELLO proposed.
        proposed: u32,
        /// The server's request maximum, when known: on the server always;
        /// on the client only if the rejection HELLO_ACK carries a non-zero
        /// `agreed_max_request_payload_bytes` (the protocol's rejection ACK
        /// is all zero, so against conforming servers this is `None`).
        server_cap: Option<u32>,
    },
    /// The server rejected the handshake with another status.
    #[error("the server rejected the handshake with status {0}")]
    Rejected(Status),
    /// Server side: the HELLO payload is short or has non-zero flags or
    /// reserved bytes; BAD_ENVELOPE was sent.
    #[error("malformed HELLO")]
    BadHello(#[source] WireError),
    /// The packet's outer header does not decode; nothing was sent.
    #[error("malformed handshake header")]
    BadHeader(#[source] WireError),
    /// The packet is not a HELLO (server) or not a HELLO_ACK (client).
    #[error("unexpected handshake message: kind {kind}, code {code}")]
    UnexpectedMessage {
        /// Raw `kind` received.
        kind: u16,
        /// Raw `code` received.
        code: u16,
    },
    /// Client side: the HELLO_ACK payload or status does not decode.
    #[error("malformed HELLO_ACK")]
    BadAck(#[source] WireError),
    /// Client side: an OK HELLO_ACK agrees on a packet size of 32 or less,
    /// or on one larger than the client proposed.
    #[error(
        "HELLO_ACK agrees on packet size {0}, which must exceed 32 and not exceed our proposal"
    )]
    BadPacketSize(u32),
    /// Client side: the selected profile is not exactly one of the profiles
    /// we offered.
    #[error("HELLO_ACK selected profile {selected}, which is not one of ours ({offered})")]
    BadSelection {
        /// The `selected_profile` received.
        selected: Profiles,
        /// The profiles we offered.
        offered: Profiles,
    },
    /// Server side: preparing the session (e.g. creating its shared-memory
    /// region) failed; INTERNAL_ERROR was sent.
    #[error("preparing the session failed")]
    Prepare(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The peer said nothing before the timeout.
    #[error("handshake timed out")]
    Timeout,
    /// The peer closed the connection.
    #[error("the peer closed the connection during the handshake")]
    PeerClosed,
    /// Another transport failure (I/O error, oversize packet …).
    #[error("handshake transport failure")]
    Transport(#[source] TransportError),
}

impl HandshakeError {
    /// The HELLO_ACK status this error corresponds to: on the client the
    /// status received, on the server the status sent. `None` when no
    /// status was involved (timeouts, closed connections, malformed bytes
    /// answered by closing).
    pub fn status(&self) -> Option<Status> {
        match self {
            HandshakeError::AuthFailed => Some(Status::AuthFailed),
            HandshakeError::NoCommonProfile => Some(Status::Unsupported),
            HandshakeError::Incompatible(_) => Some(Status::Incompatible),
            HandshakeError::LimitRejected { .. } => Some(Status::LimitExceeded),
            HandshakeError::Rejected(s) => Some(*s),
            HandshakeError::BadHello(_) => Some(Status::BadEnvelope),
            HandshakeError::Prepare(_) => Some(Status::InternalError),
            _ => None,
        }
    }
}

/// The tail of the [`HandshakeError::LimitRejected`] message.
fn cap_note(server_cap: Option<u32>) -> String {
    match server_cap {
        Some(cap) => format!(", above its request maximum of {cap} bytes"),
        None => String::from(" as above its request maximum"),
    }
}

impl From<TransportError> for HandshakeError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout => HandshakeError::Timeout,
            TransportError::PeerClosed => HandshakeError::PeerClosed,
            other => HandshakeError::Transport(other),
        }
    }
}
