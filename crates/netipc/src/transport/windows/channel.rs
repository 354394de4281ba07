//! A named-pipe session: negotiated limits, chunking, receive rules and
//! in-flight ids (PROTOCOL.md §4, §6.5, §6.6 over PROTOCOL-WINDOWS.md §3).
//!
//! The rules are those of the UDS channel (both apply
//! `transport::common`); only the I/O differs. A pipe
//! message has no scatter/gather, so each outgoing packet is assembled in a
//! reusable send buffer (one `WriteFile` per packet). Incoming packets are
//! read straight into the receive buffer, continuation chunks into their
//! final place (the 32 bytes their chunk header lands on are saved and
//! restored), and each read is given exactly the room the packet may use,
//! so an oversize packet fails the read (`ERROR_MORE_DATA`) instead of
//! being truncated.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::pipe::PipeConn;
use crate::deadline::Deadline;
use crate::transport::common::{
    check_batch, check_chunk, check_first_packet, check_send, expected_chunks, packets,
    FirstPacket, InFlight, Limits,
};
use crate::transport::error::TransportError;
use crate::wire::{ChunkHeader, Header, Kind, CHUNK_HEADER_LEN, HEADER_LEN};

/// A session over a connected [`PipeConn`] with the limits agreed in the
/// handshake. Any receive error other than [`TransportError::Timeout`]
/// (nothing arrived) leaves the session out of step: drop it.
///
/// Pipelining: any number of requests may be in flight, but writes block
/// while the peer's pipe buffer (at least 64 KiB) is full, so a client that
/// writes many requests before reading must keep the bytes in flight per
/// direction below that, or read on another thread.
#[derive(Debug)]
pub struct PipeChannel {
    conn: PipeConn,
    limits: Limits,
    buf: Vec<u8>,
    send_buf: Vec<u8>,
    last_len: usize,
    in_flight: InFlight,
}

impl PipeChannel {
    /// A session over `conn`; fails when `limits.packet_size` is 32 or less.
    pub fn new(conn: PipeConn, limits: Limits) -> Result<PipeChannel, TransportError> {
        if limits.packet_size as usize <= HEADER_LEN {
            return Err(TransportError::BadPacketSize {
                size: limits.packet_size,
            });
        }
        Ok(PipeChannel {
            conn,
            limits,
            buf: Vec::new(),
            send_buf: Vec::new(),
            last_len: 0,
            in_flight: InFlight::with_capacity(16),
        })
    }

    /// The connection.
    pub fn conn(&self) -> &PipeConn {
        &self.conn
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Requests sent with [`PipeChannel::send_request`] and not yet answered.
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Gives up the connection.
    pub fn into_conn(self) -> PipeConn {
        self.conn
    }

    /// Bytes reserved by the receive buffer: it grows with the packets
    /// received, never to a length a header merely announces.
    pub fn recv_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Payload of the last message received (empty before the first).
    pub fn last_payload(&self) -> &[u8] {
        self.buf
            .get(HEADER_LEN..HEADER_LEN + self.last_len)
            .unwrap_or(&[])
    }

    /// Sends one message, chunked when `32 + payload.len()` exceeds the
    /// packet size. Refused locally, before anything is written, on a
    /// `payload_len` mismatch, a payload above `max_send_payload` or an
    /// item count above `max_send_items`. A failure after the first packet
    /// leaves a partial message on the pipe: drop the session.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        self.send_message(header, payload)
    }

    /// Sends a request and records its message id as in flight. A send
    /// failure fails every request in flight.
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        self.in_flight.insert(header.message_id)?;
        let sent = self.send_message(header, payload);
        if sent.is_err() {
            self.in_flight.fail_all();
        }
        sent
    }

    /// Receives one message within `timeout` (`None`: forever) and returns
    /// its header and payload (borrowed until the next receive).
    ///
    /// Rules, in order: the first packet has at least 32 bytes and its
    /// header decodes; `payload_len` and `item_count` are within the
    /// receive limits; the packet is no longer than the packet size nor than
    /// `32 + payload_len`. Each continuation: at least 32 bytes; the chunk
    /// header decodes; same message id; the next index; the chunk count the
    /// length implies; `total_message_len = 32 + payload_len`;
    /// `chunk_payload_len` = packet − 32; no overrun. A BATCH message's
    /// directory must validate.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .recv_message(FirstPacket::Wait(timeout))?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// Like [`PipeChannel::recv`], but `first_timeout` bounds only the wait
    /// for the first packet; a chunked message then has up to
    /// `rest_timeout` for its remaining chunks.
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

    /// Like [`PipeChannel::recv`] without waiting for the first packet:
    /// `Ok(None)` when none is queued.
    pub fn try_recv(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        Ok(self
            .recv_message(FirstPacket::Try(rest_timeout))?
            .map(|h| (h, self.last_payload())))
    }

    /// Like [`PipeChannel::recv_response`] without waiting for the first
    /// packet: `Ok(None)` when no response is queued. Once a message has
    /// started, its remaining chunks are awaited for up to `rest_timeout`.
    pub fn try_recv_response(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        Ok(self
            .response_message(FirstPacket::Try(rest_timeout))?
            .map(|h| (h, self.last_payload())))
    }

    /// Receives a response and matches it to a request in flight. A message
    /// that is not a RESPONSE, or whose id is not in flight, is a protocol
    /// error. Every error except [`TransportError::Timeout`] fails all
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

    /// [`PipeChannel::recv_response`] with the timeouts of
    /// [`PipeChannel::recv_split`].
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

    fn response_message(&mut self, first: FirstPacket) -> Result<Option<Header>, TransportError> {
        let header = match self.recv_message(first) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
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

    /// Writes the packets of one message, each assembled in the send
    /// buffer (a pipe message has no scatter/gather).
    fn send_message(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        for (prefix, part) in packets(header, payload, self.limits.packet_size) {
            self.send_buf.clear();
            self.send_buf.extend_from_slice(&prefix);
            self.send_buf.extend_from_slice(part);
            self.conn.send_packet(&self.send_buf)?;
        }
        Ok(())
    }

    /// Receives one message into `buf` (header at 0, payload after it);
    /// `Ok(None)` only for [`FirstPacket::Try`] when nothing is queued.
    fn recv_message(&mut self, first: FirstPacket) -> Result<Option<Header>, TransportError> {
        let limits = self.limits;
        let packet = limits.packet_size as usize;
        let first_cap = packet.min(HEADER_LEN.saturating_add(limits.max_recv_payload as usize));
        self.last_len = 0;
        self.buf.clear();

        let (deadline, rest_deadline) = match first {
            FirstPacket::Wait(timeout) => {
                let d = Deadline::new(timeout);
                (d, None)
            }
            FirstPacket::Split { first, rest } => (Deadline::new(first), Some(rest)),
            FirstPacket::Try(rest) => {
                if self.conn.pending()? == 0 {
                    return Ok(None);
                }
                (Deadline::new(Some(Duration::ZERO)), Some(rest))
            }
        };
        let n = match self.conn.recv_append(&mut self.buf, first_cap, &deadline) {
            Err(TransportError::Timeout) if matches!(first, FirstPacket::Try(_)) => {
                return Ok(None)
            }
            other => other?,
        };
        let header = check_first_packet(&self.buf, n, &limits)?;
        let total = HEADER_LEN + header.payload_len as usize;
        if n < total {
            // The rest within the same deadline when waiting for the whole
            // message, within `rest` from now otherwise.
            let wait = match rest_deadline {
                None => deadline,
                Some(rest) => Deadline::new(rest),
            };
            self.recv_chunks(&header, total, packet, &wait)?;
        }
        check_batch(&header, &self.buf[HEADER_LEN..total])?;
        self.last_len = header.payload_len as usize;
        Ok(Some(header))
    }

    /// Receives the continuation chunks of a message whose first packet is
    /// in `buf`, until `buf` holds `total` bytes.
    fn recv_chunks(
        &mut self,
        header: &Header,
        total: usize,
        packet: usize,
        deadline: &Deadline,
    ) -> Result<(), TransportError> {
        let buf = &mut self.buf;
        let room = packet - HEADER_LEN;
        let first_part = buf.len() - HEADER_LEN;
        let expected = expected_chunks(header.payload_len as usize, first_part, room);
        // No reservation for the announced total: each read reserves room
        // for the chunk it may receive, so the buffer grows with the data
        // that really arrives.
        let mut index: u64 = 1;
        while buf.len() < total {
            if index >= expected {
                return Err(TransportError::ChunkIncomplete {
                    count: expected,
                    received: buf.len(),
                    total,
                });
            }
            let pos = buf.len();
            let remaining = total - pos;
            // The chunk header lands on the last 32 bytes received so far
            // and its data right after them: save, read, restore.
            let hdr_at = pos - CHUNK_HEADER_LEN;
            let mut saved = [0u8; CHUNK_HEADER_LEN];
            saved.copy_from_slice(&buf[hdr_at..pos]);
            buf.truncate(hdr_at);
            let max = packet.min(CHUNK_HEADER_LEN + remaining);
            let m = match self.conn.recv_append(buf, max, deadline) {
                Ok(m) => m,
                Err(TransportError::Timeout) => {
                    return Err(TransportError::StalledMessage {
                        received: pos,
                        total,
                    })
                }
                Err(e) => return Err(e),
            };
            if m < CHUNK_HEADER_LEN {
                return Err(TransportError::ShortPacket { len: m });
            }
            let mut raw = [0u8; CHUNK_HEADER_LEN];
            raw.copy_from_slice(&buf[hdr_at..pos]);
            buf[hdr_at..pos].copy_from_slice(&saved);
            check_chunk(
                &ChunkHeader::decode(&raw)?,
                header,
                index,
                expected,
                total,
                m - CHUNK_HEADER_LEN,
            )?;
            index += 1;
        }
        Ok(())
    }
}
