//! What every transport shares above its I/O: the negotiated [`Limits`],
//! the [`InFlight`] ids of pipelined requests, and the chunking and
//! receive rules of PROTOCOL.md §4 and §6.6. The UDS channel and the
//! Windows named-pipe channel both apply these, so the two cannot drift.

#![forbid(unsafe_code)]

mod chunk;
mod limits;

pub(crate) use chunk::{
    check_batch, check_chunk, check_first_packet, check_send, expected_chunks, packets, FirstPacket,
};
pub use limits::{InFlight, Limits};
