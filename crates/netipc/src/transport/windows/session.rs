//! Windows sessions: a handshaken pipe plus, when shared memory was
//! selected, the session's region — the Windows counterpart of
//! `transport::session` on Unix, with the same shape so that the two can
//! sit behind one API.
//!
//! * [`ServerSession::accept`] runs the handshake on the thread that calls
//!   it (never the accepting thread: [`super::PipeListener::accept`] only
//!   hands out the pipe) with a deadline. It creates the region of the
//!   selected profile before the successful HELLO_ACK; if that fails the
//!   handshake falls back to the pipe when the client offered it. A
//!   rejected client is given up to [`super::REJECT_LINGER`] to read its
//!   HELLO_ACK and hang up before the pipe is closed.
//! * [`ClientSession::connect`] opens the pipe (waiting out busy
//!   instances), runs the handshake and attaches the region, retrying every
//!   5 ms until its deadline and giving up at once if the server closes the
//!   pipe.
//! * On shared memory the pipe carries no data, but both sides receive in
//!   slices and look at the pipe between them, so a killed peer is noticed
//!   within a slice instead of at shutdown or at the response deadline.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use super::channel::PipeChannel;
use super::connect::connect;
use super::limits::Limits;
use super::naming::ShmNames;
use super::pipe::{PipeConn, REJECT_LINGER};
use super::shm::{ShmError, ShmRegion};
use crate::auth::AuthToken;
use crate::transport::error::{EndpointError, HandshakeError, TransportError};
use crate::transport::handshake::{self, ClientProposal, ServerPolicy};
use crate::wire::{BatchView, Header, HelloAck, Kind, WireError, HEADER_LEN};

/// How long a shared-memory receiver waits before it looks at the pipe to
/// see whether the peer is still there.
const SHM_SLICE: Duration = Duration::from_millis(50);

/// How long a server waits for the rest of a chunked request once its
/// first packet arrived.
const SERVER_MESSAGE_REST: Duration = Duration::from_secs(5);

/// Pause between two attach attempts.
const ATTACH_RETRY: Duration = Duration::from_millis(5);

/// Client-side settings of one connection attempt.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// What the client proposes; zero fields take the protocol defaults.
    /// Offer [`super::DEFAULT_PROFILES`] (0x03), not 0x07: with 0x07 on
    /// both sides and no common preference, SHM_BUSYWAIT is selected.
    pub proposal: ClientProposal,
    /// Longest wait for a free pipe instance.
    pub connect_timeout: Duration,
    /// Longest wait for the HELLO_ACK.
    pub handshake_timeout: Duration,
    /// Longest wait for a response.
    pub response_timeout: Duration,
    /// How long to keep retrying the shared-memory attach.
    pub shm_attach_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            proposal: ClientProposal::default(),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            shm_attach_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a client could not establish a session.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Opening the pipe failed (`NotFound` when no provider listens).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The handshake failed or was rejected.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The server selected shared memory but its region could not be
    /// attached until the deadline; the session has been closed.
    #[error("cannot attach the session's shared memory: {0}")]
    ShmAttach(#[source] ShmError),
}

/// Why a send or receive on an established session failed. After any error
/// except [`SessionError::RequestTooLarge`] the session must be dropped.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The message is larger than the negotiated limit; nothing was sent.
    #[error("message of {len} payload bytes exceeds the negotiated limit of {limit}")]
    RequestTooLarge {
        /// Payload length.
        len: usize,
        /// Negotiated limit.
        limit: u32,
    },
    /// Pipe failure or protocol violation.
    #[error(transparent)]
    Transport(TransportError),
    /// Shared-memory failure or corrupt publication.
    #[error(transparent)]
    Shm(ShmError),
    /// A message read from shared memory has a bad envelope.
    #[error("shared-memory message: {0}")]
    Wire(#[from] WireError),
    /// A message read from shared memory breaks the limits or its length.
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

impl From<TransportError> for SessionError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::PeerClosed => SessionError::PeerClosed,
            TransportError::Timeout => SessionError::Timeout,
            other => SessionError::Transport(other),
        }
    }
}

impl From<ShmError> for SessionError {
    fn from(e: ShmError) -> Self {
        match e {
            ShmError::PeerClosed => SessionError::PeerClosed,
            ShmError::Timeout => SessionError::Timeout,
            other => SessionError::Shm(other),
        }
    }
}

/// The data plane of a session.
#[derive(Debug)]
enum Plane {
    Pipe,
    Shm { region: ShmRegion, buf: Vec<u8> },
}

/// State and send/receive logic shared by both sides.
#[derive(Debug)]
struct Core {
    chan: PipeChannel,
    plane: Plane,
    ack: HelloAck,
    limits: Limits,
}

impl Core {
    fn send(&mut self, header: &Header, payload: &[u8], track: bool) -> Result<(), SessionError> {
        if payload.len() > self.limits.max_send_payload as usize {
            return Err(SessionError::RequestTooLarge {
                len: payload.len(),
                limit: self.limits.max_send_payload,
            });
        }
        match &mut self.plane {
            Plane::Pipe => {
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

    /// One receive within `slice`; `Ok(None)` when nothing arrived and the
    /// peer is still there.
    fn recv(
        &mut self,
        slice: Duration,
        rest: Duration,
        response: bool,
    ) -> Result<Option<Header>, SessionError> {
        match &mut self.plane {
            Plane::Pipe => {
                let got = if response {
                    self.chan
                        .recv_response_split(Some(slice), Some(rest))
                        .map(|(h, _)| h)
                } else {
                    self.chan
                        .recv_split(Some(slice), Some(rest))
                        .map(|(h, _)| h)
                };
                match got {
                    Ok(h) => Ok(Some(h)),
                    Err(TransportError::Timeout) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Plane::Shm { region, buf } => {
                let max = HEADER_LEN + self.limits.max_recv_payload as usize;
                match region.recv(buf, max, Some(slice)) {
                    Ok(()) => check_shm_message(buf, &self.limits).map(Some),
                    Err(ShmError::Timeout) if self.chan.conn().is_peer_gone() => {
                        Err(SessionError::PeerClosed)
                    }
                    Err(ShmError::Timeout) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    fn payload(&self) -> &[u8] {
        match &self.plane {
            Plane::Pipe => self.chan.last_payload(),
            Plane::Shm { buf, .. } => buf.get(HEADER_LEN..).unwrap_or(&[]),
        }
    }
}

/// The pipe's rules applied to a message read from shared memory: the
/// envelope, the declared length, the negotiated limits and the batch
/// directory.
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

/// The object names of a session's region.
fn shm_names(
    run_dir: &Path,
    service: &str,
    token: AuthToken,
    ack: &HelloAck,
) -> Result<ShmNames, ShmError> {
    ShmNames::new(
        run_dir,
        service,
        token.get(),
        ack.selected_profile.bits(),
        ack.session_id,
    )
    .ok_or(ShmError::NameTooLong)
}

/// The client end of an established session.
#[derive(Debug)]
pub struct ClientSession {
    core: Core,
    response_timeout: Duration,
    /// Message id of the request awaiting its response on shared memory.
    shm_pending: Option<u64>,
}

impl ClientSession {
    /// Opens the pipe of `service` under `run_dir`, runs the handshake and,
    /// when shared memory is selected, attaches the session's region.
    pub fn connect(
        run_dir: &Path,
        service: &str,
        config: &ClientConfig,
    ) -> Result<ClientSession, ConnectError> {
        let conn = connect(run_dir, service, config.connect_timeout)?;
        let ack = handshake::client_handshake(&conn, &config.proposal, config.handshake_timeout)?;
        let limits = Limits::for_client(&ack);
        let plane = if ack.selected_profile.has_shm() {
            let names = shm_names(run_dir, service, config.proposal.auth_token, &ack)
                .map_err(ConnectError::ShmAttach)?;
            let region = attach_with_retry(&names, &ack, config.shm_attach_timeout, &conn)?;
            Plane::Shm {
                region,
                buf: Vec::new(),
            }
        } else {
            Plane::Pipe
        };
        Ok(ClientSession {
            core: Core {
                chan: PipeChannel::new(conn, limits).map_err(HandshakeError::from)?,
                plane,
                ack,
                limits,
            },
            response_timeout: config.response_timeout,
            shm_pending: None,
        })
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &HelloAck {
        &self.core.ack
    }

    /// True when the data plane is shared memory.
    pub fn is_shm(&self) -> bool {
        matches!(self.core.plane, Plane::Shm { .. })
    }

    /// Sends one request. On the pipe several may be in flight
    /// (pipelining); on shared memory one at a time.
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        if header.kind != Kind::Request {
            return Err(SessionError::Unexpected(
                "only requests can be sent by a client",
            ));
        }
        match self.core.plane {
            Plane::Pipe => self.core.send(header, payload, true),
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

    /// Receives the next response and matches it to a request in flight;
    /// its payload is [`ClientSession::payload`] until the next receive.
    pub fn recv_response(&mut self) -> Result<Header, SessionError> {
        let deadline = Instant::now() + self.response_timeout;
        let slice = match self.core.plane {
            Plane::Pipe => self.response_timeout,
            Plane::Shm { .. } => SHM_SLICE,
        };
        let header = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SessionError::Timeout);
            }
            if let Some(h) = self.core.recv(left.min(slice), left, true)? {
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
}

/// Attaches a region, retrying every 5 ms until `timeout` (the server may
/// still be finishing it); stops at once when the server has closed the
/// pipe, which is then reported as a handshake-time disconnect.
fn attach_with_retry(
    names: &ShmNames,
    ack: &HelloAck,
    timeout: Duration,
    conn: &PipeConn,
) -> Result<ShmRegion, ConnectError> {
    let deadline = Instant::now() + timeout;
    loop {
        match ShmRegion::attach(names, ack.selected_profile) {
            Ok(region) => return Ok(region),
            Err(_) if conn.is_peer_gone() => {
                return Err(ConnectError::Handshake(HandshakeError::PeerClosed))
            }
            Err(e) if Instant::now() >= deadline => return Err(ConnectError::ShmAttach(e)),
            Err(_) => std::thread::sleep(ATTACH_RETRY),
        }
    }
}

/// Server-side settings of one session.
#[derive(Debug, Clone)]
pub struct ServerSessionConfig {
    /// The handshake policy. Offer [`super::DEFAULT_PROFILES`] (0x03)
    /// rather than 0x07 unless BUSYWAIT is really wanted.
    pub policy: ServerPolicy,
    /// Longest wait for the HELLO.
    pub handshake_timeout: Duration,
}

/// The server end of an established session.
#[derive(Debug)]
pub struct ServerSession {
    core: Core,
}

impl ServerSession {
    /// Runs the server side of the handshake on an accepted pipe (call it
    /// on the session's thread, not the accepting one). When shared memory
    /// is selected, the region is created before the successful HELLO_ACK,
    /// with areas for `32 +` the agreed request and response limits; it is
    /// destroyed when the session is dropped. After a rejection the client
    /// gets up to [`REJECT_LINGER`] to read the HELLO_ACK.
    pub fn accept(
        conn: PipeConn,
        run_dir: &Path,
        service: &str,
        session_id: u64,
        config: &ServerSessionConfig,
    ) -> Result<ServerSession, HandshakeError> {
        let mut region = None;
        let token = config.policy.auth_token;
        let result = handshake::server_handshake(
            &conn,
            &config.policy,
            session_id,
            config.handshake_timeout,
            |ack: &HelloAck| -> Result<(), ShmError> {
                region = None;
                if ack.selected_profile.has_shm() {
                    let names = shm_names(run_dir, service, token, ack)?;
                    let room = |limit: u32| limit.saturating_add(HEADER_LEN as u32);
                    region = Some(ShmRegion::create(
                        &names,
                        ack.selected_profile,
                        room(ack.agreed_max_request_payload_bytes),
                        room(ack.agreed_max_response_payload_bytes),
                    )?);
                }
                Ok(())
            },
        );
        let ack = match result {
            Ok(ack) => ack,
            Err(e) => {
                if e.status().is_some() {
                    conn.linger(REJECT_LINGER);
                }
                return Err(e);
            }
        };
        let limits = Limits::for_server(&ack);
        let plane = match region {
            Some(region) => Plane::Shm {
                region,
                buf: Vec::new(),
            },
            None => Plane::Pipe,
        };
        Ok(ServerSession {
            core: Core {
                chan: PipeChannel::new(conn, limits)?,
                plane,
                ack,
                limits,
            },
        })
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &HelloAck {
        &self.core.ack
    }

    /// True when the data plane is shared memory.
    pub fn is_shm(&self) -> bool {
        matches!(self.core.plane, Plane::Shm { .. })
    }

    /// Waits up to `slice` for the next message. `Ok(None)`: nothing yet
    /// and the client is still connected. A vanished client is noticed
    /// within one slice on either data plane.
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
