//! Windows sessions: a handshaken pipe plus, when shared memory was
//! selected, the session's region — the Windows counterpart of
//! `transport::session` on Unix. On Windows `transport::ClientSession` and
//! `transport::ServerSession` are these types: the same signatures (an
//! [`Endpoint`], a [`SessionConfig`] / [`ServerSessionConfig`]) and the same
//! error types, so Level 2 runs over them unchanged.
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

use std::time::Duration;

use super::channel::PipeChannel;
use super::connect::connect_timeout;
use super::naming::ShmNames;
use super::pipe::{PipeConn, REJECT_LINGER};
use super::shm::{ShmError, ShmRegion};
use crate::auth::AuthToken;
use crate::deadline::Deadline;
use crate::transport::address::Endpoint;
use crate::transport::common::Limits;
use crate::transport::config::{ServerSessionConfig, SessionConfig};
use crate::transport::error::{HandshakeError, TransportError};
use crate::transport::handshake;
use crate::transport::session_error::{ConnectError, SessionError};
use crate::transport::wait::Waiter;
use crate::wire::{BatchView, Header, HelloAck, Kind, Profiles, HEADER_LEN};

/// How long a shared-memory receiver waits before it looks at the pipe to
/// see whether the peer is still there.
const SHM_SLICE: Duration = Duration::from_millis(50);

/// How long a server waits for the rest of a chunked request once its
/// first packet arrived.
const SERVER_MESSAGE_REST: Duration = Duration::from_secs(5);

/// Pause between two attach attempts.
const ATTACH_RETRY: Duration = Duration::from_millis(5);

/// A pipe failure as a session error: the peer's hang-up and a timeout
/// have their own variants.
fn pipe_failure(e: TransportError) -> SessionError {
    match e {
        TransportError::PeerClosed => SessionError::PeerClosed,
        TransportError::Timeout => SessionError::Timeout,
        TransportError::RequestTooLarge { len, limit } => SessionError::RequestTooLarge {
            len: len as usize,
            limit,
        },
        other => SessionError::Transport(other),
    }
}

/// A shared-memory failure as a session error.
fn shm_failure(e: ShmError) -> SessionError {
    match e {
        ShmError::PeerClosed => SessionError::PeerClosed,
        ShmError::Timeout => SessionError::Timeout,
        other => SessionError::Shm(other),
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
    waiter: Waiter,
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
            Plane::Pipe => if track {
                self.chan.send_request(header, payload)
            } else {
                self.chan.send(header, payload)
            }
            .map_err(pipe_failure),
            Plane::Shm { region, .. } => match region.send(&header.encode(), payload) {
                Ok(()) => Ok(()),
                Err(ShmError::MessageTooLarge { len, .. }) => Err(SessionError::RequestTooLarge {
                    len: len.saturating_sub(HEADER_LEN),
                    limit: self.limits.max_send_payload,
                }),
                Err(e) => Err(shm_failure(e)),
            },
        }
    }

    /// One receive within `slice`; `Ok(None)` when nothing arrived and the
    /// peer is still there. On the pipe the waiter's polling window comes
    /// first (a non-blocking peek per try), then a blocking read; shared
    /// memory has its own spin-then-wait.
    fn recv(
        &mut self,
        slice: Duration,
        rest: Duration,
        response: bool,
    ) -> Result<Option<Header>, SessionError> {
        match &mut self.plane {
            Plane::Pipe => {
                let chan = &mut self.chan;
                let try_recv = |chan: &mut PipeChannel| {
                    let got = if response {
                        chan.try_recv_response(Some(rest))
                    } else {
                        chan.try_recv(Some(rest))
                    };
                    got.map(|m| m.map(|(h, _)| h)).transpose()
                };
                let received = match self.waiter.spin(|| try_recv(chan)) {
                    Some(result) => result,
                    None => {
                        let blocked = if response {
                            chan.recv_response_split(Some(slice), Some(rest))
                        } else {
                            chan.recv_split(Some(slice), Some(rest))
                        };
                        self.waiter.finish_wait();
                        blocked.map(|(h, _)| h)
                    }
                };
                match received {
                    Ok(h) => Ok(Some(h)),
                    Err(TransportError::Timeout) => Ok(None),
                    Err(e) => Err(pipe_failure(e)),
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
                    Err(e) => Err(shm_failure(e)),
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
fn shm_names(endpoint: &Endpoint, token: AuthToken, ack: &HelloAck) -> Result<ShmNames, ShmError> {
    ShmNames::new(
        endpoint.run_dir(),
        endpoint.service(),
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
    /// Opens the endpoint's pipe, runs the handshake and, when shared
    /// memory is selected, attaches the session's region.
    ///
    /// While every pipe instance is busy (the server is between two
    /// accepts) the open is retried until `config.handshake_timeout`, then
    /// fails with [`EndpointError::Timeout`](crate::transport::EndpointError::Timeout).
    pub fn connect(
        endpoint: &Endpoint,
        config: &SessionConfig,
    ) -> Result<ClientSession, ConnectError> {
        let conn = connect_timeout(endpoint, config.handshake_timeout)?;
        let ack = handshake::client_handshake(&conn, &config.proposal, config.handshake_timeout)?;
        let limits = Limits::for_client(&ack);
        let plane = if ack.selected_profile.has_shm() {
            let region = attach(endpoint, config, &ack, &conn)?;
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
        let deadline = Deadline::after(self.response_timeout);
        let slice = match self.core.plane {
            Plane::Pipe => self.response_timeout,
            Plane::Shm { .. } => SHM_SLICE,
        };
        let header = loop {
            // A timeout too large for a deadline waits forever.
            let left = deadline.remaining().unwrap_or(Duration::MAX);
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

/// Attaches the session's region, retrying every 5 ms until
/// `config.shm_attach_timeout` (the server may still be finishing it);
/// stops at once when the server has closed the pipe, which is then
/// reported as a handshake-time disconnect.
fn attach(
    endpoint: &Endpoint,
    config: &SessionConfig,
    ack: &HelloAck,
    conn: &PipeConn,
) -> Result<ShmRegion, ConnectError> {
    let names = shm_names(endpoint, config.proposal.auth_token, ack);
    let failed = |path: &str, source| ConnectError::ShmAttach {
        path: path.into(),
        source,
    };
    let names = names.map_err(|e| failed(endpoint.pipe_name(), e))?;
    let deadline = Deadline::after(config.shm_attach_timeout);
    loop {
        match ShmRegion::attach(&names, ack.selected_profile) {
            Ok(region) => return Ok(region),
            Err(_) if conn.is_peer_gone() => {
                return Err(ConnectError::Handshake(HandshakeError::PeerClosed))
            }
            Err(e) if deadline.expired() => return Err(failed(&names.mapping, e)),
            Err(_) => std::thread::sleep(ATTACH_RETRY),
        }
    }
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
    /// destroyed when the session is dropped. If creating it fails the
    /// handshake falls back to the pipe when the client offered it. After
    /// a rejection the client gets up to [`REJECT_LINGER`] to read the
    /// HELLO_ACK.
    pub fn accept(
        conn: PipeConn,
        endpoint: &Endpoint,
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
                    let names = shm_names(endpoint, token, ack)?;
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
                waiter: Waiter::new(config.wait),
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
