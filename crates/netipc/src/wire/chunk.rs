//! The 32-byte chunk continuation header (PROTOCOL.md §2.5, §4).

use super::{need, WireError};
use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

/// `"NCHK"` as a native-endian u32.
pub const CHUNK_MAGIC: u32 = 0x4e43_484b;
/// Size of the chunk continuation header.
pub const CHUNK_HEADER_LEN: usize = 32;

/// The header of every packet after the first of a chunked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// The message id of the outer header.
    pub message_id: u64,
    /// `32 + payload_len` of the whole message.
    pub total_message_len: u32,
    /// 1, 2, … (the first packet, index 0, carries the outer header instead).
    pub chunk_index: u32,
    /// Packets in the message, the first included.
    pub chunk_count: u32,
    /// Payload bytes in this packet; never zero.
    pub chunk_payload_len: u32,
}

impl ChunkHeader {
    /// Encodes the header (flags are always zero).
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        put_u32(&mut b, 0, CHUNK_MAGIC);
        put_u16(&mut b, 4, 1);
        put_u16(&mut b, 6, 0);
        put_u64(&mut b, 8, self.message_id);
        put_u32(&mut b, 16, self.total_message_len);
        put_u32(&mut b, 20, self.chunk_index);
        put_u32(&mut b, 24, self.chunk_count);
        put_u32(&mut b, 28, self.chunk_payload_len);
        b
    }

    /// Decodes the first 32 bytes of `buf`: length, magic, version 1,
    /// flags 0 and a non-zero chunk payload length are checked; how the
    /// chunk fits its message is the receiver's business.
    pub fn decode(buf: &[u8]) -> Result<ChunkHeader, WireError> {
        need("chunk header", buf, CHUNK_HEADER_LEN)?;
        let magic = get_u32(buf, 0);
        if magic != CHUNK_MAGIC {
            return Err(WireError::BadMagic {
                what: "chunk header",
                found: magic,
                expected: CHUNK_MAGIC,
            });
        }
        let version = get_u16(buf, 4);
        if version != 1 {
            return Err(WireError::BadVersion {
                what: "chunk header",
                found: version,
            });
        }
        let flags = get_u16(buf, 6);
        if flags != 0 {
            return Err(WireError::UnknownFlags {
                what: "chunk header",
                found: flags,
            });
        }
        let chunk = ChunkHeader {
            message_id: get_u64(buf, 8),
            total_message_len: get_u32(buf, 16),
            chunk_index: get_u32(buf, 20),
            chunk_count: get_u32(buf, 24),
            chunk_payload_len: get_u32(buf, 28),
        };
        if chunk.chunk_payload_len == 0 {
            return Err(WireError::EmptyChunk);
        }
        Ok(chunk)
    }
}
