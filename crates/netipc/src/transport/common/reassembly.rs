//! Receiving one message over a [`PacketConn`]: the first packet, then the
//! continuation chunks reassembled in place (PROTOCOL.md §4), with every
//! receive rule of §6.6 applied on the way.
//!
//! A message is received into one reusable buffer (header at 0, payload
//! after it). The first read gets `min(packet_size, 32 + max_recv_payload)`
//! bytes of spare capacity; a chunked message grows the buffer as its chunks
//! arrive (doubling, capped at `32 + payload_len`), never to the length its
//! header merely announces. Continuation chunks land straight in their
//! final place: the 32 bytes their chunk header lands on are saved and
//! restored around the read, so the payload is never copied in user space.

#![forbid(unsafe_code)]

use super::chunk::{check_batch, check_chunk, check_first_packet, expected_chunks, FirstPacket};
use super::limits::Limits;
use super::packet::{PacketConn, PacketWait};
use crate::deadline::Deadline;
use crate::transport::error::TransportError;
use crate::wire::{ChunkHeader, Header, CHUNK_HEADER_LEN, HEADER_LEN};

/// Receives one message into `buf` (header at 0, payload after it) and
/// returns its header; `Ok(None)` only for [`FirstPacket::Try`] when no
/// packet is queued.
pub(crate) fn recv_message<C: PacketConn>(
    conn: &C,
    limits: &Limits,
    buf: &mut Vec<u8>,
    first: FirstPacket,
) -> Result<Option<Header>, TransportError> {
    let packet = limits.packet_size as usize;
    let first_cap = packet.min(HEADER_LEN.saturating_add(limits.max_recv_payload as usize));
    buf.clear();
    buf.reserve(first_cap);

    let (n, wait) = match first {
        FirstPacket::Wait(timeout) => {
            let wait = Deadline::new(timeout);
            let n = conn.recv_appended(buf, first_cap, PacketWait::First(&wait))?;
            (n, Some(wait))
        }
        FirstPacket::Split { first, .. } => {
            let first = Deadline::new(first);
            let n = conn.recv_appended(buf, first_cap, PacketWait::First(&first))?;
            (n, None)
        }
        FirstPacket::Try(_) => match conn.recv_appended(buf, first_cap, PacketWait::Now) {
            Ok(n) => (n, None),
            Err(TransportError::Timeout) => return Ok(None),
            Err(e) => return Err(e),
        },
    };

    let header = check_first_packet(buf, n, limits)?;
    let total = HEADER_LEN + header.payload_len as usize;
    // Here n ≤ first_cap ≤ spare capacity: the packet fitted, buf.len() == n.

    if n < total {
        // The rest of the message: within the same deadline when waiting,
        // within `rest` from now after a non-blocking or split start.
        let wait = match (wait, first) {
            (Some(wait), _) => wait,
            (None, FirstPacket::Try(rest) | FirstPacket::Split { rest, .. }) => Deadline::new(rest),
            (None, FirstPacket::Wait(timeout)) => Deadline::new(timeout),
        };
        recv_chunks(conn, &header, total, packet, buf, &wait)?;
    }

    check_batch(&header, &buf[HEADER_LEN..total])?;
    Ok(Some(header))
}

/// Receives the continuation chunks of a message whose first packet is in
/// `buf`, until `buf` holds `total` bytes.
fn recv_chunks<C: PacketConn>(
    conn: &C,
    header: &Header,
    total: usize,
    packet: usize,
    buf: &mut Vec<u8>,
    wait: &Deadline,
) -> Result<(), TransportError> {
    let room = packet - HEADER_LEN;
    let first_part = buf.len() - HEADER_LEN;
    let expected = expected_chunks(header.payload_len as usize, first_part, room);

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
        // The chunk header lands on the last 32 bytes received so far and
        // its data right after them, where it belongs: save those bytes,
        // receive, take the chunk header out, put them back.
        let hdr_at = pos - CHUNK_HEADER_LEN;
        let mut saved = [0u8; CHUNK_HEADER_LEN];
        saved.copy_from_slice(&buf[hdr_at..pos]);
        buf.truncate(hdr_at);
        // The most this chunk may carry: a full packet, or the header and
        // the rest of the message.
        let max = packet.min(CHUNK_HEADER_LEN + remaining);
        grow_for_chunk(buf, hdr_at + max, total);
        let m = match conn.recv_appended(buf, max, PacketWait::Next(wait)) {
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
        // m ≥ 32 and the spare capacity was ≥ max ≥ 32, so buf.len() ≥ pos.
        let mut raw = [0u8; CHUNK_HEADER_LEN];
        raw.copy_from_slice(&buf[hdr_at..pos]);
        buf[hdr_at..pos].copy_from_slice(&saved);

        let data = m - CHUNK_HEADER_LEN;
        check_chunk(
            &ChunkHeader::decode(&raw)?,
            header,
            index,
            expected,
            total,
            data,
        )?;
        if data > remaining {
            return Err(TransportError::ChunkOverrun {
                len: data,
                remaining,
            });
        }
        if m > packet {
            return Err(TransportError::OversizePacket {
                len: m,
                limit: packet,
            });
        }
        debug_assert_eq!(buf.len(), pos + data);
        index += 1;
    }
    Ok(())
}

/// Makes room for the next chunk: capacity at least `need` (the bytes so
/// far plus one full chunk). The buffer grows with the data that really
/// arrived — doubling, capped at the message's `total` — never to the
/// length a header merely announces.
fn grow_for_chunk(buf: &mut Vec<u8>, need: usize, total: usize) {
    if buf.capacity() >= need {
        return;
    }
    let target = need.max(buf.capacity().saturating_mul(2)).min(total);
    buf.reserve_exact(target - buf.len());
}
