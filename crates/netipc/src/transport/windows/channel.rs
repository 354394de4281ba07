//! A named-pipe session: the platform-neutral channel of
//! `transport::common` (negotiated limits, chunking, receive rules and
//! in-flight ids; PROTOCOL.md §4, §6.5, §6.6 over PROTOCOL-WINDOWS.md §3)
//! over a [`PipeConn`].
//!
//! Only the I/O is the pipe's own. A pipe message has no scatter/gather,
//! so each outgoing packet is assembled in the channel's reusable send
//! buffer (one `WriteFile` per packet). Incoming packets are read straight
//! into the receive buffer, continuation chunks into their final place, and
//! each read is given exactly the room the packet may use, so an oversize
//! packet fails the read (`ERROR_MORE_DATA`) instead of being truncated.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::pipe::PipeConn;
use crate::deadline::Deadline;
use crate::transport::common::{Channel, PacketConn, PacketWait};
use crate::transport::error::TransportError;

/// A session over a connected [`PipeConn`] with the limits agreed in the
/// handshake. Any receive error other than [`TransportError::Timeout`]
/// (nothing arrived) leaves the session out of step: drop it.
///
/// Pipelining: any number of requests may be in flight, but writes block
/// while the peer's pipe buffer (at least 64 KiB) is full, so a client that
/// writes many requests before reading must keep the bytes in flight per
/// direction below that, or read on another thread.
pub type PipeChannel = Channel<PipeConn>;

impl PacketConn for PipeConn {
    /// The packet assembled in `scratch`, then one `WriteFile`.
    fn send_prefixed(
        &self,
        prefix: &[u8],
        data: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        scratch.clear();
        scratch.extend_from_slice(prefix);
        scratch.extend_from_slice(data);
        self.send_packet(scratch)
    }

    /// One overlapped `ReadFile` of at most `max` bytes; a longer packet is
    /// [`TransportError::OversizePacket`]. Without waiting, an empty pipe
    /// (`PeekNamedPipe`) is [`TransportError::Timeout`].
    fn recv_appended(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        wait: PacketWait<'_>,
    ) -> Result<usize, TransportError> {
        match wait {
            PacketWait::Now => {
                if self.pending()? == 0 {
                    return Err(TransportError::Timeout);
                }
                self.recv_append(buf, max, &Deadline::new(Some(Duration::ZERO)))
            }
            PacketWait::First(deadline) | PacketWait::Next(deadline) => {
                self.recv_append(buf, max, deadline)
            }
        }
    }
}
