//! The server end of a session: the handshake on an accepted connection,
//! the session's region, bounded sends and receives, and a handle that
//! ends a blocked session from another thread.

#![forbid(unsafe_code)]

use rustix::fd::{AsFd, OwnedFd};
use rustix::net::{RecvFlags, Shutdown};
use std::time::Duration;

use super::config::ServerSessionConfig;
use super::endpoint::Endpoint;
use super::error::{HandshakeError, TransportError};
use super::handshake::{self, ServerPolicy};
use super::session::{Core, Plane, SessionError};
use super::shm::region::{ShmError, ShmRegion};
use super::uds::{Limits, UdsChannel, UdsConn};
use super::wait::Waiter;
use crate::wire::{ControlOpcode, Header, Hello, HelloAck, Kind, Profiles, HEADER_LEN, VERSION};

/// How long a server waits for the rest of a chunked request once its first
/// packet arrived (the first packet itself is awaited in short slices).
const SERVER_MESSAGE_REST: Duration = Duration::from_secs(5);

/// The server end of an established session.
#[derive(Debug)]
pub struct ServerSession {
    core: Core,
}

/// What [`ServerSession::accept_or_defer`] made of a connection.
#[derive(Debug)]
pub enum Accepted {
    /// The handshake completed.
    Session(Box<ServerSession>),
    /// The client's HELLO selects shared memory, its region cannot be
    /// allocated now, and the client offers nothing else the server
    /// supports. Nothing was read or answered: try again later (the
    /// protocol's rule is a 10 ms back-off) with a new session id.
    Deferred(UdsConn),
}

/// A region allocated before the handshake, for the limits it was sized
/// for.
struct Prepared {
    region: ShmRegion,
    request: u32,
    response: u32,
}

impl ServerSession {
    /// Runs the server side of the handshake on an accepted connection.
    /// When shared memory is selected the region
    /// [`Endpoint::region_path`]`(session_id)` is created and
    /// initialised before the successful HELLO_ACK is sent; it is removed
    /// when the session is dropped. If it cannot be created the handshake
    /// falls back to the baseline when the client offers it, and answers
    /// INTERNAL_ERROR otherwise ([`ServerSession::accept_or_defer`] avoids
    /// that answer).
    ///
    /// Every send of the session, the HELLO_ACK included, waits at most
    /// `config.send_timeout` for room in the socket buffer.
    pub fn accept(
        conn: UdsConn,
        endpoint: &Endpoint,
        session_id: u64,
        config: &ServerSessionConfig,
    ) -> Result<ServerSession, HandshakeError> {
        Self::accept_prepared(conn, endpoint, session_id, config, None)
    }

    /// Like [`ServerSession::accept`], but for a connection whose HELLO has
    /// already arrived (the caller polled it readable): the HELLO is
    /// looked at without consuming it, and if it selects shared memory the
    /// region is allocated *before* the handshake. When that allocation
    /// fails and the client offers no other profile the server supports,
    /// the connection is handed back untouched as [`Accepted::Deferred`]
    /// instead of being answered INTERNAL_ERROR (PROTOCOL-LOOKUP.md §19.7).
    pub fn accept_or_defer(
        conn: UdsConn,
        endpoint: &Endpoint,
        session_id: u64,
        config: &ServerSessionConfig,
    ) -> Result<Accepted, HandshakeError> {
        let prepared = match peek_hello(&conn) {
            Some(hello) => {
                let policy = resolved_policy(&config.policy, &conn);
                match handshake::negotiate(&hello, &policy, session_id) {
                    Ok(ack) if ack.selected_profile.has_shm() => {
                        match create_region(endpoint, &ack) {
                            Ok(p) => Some(p),
                            Err(_) if !has_fallback(&hello, &policy, session_id) => {
                                return Ok(Accepted::Deferred(conn))
                            }
                            // The handshake falls back to the baseline.
                            Err(_) => None,
                        }
                    }
                    _ => None,
                }
            }
            None => None,
        };
        Self::accept_prepared(conn, endpoint, session_id, config, prepared)
            .map(|s| Accepted::Session(Box::new(s)))
    }

    fn accept_prepared(
        conn: UdsConn,
        endpoint: &Endpoint,
        session_id: u64,
        config: &ServerSessionConfig,
        mut prepared: Option<Prepared>,
    ) -> Result<ServerSession, HandshakeError> {
        conn.set_send_timeout(Some(config.send_timeout))?;
        let mut region = None;
        let ack = handshake::server_handshake(
            &conn,
            &config.policy,
            session_id,
            config.handshake_timeout,
            |ack: &HelloAck| -> Result<(), ShmError> {
                region = None;
                if !ack.selected_profile.has_shm() {
                    return Ok(());
                }
                if let Some(p) = prepared.take() {
                    if p.request == ack.agreed_max_request_payload_bytes
                        && p.response == ack.agreed_max_response_payload_bytes
                    {
                        region = Some(p.region);
                        return Ok(());
                    }
                    // Sized for other limits: removed before the path is
                    // created again.
                    drop(p);
                }
                region = Some(create_region(endpoint, ack)?.region);
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
    /// one slice on either data plane (on shared memory through the
    /// session's socket, at once when the client closes it). Once the first
    /// packet of a chunked request has arrived, the rest must follow within
    /// 5 s.
    pub fn recv(&mut self, slice: Duration) -> Result<Option<Header>, SessionError> {
        self.core.recv(slice, SERVER_MESSAGE_REST, false)
    }

    /// Payload of the last received message.
    pub fn payload(&self) -> &[u8] {
        self.core.payload()
    }

    /// Sends one message (normally a response). On UDS a client that does
    /// not read makes this fail with a timeout after the configured
    /// `send_timeout`; the session must then be dropped.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), SessionError> {
        self.core.send(header, payload, false)
    }

    /// A handle that ends this session from another thread
    /// ([`SessionStopper::stop`]). It holds a duplicate of the session's
    /// socket descriptor.
    pub fn stopper(&self) -> Result<SessionStopper, TransportError> {
        let fd = rustix::io::fcntl_dupfd_cloexec(self.core.chan.conn(), 0)
            .map_err(|e| TransportError::io("fcntl(F_DUPFD_CLOEXEC)", e))?;
        Ok(SessionStopper { fd })
    }
}

/// Ends a [`ServerSession`] from another thread, for example at shutdown.
#[derive(Debug)]
pub struct SessionStopper {
    fd: OwnedFd,
}

impl SessionStopper {
    /// Shuts the session's socket down in both directions: a send blocked
    /// on a client that does not read fails at once, a receive sees the
    /// end of the session (on shared memory within one wait slice), and
    /// the client sees the session closed.
    pub fn stop(&self) {
        let _ = rustix::net::shutdown(&self.fd, Shutdown::Both);
    }
}

/// The HELLO waiting in the socket, read without consuming it. `None` when
/// there is none (yet) or it does not decode; the handshake then deals
/// with the connection as usual.
fn peek_hello(conn: &UdsConn) -> Option<Hello> {
    let mut buf = [0u8; handshake::HANDSHAKE_BUF_LEN];
    let n = loop {
        match rustix::net::recv(
            conn.as_fd(),
            &mut buf[..],
            RecvFlags::PEEK | RecvFlags::DONTWAIT,
        ) {
            Ok((n, _)) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    };
    let packet = &buf[..n.min(buf.len())];
    let (version, header) = Header::decode_any_version(packet).ok()?;
    if version != VERSION
        || header.kind != Kind::Control
        || header.code != ControlOpcode::Hello as u16
    {
        return None;
    }
    Hello::decode(packet.get(HEADER_LEN..)?).ok()
}

/// The policy as the handshake applies it: packet size 0 replaced by the
/// connection's automatic size.
fn resolved_policy(policy: &ServerPolicy, conn: &UdsConn) -> ServerPolicy {
    ServerPolicy {
        packet_size: if policy.packet_size == 0 {
            conn.default_packet_size()
        } else {
            policy.packet_size
        },
        ..*policy
    }
}

/// Whether the handshake could still serve `hello` without shared memory.
fn has_fallback(hello: &Hello, policy: &ServerPolicy, session_id: u64) -> bool {
    let baseline_only = ServerPolicy {
        supported: policy.effective_supported().without(Profiles::SHM_ANY),
        preferred: policy.preferred.without(Profiles::SHM_ANY),
        ..*policy
    };
    !baseline_only.supported.is_empty()
        && handshake::negotiate(hello, &baseline_only, session_id).is_ok()
}

fn create_region(endpoint: &Endpoint, ack: &HelloAck) -> Result<Prepared, ShmError> {
    let region = ShmRegion::create(
        endpoint.region_path(ack.session_id),
        ack.agreed_max_request_payload_bytes,
        ack.agreed_max_response_payload_bytes,
    )?;
    Ok(Prepared {
        region,
        request: ack.agreed_max_request_payload_bytes,
        response: ack.agreed_max_response_payload_bytes,
    })
}
