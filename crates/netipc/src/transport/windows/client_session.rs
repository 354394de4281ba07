//! The client end of a Windows session: opening the pipe, the handshake,
//! attaching the region, and the bounded, abortable waits of a call — the
//! Windows counterpart of `transport::client_session` on Unix, with its
//! signatures.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use super::abort::{AbortHandle, ABORT_SLICE};
use super::channel::PipeChannel;
use super::connect::connect_bounded;
use super::peer::PeerCredentials;
use super::pipe::{PipeConn, DEFAULT_SEND_TIMEOUT};
use super::session::{shm_names, Core, Plane, SHM_SLICE};
use super::shm::ShmRegion;
use crate::deadline::Deadline;
use crate::transport::address::Endpoint;
use crate::transport::common::{check_shm_response, check_shm_response_cap, client_limits, Limits};
use crate::transport::config::SessionConfig;
use crate::transport::connect_error::ConnectError;
use crate::transport::error::{EndpointError, HandshakeError, TransportError};
use crate::transport::handshake;
use crate::transport::session_error::SessionError;
use crate::transport::wait::Waiter;
use crate::wire::{Header, HelloAck, Kind, Profiles};

/// Pause between two attach attempts.
const ATTACH_RETRY: Duration = Duration::from_millis(5);

/// The client end of an established session.
#[derive(Debug)]
pub struct ClientSession {
    core: Core,
    response_timeout: Duration,
    /// Message id of the request awaiting its response on shared memory.
    shm_pending: Option<u64>,
    peer: PeerCredentials,
    abort: Option<AbortHandle>,
}

impl ClientSession {
    /// Opens the endpoint's pipe, runs the handshake and, when shared
    /// memory is selected, attaches the session's region — all within
    /// [`SessionConfig::handshake_timeout`] (which also bounds the wait for
    /// a free pipe instance).
    pub fn connect(
        endpoint: &Endpoint,
        config: &SessionConfig,
    ) -> Result<ClientSession, ConnectError> {
        ClientSession::connect_bounded(endpoint, config, None, None)
    }

    /// [`ClientSession::connect`] that also ends at `until` (if earlier
    /// than the handshake timeout) and, given an abort handle, fails with
    /// [`ConnectError::Aborted`] once it is aborted (looked at while
    /// waiting for a pipe instance and for the region; the handshake is
    /// bounded by its timeout). The session keeps the handle: its later
    /// waits are abortable too.
    ///
    /// `SessionConfig::require_trusted_peer` is not applied on Windows
    /// (there is no uid to compare); the server's process id is recorded
    /// ([`ClientSession::peer`]).
    pub fn connect_bounded(
        endpoint: &Endpoint,
        config: &SessionConfig,
        until: Option<Instant>,
        abort: Option<&AbortHandle>,
    ) -> Result<ClientSession, ConnectError> {
        let aborted = || abort.map_or(false, AbortHandle::is_aborted);
        if aborted() {
            return Err(ConnectError::Aborted);
        }
        let wait = Deadline::after(config.handshake_timeout).min_at(until);
        let conn = match connect_bounded(endpoint, &wait, abort) {
            Ok(conn) => conn,
            Err(EndpointError::Aborted { .. }) => return Err(ConnectError::Aborted),
            Err(e) => return Err(e.into()),
        };
        let peer = PeerCredentials {
            pid: conn.server_process_id(),
        };
        let handshake_timeout = wait.remaining().unwrap_or(config.handshake_timeout);
        let ack = match handshake::client_handshake(&conn, &config.proposal, handshake_timeout) {
            Ok(ack) => ack,
            Err(_) if aborted() => return Err(ConnectError::Aborted),
            Err(HandshakeError::Timeout) if wait.expired() && until.is_some() => {
                return Err(ConnectError::Timeout)
            }
            Err(e) => return Err(e.into()),
        };
        let limits = client_limits(&ack, config.response_cap);
        let plane = if ack.selected_profile.has_shm() {
            check_shm_response_cap(&ack, config.response_cap)?;
            let attach_wait = Deadline::after(config.shm_attach_timeout).min_at(wait.instant());
            let region = attach(endpoint, config, &ack, &conn, &attach_wait, abort)?;
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
            peer,
            abort: abort.cloned(),
        })
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &HelloAck {
        &self.core.ack
    }

    /// The limits this session sends and receives with: the HELLO_ACK's,
    /// with the response limit lowered to the configured response cap.
    pub fn limits(&self) -> &Limits {
        &self.core.limits
    }

    /// The selected profile.
    pub fn profile(&self) -> Profiles {
        self.core.ack.selected_profile
    }

    /// True when the data plane is shared memory.
    pub fn is_shm(&self) -> bool {
        matches!(self.core.plane, Plane::Shm { .. })
    }

    /// The pipe server's process id (`GetNamedPipeServerProcessId`).
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    /// Bytes currently reserved by the session's receive buffer. It grows
    /// with the messages received, never to a size a peer merely announces.
    pub fn recv_capacity(&self) -> usize {
        match &self.core.plane {
            Plane::Pipe => self.core.chan.recv_capacity(),
            Plane::Shm { buf, .. } => buf.capacity(),
        }
    }

    /// Sends one request. On the pipe several may be in flight
    /// (pipelining); on shared memory one at a time.
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        if header.kind != Kind::Request {
            return Err(SessionError::Unexpected(
                "only requests can be sent by a client",
            ));
        }
        if self.is_aborted() {
            return Err(SessionError::Aborted);
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

    /// Receives the next response and matches it to a request in flight,
    /// waiting up to the response timeout; its payload is
    /// [`ClientSession::payload`] until the next receive.
    pub fn recv_response(&mut self) -> Result<Header, SessionError> {
        self.recv_response_until(None)
    }

    /// [`ClientSession::recv_response`] that also ends at `until`
    /// ([`SessionError::Timeout`]).
    pub fn recv_response_until(&mut self, until: Option<Instant>) -> Result<Header, SessionError> {
        let deadline = Deadline::after(self.response_timeout).min_at(until);
        let mut slice = match self.core.plane {
            Plane::Pipe => self.response_timeout,
            Plane::Shm { .. } => SHM_SLICE,
        };
        if self.abort.is_some() {
            slice = slice.min(ABORT_SLICE);
        }
        let header = loop {
            if self.is_aborted() {
                return Err(SessionError::Aborted);
            }
            // A timeout too large for a deadline waits forever.
            let left = deadline.remaining().unwrap_or(Duration::MAX);
            if left.is_zero() {
                return Err(SessionError::Timeout);
            }
            match self.core.recv(left.min(slice), left, true) {
                Ok(Some(h)) => break h,
                Ok(None) => {}
                Err(SessionError::Transport(TransportError::StalledMessage { .. }))
                    if deadline.expired() =>
                {
                    return Err(SessionError::Timeout)
                }
                Err(e) => return Err(e),
            }
        };
        if let Plane::Shm { .. } = self.core.plane {
            check_shm_response(&header, &mut self.shm_pending)?;
        }
        Ok(header)
    }

    /// One request and its response.
    pub fn call(&mut self, header: &Header, payload: &[u8]) -> Result<Header, SessionError> {
        self.call_until(header, payload, None)
    }

    /// One request and its response, ending at `until`
    /// ([`SessionError::Timeout`]) at the latest: the pipe writes of the
    /// request are bounded by it too.
    pub fn call_until(
        &mut self,
        header: &Header,
        payload: &[u8],
        until: Option<Instant>,
    ) -> Result<Header, SessionError> {
        let conn = self.core.chan.conn();
        if let Some(left) = until.map(|u| u.saturating_duration_since(Instant::now())) {
            if left.is_zero() {
                return Err(SessionError::Timeout);
            }
            conn.set_send_timeout(Some(left.min(DEFAULT_SEND_TIMEOUT)));
        }
        let sent = self.send_request(header, payload);
        self.core
            .chan
            .conn()
            .set_send_timeout(Some(DEFAULT_SEND_TIMEOUT));
        sent?;
        self.recv_response_until(until)
    }

    /// Payload of the last received message.
    pub fn payload(&self) -> &[u8] {
        self.core.payload()
    }

    fn is_aborted(&self) -> bool {
        self.abort.as_ref().map_or(false, AbortHandle::is_aborted)
    }
}

/// Attaches the session's region, retrying every 5 ms until `wait` expires
/// (the server may still be finishing it); stops at once when the server
/// has closed the pipe (reported as a handshake-time disconnect) or when
/// aborted.
fn attach(
    endpoint: &Endpoint,
    config: &SessionConfig,
    ack: &HelloAck,
    conn: &PipeConn,
    wait: &Deadline,
    abort: Option<&AbortHandle>,
) -> Result<ShmRegion, ConnectError> {
    let names = shm_names(endpoint, config.proposal.auth_token, ack).map_err(|source| {
        ConnectError::ShmAttach {
            path: endpoint.pipe_name().into(),
            source,
        }
    })?;
    loop {
        match ShmRegion::attach(&names, ack.selected_profile) {
            Ok(region) => return Ok(region),
            Err(_) if conn.is_peer_gone() => {
                return Err(ConnectError::Handshake(HandshakeError::PeerClosed))
            }
            Err(_) if abort.map_or(false, AbortHandle::is_aborted) => {
                return Err(ConnectError::Aborted)
            }
            Err(source) if wait.expired() => {
                return Err(ConnectError::ShmAttach {
                    path: names.mapping.into(),
                    source,
                })
            }
            Err(_) => std::thread::sleep(ATTACH_RETRY),
        }
    }
}
