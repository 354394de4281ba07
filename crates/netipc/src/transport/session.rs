//! Sessions: one abstraction over the data plane, used by Level 2.
//!
//! A session is a connected UDS SEQPACKET socket that has completed the
//! handshake, plus — when a shared-memory profile was selected — the
//! session's shared-memory region. Callers send and receive whole messages
//! and never branch on the transport:
//!
//! * on UDS, messages travel as (possibly chunked) packets;
//! * on shared memory, each message is one publication in the region, and
//!   the socket stays open only so that each side notices when the other
//!   goes away.
//!
//! The received payload stays in a buffer owned by the session and is
//! borrowed through [`ClientSession::payload`] / [`ServerSession::payload`]
//! until the next receive, so the steady state allocates nothing.

#![forbid(unsafe_code)]

use rustix::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{ServerSessionConfig, SessionConfig};
use super::endpoint::{self, Endpoint};
use super::error::{EndpointError, HandshakeError, TransportError};
use super::handshake;
use super::shm::region::{ShmError, ShmRegion};
use super::uds::{Limits, UdsChannel, UdsConn};
use super::wait::Waiter;
use crate::deadline::Deadline;
use crate::wire::{BatchView, Header, HelloAck, Kind, Profiles, WireError, HEADER_LEN};

/// How long a shared-memory receiver blocks before it looks at the socket to
/// see whether the peer is still there.
const SHM_SLICE: Duration = Duration::from_millis(50);

/// How long a server waits for the rest of a chunked request once its first
/// packet arrived (the first packet itself is awaited in short slices).
const SERVER_MESSAGE_REST: Duration = Duration::from_secs(5);

/// Why a client could not establish a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Connecting the socket failed (`NotFound` when no provider listens).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The handshake failed or was rejected.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The server selected shared memory but its region could not be
    /// attached; the session has been closed.
    #[error("cannot attach the shared-memory region {path:?}")]
    ShmAttach {
        /// Region file.
        path: PathBuf,
        /// Last attach error.
        source: ShmError,
    },
}

impl ConnectError {
    /// The kind of failure: the one classification every layer and tool
    /// uses to decide what to do (or what to tell a person).
    pub fn kind(&self) -> ConnectFailure {
        match self {
            ConnectError::Endpoint(e) => match e {
                EndpointError::NotFound { .. } => ConnectFailure::NotFound,
                EndpointError::PermissionDenied { .. } => ConnectFailure::PermissionDenied,
                EndpointError::Timeout { .. } => ConnectFailure::TimedOut,
                _ => ConnectFailure::Other,
            },
            ConnectError::Handshake(e) => match e {
                HandshakeError::AuthFailed => ConnectFailure::AuthFailed,
                HandshakeError::NoCommonProfile | HandshakeError::Incompatible(_) => {
                    ConnectFailure::Incompatible
                }
                HandshakeError::LimitRejected => ConnectFailure::LimitRejected,
                HandshakeError::Timeout => ConnectFailure::TimedOut,
                HandshakeError::PeerClosed => ConnectFailure::PeerClosed,
                _ => ConnectFailure::Protocol,
            },
            ConnectError::ShmAttach { .. } => ConnectFailure::SharedMemory,
        }
    }
}

/// The kind of a [`ConnectError`] ([`ConnectError::kind`]): why a client
/// could not connect, as a value a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// No provider listens at the endpoint (no socket file, or a stale one).
    #[error("no provider")]
    NotFound,
    /// The socket exists but we may not connect to it (EACCES / EPERM).
    #[error("permission denied")]
    PermissionDenied,
    /// The provider rejected our auth token.
    #[error("auth token rejected")]
    AuthFailed,
    /// No common profile, or protocol versions or packet sizes that cannot
    /// work together.
    #[error("incompatible provider")]
    Incompatible,
    /// The provider refused our size proposal.
    #[error("size proposal rejected")]
    LimitRejected,
    /// Connecting or the handshake did not complete in time.
    #[error("timed out")]
    TimedOut,
    /// The provider closed the connection during the handshake or the
    /// shared-memory attach (for example because it is at its session
    /// limit).
    #[error("closed by the provider")]
    PeerClosed,
    /// The provider broke the handshake protocol or rejected it with an
    /// unexpected status.
    #[error("handshake protocol error")]
    Protocol,
    /// The shared-memory region the provider announced cannot be attached.
    #[error("shared memory unavailable")]
    SharedMemory,
    /// Anything else (an I/O error).
    #[error("I/O error")]
    Other,
}

/// Why a send or receive on an established session failed. After any error
/// except [`SessionError::RequestTooLarge`] the session must be dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The message is larger than the negotiated limit; nothing was sent.
    #[error("message of {len} payload bytes exceeds the negotiated limit of {limit}")]
    RequestTooLarge {
        /// Payload length.
        len: usize,
        /// Negotiated limit.
        limit: u32,
    },
    /// UDS transport failure or protocol violation.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Shared-memory failure or corrupt publication.
    #[error(transparent)]
    Shm(#[from] ShmError),
    /// A message read from shared memory has a bad envelope.
    #[error("malformed shared-memory message")]
    Wire(#[from] WireError),
    /// A message read from shared memory breaks the negotiated limits or its
    /// own length.
    #[error("shared-memory message: {0}")]
    BadMessage(&'static str),
    /// The peer closed the session.
    #[error("peer closed the session")]
    PeerClosed,
    /// No message arrived in time.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// A response did not answer the request in flight.
    #[error("unexpected response: {0}")]
    Unexpected(&'static str),
}

/// The data plane of a session.
#[derive(Debug)]
enum Plane {
    Uds,
    Shm { region: ShmRegion, buf: Vec<u8> },
}

/// Shared state and the send/receive logic of both session sides.
#[derive(Debug)]
struct Core {
    chan: UdsChannel,
    plane: Plane,
    ack: HelloAck,
    limits: Limits,
    waiter: Waiter,
}

impl Core {
    /// Sends one message; `track` records a request's id as in flight on
    /// UDS (shared memory carries one request at a time).
    fn send(&mut self, header: &Header, payload: &[u8], track: bool) -> Result<(), SessionError> {
        if payload.len() > self.limits.max_send_payload as usize {
            return Err(SessionError::RequestTooLarge {
                len: payload.len(),
                limit: self.limits.max_send_payload,
            });
        }
        match &mut self.plane {
            Plane::Uds => {
                let sent = if track {
                    self.chan.send_request(header, payload)
                } else {
                    self.chan.send(header, payload)
                };
                sent.map_err(|e| match e {
                    TransportError::RequestTooLarge { len, limit } => {
                        SessionError::RequestTooLarge {
                            len: len as usize,
                            limit,
                        }
                    }
                    other => other.into(),
                })
            }
            Plane::Shm { region, .. } => match region.send(&header.encode(), payload) {
                Ok(()) => Ok(()),
                Err(ShmError::MessageTooLarge { len, .. }) => Err(SessionError::RequestTooLarge {
                    len: len.saturating_sub(HEADER_LEN),
                    limit: self.limits.max_send_payload,
                }),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Receives one message. `Ok(None)` when `slice` passed with nothing
    /// received and the peer still connected. Once the first packet of a
    /// chunked UDS message has arrived, the rest may take up to `rest`.
    /// `response` matches a response to the requests in flight on UDS.
    fn recv(
        &mut self,
        slice: Duration,
        rest: Duration,
        response: bool,
    ) -> Result<Option<Header>, SessionError> {
        match &mut self.plane {
            Plane::Uds => {
                // Poll without blocking for the waiter's window first: an
                // answer that comes within it costs no sleep and no wake-up
                // on either side.
                let chan = &mut self.chan;
                let try_recv = |chan: &mut UdsChannel| {
                    let got = if response {
                        chan.try_recv_response(Some(rest))
                            .map(|m| m.map(|(h, _)| h))
                    } else {
                        chan.try_recv(Some(rest)).map(|m| m.map(|(h, _)| h))
                    };
                    got.transpose()
                };
                let received = match self.waiter.spin(|| try_recv(chan)) {
                    Some(result) => result,
                    None => {
                        // Block for the first packet within the slice; the
                        // rest of a chunked message gets its own deadline.
                        let blocked = if response {
                            chan.recv_response_split(Some(slice), Some(rest))
                                .map(|(h, _)| h)
                        } else {
                            chan.recv_split(Some(slice), Some(rest)).map(|(h, _)| h)
                        };
                        self.waiter.finish_wait();
                        blocked
                    }
                };
                match received {
                    Ok(header) => Ok(Some(header)),
                    Err(TransportError::Timeout) => Ok(None),
                    Err(TransportError::PeerClosed) => Err(SessionError::PeerClosed),
                    Err(e) => Err(e.into()),
                }
            }
            Plane::Shm { region, buf } => match region.recv_watching(
                buf,
                Some(slice),
                &mut self.waiter,
                self.chan.conn().as_fd(),
            ) {
                Ok(len) => check_shm_message(&buf[..len], &self.limits).map(Some),
                Err(ShmError::PeerGone) => Err(SessionError::PeerClosed),
                Err(ShmError::Timeout { .. }) => {
                    if self.chan.conn().is_hung_up() {
                        Err(SessionError::PeerClosed)
                    } else {
                        Ok(None)
                    }
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    fn payload(&self) -> &[u8] {
        match &self.plane {
            Plane::Uds => self.chan.last_payload(),
            Plane::Shm { buf, .. } => buf.get(HEADER_LEN..).unwrap_or(&[]),
        }
    }
}

/// Validates a message read from shared memory: envelope, declared length,
/// negotiated limits and the batch directory — the same rules UDS receives
/// apply.
fn check_shm_message(msg: &[u8], limits: &Limits) -> Result<Header, SessionError> {
    let header = Header::decode(msg)?;
    if header.payload_len as usize != msg.len() - HEADER_LEN {
        return Err(SessionError::BadMessage(
            "payload_len differs from the published length",
        ));
    }
    if header.payload_len > limits.max_recv_payload {
        return Err(SessionError::BadMessage(
            "payload exceeds the negotiated limit",
        ));
    }
    if header.item_count > limits.max_recv_items {
        return Err(SessionError::BadMessage(
            "item_count exceeds the negotiated batch limit",
        ));
    }
    if header.is_batch() {
        BatchView::new(&msg[HEADER_LEN..], header.item_count)?;
    }
    Ok(header)
}

/// The client end of an established session.
#[derive(Debug)]
pub struct ClientSession {
    core: Core,
    response_timeout: Duration,
    /// Message id of the request awaiting its response on shared memory
    /// (UDS tracks any number of them in its channel).
    shm_pending: Option<u64>,
}

impl ClientSession {
    /// Connects to the endpoint's socket, runs the handshake and, when
    /// shared memory is selected, attaches the session's region.
    pub fn connect(
        endpoint: &Endpoint,
        config: &SessionConfig,
    ) -> Result<ClientSession, ConnectError> {
        let conn = endpoint::connect(endpoint)?;
        let ack = handshake::client_handshake(&conn, &config.proposal, config.handshake_timeout)?;
        let limits = Limits::for_client(&ack);
        let plane = if ack.selected_profile.has_shm() {
            let path = endpoint.region_path(ack.session_id);
            let attached =
                attach_with_retry(&path, config.shm_attach_timeout, &conn).and_then(|r| {
                    r.check_limits(
                        ack.agreed_max_request_payload_bytes,
                        ack.agreed_max_response_payload_bytes,
                    )
                    .map(|()| r)
                    .map_err(Attach::Failed)
                });
            let region = match attached {
                Ok(region) => region,
                // The server ended the session (for example because it is
                // at its session limit): a transient refusal, not a reason
                // to give up on shared memory.
                Err(Attach::PeerClosed) => {
                    return Err(ConnectError::Handshake(HandshakeError::PeerClosed))
                }
                Err(Attach::Failed(source)) => {
                    return Err(ConnectError::ShmAttach { path, source })
                }
            };
            Plane::Shm {
                region,
                buf: Vec::new(),
            }
        } else {
            Plane::Uds
        };
        Ok(ClientSession {
            core: Core {
                chan: UdsChannel::new(conn, limits).map_err(HandshakeError::from)?,
                plane,
                ack,
                limits,
                waiter: Waiter::new(config.wait),
            },
            response_timeout: config.response_timeout,
            shm_pending: None,
        })
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &HelloAck {
        &self.core.ack
    }

    /// The selected profile.
    pub fn profile(&self) -> Profiles {
        self.core.ack.selected_profile
    }

    /// True when the data plane is shared memory.
    pub fn is_shm(&self) -> bool {
        matches!(self.core.plane, Plane::Shm { .. })
    }

    /// Sends one request. On UDS several may be in flight (pipelining); on
    /// shared memory one at a time.
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        if header.kind != Kind::Request {
            return Err(SessionError::Unexpected(
                "only requests can be sent by a client",
            ));
        }
        match self.core.plane {
            Plane::Uds => self.core.send(header, payload, true),
            Plane::Shm { .. } => {
                if self.shm_pending.is_some() {
                    return Err(SessionError::Unexpected(
                        "shared memory carries one request at a time",
                    ));
                }
                self.core.send(header, payload, false)?;
                self.shm_pending = Some(header.message_id);
                Ok(())
            }
        }
    }

    /// Receives the next response and matches it to a request in flight.
    /// Its payload is [`ClientSession::payload`] until the next receive.
    pub fn recv_response(&mut self) -> Result<Header, SessionError> {
        let deadline = Deadline::after(self.response_timeout);
        let header = loop {
            // A timeout too large for a deadline waits forever.
            let left = deadline.remaining().unwrap_or(Duration::MAX);
            if left.is_zero() {
                return Err(SessionError::Timeout);
            }
            if let Some(h) = self.core.recv(left.min(self.slice()), left, true)? {
                break h;
            }
        };
        if let Plane::Shm { .. } = self.core.plane {
            if header.kind != Kind::Response {
                return Err(SessionError::Unexpected("a client received a non-response"));
            }
            if self.shm_pending.take() != Some(header.message_id) {
                return Err(SessionError::Unexpected(
                    "response message_id does not match the request",
                ));
            }
        }
        Ok(header)
    }

    /// One request and its response.
    pub fn call(&mut self, header: &Header, payload: &[u8]) -> Result<Header, SessionError> {
        self.send_request(header, payload)?;
        self.recv_response()
    }

    /// Payload of the last received message.
    pub fn payload(&self) -> &[u8] {
        self.core.payload()
    }

    fn slice(&self) -> Duration {
        match self.core.plane {
            Plane::Uds => self.response_timeout,
            Plane::Shm { .. } => SHM_SLICE,
        }
    }
}

/// Why attaching a session's region failed.
enum Attach {
    /// The server closed the session's socket while we tried.
    PeerClosed,
    /// The region could not be attached until the deadline.
    Failed(ShmError),
}

/// Attaches a region, retrying every 5 ms until `timeout` (the server may
/// still be finishing it). Stops at once when the server has closed the
/// session's socket: the region is then gone for good.
fn attach_with_retry(path: &Path, timeout: Duration, conn: &UdsConn) -> Result<ShmRegion, Attach> {
    let deadline = Deadline::after(timeout);
    loop {
        match ShmRegion::attach(path) {
            Ok(region) => return Ok(region),
            Err(_) if conn.is_hung_up() => return Err(Attach::PeerClosed),
            Err(e) if deadline.expired() => return Err(Attach::Failed(e)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The server end of an established session.
#[derive(Debug)]
pub struct ServerSession {
    core: Core,
}

impl ServerSession {
    /// Runs the server side of the handshake on an accepted connection.
    /// When shared memory is selected the region
    /// [`Endpoint::region_path`]`(session_id)` is created and
    /// initialised before the successful HELLO_ACK is sent; it is removed
    /// when the session is dropped.
    pub fn accept(
        conn: UdsConn,
        endpoint: &Endpoint,
        session_id: u64,
        config: &ServerSessionConfig,
    ) -> Result<ServerSession, HandshakeError> {
        let mut region = None;
        let ack = handshake::server_handshake(
            &conn,
            &config.policy,
            session_id,
            config.handshake_timeout,
            |ack: &HelloAck| -> Result<(), ShmError> {
                if ack.selected_profile.has_shm() {
                    region = Some(ShmRegion::create(
                        endpoint.region_path(session_id),
                        ack.agreed_max_request_payload_bytes,
                        ack.agreed_max_response_payload_bytes,
                    )?);
                }
                Ok(())
            },
        )?;
        let limits = Limits::for_server(&ack);
        let plane = match region {
            Some(region) => Plane::Shm {
                region,
                buf: Vec::new(),
            },
            None => Plane::Uds,
        };
        Ok(ServerSession {
            core: Core {
                chan: UdsChannel::new(conn, limits)?,
                plane,
                ack,
                limits,
                waiter: Waiter::new(config.wait),
            },
        })
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &HelloAck {
        &self.core.ack
    }

    /// Waits up to `slice` for the next message. `Ok(None)`: nothing yet and
    /// the client is still connected. A vanished client is noticed within
    /// one slice on either data plane.
    pub fn recv(&mut self, slice: Duration) -> Result<Option<Header>, SessionError> {
        self.core.recv(slice, SERVER_MESSAGE_REST, false)
    }

    /// Payload of the last received message.
    pub fn payload(&self) -> &[u8] {
        self.core.payload()
    }

    /// Sends one message (normally a response).
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        self.core.send(header, payload, false)
    }
}
