//! What every transport shares above its I/O: the negotiated [`Limits`],
//! the [`InFlight`] ids of pipelined requests, the chunking and receive
//! rules of PROTOCOL.md §4 and §6.6, the reassembly of chunked messages and
//! the [`Channel`] that applies them over any [`PacketConn`]. The UDS
//! channel and the Windows named-pipe channel are both this channel, so the
//! two cannot drift.

#![forbid(unsafe_code)]

mod channel;
mod chunk;
mod limits;
mod packet;
mod reassembly;

pub use channel::Channel;
pub use limits::{InFlight, Limits};
pub use packet::{PacketConn, PacketWait};
