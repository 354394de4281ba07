//! [`Channel`]: a packet connection with its negotiated [`Limits`], a
//! reusable receive buffer and the [`InFlight`] ids of pipelined requests —
//! the same code over a UDS SEQPACKET socket (`UdsChannel`) and a Windows
//! message-mode pipe (`PipeChannel`).

#![forbid(unsafe_code)]

use std::time::Duration;

use super::chunk::{check_send, packets, FirstPacket};
use super::limits::{InFlight, Limits};
use super::packet::PacketConn;
use super::reassembly::recv_message;
use crate::transport::error::TransportError;
use crate::wire::{Header, Kind, HEADER_LEN};

/// A session over a connected packet connection `C`: the limits agreed in
/// the handshake, a reusable receive buffer and the ids of requests in
/// flight. Each platform names it: `UdsChannel` on Unix, `PipeChannel` on
/// Windows.
///
/// `send` and `recv` implement chunking and every receive rule of
/// PROTOCOL.md §4 and §6.6; `send_request` / `recv_response` add the
/// client's in-flight id tracking. Any receive error other than
/// [`TransportError::Timeout`] (nothing arrived) leaves the session out of
/// step: drop it.
#[derive(Debug)]
pub struct Channel<C> {
    conn: C,
    limits: Limits,
    buf: Vec<u8>,
    /// Where a connection without scatter/gather assembles each packet.
    send_buf: Vec<u8>,
    /// Payload length of the last message received into `buf`.
    last_len: usize,
    in_flight: InFlight,
}

impl<C: PacketConn> Channel<C> {
    /// A session over `conn` with the limits agreed in the handshake.
    /// Fails when `limits.packet_size` is 32 or less.
    pub fn new(conn: C, limits: Limits) -> Result<Channel<C>, TransportError> {
        if limits.packet_size as usize <= HEADER_LEN {
            return Err(TransportError::BadPacketSize {
                size: limits.packet_size,
            });
        }
        Ok(Channel {
            conn,
            limits,
            buf: Vec::new(),
            send_buf: Vec::new(),
            last_len: 0,
            in_flight: InFlight::with_capacity(16),
        })
    }

    /// The connection.
    pub fn conn(&self) -> &C {
        &self.conn
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Requests sent with [`Channel::send_request`] and not yet answered.
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Gives up the connection.
    pub fn into_conn(self) -> C {
        self.conn
    }

    /// Bytes reserved by the receive buffer: it grows with the packets
    /// received, never to a length a header merely announces.
    pub fn recv_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Payload of the last message received (empty before the first and
    /// after a failed receive), for callers that cannot keep the borrow
    /// [`Channel::recv`] returns.
    pub fn last_payload(&self) -> &[u8] {
        self.buf
            .get(HEADER_LEN..HEADER_LEN + self.last_len)
            .unwrap_or(&[])
    }

    /// Sends one message, chunked when `32 + payload.len()` exceeds the
    /// packet size.
    ///
    /// Refused locally, before any byte is written, when
    /// `header.payload_len != payload.len()`
    /// ([`TransportError::PayloadLenMismatch`]), when the payload exceeds
    /// `max_send_payload` ([`TransportError::RequestTooLarge`]) or when
    /// `header.item_count` exceeds `max_send_items`
    /// ([`TransportError::TooManyItems`]).
    ///
    /// Chunking (PROTOCOL.md §4): with `P` the packet size and `B = P − 32`,
    /// the first packet is the header and the first `B` payload bytes; each
    /// continuation is a chunk header and the next `min(B, rest)` bytes.
    /// On UDS each packet is one `sendmsg` gathering the header and a slice
    /// of the caller's payload (never copied in user space); a pipe message
    /// has no scatter/gather, so each packet is assembled in a reusable
    /// send buffer and written with one `WriteFile`. A failure after the
    /// first packet leaves a partial message on the wire; drop the session.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        self.send_message(header, payload)
    }

    /// Sends a request and records its message id as in flight.
    ///
    /// Refused locally when the id is already in flight
    /// ([`TransportError::DuplicateInFlight`]) or for any reason
    /// [`Channel::send`] refuses. A send failure fails every request in
    /// flight (the set is emptied).
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        self.in_flight.insert(header.message_id)?;
        let sent = self.send_message(header, payload);
        if sent.is_err() {
            self.in_flight.fail_all();
        }
        sent
    }

    /// Receives one message and returns its header and payload (borrowed
    /// from the channel's buffer until the next receive).
    ///
    /// `timeout` bounds the whole message; `None` waits forever.
    /// [`TransportError::Timeout`] means nothing arrived and the session is
    /// still usable; every other error, including
    /// [`TransportError::StalledMessage`] (timeout inside a chunked
    /// message), ends it.
    ///
    /// Rules, in order (PROTOCOL.md §4, §6.6): the first packet has at
    /// least 32 bytes and its header decodes; `payload_len` and
    /// `item_count` are within the receive limits; the packet is no longer
    /// than the packet size and, stricter than the reference peers, no
    /// longer than `32 + payload_len` (a peer that pads a packet is
    /// rejected). Each continuation packet: at least 32 bytes; the chunk
    /// header decodes; same message id; `chunk_index` is the next index;
    /// `chunk_count` is what the length implies; `total_message_len` is
    /// `32 + payload_len`; `chunk_payload_len` is the packet length minus
    /// 32; no overrun; no larger than the packet size. Finally, when BATCH
    /// is set the batch directory must validate (for any `item_count`).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .recv_message(FirstPacket::Wait(timeout))?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// Like [`Channel::recv`], but `first_timeout` bounds only the wait
    /// for the first packet; a chunked message then has up to
    /// `rest_timeout` (from that packet's arrival) for its remaining chunks.
    /// A receiver that waits in short slices uses this so that a slow
    /// multi-packet message is not cut off by the slice.
    pub fn recv_split(
        &mut self,
        first_timeout: Option<Duration>,
        rest_timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .recv_message(FirstPacket::Split {
                first: first_timeout,
                rest: rest_timeout,
            })?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// Like [`Channel::recv`] without waiting for the first packet:
    /// `Ok(None)` when none is queued. Once a message has started, its
    /// remaining chunks are awaited for up to `rest_timeout` (`None`:
    /// forever).
    pub fn try_recv(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        Ok(self
            .recv_message(FirstPacket::Try(rest_timeout))?
            .map(|h| (h, self.last_payload())))
    }

    /// Receives a response and matches it to a request in flight.
    ///
    /// A message that is not a RESPONSE
    /// ([`TransportError::UnexpectedKind`]) or whose id is not in flight
    /// ([`TransportError::UnknownResponseId`]) is a protocol error. Every
    /// error except [`TransportError::Timeout`] (nothing arrived) fails all
    /// requests in flight.
    pub fn recv_response(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .response_message(FirstPacket::Wait(timeout))?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// [`Channel::recv_response`] with the timeouts of
    /// [`Channel::recv_split`].
    pub fn recv_response_split(
        &mut self,
        first_timeout: Option<Duration>,
        rest_timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .response_message(FirstPacket::Split {
                first: first_timeout,
                rest: rest_timeout,
            })?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// Like [`Channel::recv_response`] without waiting for the first
    /// packet: `Ok(None)` when no response is queued. Once a message has
    /// started, its remaining chunks are awaited for up to `rest_timeout`.
    /// Receivers poll with this for a short while before they block.
    pub fn try_recv_response(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        Ok(self
            .response_message(FirstPacket::Try(rest_timeout))?
            .map(|h| (h, self.last_payload())))
    }

    fn response_message(&mut self, first: FirstPacket) -> Result<Option<Header>, TransportError> {
        let header = match self.recv_message(first) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            // Nothing arrived: the session and its requests are intact.
            Err(TransportError::Timeout) => return Err(TransportError::Timeout),
            Err(e) => {
                self.in_flight.fail_all();
                return Err(e);
            }
        };
        let matched = if header.kind != Kind::Response {
            Err(TransportError::UnexpectedKind {
                expected: Kind::Response,
                found: header.kind,
            })
        } else {
            self.in_flight.complete(header.message_id)
        };
        if let Err(e) = matched {
            self.in_flight.fail_all();
            self.last_len = 0;
            return Err(e);
        }
        Ok(Some(header))
    }

    /// Receives one message into the buffer; `Ok(None)` only for
    /// [`FirstPacket::Try`] when nothing is queued.
    fn recv_message(&mut self, first: FirstPacket) -> Result<Option<Header>, TransportError> {
        self.last_len = 0;
        let header = recv_message(&self.conn, &self.limits, &mut self.buf, first)?;
        if let Some(h) = &header {
            self.last_len = h.payload_len as usize;
        }
        Ok(header)
    }

    /// Writes the packets of a checked message.
    fn send_message(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        for (prefix, part) in packets(header, payload, self.limits.packet_size) {
            self.conn.send_prefixed(&prefix, part, &mut self.send_buf)?;
        }
        Ok(())
    }
}
