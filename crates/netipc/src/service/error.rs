//! Error types of Level 2. A message names only its own context; the
//! underlying cause is its [`source`](std::error::Error::source), never
//! repeated in the text.

use std::path::PathBuf;
use std::sync::Arc;

use super::ClientState;
use crate::codec::CodecError;
use crate::transport::{ConnectError, ConnectFailure, EndpointError, SessionError};
use crate::wire::{Status, WireError};

/// Why a call failed.
///
/// Cheap to clone: the transport errors it carries are shared.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The context is not Ready; no I/O was done. Call `refresh()`; why the
    /// context is not connected is in
    /// [`ClientStatus::last_connect_error`](super::ClientStatus::last_connect_error).
    #[error("not connected (state: {0}); call refresh() first")]
    NotReady(ClientState),
    /// The request can never be sent: it is larger than the context's
    /// request ceiling ([`ClientConfig::max_request_payload`](super::ClientConfig::max_request_payload)),
    /// which is all the context ever proposes.
    #[error("request of {len} bytes exceeds the configured request ceiling of {limit} bytes")]
    RequestTooLarge {
        /// Encoded payload length.
        len: usize,
        /// The request ceiling.
        limit: u32,
    },
    /// A batch of more items than a message can announce (2^32 − 1).
    #[error("a batch of {count} items is more than a message can carry")]
    TooManyItems {
        /// Items given.
        count: usize,
    },
    /// The call's deadline passed (the context's call timeout, or the one
    /// given to [`Client::call_with_timeout`](super::Client::call_with_timeout)).
    /// Never retried: the session was dropped and the context is Broken
    /// until the next `refresh()`.
    #[error("the call timed out")]
    Timeout,
    /// The call was aborted through the context's
    /// [`AbortHandle`](super::AbortHandle), or the handle was already
    /// aborted. Never retried: a session in use was dropped; calls keep
    /// failing with `Aborted` until the handle is cleared.
    #[error("the call was aborted")]
    Aborted,
    /// Reconnecting during recovery failed.
    #[error("reconnecting failed")]
    Reconnect(#[source] Arc<ConnectError>),
    /// The session failed twice in a row.
    #[error("the session failed")]
    Session(#[source] Arc<SessionError>),
    /// The server answered with a non-OK status twice in a row.
    #[error("server answered {0}")]
    Status(Status),
    /// The server answered with a status this implementation does not know.
    #[error("server answered unknown status {0}")]
    UnknownStatus(u16),
    /// Overflow recovery could not grow the limits enough.
    #[error("response or request still too large after {rounds} renegotiations")]
    Overflow {
        /// Recovery rounds run.
        rounds: u32,
    },
    /// The response answered something else (code or item count differ).
    #[error("mismatched response: {0}")]
    Mismatch(&'static str),
    /// An argument cannot be encoded into a request (for example a string
    /// too long for the codec).
    #[error("cannot encode the request")]
    Encode(#[source] CodecError),
    /// The batch request cannot be built.
    #[error("cannot build the batch request")]
    EncodeBatch(#[source] WireError),
    /// The response payload does not decode.
    #[error("undecodable response")]
    Decode(#[from] CodecError),
    /// A batch response does not decode.
    #[error("undecodable batch response")]
    DecodeBatch(#[from] WireError),
}

impl CallError {
    /// The kind of connect failure behind this error, when a reconnect
    /// failed ([`CallError::Reconnect`]).
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match self {
            CallError::Reconnect(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// The last failure of a client context: a failed connection attempt or a
/// failed call. Cheap to clone (it is kept in
/// [`ClientStatus`](super::ClientStatus) and
/// [`CacheStatus`](crate::cache::CacheStatus)).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting failed; [`ConnectError::kind`] says why.
    #[error(transparent)]
    Connect(Arc<ConnectError>),
    /// A call failed.
    #[error(transparent)]
    Call(CallError),
}

impl ClientError {
    /// The kind of connect failure behind this error, if a connection
    /// attempt failed (directly, or while a call reconnected).
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match self {
            ClientError::Connect(e) => Some(e.kind()),
            ClientError::Call(e) => e.connect_failure(),
        }
    }
}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        ClientError::Call(e)
    }
}

/// A typed handler failed; the client receives INTERNAL_ERROR and the
/// server counts a handler failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler's answer cannot be encoded (for example a snapshot
    /// builder or string encoder refused it).
    #[error("cannot encode the response")]
    Encode(#[from] CodecError),
    /// A lookup reply builder refused an answer (answered by the class of
    /// the error: LIMIT_EXCEEDED for an overflow, BAD_ENVELOPE for a layout
    /// rule, see [`ServeError::from_lookup`]).
    #[error("cannot build the lookup response")]
    Lookup(#[from] crate::codec::lookup::LookupError),
    /// The handler's own failure.
    #[error("the handler failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// A handler failure with its cause: any error, or a message
    /// (`HandlerError::new("no data yet")`).
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        HandlerError::Failed(cause.into())
    }
}

/// Why one request (or batch item) could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The request payload does not decode: answered BAD_ENVELOPE.
    #[error("undecodable request")]
    BadRequest,
    /// The handler failed: answered INTERNAL_ERROR.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The response cannot be built within the session's response limit:
    /// answered LIMIT_EXCEEDED, the session ends and the server learns a
    /// larger response size.
    #[error("the response does not fit the response limit")]
    TooLarge,
}

impl ServeError {
    /// The outcome of a lookup response builder error (PROTOCOL-LOOKUP
    /// §17.8): an overflow is [`ServeError::TooLarge`], a wrong item count
    /// or another layout-class error is [`ServeError::BadRequest`]
    /// (BAD_ENVELOPE).
    pub fn from_lookup(e: crate::codec::lookup::LookupError) -> Self {
        use crate::codec::lookup::ErrorKind;
        match e.kind() {
            ErrorKind::Overflow => ServeError::TooLarge,
            _ => ServeError::BadRequest,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the endpoint failed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The stale shared-memory sweep failed.
    #[error("cannot sweep stale shared-memory files in {dir:?}")]
    Sweep {
        /// Run directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The acceptor thread could not be started.
    #[error("cannot start the acceptor thread")]
    Thread(#[source] std::io::Error),
    /// The run directory could be tampered with by other users (see
    /// [`ServerConfig::check_run_dir`](super::ServerConfig::check_run_dir)).
    #[error("unsafe run directory {dir:?}: {reason}")]
    UnsafeRunDir {
        /// Run directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The run directory could not be examined.
    #[error("cannot examine the run directory {dir:?}")]
    RunDir {
        /// Run directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
