//! The Windows transports of protocol v1 (PROTOCOL-WINDOWS.md): the
//! message-mode named-pipe baseline (profile 0x01) and Windows shared memory
//! (0x02 SHM_HYBRID, 0x04 SHM_BUSYWAIT).
//!
//! | module | what it does |
//! |---|---|
//! | [`naming`] | FNV-1a-64 pipe and object names; nothing touches the file system |
//! | [`PipeListener`] | pipe instances, a spare always listening, accept with a deadline |
//! | [`connect()`], [`connect_timeout`] | opening the pipe, waiting out `ERROR_PIPE_BUSY` until a deadline |
//! | [`PipeConn`] | whole packets in and out, overlapped I/O with deadlines, disconnect detection |
//! | [`PipeChannel`] | chunking, receive rules and pipelined in-flight ids (the rules shared with UDS) |
//! | [`shm`] | the shared-memory region: 128-byte header, HYBRID and BUSYWAIT |
//! | [`ClientSession`], [`ServerSession`] | handshake + data plane (pipe or shared memory) |
//!
//! On Windows, `transport::{Endpoint, Listener, ListenerConfig, connect,
//! connect_timeout, ClientSession, ServerSession}` are this module's types
//! (`Listener` is [`PipeListener`]), with the signatures of their Unix
//! namesakes, so the Level 2 and Level 3 layers build unchanged on both.
//!
//! The handshake is the platform-independent one
//! ([`crate::transport::handshake`]): [`PipeConn`] implements
//! [`HandshakeConn`](crate::transport::handshake::HandshakeConn).
//!
//! All `unsafe` code of the Windows port lives in this module tree; every
//! block says why it is sound. `docs/windows.md` describes the design and
//! the choices made where the reference peers are ambiguous or fragile.

#![deny(unsafe_op_in_unsafe_fn)]

mod abort;
mod channel;
mod client_session;
// The Win32 calls; with `shm::view`, the only modules of the port allowed
// to contain `unsafe` code.
#[allow(unsafe_code)]
mod connect;
#[allow(unsafe_code)]
mod listener;
pub mod naming;
mod peer;
#[allow(unsafe_code)]
mod pipe;
mod session;
pub mod shm;
#[allow(unsafe_code)]
mod sys;

pub use abort::AbortHandle;
pub use channel::PipeChannel;
pub use client_session::ClientSession;
pub use connect::{connect, connect_timeout, DEFAULT_CONNECT_TIMEOUT};
pub use listener::{PipeListener, PipeListenerConfig};
pub use naming::{fnv1a64, pipe_name, ShmNames};
pub use peer::PeerCredentials;
pub use pipe::{PipeConn, PipeSide, DEFAULT_SEND_TIMEOUT, REJECT_LINGER};
pub use session::ServerSession;

use crate::wire::Profiles;

/// Packet size of a pipe session configured as 0, and the floor of the
/// pipe buffers (PROTOCOL-WINDOWS.md §3.5).
pub const DEFAULT_PACKET_SIZE: u32 = 65_536;

/// Profile 0x01 on Windows: the message-mode named pipe.
pub const NAMED_PIPE: Profiles = Profiles(0x01);

/// Profile 0x02 on Windows: shared memory, spin then named auto-reset events.
pub const SHM_HYBRID: Profiles = Profiles(0x02);

/// Profile 0x04 on Windows: shared memory, spin only. Unlike Linux (where
/// 0x04 is an alias of 0x02) this burns a core on each side while waiting;
/// nothing in this crate selects it unless a caller offers it explicitly.
pub const SHM_BUSYWAIT: Profiles = Profiles(0x04);

/// The profiles the Level 2 client and managed server offer by default on
/// Windows: the pipe and SHM_HYBRID. Offering 0x07 without a common
/// preference would select SHM_BUSYWAIT.
pub const DEFAULT_PROFILES: Profiles = Profiles(0x03);

/// The profile the Level 2 client and managed server prefer by default on
/// Windows: SHM_HYBRID, never SHM_BUSYWAIT.
pub const DEFAULT_PREFERRED: Profiles = SHM_HYBRID;
