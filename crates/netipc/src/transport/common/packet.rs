//! [`PacketConn`]: what a channel needs from a platform's connection — send
//! one packet, receive one packet into a growing buffer — so that chunking,
//! reassembly and the receive rules are written once for UDS SEQPACKET
//! sockets and Windows message-mode pipes.

#![forbid(unsafe_code)]

use crate::deadline::Deadline;
use crate::transport::error::TransportError;

/// How long one packet read may wait.
#[derive(Debug, Clone, Copy)]
pub enum PacketWait<'a> {
    /// Only a packet already queued; none is [`TransportError::Timeout`].
    Now,
    /// The first packet of a message: wait until the deadline.
    First(&'a Deadline),
    /// A continuation chunk, expected soon: wait until the deadline.
    Next(&'a Deadline),
}

/// A connected, message-preserving connection that moves whole packets.
///
/// Implemented by the UDS SEQPACKET connection and the Windows named-pipe
/// connection; the channel code above it is platform-neutral. The trait is
/// nominally public (its module is private) so the channel type can be
/// named through each platform's alias; nothing outside the crate can
/// implement or call it.
pub trait PacketConn {
    /// Sends one packet made of `prefix` (a header or chunk header) and
    /// `data`. `scratch` is a buffer the caller keeps for connections that
    /// must assemble a packet before writing it.
    fn send_prefixed(
        &self,
        prefix: &[u8],
        data: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), TransportError>;

    /// Receives one packet appended to `buf` (after its current length) and
    /// returns the packet's length. The caller has reserved at least `max`
    /// bytes of spare capacity, the most the packet may legally carry. A
    /// longer packet either fails ([`TransportError::OversizePacket`]) or is
    /// kept truncated while its real length is returned, which the
    /// caller's rules then reject. No packet within `wait` is
    /// [`TransportError::Timeout`]; the peer gone is
    /// [`TransportError::PeerClosed`].
    fn recv_appended(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        wait: PacketWait<'_>,
    ) -> Result<usize, TransportError>;
}
