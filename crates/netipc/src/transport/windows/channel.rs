//! A named-pipe session: negotiated limits, chunking, receive rules and
//! in-flight ids (PROTOCOL.md §4, §6.5, §6.6 over PROTOCOL-WINDOWS.md §3).
//!
//! The rules are those of the UDS channel; only the I/O differs. A pipe
//! message has no scatter/gather, so each outgoing packet is assembled in a
//! reusable send buffer (one `WriteFile` per packet). Incoming packets are
//! read straight into the receive buffer, continuation chunks into their
//! final place (the 32 bytes their chunk header lands on are saved and
//! restored), and each read is given exactly the room the packet may use,
//! so an oversize packet fails the read (`ERROR_MORE_DATA`) instead of
//! being truncated.

#![forbid(unsafe_code)]

use std::time::Duration;

use super::limits::{InFlight, Limits};
use super::pipe::PipeConn;
use crate::deadline::Deadline;
use crate::transport::error::TransportError;
use crate::wire::{BatchView, ChunkHeader, Header, Kind, CHUNK_HEADER_LEN, HEADER_LEN};

/// When the first packet of a message is awaited, and how long the rest of
/// a chunked message may take.
#[derive(Clone, Copy)]
enum FirstPacket {
    /// Wait up to the timeout (`None`: forever) for the whole message.
    Wait(Option<Duration>),
    /// Do not wait for the first packet; then up to the timeout for the rest.
    Try(Option<Duration>),
    /// Wait up to `first` for the first packet, then up to `rest` (from its
    /// arrival) for the remaining chunks.
    Split {
        first: Option<Duration>,
        rest: Option<Duration>,
    },
}

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

    /// Writes the packets of one message.
    fn send_message(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        let room = self.limits.packet_size as usize - HEADER_LEN;
        let first_len = payload.len().min(room);
        let (first, mut rest) = payload.split_at(first_len);
        self.send_buf.clear();
        self.send_buf.extend_from_slice(&header.encode());
        self.send_buf.extend_from_slice(first);
        self.conn.send_packet(&self.send_buf)?;
        if rest.is_empty() {
            return Ok(());
        }
        // payload_len ≤ u32::MAX − 32 (check_send) and room ≥ 1.
        let chunk_count = 1 + div_ceil(rest.len(), room) as u32;
        let total_message_len = header.payload_len + HEADER_LEN as u32;
        let mut chunk_index = 1;
        while !rest.is_empty() {
            let (part, tail) = rest.split_at(room.min(rest.len()));
            let chunk = ChunkHeader {
                message_id: header.message_id,
                total_message_len,
                chunk_index,
                chunk_count,
                chunk_payload_len: part.len() as u32,
            };
            self.send_buf.clear();
            self.send_buf.extend_from_slice(&chunk.encode());
            self.send_buf.extend_from_slice(part);
            self.conn.send_packet(&self.send_buf)?;
            rest = tail;
            chunk_index += 1;
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
        if n < HEADER_LEN {
            return Err(TransportError::ShortPacket { len: n });
        }
        let header = Header::decode(&self.buf[..HEADER_LEN])?;
        if header.payload_len > limits.max_recv_payload {
            return Err(TransportError::IncomingTooLarge {
                len: header.payload_len,
                limit: limits.max_recv_payload,
            });
        }
        if header.item_count > limits.max_recv_items {
            return Err(TransportError::IncomingTooManyItems {
                count: header.item_count,
                limit: limits.max_recv_items,
            });
        }
        let total = HEADER_LEN + header.payload_len as usize;
        if n > total {
            return Err(TransportError::OversizePacket {
                len: n,
                limit: total,
            });
        }
        if n < total {
            // The rest within the same deadline when waiting for the whole
            // message, within `rest` from now otherwise.
            let wait = match rest_deadline {
                None => deadline,
                Some(rest) => Deadline::new(rest),
            };
            self.recv_chunks(&header, total, packet, &wait)?;
        }
        if header.is_batch() {
            BatchView::new(&self.buf[HEADER_LEN..total], header.item_count)
                .map_err(TransportError::BadBatch)?;
        }
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
        let expected = 1 + div_ceil(header.payload_len as usize - first_part, room) as u64;
        buf.reserve_exact(total - buf.len());
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

/// The continuation rules of PROTOCOL.md §4 for chunk `index` carrying
/// `data` bytes (the read was bounded by the bytes the message has left, so
/// an overrun already failed as an oversize packet).
fn check_chunk(
    chunk: &ChunkHeader,
    header: &Header,
    index: u64,
    expected: u64,
    total: usize,
    data: usize,
) -> Result<(), TransportError> {
    if chunk.message_id != header.message_id {
        return Err(TransportError::ChunkMessageIdMismatch {
            expected: header.message_id,
            found: chunk.message_id,
        });
    }
    if u64::from(chunk.chunk_index) != index {
        return Err(TransportError::ChunkIndexMismatch {
            expected: index,
            found: chunk.chunk_index,
        });
    }
    if u64::from(chunk.chunk_count) != expected {
        return Err(TransportError::ChunkCountMismatch {
            expected,
            found: chunk.chunk_count,
        });
    }
    if chunk.total_message_len as usize != total {
        return Err(TransportError::ChunkTotalMismatch {
            expected: total as u64,
            found: chunk.total_message_len,
        });
    }
    if chunk.chunk_payload_len as usize != data {
        return Err(TransportError::ChunkLengthMismatch {
            declared: chunk.chunk_payload_len,
            actual: data,
        });
    }
    Ok(())
}

/// The local refusals of a send (nothing is written when one applies).
fn check_send(limits: &Limits, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
    if header.payload_len as usize != payload.len() {
        return Err(TransportError::PayloadLenMismatch {
            header: header.payload_len,
            actual: payload.len(),
        });
    }
    // total_message_len (32 + payload_len) must fit its u32 field.
    let limit = limits.max_send_payload.min(u32::MAX - HEADER_LEN as u32);
    if header.payload_len > limit {
        return Err(TransportError::RequestTooLarge {
            len: header.payload_len,
            limit,
        });
    }
    if header.item_count > limits.max_send_items {
        return Err(TransportError::TooManyItems {
            count: header.item_count,
            limit: limits.max_send_items,
        });
    }
    Ok(())
}

/// `ceil(n / d)` for `d > 0` (`usize::div_ceil` is newer than the MSRV).
fn div_ceil(n: usize, d: usize) -> usize {
    n / d + usize::from(n % d != 0)
}
