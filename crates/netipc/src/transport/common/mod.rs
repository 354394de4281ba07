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
mod session;

pub use channel::Channel;
pub use limits::{InFlight, Limits};
pub use packet::{PacketConn, PacketWait};
pub(crate) use session::{
    check_send_size, check_shm_message, check_shm_response, check_shm_response_cap, client_limits,
    recv_on_channel, shm_too_large,
};
