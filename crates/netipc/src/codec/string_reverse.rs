//! STRING_REVERSE (method code 3): a test method carrying one byte string.
//!
//! Requests and responses share the layout:
//!
//! ```text
//! 0      4             8
//! +------+-------------+----------------+-----+
//! | off  | len         | string (len B) | NUL |
//! +------+-------------+----------------+-----+
//!   u32    u32 (no NUL)
//! ```
//!
//! `off` counts from the start of the payload. Encoders always write 8, so the
//! payload is `9 + len` bytes with no padding. The server answers with the
//! string reversed.
//!
//! Decoding follows the protocol's rules: `off` must be exactly 8 (every
//! encoder writes 8; the newest peers reject anything else as well), the
//! string and its NUL must fit, and the byte after the string must be NUL.
//! Bytes after the NUL are ignored, as existing peers do. The string itself may contain any byte,
//! including NUL: its length field, not a terminator, delimits it.

use super::{to_u32, CodecError};
use crate::bytes::read_u32;

/// Size of the fixed header (`str_offset` and `str_length`).
pub const HEADER_LEN: usize = 8;

/// Payload length for a string of `str_len` bytes: header, string and NUL.
///
/// Saturates at `usize::MAX` instead of overflowing.
#[inline]
pub const fn encoded_len(str_len: usize) -> usize {
    str_len.saturating_add(HEADER_LEN + 1)
}

/// Appends the STRING_REVERSE payload for `s` to `buf`.
///
/// # Errors
///
/// [`CodecError::FieldOverflow`] if `s` is longer than `u32::MAX` bytes; `buf`
/// is then left unchanged.
pub fn encode_into(buf: &mut Vec<u8>, s: &[u8]) -> Result<(), CodecError> {
    let len = to_u32("string length", s.len())?;
    buf.reserve(encoded_len(s.len()));
    buf.extend_from_slice(&(HEADER_LEN as u32).to_ne_bytes());
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(s);
    buf.push(0);
    Ok(())
}

/// A decoded STRING_REVERSE payload borrowing its bytes from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringView<'a> {
    bytes: &'a [u8],
}

impl<'a> StringView<'a> {
    /// Validates `payload` and returns a view of its string.
    ///
    /// # Errors
    ///
    /// * [`CodecError::Truncated`]: fewer than 8 bytes.
    /// * [`CodecError::BadStringOffset`]: `str_offset` other than 8.
    /// * [`CodecError::StringOutOfBounds`]: string plus NUL past the end.
    /// * [`CodecError::StringMissingNul`]: the byte after the string is not 0.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        let truncated = CodecError::Truncated {
            what: "string_reverse header",
            need: HEADER_LEN,
            have: payload.len(),
        };
        let offset = read_u32(payload, 0).ok_or(truncated)?;
        let length = read_u32(payload, 4).ok_or(truncated)?;
        if offset as usize != HEADER_LEN {
            return Err(CodecError::BadStringOffset { found: offset });
        }
        // Both values are < 2^32, so the sum cannot overflow 64 bits.
        let end = u64::from(offset) + u64::from(length);
        let out_of_bounds = CodecError::StringOutOfBounds {
            offset,
            length,
            have: payload.len(),
        };
        if end >= payload.len() as u64 {
            return Err(out_of_bounds);
        }
        let (start, end) = (offset as usize, end as usize);
        let bytes = payload.get(start..end).ok_or(out_of_bounds)?;
        match payload.get(end) {
            Some(0) => Ok(Self { bytes }),
            Some(&found) => Err(CodecError::StringMissingNul { at: end, found }),
            None => Err(out_of_bounds),
        }
    }

    /// The string, without its NUL.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The string as UTF-8.
    ///
    /// # Errors
    ///
    /// [`CodecError::Utf8`] if the bytes are not valid UTF-8.
    pub fn to_str(&self) -> Result<&'a str, CodecError> {
        core::str::from_utf8(self.bytes).map_err(|source| CodecError::Utf8 {
            field: "string",
            source,
        })
    }

    /// Length of the string in bytes (NUL excluded).
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the string is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(s: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_into(&mut buf, s).expect("short string encodes");
        buf
    }

    fn with_header(offset: u32, length: u32, rest: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&offset.to_ne_bytes());
        v.extend_from_slice(&length.to_ne_bytes());
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn round_trip_and_layout() {
        let p = encode(b"hello");
        assert_eq!(p.len(), encoded_len(5));
        assert_eq!(read_u32(&p, 0), Some(8));
        assert_eq!(read_u32(&p, 4), Some(5));
        assert_eq!(p.last(), Some(&0));
        let v = StringView::decode(&p).expect("valid");
        assert_eq!(v.as_bytes(), b"hello");
        assert_eq!(v.to_str(), Ok("hello"));
        assert_eq!(v.len(), 5);
        assert!(!v.is_empty());
    }

    #[test]
    fn empty_string() {
        let p = encode(b"");
        assert_eq!(p.len(), 9);
        let v = StringView::decode(&p).expect("valid");
        assert!(v.is_empty());
        assert_eq!(v.as_bytes(), b"");
    }

    #[test]
    fn encode_appends_after_existing_bytes() {
        let mut buf = vec![7, 7, 7];
        encode_into(&mut buf, b"ab").expect("encodes");
        assert_eq!(&buf[..3], &[7, 7, 7]);
        assert_eq!(
            StringView::decode(&buf[3..]).map(|v| v.as_bytes()),
            Ok(&b"ab"[..])
        );
    }

    #[test]
    fn interior_nul_is_carried_by_length() {
        let p = encode(b"a\0b");
        assert_eq!(
            StringView::decode(&p).map(|v| v.as_bytes()),
            Ok(&b"a\0b"[..])
        );
    }

    #[test]
    fn header_shorter_than_8_is_truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                StringView::decode(&vec![8u8; len]),
                Err(CodecError::Truncated {
                    what: "string_reverse header",
                    need: 8,
                    have: len
                })
            );
        }
    }

    #[test]
    fn offset_other_than_8_is_rejected() {
        // Into the header, just past it, and far past it (the string and its
        // NUL would still fit for 9..=16).
        for off in (0..8u32).chain(9..=16).chain([u32::MAX]) {
            let p = with_header(off, 0, &[0; 16]);
            assert_eq!(
                StringView::decode(&p),
                Err(CodecError::BadStringOffset { found: off })
            );
        }
    }

    #[test]
    fn string_past_end_is_out_of_bounds() {
        // Exactly fits without the NUL: still out of bounds.
        let p = with_header(8, 3, b"abc");
        assert_eq!(
            StringView::decode(&p),
            Err(CodecError::StringOutOfBounds {
                offset: 8,
                length: 3,
                have: 11
            })
        );
        // A length that would overflow 32-bit arithmetic.
        let p = with_header(8, u32::MAX, b"abc\0");
        assert!(matches!(
            StringView::decode(&p),
            Err(CodecError::StringOutOfBounds { .. })
        ));
    }

    #[test]
    fn missing_nul_is_rejected() {
        let p = with_header(8, 2, b"abc");
        assert_eq!(
            StringView::decode(&p),
            Err(CodecError::StringMissingNul {
                at: 10,
                found: b'c'
            })
        );
    }

    #[test]
    fn trailing_bytes_are_accepted() {
        let p = with_header(8, 2, b"xy\0tail");
        assert_eq!(StringView::decode(&p).map(|v| v.as_bytes()), Ok(&b"xy"[..]));
    }

    #[test]
    fn non_utf8_reports_utf8_error() {
        let p = encode(&[0xff, 0xfe]);
        let v = StringView::decode(&p).expect("valid payload");
        assert!(matches!(
            v.to_str(),
            Err(CodecError::Utf8 {
                field: "string",
                ..
            })
        ));
    }

    #[test]
    fn encoded_len_saturates() {
        assert_eq!(encoded_len(usize::MAX), usize::MAX);
        assert_eq!(encoded_len(300), 309);
    }
}
