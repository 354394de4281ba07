//! HELLO (44 bytes) and HELLO_ACK (48 bytes) payloads (PROTOCOL.md §5.1–§5.2).

use super::need;
use super::{Profiles, WireError};
use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};

/// Wire size of a HELLO payload (the C struct is 48 bytes; 44 travel).
pub const HELLO_LEN: usize = 44;
/// Wire size of a HELLO_ACK payload.
pub const HELLO_ACK_LEN: usize = 48;
/// The only handshake payload layout version.
pub const HELLO_LAYOUT_VERSION: u16 = 1;

/// The client's handshake proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hello {
    /// Profiles the client can run.
    pub supported_profiles: Profiles,
    /// Profiles the client would rather run.
    pub preferred_profiles: Profiles,
    /// Largest request payload the client wants to send (≤ 1 MiB).
    pub max_request_payload_bytes: u32,
    /// Largest number of items in a request batch.
    pub max_request_batch_items: u32,
    /// Response payload the client expects (a hint; the server decides).
    pub max_response_payload_bytes: u32,
    /// Response batch items (a hint; the server echoes the request value).
    pub max_response_batch_items: u32,
    /// The shared secret both sides must agree on.
    pub auth_token: u64,
    /// Largest UDS packet the client proposes.
    pub packet_size: u32,
}

impl Hello {
    /// Encodes the payload (layout 1, flags and reserved zero).
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        put_u16(&mut b, 0, HELLO_LAYOUT_VERSION);
        put_u16(&mut b, 2, 0);
        put_u32(&mut b, 4, self.supported_profiles.0);
        put_u32(&mut b, 8, self.preferred_profiles.0);
        put_u32(&mut b, 12, self.max_request_payload_bytes);
        put_u32(&mut b, 16, self.max_request_batch_items);
        put_u32(&mut b, 20, self.max_response_payload_bytes);
        put_u32(&mut b, 24, self.max_response_batch_items);
        put_u32(&mut b, 28, 0);
        put_u64(&mut b, 32, self.auth_token);
        put_u32(&mut b, 40, self.packet_size);
        b
    }

    /// Decodes a received HELLO: at least 44 bytes, layout version 1, and —
    /// stricter than the reference peers, as the prose specification asks —
    /// flags and the reserved word zero.
    pub fn decode(buf: &[u8]) -> Result<Hello, WireError> {
        need("HELLO", buf, HELLO_LEN)?;
        let layout = get_u16(buf, 0);
        if layout != HELLO_LAYOUT_VERSION {
            return Err(WireError::BadLayoutVersion {
                what: "HELLO",
                found: layout,
            });
        }
        let flags = get_u16(buf, 2);
        if flags != 0 {
            return Err(WireError::UnknownFlags {
                what: "HELLO",
                found: flags,
            });
        }
        let reserved = get_u32(buf, 28);
        if reserved != 0 {
            return Err(WireError::NonZeroReserved {
                what: "HELLO",
                found: reserved.into(),
            });
        }
        Ok(Hello {
            supported_profiles: Profiles(get_u32(buf, 4)),
            preferred_profiles: Profiles(get_u32(buf, 8)),
            max_request_payload_bytes: get_u32(buf, 12),
            max_request_batch_items: get_u32(buf, 16),
            max_response_payload_bytes: get_u32(buf, 20),
            max_response_batch_items: get_u32(buf, 24),
            auth_token: get_u64(buf, 32),
            packet_size: get_u32(buf, 40),
        })
    }
}

/// The server's handshake answer.
///
/// A rejection carries a non-OK status in the outer header and a payload
/// that is all zero except the layout version: [`HelloAck::REJECTION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HelloAck {
    /// Profiles the server supports.
    pub server_supported_profiles: Profiles,
    /// Client's supported ∩ server's supported.
    pub intersection_profiles: Profiles,
    /// The one profile the session runs.
    pub selected_profile: Profiles,
    /// Agreed request payload limit (the client's proposal, echoed).
    pub agreed_max_request_payload_bytes: u32,
    /// Agreed request batch items (the client's proposal, echoed).
    pub agreed_max_request_batch_items: u32,
    /// Agreed response payload limit (the server's value).
    pub agreed_max_response_payload_bytes: u32,
    /// Agreed response batch items (equal to the request batch items).
    pub agreed_max_response_batch_items: u32,
    /// Agreed UDS packet size, `min(client, server)`.
    pub agreed_packet_size: u32,
    /// Server-assigned session id (from 1, monotonic).
    pub session_id: u64,
}

impl HelloAck {
    /// The payload of a rejection: every field zero.
    pub const REJECTION: HelloAck = HelloAck {
        server_supported_profiles: Profiles(0),
        intersection_profiles: Profiles(0),
        selected_profile: Profiles(0),
        agreed_max_request_payload_bytes: 0,
        agreed_max_request_batch_items: 0,
        agreed_max_response_payload_bytes: 0,
        agreed_max_response_batch_items: 0,
        agreed_packet_size: 0,
        session_id: 0,
    };

    /// Encodes the payload (layout 1, flags and reserved zero).
    pub fn encode(&self) -> [u8; HELLO_ACK_LEN] {
        let mut b = [0u8; HELLO_ACK_LEN];
        put_u16(&mut b, 0, HELLO_LAYOUT_VERSION);
        put_u16(&mut b, 2, 0);
        put_u32(&mut b, 4, self.server_supported_profiles.0);
        put_u32(&mut b, 8, self.intersection_profiles.0);
        put_u32(&mut b, 12, self.selected_profile.0);
        put_u32(&mut b, 16, self.agreed_max_request_payload_bytes);
        put_u32(&mut b, 20, self.agreed_max_request_batch_items);
        put_u32(&mut b, 24, self.agreed_max_response_payload_bytes);
        put_u32(&mut b, 28, self.agreed_max_response_batch_items);
        put_u32(&mut b, 32, self.agreed_packet_size);
        put_u32(&mut b, 36, 0);
        put_u64(&mut b, 40, self.session_id);
        b
    }

    /// Decodes a received HELLO_ACK: at least 48 bytes, layout version 1,
    /// flags zero and (stricter than the reference peers) reserved zero.
    pub fn decode(buf: &[u8]) -> Result<HelloAck, WireError> {
        need("HELLO_ACK", buf, HELLO_ACK_LEN)?;
        let layout = get_u16(buf, 0);
        if layout != HELLO_LAYOUT_VERSION {
            return Err(WireError::BadLayoutVersion {
                what: "HELLO_ACK",
                found: layout,
            });
        }
        let flags = get_u16(buf, 2);
        if flags != 0 {
            return Err(WireError::UnknownFlags {
                what: "HELLO_ACK",
                found: flags,
            });
        }
        let reserved = get_u32(buf, 36);
        if reserved != 0 {
            return Err(WireError::NonZeroReserved {
                what: "HELLO_ACK",
                found: reserved.into(),
            });
        }
        Ok(HelloAck {
            server_supported_profiles: Profiles(get_u32(buf, 4)),
            intersection_profiles: Profiles(get_u32(buf, 8)),
            selected_profile: Profiles(get_u32(buf, 12)),
            agreed_max_request_payload_bytes: get_u32(buf, 16),
            agreed_max_request_batch_items: get_u32(buf, 20),
            agreed_max_response_payload_bytes: get_u32(buf, 24),
            agreed_max_response_batch_items: get_u32(buf, 28),
            agreed_packet_size: get_u32(buf, 32),
            session_id: get_u64(buf, 40),
        })
    }
}
