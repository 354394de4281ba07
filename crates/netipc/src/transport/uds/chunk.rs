//! Chunking (PROTOCOL.md §4) and the receive rules (§6.6): a message is
//! split into packets on send and reassembled, in place, on receive.

use std::io::IoSlice;
use std::time::Duration;

use super::channel::Limits;
use super::conn::{recv_spare, UdsConn};
use crate::deadline::Deadline;
use crate::transport::error::TransportError;
use crate::wire::{BatchView, ChunkHeader, Header, CHUNK_HEADER_LEN, HEADER_LEN};

/// When the first packet of a message is awaited, and how long the rest of
/// a chunked message may take.
#[derive(Clone, Copy)]
pub(super) enum FirstPacket {
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

/// The local refusals of a send, checked before any byte is written.
pub(super) fn check_send(
    limits: &Limits,
    header: &Header,
    payload: &[u8],
) -> Result<(), TransportError> {
    if header.payload_len as usize != payload.len() {
        return Err(TransportError::PayloadLenMismatch {
            header: header.payload_len,
            actual: payload.len(),
        });
    }
    if header.payload_len > limits.max_send_payload {
        return Err(TransportError::RequestTooLarge {
            len: header.payload_len,
            limit: limits.max_send_payload,
        });
    }
    // total_message_len (32 + payload_len) must fit its u32 field.
    let max_total = u32::MAX - HEADER_LEN as u32;
    if header.payload_len > max_total {
        return Err(TransportError::RequestTooLarge {
            len: header.payload_len,
            limit: max_total,
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

/// Sends a checked message, chunked per PROTOCOL.md §4.
pub(super) fn send_message(
    conn: &UdsConn,
    packet_size: u32,
    header: &Header,
    payload: &[u8],
) -> Result<(), TransportError> {
    let hdr = header.encode();
    let room = packet_size as usize - HEADER_LEN;
    if payload.len() <= room {
        return conn.send_iov(&[IoSlice::new(&hdr), IoSlice::new(payload)]);
    }
    let (first, mut rest) = payload.split_at(room);
    // payload_len ≤ u32::MAX − 32 and room ≥ 1, so both fit a u32.
    let chunk_count = 1 + div_ceil(rest.len(), room) as u32;
    let total_message_len = header.payload_len + HEADER_LEN as u32;
    conn.send_iov(&[IoSlice::new(&hdr), IoSlice::new(first)])?;
    let mut chunk_index = 1;
    while !rest.is_empty() {
        let (part, tail) = rest.split_at(room.min(rest.len()));
        let chunk = ChunkHeader {
            message_id: header.message_id,
            total_message_len,
            chunk_index,
            chunk_count,
            chunk_payload_len: part.len() as u32,
        }
        .encode();
        conn.send_iov(&[IoSlice::new(&chunk), IoSlice::new(part)])?;
        rest = tail;
        chunk_index += 1;
    }
    Ok(())
}

/// Receives one message into `buf` (header at 0, payload after it) and
/// returns its header; `Ok(None)` only for [`FirstPacket::Try`] when no
/// packet is queued.
pub(super) fn recv_message(
    conn: &UdsConn,
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
            let n = conn.recv_first(wait, |flags| recv_spare(conn.fd(), buf, flags))?;
            (n, Some(wait))
        }
        FirstPacket::Split { first, .. } => {
            let n = conn.recv_first(Deadline::new(first), |flags| {
                recv_spare(conn.fd(), buf, flags)
            })?;
            (n, None)
        }
        FirstPacket::Try(_) => match conn.recv_now(|flags| recv_spare(conn.fd(), buf, flags)) {
            Ok(n) => (n, None),
            Err(TransportError::Timeout) => return Ok(None),
            Err(e) => return Err(e),
        },
    };

    if n < HEADER_LEN {
        return Err(TransportError::ShortPacket { len: n });
    }
    let header = Header::decode(&buf[..HEADER_LEN])?;
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
    if n > packet {
        return Err(TransportError::OversizePacket {
            len: n,
            limit: packet,
        });
    }
    // Here n ≤ first_cap ≤ spare capacity: the packet fitted, buf.len() == n.

    if n < total {
        // The rest of the message: within the same deadline when waiting,
        // within `rest` from now after a non-blocking start.
        let wait = match (wait, first) {
            (Some(wait), _) => wait,
            (None, FirstPacket::Try(rest) | FirstPacket::Split { rest, .. }) => Deadline::new(rest),
            (None, FirstPacket::Wait(timeout)) => Deadline::new(timeout),
        };
        recv_chunks(conn, &header, total, packet, buf, &wait)?;
    }

    if header.is_batch() {
        BatchView::new(&buf[HEADER_LEN..total], header.item_count)
            .map_err(TransportError::BadBatch)?;
    }
    Ok(Some(header))
}

/// Receives the continuation chunks of a message whose first packet is in
/// `buf`, until `buf` holds `total` bytes.
fn recv_chunks(
    conn: &UdsConn,
    header: &Header,
    total: usize,
    packet: usize,
    buf: &mut Vec<u8>,
    wait: &Deadline,
) -> Result<(), TransportError> {
    let room = packet - HEADER_LEN;
    let first_part = buf.len() - HEADER_LEN;
    let expected = 1 + div_ceil(header.payload_len as usize - first_part, room) as u64;

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
        grow_for_chunk(buf, pos + remaining.min(room), total);
        let m = match conn.recv_next(wait, |flags| recv_spare(conn.fd(), buf, flags)) {
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
        // m ≥ 32 and the spare capacity was ≥ 32 + min(room, remaining) ≥
        // 32, so buf.len() ≥ pos.
        let mut raw = [0u8; CHUNK_HEADER_LEN];
        raw.copy_from_slice(&buf[hdr_at..pos]);
        buf[hdr_at..pos].copy_from_slice(&saved);

        let chunk = ChunkHeader::decode(&raw)?;
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
        let data = m - CHUNK_HEADER_LEN;
        if chunk.chunk_payload_len as usize != data {
            return Err(TransportError::ChunkLengthMismatch {
                declared: chunk.chunk_payload_len,
                actual: data,
            });
        }
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

/// `ceil(n / d)` for `d > 0` (`usize::div_ceil` is newer than the MSRV).
#[inline]
fn div_ceil(n: usize, d: usize) -> usize {
    n / d + usize::from(n % d != 0)
}
