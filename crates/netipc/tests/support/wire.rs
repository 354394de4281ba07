//! Hand-built headers and packets for crafted input, and native-endian
//! field access for reading packets back.

use netipc::wire::{ChunkHeader, Flags, Header, Hello, Kind, Profiles};

/// Concatenates parts into one packet.
pub fn packet(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A plain RESPONSE header.
pub fn response(code: u16, payload_len: u32, message_id: u64) -> Header {
    Header {
        kind: Kind::Response,
        flags: Flags::NONE,
        code,
        transport_status: 0,
        payload_len,
        item_count: 1,
        message_id,
    }
}

/// A plain REQUEST header for method code 1.
pub fn request(payload_len: u32, message_id: u64) -> Header {
    Header {
        kind: Kind::Request,
        flags: Flags::NONE,
        code: 1,
        transport_status: 0,
        payload_len,
        item_count: 1,
        message_id,
    }
}

/// Writes a u16 in native byte order at `off`.
pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a u32 in native byte order at `off`.
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Reads a u16 in native byte order at `off`.
pub fn get16(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// Reads a u32 in native byte order at `off`.
pub fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// Reads a u64 in native byte order at `off`.
pub fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

/// A chunk header.
pub fn chunk(message_id: u64, total: u32, index: u32, count: u32, len: u32) -> [u8; 32] {
    ChunkHeader {
        message_id,
        total_message_len: total,
        chunk_index: index,
        chunk_count: count,
        chunk_payload_len: len,
    }
    .encode()
}

/// A well-formed HELLO proposal.
pub fn sample_hello() -> Hello {
    Hello {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles(0),
        max_request_payload_bytes: 4096,
        max_request_batch_items: 8,
        max_response_payload_bytes: 4096,
        max_response_batch_items: 8,
        auth_token: 0x1122_3344_5566_7788,
        packet_size: 65_536,
    }
}

/// The header of a HELLO packet.
pub fn hello_header() -> Header {
    Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: 1,
        transport_status: 0,
        payload_len: 44,
        item_count: 1,
        message_id: 0,
    }
}

/// A complete HELLO packet.
pub fn hello_packet(hello: &Hello) -> Vec<u8> {
    packet(&[&hello_header().encode(), &hello.encode()])
}

/// The header of a HELLO_ACK packet with `status`.
pub fn ack_header(status: u16) -> Header {
    Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: 2,
        transport_status: status,
        payload_len: 48,
        item_count: 1,
        message_id: 0,
    }
}
