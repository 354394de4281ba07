//! The HELLO / HELLO_ACK handshake (PROTOCOL.md §5).
//!
//! The decision is the pure function [`negotiate`]; [`server_handshake`] and
//! [`client_handshake`] only carry bytes around it. Exactly one HELLO packet
//! goes client → server and exactly one HELLO_ACK packet comes back; neither
//! is chunked. Both sides wait with a timeout, so a silent peer cannot hang
//! either of them.
//!
//! Where the prose specification and the reference peers differ
//! (PROTOCOL.md §13) we follow the prose specification, which is
//! interoperable because each difference only chooses between two
//! rejections:
//!
//! * the auth token is checked **before** the profile intersection, so a
//!   client with a wrong token learns AUTH_FAILED even when it also shares
//!   no profile with the server;
//! * a HELLO that is too short or has non-zero `flags` or reserved bytes is
//!   answered with **BAD_ENVELOPE** (the reference peers close silently).
//!   Every rejection therefore reaches the client as a HELLO_ACK status.
//!
//! The request limit follows the newest reference peers
//! (PROTOCOL-LOOKUP.md §19.1): a server accepts a proposed request payload
//! up to its own request maximum `R_max` ([`ServerPolicy::max_request_payload`],
//! default 1024) and rejects anything larger with LIMIT_EXCEEDED, instead of
//! the frozen protocol's fixed 1 MiB cap. A client of the frozen protocol
//! that proposes its learned sizes therefore connects when the server is
//! configured with an `R_max` at least as large.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::error::{HandshakeError, Incompatibility, TransportError};
#[cfg(unix)]
use super::uds::{UdsConn, FALLBACK_PACKET_SIZE};
#[cfg(windows)]
use super::windows::DEFAULT_PACKET_SIZE as FALLBACK_PACKET_SIZE;
use crate::auth::AuthToken;
use crate::wire::{
    ControlOpcode, Flags, Header, Hello, HelloAck, Kind, Profiles, Status, WireError, HEADER_LEN,
    HELLO_ACK_LEN, HELLO_LEN, VERSION,
};

/// Size of the buffer a handshake packet is read into. A HELLO packet is 76
/// bytes and a HELLO_ACK packet 80; bytes past the structures are ignored,
/// as the reference peers do.
pub const HANDSHAKE_BUF_LEN: usize = 128;

/// What the handshake needs from a baseline connection: one packet out,
/// one packet in, and the packet size to propose when configured as 0.
///
/// Implemented by the UDS connection on Unix and by the named-pipe
/// connection on Windows, so both platforms run the same handshake code.
pub trait HandshakeConn {
    /// Sends one packet made of `parts` concatenated.
    fn send_handshake_packet(&self, parts: &[&[u8]]) -> Result<(), TransportError>;

    /// Receives one packet into `buf`, waiting up to `timeout`, and returns
    /// its length. For a packet longer than `buf` an implementation either
    /// returns the real length (the caller uses the bytes that fitted) or
    /// fails.
    fn recv_handshake_packet(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError>;

    /// The packet size to propose (client) or cap at (server) when the
    /// configuration says 0.
    fn auto_packet_size(&self) -> u32;
}

#[cfg(unix)]
impl HandshakeConn for UdsConn {
    fn send_handshake_packet(&self, parts: &[&[u8]]) -> Result<(), TransportError> {
        self.send_packet(parts)
    }

    fn recv_handshake_packet(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.recv_raw(buf, Some(timeout))
    }

    fn auto_packet_size(&self) -> u32 {
        self.default_packet_size()
    }
}

/// Payload limit used for a limit configured as 0 (PROTOCOL.md §12).
pub const DEFAULT_PAYLOAD_LIMIT: u32 = 1024;

/// Batch item limit used for a limit configured as 0.
pub const DEFAULT_BATCH_ITEMS: u32 = 1;

/// The server's side of the negotiation (PROTOCOL.md §5.3).
///
/// Zero fields take the protocol defaults: `supported` 0 → baseline only
/// (0x01), `max_request_payload` 0 → 1024, `max_response_payload` 0 → 1024,
/// `packet_size` 0 → automatic
/// (`HandshakeConn::auto_packet_size` of the accepted connection: on UDS
/// `SO_SNDBUF − 32`, on a named pipe 65 536).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerPolicy {
    /// Profiles the server can run (S).
    pub supported: Profiles,
    /// Profiles the server prefers (SP).
    pub preferred: Profiles,
    /// The largest request payload a client may propose (`R_max`); a
    /// larger proposal is rejected with LIMIT_EXCEEDED. A managed server
    /// passes its configured request maximum here.
    pub max_request_payload: u32,
    /// Response payload limit announced to every client (R).
    pub max_response_payload: u32,
    /// Packet size the server proposes (PS).
    pub packet_size: u32,
    /// The token every HELLO must carry.
    pub auth_token: AuthToken,
}

impl Default for ServerPolicy {
    /// Baseline only, requests and responses up to 1024 bytes, automatic
    /// packet size and the token 0 (set a real one).
    fn default() -> Self {
        ServerPolicy {
            supported: Profiles::BASELINE,
            preferred: Profiles(0),
            max_request_payload: DEFAULT_PAYLOAD_LIMIT,
            max_response_payload: DEFAULT_PAYLOAD_LIMIT,
            packet_size: 0,
            auth_token: AuthToken::new(0),
        }
    }
}

impl ServerPolicy {
    /// `supported`, with 0 meaning baseline only.
    pub fn effective_supported(&self) -> Profiles {
        if self.supported.is_empty() {
            Profiles::BASELINE
        } else {
            self.supported
        }
    }

    /// `max_request_payload` (`R_max`), with 0 meaning 1024.
    pub fn effective_max_request_payload(&self) -> u32 {
        nonzero_or(self.max_request_payload, DEFAULT_PAYLOAD_LIMIT)
    }

    /// `max_response_payload`, with 0 meaning 1024.
    pub fn effective_max_response_payload(&self) -> u32 {
        nonzero_or(self.max_response_payload, DEFAULT_PAYLOAD_LIMIT)
    }
}

fn nonzero_or(v: u32, default: u32) -> u32 {
    if v == 0 {
        default
    } else {
        v
    }
}

/// Compares two auth tokens in constant time: every byte is looked at and
/// the differences are folded together before the single comparison.
fn tokens_equal(a: u64, b: u64) -> bool {
    let (a, b) = (a.to_ne_bytes(), b.to_ne_bytes());
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // The fence keeps the compiler from turning the fold into an early-exit
    // comparison across it; every byte has been looked at by then.
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    diff == 0
}

/// Decides a handshake: the negotiation matrix of PROTOCOL.md §5.4 as a pure
/// function.
///
/// Checks, in order (auth first, as the prose specification orders them):
/// 1. token ≠ `policy.auth_token` (constant-time) → AUTH_FAILED;
/// 2. `I = hello.supported ∩ S` empty → UNSUPPORTED;
/// 3. selected = highest bit of `I ∩ hello.preferred ∩ SP`, or else the
///    highest bit of `I` (so 0x04 beats 0x02, and shared memory beats the
///    baseline unless both sides prefer only the baseline);
/// 4. proposed request payload > `R_max`
///    ([`ServerPolicy::effective_max_request_payload`]) → LIMIT_EXCEEDED
///    (PROTOCOL-LOOKUP.md §19.1: after profile selection, before the packet
///    size);
/// 5. packet size `min(hello.packet_size, PS)` ≤ 32 → INCOMPATIBLE.
///
/// The accepted ACK echoes the client's request payload (so at most
/// `R_max`) and batch limits,
/// announces the server's response payload limit, sets the response batch
/// limit to the request batch limit (both sides' response batch values are
/// ignored) and carries `session_id`.
///
/// A `policy.packet_size` of 0 counts as 65 536 here; [`server_handshake`]
/// replaces 0 by the accepted socket's automatic size before calling this.
pub fn negotiate(
    hello: &Hello,
    policy: &ServerPolicy,
    session_id: u64,
) -> Result<HelloAck, Status> {
    if !tokens_equal(hello.auth_token, policy.auth_token.get()) {
        return Err(Status::AuthFailed);
    }
    let supported = policy.effective_supported();
    let common = hello.supported_profiles.intersection(supported);
    if common.is_empty() {
        return Err(Status::Unsupported);
    }
    let both_prefer = common
        .intersection(hello.preferred_profiles)
        .intersection(policy.preferred);
    let selected = if both_prefer.is_empty() {
        common.highest()
    } else {
        both_prefer.highest()
    };
    if hello.max_request_payload_bytes > policy.effective_max_request_payload() {
        return Err(Status::LimitExceeded);
    }
    let server_packet = nonzero_or(policy.packet_size, FALLBACK_PACKET_SIZE);
    let packet = hello.packet_size.min(server_packet);
    if packet as usize <= HEADER_LEN {
        return Err(Status::Incompatible);
    }
    Ok(HelloAck {
        server_supported_profiles: supported,
        intersection_profiles: common,
        selected_profile: selected,
        agreed_max_request_payload_bytes: hello.max_request_payload_bytes,
        agreed_max_request_batch_items: hello.max_request_batch_items,
        agreed_max_response_payload_bytes: policy.effective_max_response_payload(),
        agreed_max_response_batch_items: hello.max_request_batch_items,
        agreed_packet_size: packet,
        session_id,
    })
}

/// Hands out session ids: 1, 2, 3 … One id is taken per accept attempt,
/// so rejected or failed handshakes leave gaps (PROTOCOL.md §5.4).
#[derive(Debug)]
pub struct SessionIds(AtomicU64);

impl SessionIds {
    /// A counter whose first id is 1.
    pub const fn new() -> SessionIds {
        SessionIds(AtomicU64::new(1))
    }

    /// Takes the next id.
    pub fn next_id(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for SessionIds {
    fn default() -> Self {
        SessionIds::new()
    }
}

/// The header of a HELLO or HELLO_ACK.
fn control_header(opcode: ControlOpcode, status: Status, payload_len: usize) -> [u8; HEADER_LEN] {
    Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: opcode as u16,
        transport_status: status.code(),
        payload_len: payload_len as u32,
        item_count: 1,
        message_id: 0,
    }
    .encode()
}

fn send_ack(
    conn: &impl HandshakeConn,
    status: Status,
    ack: &HelloAck,
) -> Result<(), HandshakeError> {
    let header = control_header(ControlOpcode::HelloAck, status, HELLO_ACK_LEN);
    conn.send_handshake_packet(&[&header, &ack.encode()])?;
    Ok(())
}

/// Receives one handshake packet and decodes its outer header whatever its
/// version. Returns the packet (cut to the buffer; bytes past it are
/// ignored), the version and the header.
fn recv_control<'b>(
    conn: &impl HandshakeConn,
    timeout: Duration,
    buf: &'b mut [u8; HANDSHAKE_BUF_LEN],
) -> Result<(&'b [u8], u16, Header), HandshakeError> {
    let n = conn.recv_handshake_packet(buf, timeout)?;
    let packet = &buf[..n.min(HANDSHAKE_BUF_LEN)];
    let (version, header) =
        Header::decode_any_version(packet).map_err(HandshakeError::BadHeader)?;
    Ok((packet, version, header))
}

/// Sends a rejection ACK. A peer that is already gone cannot be told, and
/// the handshake fails either way, so a send error is ignored.
fn reject(conn: &impl HandshakeConn, status: Status) {
    let _ = send_ack(conn, status, &HelloAck::REJECTION);
}

/// Runs the server side of the handshake on a freshly accepted connection
/// (PROTOCOL.md §5.3).
///
/// 1. Read one packet (up to `timeout`). Nothing, EOF or an error → fail,
///    no reply.
/// 2. The outer header must decode apart from its version, and be a
///    CONTROL / HELLO; otherwise fail without a reply. A HELLO whose only
///    fault is its envelope version is answered INCOMPATIBLE.
/// 3. HELLO layout version ≠ 1 → INCOMPATIBLE. Short HELLO, non-zero flags
///    or non-zero reserved bytes → BAD_ENVELOPE.
/// 4. [`negotiate`] (with `policy.packet_size` 0 replaced by
///    [`HandshakeConn::auto_packet_size`]); a rejection is sent as a
///    HELLO_ACK with that status.
/// 5. `prepare(&ack)` runs before the success ACK is sent: this is where
///    the shared-memory region of an SHM session is created and
///    initialised, so it exists before the client looks for it. If
///    `prepare` fails for a shared-memory selection and the client also
///    offered the baseline, the negotiation is repeated without shared
///    memory (the session runs on UDS: a server that cannot create regions
///    keeps serving); otherwise INTERNAL_ERROR is sent.
/// 6. Send the OK HELLO_ACK and return it.
///
/// On every error the caller should close the connection; a rejection ACK
/// has already been sent where the protocol calls for one.
pub fn server_handshake<E>(
    conn: &impl HandshakeConn,
    policy: &ServerPolicy,
    session_id: u64,
    timeout: Duration,
    mut prepare: impl FnMut(&HelloAck) -> Result<(), E>,
) -> Result<HelloAck, HandshakeError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut buf = [0u8; HANDSHAKE_BUF_LEN];
    let (packet, version, header) = recv_control(conn, timeout, &mut buf)?;
    if header.kind != Kind::Control || header.code != ControlOpcode::Hello as u16 {
        return Err(HandshakeError::UnexpectedMessage {
            kind: header.kind as u16,
            code: header.code,
        });
    }
    if version != VERSION {
        reject(conn, Status::Incompatible);
        return Err(HandshakeError::Incompatible(
            Incompatibility::HeaderVersion(version),
        ));
    }
    let hello = match Hello::decode(&packet[HEADER_LEN..]) {
        Ok(hello) => hello,
        Err(WireError::BadLayoutVersion { found, .. }) => {
            reject(conn, Status::Incompatible);
            return Err(HandshakeError::Incompatible(
                Incompatibility::LayoutVersion(found),
            ));
        }
        Err(e) => {
            reject(conn, Status::BadEnvelope);
            return Err(HandshakeError::BadHello(e));
        }
    };

    let server_packet = if policy.packet_size == 0 {
        conn.auto_packet_size()
    } else {
        policy.packet_size
    };
    let resolved = ServerPolicy {
        packet_size: server_packet,
        ..*policy
    };
    let ack = match negotiate(&hello, &resolved, session_id) {
        Ok(ack) => ack,
        Err(status) => {
            reject(conn, status);
            return Err(match status {
                Status::AuthFailed => HandshakeError::AuthFailed,
                Status::Unsupported => HandshakeError::NoCommonProfile,
                Status::LimitExceeded => HandshakeError::LimitRejected {
                    proposed: hello.max_request_payload_bytes,
                    server_cap: Some(resolved.effective_max_request_payload()),
                },
                Status::Incompatible => HandshakeError::Incompatible(Incompatibility::PacketSize(
                    hello.packet_size.min(server_packet),
                )),
                other => HandshakeError::Rejected(other),
            });
        }
    };
    let ack = match prepare(&ack) {
        Ok(()) => ack,
        Err(e) => {
            let baseline_only = ServerPolicy {
                supported: resolved.effective_supported().without(Profiles::SHM_ANY),
                preferred: resolved.preferred.without(Profiles::SHM_ANY),
                ..resolved
            };
            let retry = (ack.selected_profile.has_shm() && !baseline_only.supported.is_empty())
                .then(|| negotiate(&hello, &baseline_only, session_id).ok())
                .flatten();
            match retry {
                Some(fallback) if prepare(&fallback).is_ok() => fallback,
                _ => {
                    reject(conn, Status::InternalError);
                    return Err(HandshakeError::Prepare(e.into()));
                }
            }
        }
    };
    send_ack(conn, Status::Ok, &ack)?;
    Ok(ack)
}

/// The client's side of the negotiation (PROTOCOL.md §5.5).
///
/// Zero fields take the protocol defaults when the HELLO is built:
/// `supported` → baseline (0x01); payload limits → 1024; batch items → 1;
/// `packet_size` → automatic (`SO_SNDBUF − 32` of the connected socket).
/// `preferred` and `auth_token` are sent as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientProposal {
    /// Profiles the client can run.
    pub supported: Profiles,
    /// Profiles the client prefers.
    pub preferred: Profiles,
    /// Largest request payload the client wants to send. A server rejects
    /// a proposal above its request maximum (1024 unless configured) with
    /// LIMIT_EXCEEDED, so propose what is needed, not more.
    pub max_request_payload: u32,
    /// Largest request batch.
    pub max_request_batch_items: u32,
    /// Response payload hint (the server decides).
    pub max_response_payload: u32,
    /// Response batch hint (ignored by servers).
    pub max_response_batch_items: u32,
    /// The shared secret.
    pub auth_token: AuthToken,
    /// Packet size proposal.
    pub packet_size: u32,
}

impl Default for ClientProposal {
    /// Every field zero (the protocol's defaults) and the token 0 (set a
    /// real one).
    fn default() -> Self {
        ClientProposal {
            supported: Profiles(0),
            preferred: Profiles(0),
            max_request_payload: 0,
            max_request_batch_items: 0,
            max_response_payload: 0,
            max_response_batch_items: 0,
            auth_token: AuthToken::new(0),
            packet_size: 0,
        }
    }
}

impl ClientProposal {
    /// The HELLO this proposal sends, with the defaults applied;
    /// `auto_packet_size` replaces a `packet_size` of 0.
    pub fn to_hello(&self, auto_packet_size: u32) -> Hello {
        Hello {
            supported_profiles: if self.supported.is_empty() {
                Profiles::BASELINE
            } else {
                self.supported
            },
            preferred_profiles: self.preferred,
            max_request_payload_bytes: nonzero_or(self.max_request_payload, DEFAULT_PAYLOAD_LIMIT),
            max_request_batch_items: nonzero_or(self.max_request_batch_items, DEFAULT_BATCH_ITEMS),
            max_response_payload_bytes: nonzero_or(
                self.max_response_payload,
                DEFAULT_PAYLOAD_LIMIT,
            ),
            max_response_batch_items: nonzero_or(
                self.max_response_batch_items,
                DEFAULT_BATCH_ITEMS,
            ),
            auth_token: self.auth_token.get(),
            packet_size: nonzero_or(self.packet_size, auto_packet_size),
        }
    }
}

/// Runs the client side of the handshake on a freshly connected socket
/// (PROTOCOL.md §5.5) and returns the server's accepted HELLO_ACK, whose
/// values (never the proposal's) the session must use.
///
/// 1. Send the HELLO; wait up to `timeout` for one packet (EOF → fail).
/// 2. Header: envelope version ≠ 1 → [`HandshakeError::Incompatible`];
///    other decode failure → [`HandshakeError::BadHeader`]; not a
///    CONTROL / HELLO_ACK → [`HandshakeError::UnexpectedMessage`].
/// 3. Status, before the payload: AUTH_FAILED → `AuthFailed`; UNSUPPORTED
///    → `NoCommonProfile`; INCOMPATIBLE → `Incompatible`; LIMIT_EXCEEDED →
///    `LimitRejected` (our proposal, and the server's cap if the ACK names
///    one); other non-OK → `Rejected(status)`.
/// 4. Payload: layout ≠ 1 → `Incompatible`; other failure → `BadAck`.
/// 5. Agreed packet size ≤ 32, or larger than we proposed →
///    `BadPacketSize`; selected profile not exactly one bit of the profiles
///    we offered → `BadSelection` (both safe extras beyond the reference
///    clients, which only check the first).
pub fn client_handshake(
    conn: &impl HandshakeConn,
    proposal: &ClientProposal,
    timeout: Duration,
) -> Result<HelloAck, HandshakeError> {
    let auto = if proposal.packet_size == 0 {
        conn.auto_packet_size()
    } else {
        proposal.packet_size
    };
    let hello = proposal.to_hello(auto);
    let header = control_header(ControlOpcode::Hello, Status::Ok, HELLO_LEN);
    conn.send_handshake_packet(&[&header, &hello.encode()])?;

    let mut buf = [0u8; HANDSHAKE_BUF_LEN];
    let (packet, version, header) = recv_control(conn, timeout, &mut buf)?;
    if version != VERSION {
        return Err(HandshakeError::Incompatible(
            Incompatibility::HeaderVersion(version),
        ));
    }
    if header.kind != Kind::Control || header.code != ControlOpcode::HelloAck as u16 {
        return Err(HandshakeError::UnexpectedMessage {
            kind: header.kind as u16,
            code: header.code,
        });
    }
    match header.status().map_err(HandshakeError::BadAck)? {
        Status::Ok => {}
        Status::AuthFailed => return Err(HandshakeError::AuthFailed),
        Status::Unsupported => return Err(HandshakeError::NoCommonProfile),
        Status::Incompatible => {
            return Err(HandshakeError::Incompatible(
                Incompatibility::PeerSaidIncompatible,
            ))
        }
        Status::LimitExceeded => {
            // The rejection ACK is all zero in the protocol; a server that
            // names its request maximum there is believed.
            let cap = HelloAck::decode(&packet[HEADER_LEN..])
                .ok()
                .map(|ack| ack.agreed_max_request_payload_bytes)
                .filter(|&cap| cap != 0);
            return Err(HandshakeError::LimitRejected {
                proposed: hello.max_request_payload_bytes,
                server_cap: cap,
            });
        }
        other => return Err(HandshakeError::Rejected(other)),
    }
    let ack = HelloAck::decode(&packet[HEADER_LEN..]).map_err(|e| match e {
        WireError::BadLayoutVersion { found, .. } => {
            HandshakeError::Incompatible(Incompatibility::LayoutVersion(found))
        }
        e => HandshakeError::BadAck(e),
    })?;
    if ack.agreed_packet_size as usize <= HEADER_LEN || ack.agreed_packet_size > hello.packet_size {
        return Err(HandshakeError::BadPacketSize(ack.agreed_packet_size));
    }
    if !ack.selected_profile.is_single() || !hello.supported_profiles.contains(ack.selected_profile)
    {
        return Err(HandshakeError::BadSelection {
            selected: ack.selected_profile,
            offered: hello.supported_profiles,
        });
    }
    Ok(ack)
}
