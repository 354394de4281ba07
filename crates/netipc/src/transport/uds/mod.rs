//! UDS SEQPACKET sessions: send/receive, chunking, in-flight ids
//! (PROTOCOL.md §4, §6).
//!
//! Three layers, each usable on its own:
//!
//! * [`UdsConn`] owns a connected `AF_UNIX` / `SOCK_SEQPACKET` socket and
//!   moves single packets: one `sendmsg` or one `recv` per packet.
//! * [`UdsChannel`] adds the negotiated [`Limits`], chunking and every
//!   receive-side rule, and owns a reusable receive buffer.
//! * [`InFlight`] tracks the message ids of pipelined requests.
//!
//! The socket and its system calls live in `conn.rs`; the channel,
//! chunking, reassembly and the receive rules are the platform-neutral
//! code of `transport::common`, which the Windows pipe channel shares.
//!
//! # System calls on the hot path
//!
//! A message that fits one packet costs exactly one `sendmsg` to send and one
//! `recv` to receive. Receive timeouts are implemented with `SO_RCVTIMEO`,
//! set only when the requested timeout differs from the one already on the
//! socket, so a loop that always waits with the same timeout does not pay a
//! `poll` per message. Continuation packets of a chunked message are read
//! with `MSG_DONTWAIT` first and only polled for when not yet queued.
//!
//! # Receive buffer
//!
//! A SEQPACKET packet of unknown size can only be received whole into a
//! buffer as large as the largest legal packet, or by paying an extra
//! `MSG_PEEK` call per packet. We reserve
//! `min(packet_size, 32 + max_recv_payload)` bytes of *capacity* on the
//! first receive (no zeroing, so untouched pages cost nothing). A chunked
//! message grows it as its chunks arrive (doubling, capped at
//! `32 + payload_len`), never to the length its header merely announces, so
//! a peer that announces a huge message and sends little costs little. The
//! buffer is
//! reused for every later message and never shrinks, so the steady state
//! allocates nothing. Continuation chunks are received straight into their
//! final place in the buffer (the 32 bytes the chunk header lands on are
//! saved and restored around the call), so the payload is never copied in
//! user space.

#![forbid(unsafe_code)]

mod conn;

pub use crate::transport::common::{InFlight, Limits};
pub(crate) use conn::poll_readable;
pub use conn::{UdsConn, FALLBACK_PACKET_SIZE, SNDBUF_HEADROOM};

/// A UDS session: a [`UdsConn`], its negotiated [`Limits`], a reusable
/// receive buffer and the [`InFlight`] ids of pipelined requests (the
/// platform-neutral channel over a SEQPACKET socket).
pub type UdsChannel = crate::transport::common::Channel<UdsConn>;
