//! The 32-byte outer message header (PROTOCOL.md §2.1).

use super::need;
use super::{Kind, Method, Status, WireError};
use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

/// `"NIPC"` as a native-endian u32.
pub const MAGIC: u32 = 0x4e49_5043;
/// Envelope version.
pub const VERSION: u16 = 1;
/// Size of the outer header in bytes.
pub const HEADER_LEN: usize = 32;

/// The `flags` field of the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// The payload is a batch: an item directory followed by packed items.
    pub const BATCH: Flags = Flags(0x0001);
    /// Every bit the protocol defines.
    pub const KNOWN: Flags = Flags(0x0001);

    /// True when the BATCH bit is set.
    pub const fn is_batch(self) -> bool {
        self.0 & Self::BATCH.0 != 0
    }
}

/// A decoded outer header.
///
/// `code` and `transport_status` stay raw on decode so that a server can
/// answer an unknown method with UNSUPPORTED and echo the code; use
/// [`Header::method`] and [`Header::status`] for the typed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Message kind.
    pub kind: Kind,
    /// Flags (only BATCH is defined).
    pub flags: Flags,
    /// Method code, or control opcode for CONTROL messages.
    pub code: u16,
    /// Transport status; 0 in requests and HELLO.
    pub transport_status: u16,
    /// Bytes after the header for the whole logical message.
    pub payload_len: u32,
    /// 1 for every non-batch message, N for a batch of N items.
    pub item_count: u32,
    /// Correlation id chosen by the client and echoed by the server.
    pub message_id: u64,
}

impl Header {
    /// The largest `payload_len` a version-1 header may carry: the total
    /// message length `32 + payload_len` must fit in 32 bits
    /// (4 294 967 263).
    pub const MAX_PAYLOAD_LEN: u32 = u32::MAX - HEADER_LEN as u32;

    /// A plain (non-batch) request for `method`.
    pub const fn request(method: Method, payload_len: u32, message_id: u64) -> Header {
        Header {
            kind: Kind::Request,
            flags: Flags::NONE,
            code: method as u16,
            transport_status: 0,
            payload_len,
            item_count: 1,
            message_id,
        }
    }

    /// A batch request for `method` carrying `item_count` items.
    pub const fn batch_request(
        method: Method,
        payload_len: u32,
        item_count: u32,
        message_id: u64,
    ) -> Header {
        Header {
            kind: Kind::Request,
            flags: Flags::BATCH,
            code: method as u16,
            transport_status: 0,
            payload_len,
            item_count,
            message_id,
        }
    }

    /// A response answering `request` with `status` and `payload_len` bytes.
    ///
    /// The code and message id are echoed; flags and item count are those of
    /// a plain message (the caller sets BATCH for a successful batch reply).
    pub const fn response_to(request: &Header, status: Status, payload_len: u32) -> Header {
        Header {
            kind: Kind::Response,
            flags: Flags::NONE,
            code: request.code,
            transport_status: status as u16,
            payload_len,
            item_count: 1,
            message_id: request.message_id,
        }
    }

    /// The method, if `code` is a known method code.
    pub fn method(&self) -> Result<Method, WireError> {
        Method::try_from(self.code)
    }

    /// The transport status, if known.
    pub fn status(&self) -> Result<Status, WireError> {
        Status::try_from(self.transport_status)
    }

    /// True when the BATCH flag is set.
    pub const fn is_batch(&self) -> bool {
        self.flags.is_batch()
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        put_u32(&mut b, 0, MAGIC);
        put_u16(&mut b, 4, VERSION);
        put_u16(&mut b, 6, HEADER_LEN as u16);
        put_u16(&mut b, 8, self.kind as u16);
        put_u16(&mut b, 10, self.flags.0);
        put_u16(&mut b, 12, self.code);
        put_u16(&mut b, 14, self.transport_status);
        put_u32(&mut b, 16, self.payload_len);
        put_u32(&mut b, 20, self.item_count);
        put_u64(&mut b, 24, self.message_id);
        b
    }

    /// Decodes the first 32 bytes of `buf` (extra bytes are the payload and
    /// are not looked at).
    ///
    /// Checks, in the protocol's order: length, magic, version, header_len,
    /// kind; then, stricter than the reference peers, that no undefined flag
    /// bit is set; then that `payload_len` is at most
    /// [`Header::MAX_PAYLOAD_LEN`], so that the total message length fits in
    /// 32 bits. `code`, `transport_status`, `item_count` and `payload_len`
    /// against negotiated limits are left to the layer that knows them.
    pub fn decode(buf: &[u8]) -> Result<Header, WireError> {
        let (version, header) = Self::decode_any_version(buf)?;
        if version != VERSION {
            return Err(WireError::BadVersion {
                what: "message header",
                found: version,
            });
        }
        if header.payload_len > Self::MAX_PAYLOAD_LEN {
            return Err(WireError::PayloadLenTooLarge {
                found: header.payload_len,
            });
        }
        Ok(header)
    }

    /// Like [`Header::decode`] but returns the version instead of rejecting
    /// a version other than 1 (whose flag bits are then not checked either:
    /// another version may define them, nor is `payload_len`).
    ///
    /// The handshake uses this to tell a HELLO of another protocol version
    /// (answered with INCOMPATIBLE) from garbage (closed without a reply).
    pub fn decode_any_version(buf: &[u8]) -> Result<(u16, Header), WireError> {
        need("message header", buf, HEADER_LEN)?;
        let magic = get_u32(buf, 0);
        if magic != MAGIC {
            return Err(WireError::BadMagic {
                what: "message header",
                found: magic,
                expected: MAGIC,
            });
        }
        let version = get_u16(buf, 4);
        let header_len = get_u16(buf, 6);
        if header_len as usize != HEADER_LEN {
            return Err(WireError::BadHeaderLen { found: header_len });
        }
        let kind = Kind::try_from(get_u16(buf, 8))?;
        let flags = get_u16(buf, 10);
        // Flag bits are defined per version: only version 1's are known.
        if version == VERSION && flags & !Flags::KNOWN.0 != 0 {
            return Err(WireError::UnknownFlags {
                what: "message header",
                found: flags,
            });
        }
        Ok((
            version,
            Header {
                kind,
                flags: Flags(flags),
                code: get_u16(buf, 12),
                transport_status: get_u16(buf, 14),
                payload_len: get_u32(buf, 16),
                item_count: get_u32(buf, 20),
                message_id: get_u64(buf, 24),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_payload_len(payload_len: u32) -> [u8; HEADER_LEN] {
        Header::request(Method::Increment, payload_len, 7).encode()
    }

    #[test]
    fn payload_len_whose_total_overflows_u32_is_rejected() {
        for payload_len in [Header::MAX_PAYLOAD_LEN + 1, u32::MAX - 1, u32::MAX] {
            assert_eq!(
                Header::decode(&with_payload_len(payload_len)),
                Err(WireError::PayloadLenTooLarge { found: payload_len }),
                "{payload_len}"
            );
        }
    }

    #[test]
    fn largest_payload_len_whose_total_fits_is_accepted() {
        assert_eq!(Header::MAX_PAYLOAD_LEN, 4_294_967_263);
        for payload_len in [0, 8, Header::MAX_PAYLOAD_LEN] {
            let header = Header::decode(&with_payload_len(payload_len)).expect("fits");
            assert_eq!(header.payload_len, payload_len);
        }
    }
}
