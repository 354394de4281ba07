//! [`ClientSession`]: the client end of a session — connect, check the
//! server's identity, handshake, attach shared memory, then calls bounded
//! by a deadline and abortable from another thread.

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use super::abort::AbortHandle;
use super::common::{check_shm_response, check_shm_response_cap, client_limits};
use super::config::SessionConfig;
use super::connect_error::ConnectError;
use super::endpoint::{self, Endpoint};
use super::error::{EndpointError, HandshakeError, TransportError};
use super::handshake;
use super::peer::{own_uid, PeerCredentials};
use super::session::{Core, Plane, SessionError};
use super::shm::region::{ShmError, ShmRegion};
use super::uds::{Limits, UdsChannel, UdsConn};
use super::wait::Waiter;
use crate::deadline::Deadline;
use crate::wire::{Header, HelloAck, Kind, Profiles};

/// How long a shared-memory receiver blocks before it looks at the socket
/// (to see whether the peer is still there), the deadline and the abort
/// flag.
const SHM_SLICE: Duration = Duration::from_millis(50);

/// Pause between shared-memory attach attempts.
const ATTACH_RETRY: Duration = Duration::from_millis(5);

/// The client end of an established session.
///
/// Every wait is bounded: connecting and the handshake by
/// [`SessionConfig::handshake_timeout`], a response by
/// [`SessionConfig::response_timeout`], and both by the deadline a caller
/// passes to the `…_until` methods. A session connected with an
/// [`AbortHandle`] also stops waiting when it is aborted
/// ([`SessionError::Aborted`]).
#[derive(Debug)]
pub struct ClientSession {
    core: Core,
    response_timeout: Duration,
    /// Message id of the request awaiting its response on shared memory
    /// (UDS tracks any number of them in its channel).
    shm_pending: Option<u64>,
    peer: PeerCredentials,
    abort: Option<AbortHandle>,
}

impl ClientSession {
    /// Connects to the endpoint's socket, checks the server's identity,
    /// runs the handshake and, when shared memory is selected, attaches the
    /// session's region — all within [`SessionConfig::handshake_timeout`].
    pub fn connect(
        endpoint: &Endpoint,
        config: &SessionConfig,
    ) -> Result<ClientSession, ConnectError> {
        ClientSession::connect_bounded(endpoint, config, None, None)
    }

    /// [`ClientSession::connect`] that also ends at `until` (if earlier than
    /// the handshake timeout) and, given an abort handle, fails with
    /// [`ConnectError::Aborted`] as soon as it is aborted. The session
    /// keeps the handle: its later waits are abortable too.
    ///
    /// Steps: connect (waiting for backlog room), read `SO_PEERCRED` and,
    /// when [`SessionConfig::require_trusted_peer`] is set, refuse a server
    /// running as neither our uid nor root
    /// ([`ConnectError::PeerNotTrusted`]; the token is never sent), the
    /// handshake, then the shared-memory attach.
    pub fn connect_bounded(
        endpoint: &Endpoint,
        config: &SessionConfig,
        until: Option<Instant>,
        abort: Option<&AbortHandle>,
    ) -> Result<ClientSession, ConnectError> {
        if abort.map_or(false, AbortHandle::is_aborted) {
            return Err(ConnectError::Aborted);
        }
        let wait = Deadline::after(config.handshake_timeout).min_at(until);
        let mut conn = match endpoint::connect_bounded(endpoint, &wait, abort) {
            Ok(conn) => conn,
            Err(EndpointError::Aborted { .. }) => return Err(ConnectError::Aborted),
            Err(e) => return Err(e.into()),
        };
        let peer = PeerCredentials::of(&conn).map_err(|e| EndpointError::Io {
            op: "getsockopt(SO_PEERCRED)",
            path: endpoint.socket_path().to_path_buf(),
            source: e.into(),
        })?;
        let our_uid = own_uid();
        if config.require_trusted_peer && !peer.trusted_by(our_uid) {
            return Err(ConnectError::PeerNotTrusted { peer, our_uid });
        }
        if let Some(a) = abort {
            conn.set_abort(a.clone());
        }
        conn.set_until(wait.instant());
        let outcome = ClientSession::establish(endpoint, config, conn, &wait, abort);
        let mut session = match outcome {
            Ok(session) => session,
            Err(e) => {
                return Err(match e {
                    _ if abort.map_or(false, AbortHandle::is_aborted) => ConnectError::Aborted,
                    ConnectError::Handshake(HandshakeError::Transport(TransportError::Aborted)) => {
                        ConnectError::Aborted
                    }
                    e => e,
                })
            }
        };
        session.core.chan.conn().set_until(None);
        session.peer = peer;
        session.abort = abort.cloned();
        Ok(session)
    }

    /// The handshake and the shared-memory attach on a connected socket.
    fn establish(
        endpoint: &Endpoint,
        config: &SessionConfig,
        conn: UdsConn,
        wait: &Deadline,
        abort: Option<&AbortHandle>,
    ) -> Result<ClientSession, ConnectError> {
        // The connection's bound cuts the wait short if `wait` ends first.
        let ack = handshake::client_handshake(&conn, &config.proposal, config.handshake_timeout)?;
        let limits = client_limits(&ack, config.response_cap);
        let plane = if ack.selected_profile.has_shm() {
            check_shm_response_cap(&ack, config.response_cap)?;
            let path = endpoint.region_path(ack.session_id);
            let attach_wait = Deadline::after(config.shm_attach_timeout).min_at(wait.instant());
            let attached = attach_with_retry(&path, &attach_wait, &conn, abort).and_then(|r| {
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
                Err(Attach::Aborted) => return Err(ConnectError::Aborted),
                // The attempt's deadline ended the retries before the
                // attach timeout did.
                Err(Attach::Failed(_)) if wait.expired() => return Err(ConnectError::Timeout),
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
            // Filled in by the caller.
            peer: PeerCredentials {
                pid: 0,
                uid: 0,
                gid: 0,
            },
            abort: None,
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

    /// The server process's pid, uid and gid (`SO_PEERCRED`, read when the
    /// socket connected).
    pub fn peer(&self) -> PeerCredentials {
        self.peer
    }

    /// Bytes currently reserved by the session's receive buffer. It grows
    /// with the messages received (chunk by chunk), never to a size a peer
    /// merely announces.
    pub fn recv_capacity(&self) -> usize {
        match &self.core.plane {
            Plane::Uds => self.core.chan.recv_capacity(),
            Plane::Shm { buf, .. } => buf.capacity(),
        }
    }

    /// Sends one request. On UDS several may be in flight (pipelining); on
    /// shared memory one at a time.
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        if header.kind != Kind::Request {
            return Err(SessionError::Unexpected(
                "only requests can be sent by a client",
            ));
        }
        let sent = match self.core.plane {
            Plane::Uds => self.core.send(header, payload, true),
            Plane::Shm { .. } => {
                if self.shm_pending.is_some() {
                    return Err(SessionError::Unexpected(
                        "shared memory carries one request at a time",
                    ));
                }
                self.core
                    .send(header, payload, false)
                    .map(|()| self.shm_pending = Some(header.message_id))
            }
        };
        sent.map_err(|e| self.classify(e, None))
    }

    /// Receives the next response and matches it to a request in flight,
    /// waiting up to the response timeout. Its payload is
    /// [`ClientSession::payload`] until the next receive.
    pub fn recv_response(&mut self) -> Result<Header, SessionError> {
        self.recv_response_until(None)
    }

    /// [`ClientSession::recv_response`] that also ends at `until`
    /// ([`SessionError::Timeout`]), whether it is waiting for the first
    /// packet, for a continuation chunk or on shared memory.
    pub fn recv_response_until(&mut self, until: Option<Instant>) -> Result<Header, SessionError> {
        let deadline = Deadline::after(self.response_timeout).min_at(until);
        self.core.chan.conn().set_until(deadline.instant());
        let received = self.recv_within(&deadline);
        self.core.chan.conn().set_until(None);
        received.map_err(|e| self.classify(e, Some(&deadline)))
    }

    fn recv_within(&mut self, deadline: &Deadline) -> Result<Header, SessionError> {
        let header = loop {
            if self.abort.as_ref().map_or(false, AbortHandle::is_aborted) {
                return Err(SessionError::Aborted);
            }
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
            check_shm_response(&header, &mut self.shm_pending)?;
        }
        Ok(header)
    }

    /// One request and its response.
    pub fn call(&mut self, header: &Header, payload: &[u8]) -> Result<Header, SessionError> {
        self.call_until(header, payload, None)
    }

    /// One request and its response, all of it — every chunk sent and
    /// received, every shared-memory wait — ending at `until`
    /// ([`SessionError::Timeout`]) at the latest.
    pub fn call_until(
        &mut self,
        header: &Header,
        payload: &[u8],
        until: Option<Instant>,
    ) -> Result<Header, SessionError> {
        self.core.chan.conn().set_until(until);
        let sent = self.send_request(header, payload);
        self.core.chan.conn().set_until(None);
        sent?;
        self.recv_response_until(until)
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

    /// Reports an abort as [`SessionError::Aborted`] and a wait cut short by
    /// an expired `deadline` (a stalled chunked message included) as
    /// [`SessionError::Timeout`].
    fn classify(&self, e: SessionError, deadline: Option<&Deadline>) -> SessionError {
        let aborted = self.abort.as_ref().map_or(false, AbortHandle::is_aborted);
        match e {
            SessionError::Transport(TransportError::Aborted) => SessionError::Aborted,
            SessionError::Transport(TransportError::Timeout) => SessionError::Timeout,
            SessionError::Transport(TransportError::StalledMessage { .. })
                if deadline.map_or(false, Deadline::expired) =>
            {
                SessionError::Timeout
            }
            // A wait the abort cut short may surface as another error.
            SessionError::Transport(_) | SessionError::Shm(_) if aborted => SessionError::Aborted,
            e => e,
        }
    }
}

/// Why attaching a session's region failed.
enum Attach {
    /// The server closed the session's socket while we tried.
    PeerClosed,
    /// The abort handle was aborted.
    Aborted,
    /// The region could not be attached until the deadline.
    Failed(ShmError),
}

/// Attaches a region, retrying every 5 ms until `wait` expires (the server
/// may still be finishing it). Stops at once when the server has closed the
/// session's socket (the region is then gone for good) or when aborted.
fn attach_with_retry(
    path: &Path,
    wait: &Deadline,
    conn: &UdsConn,
    abort: Option<&AbortHandle>,
) -> Result<ShmRegion, Attach> {
    loop {
        match ShmRegion::attach(path) {
            Ok(region) => return Ok(region),
            Err(_) if conn.is_hung_up() => return Err(Attach::PeerClosed),
            Err(_) if abort.map_or(false, AbortHandle::is_aborted) => return Err(Attach::Aborted),
            Err(e) if wait.expired() => return Err(Attach::Failed(e)),
            Err(_) => std::thread::sleep(
                wait.remaining()
                    .map_or(ATTACH_RETRY, |left| left.min(ATTACH_RETRY)),
            ),
        }
    }
}
