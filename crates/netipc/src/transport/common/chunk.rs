//! Chunking (PROTOCOL.md §4) and the receive rules (§6.6), independent of
//! how packets move: a transport splits a message with [`packets`] and
//! checks what it reads with [`check_first_packet`], [`check_chunk`] and
//! [`check_batch`].

#![forbid(unsafe_code)]

use std::time::Duration;

use super::limits::Limits;
use crate::transport::error::TransportError;
use crate::wire::{BatchView, ChunkHeader, Header, HEADER_LEN};

/// When the first packet of a message is awaited, and how long the rest of
/// a chunked message may take.
#[derive(Clone, Copy)]
pub(crate) enum FirstPacket {
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

/// The local refusals of a send, checked before any byte is written:
/// `payload_len` differs from the payload, the payload exceeds
/// `max_send_payload` (or does not leave room for the 32-byte header in a
/// `u32` total), or `item_count` exceeds `max_send_items`.
pub(crate) fn check_send(
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

/// The packets of a message checked by [`check_send`], for a packet size
/// above 32: the first is the encoded header and the first `P − 32`
/// payload bytes; each continuation is a chunk header and the next
/// `min(P − 32, rest)` bytes. Each item is `(32-byte prefix, data)`.
pub(crate) fn packets<'a>(header: &Header, payload: &'a [u8], packet_size: u32) -> Packets<'a> {
    let room = packet_size as usize - HEADER_LEN;
    let first = payload.len().min(room);
    Packets {
        first: Some(header.encode()),
        message_id: header.message_id,
        total_message_len: header.payload_len.wrapping_add(HEADER_LEN as u32),
        // payload_len ≤ u32::MAX − 32 (check_send) and room ≥ 1.
        chunk_count: expected_chunks(payload.len(), first, room) as u32,
        room,
        payload,
        chunk_index: 0,
    }
}

/// Iterator of [`packets`].
pub(crate) struct Packets<'a> {
    first: Option<[u8; HEADER_LEN]>,
    message_id: u64,
    total_message_len: u32,
    chunk_count: u32,
    room: usize,
    payload: &'a [u8],
    chunk_index: u32,
}

impl<'a> Iterator for Packets<'a> {
    type Item = ([u8; HEADER_LEN], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let prefix = match self.first.take() {
            Some(header) => header,
            None if self.payload.is_empty() => return None,
            None => {
                let len = self.room.min(self.payload.len());
                ChunkHeader {
                    message_id: self.message_id,
                    total_message_len: self.total_message_len,
                    chunk_index: self.chunk_index,
                    chunk_count: self.chunk_count,
                    chunk_payload_len: len as u32,
                }
                .encode()
            }
        };
        let (part, rest) = self.payload.split_at(self.room.min(self.payload.len()));
        self.payload = rest;
        self.chunk_index += 1;
        Some((prefix, part))
    }
}

/// The packets a message of `payload_len` bytes takes when its first
/// packet carries `first_part` payload bytes and each continuation up to
/// `room`.
pub(crate) fn expected_chunks(payload_len: usize, first_part: usize, room: usize) -> u64 {
    1 + div_ceil(payload_len - first_part, room) as u64
}

/// The rules for the first packet of a message that was `n` bytes long
/// (`received` holds what was kept of it, at least its first 32 bytes when
/// `n ≥ 32`; a packet truncated by a short buffer still reports its real
/// length): at least 32 bytes and a header that decodes; `payload_len` and
/// `item_count` within the receive limits; no longer than `32 +
/// payload_len` (stricter than the reference peers: a padded packet is
/// rejected) nor than the packet size. Returns the header.
pub(crate) fn check_first_packet(
    received: &[u8],
    n: usize,
    limits: &Limits,
) -> Result<Header, TransportError> {
    if n < HEADER_LEN {
        return Err(TransportError::ShortPacket { len: n });
    }
    let head = received
        .get(..HEADER_LEN)
        .ok_or(TransportError::ShortPacket {
            len: received.len(),
        })?;
    let header = Header::decode(head)?;
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
    let size = limits.packet_size as usize;
    if n > size {
        return Err(TransportError::OversizePacket {
            len: n,
            limit: size,
        });
    }
    Ok(header)
}

/// The rules for continuation chunk `index` of the message `header`
/// (`expected` chunks, `total = 32 + payload_len` bytes) that carried
/// `data` bytes after its chunk header: same message id, the next index,
/// the chunk count the length implies, the total length, and a
/// `chunk_payload_len` equal to the bytes that came.
pub(crate) fn check_chunk(
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

/// The last rule of a complete message: a BATCH message's directory must
/// validate (for any `item_count`). `payload` is the whole payload.
pub(crate) fn check_batch(header: &Header, payload: &[u8]) -> Result<(), TransportError> {
    if header.is_batch() {
        BatchView::new(payload, header.item_count).map_err(TransportError::BadBatch)?;
    }
    Ok(())
}

/// `ceil(n / d)` for `d > 0` (`usize::div_ceil` is newer than the MSRV).
#[inline]
fn div_ceil(n: usize, d: usize) -> usize {
    n / d + usize::from(n % d != 0)
}
