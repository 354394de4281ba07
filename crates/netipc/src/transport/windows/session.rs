//! Windows sessions: a handshaken pipe plus, when shared memory was
//! selected, the session's region — the Windows counterpart of
//! `transport::session` on Unix. On Windows `transport::ClientSession` and
//! `transport::ServerSession` are these types (the client side is in
//! `client_session.rs`): the same signatures (an [`Endpoint`], a
//! `SessionConfig` / [`ServerSessionConfig`]) and the same error types, so
//! Level 2 runs over them unchanged.
//!
//! * [`ServerSession::accept`] runs the handshake on the thread that calls
//!   it (never the accepting thread: [`super::PipeListener::accept`] only
//!   hands out the pipe) with a deadline. It creates the region of the
//!   selected profile before the successful HELLO_ACK; if that fails the
//!   handshake falls back to the pipe when the client offered it. A
//!   rejected client is given up to [`super::REJECT_LINGER`] to read its
//!   HELLO_ACK and hang up before the pipe is closed.
//! * [`ClientSession::connect`](super::ClientSession::connect) opens the
//!   pipe (waiting out busy instances), runs the handshake and attaches the
//!   region, retrying every 5 ms until its deadline and giving up at once
//!   if the server closes the pipe.
//! * On shared memory the pipe carries no data, but both sides receive in
//!   slices and look at the pipe between them, so a killed peer is noticed
//!   within a slice instead of at shutdown or at the response deadline.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::channel::PipeChannel;
use super::naming::ShmNames;
use super::pipe::{PipeConn, REJECT_LINGER};
use super::shm::{ShmError, ShmRegion};
use crate::auth::AuthToken;
use crate::transport::address::Endpoint;
use crate::transport::common::{
    check_send_size, check_shm_message, recv_on_channel, shm_too_large, Limits,
};
use crate::transport::config::ServerSessionConfig;
use crate::transport::error::{HandshakeError, TransportError};
use crate::transport::handshake;
use crate::transport::session_error::SessionError;
use crate::transport::wait::Waiter;
use crate::wire::{Header, HelloAck, HEADER_LEN};

/// How long a shared-memory receiver waits before it looks at the pipe to
/// see whether the peer is still there.
pub(super) const SHM_SLICE: Duration = Duration::from_millis(50);

/// How long a server waits for the rest of a chunked request once its
/// first packet arrived.
const SERVER_MESSAGE_REST: Duration = Duration::from_secs(5);

/// A pipe failure as a session error: the peer's hang-up and a timeout
/// have their own variants.
pub(super) fn pipe_failure(e: TransportError) -> SessionError {
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
pub(super) enum Plane {
    Pipe,
    Shm { region: ShmRegion, buf: Vec<u8> },
}

/// State and send/receive logic shared by both sides.
#[derive(Debug)]
pub(super) struct Core {
    pub(super) chan: PipeChannel,
    pub(super) plane: Plane,
    pub(super) ack: HelloAck,
    pub(super) limits: Limits,
    pub(super) waiter: Waiter,
}

impl Core {
    pub(super) fn send(
        &mut self,
        header: &Header,
        payload: &[u8],
        track: bool,
    ) -> Result<(), SessionError> {
        check_send_size(payload, &self.limits)?;
        match &mut self.plane {
            Plane::Pipe => if track {
                self.chan.send_request(header, payload)
            } else {
                self.chan.send(header, payload)
            }
            .map_err(pipe_failure),
            Plane::Shm { region, .. } => match region.send(&header.encode(), payload) {
                Ok(()) => Ok(()),
                Err(ShmError::MessageTooLarge { len, .. }) => Err(shm_too_large(len, &self.limits)),
                Err(e) => Err(shm_failure(e)),
            },
        }
    }

    /// One receive within `slice`; `Ok(None)` when nothing arrived and the
    /// peer is still there. On the pipe the waiter's polling window comes
    /// first (a non-blocking peek per try), then a blocking read; shared
    /// memory has its own spin-then-wait.
    pub(super) fn recv(
        &mut self,
        slice: Duration,
        rest: Duration,
        response: bool,
    ) -> Result<Option<Header>, SessionError> {
        match &mut self.plane {
            Plane::Pipe => {
                let received =
                    recv_on_channel(&mut self.chan, &mut self.waiter, slice, rest, response);
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

    pub(super) fn payload(&self) -> &[u8] {
        match &self.plane {
            Plane::Pipe => self.chan.last_payload(),
            Plane::Shm { buf, .. } => buf.get(HEADER_LEN..).unwrap_or(&[]),
        }
    }
}

/// The object names of a session's region.
pub(super) fn shm_names(
    endpoint: &Endpoint,
    token: AuthToken,
    ack: &HelloAck,
) -> Result<ShmNames, ShmError> {
    ShmNames::new(
        endpoint.run_dir(),
        endpoint.service(),
        token.get(),
        ack.selected_profile.bits(),
        ack.session_id,
    )
    .ok_or(ShmError::NameTooLong)
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
        // Every send of the session, the HELLO_ACK included, waits at most
        // this long for room in the pipe.
        conn.set_send_timeout(Some(config.send_timeout));
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
