//! INCREMENT (method code 1): a test method whose payload is one `u64`.
//!
//! Requests and responses share the layout: eight bytes holding the value in
//! native byte order. The server answers with the value plus one (wrapping).
//!
//! [`decode`] reads the first eight bytes and ignores anything after them,
//! which is what existing peers do; a caller that needs an exact length can
//! compare against [`PAYLOAD_LEN`] itself.

use super::CodecError;
use crate::bytes::read_u64;

/// Length of an INCREMENT payload in bytes.
pub const PAYLOAD_LEN: usize = 8;

/// Encodes `value` as an INCREMENT payload.
#[inline]
pub fn encode(value: u64) -> [u8; PAYLOAD_LEN] {
    value.to_ne_bytes()
}

/// Appends the INCREMENT payload for `value` to `buf`.
#[inline]
pub fn encode_into(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(&encode(value));
}

/// Decodes an INCREMENT payload.
///
/// Needs at least [`PAYLOAD_LEN`] bytes; bytes beyond the eighth are ignored.
///
/// # Errors
///
/// [`CodecError::Truncated`] if `payload` is shorter than eight bytes.
#[inline]
pub fn decode(payload: &[u8]) -> Result<u64, CodecError> {
    read_u64(payload, 0).ok_or(CodecError::Truncated {
        what: "increment payload",
        need: PAYLOAD_LEN,
        have: payload.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_extremes() {
        for v in [0, 1, 41, u64::MAX, 1 << 63] {
            assert_eq!(decode(&encode(v)), Ok(v));
        }
    }

    #[test]
    fn encode_into_appends() {
        let mut buf = vec![0xaa];
        encode_into(&mut buf, 7);
        assert_eq!(buf.len(), 1 + PAYLOAD_LEN);
        assert_eq!(buf[0], 0xaa);
        assert_eq!(decode(&buf[1..]), Ok(7));
    }

    #[test]
    fn short_payload_is_truncated() {
        for len in 0..PAYLOAD_LEN {
            let bytes = vec![1u8; len];
            assert_eq!(
                decode(&bytes),
                Err(CodecError::Truncated {
                    what: "increment payload",
                    need: 8,
                    have: len
                })
            );
        }
    }

    #[test]
    fn extra_bytes_are_ignored() {
        let mut bytes = encode(99).to_vec();
        bytes.extend_from_slice(&[0xff; 5]);
        assert_eq!(decode(&bytes), Ok(99));
    }
}
