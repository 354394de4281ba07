//! Method payload codecs: pure byte encoding and decoding, no I/O.
//!
//! Each submodule handles the payload of one method code. A payload is the
//! byte string that travels after the outer envelope (or inside one batch
//! item); the codecs never look at the envelope itself.
//!
//! | module | method | payload |
//! |---|---|---|
//! | [`increment`] | INCREMENT (1) | one native-endian `u64` |
//! | [`string_reverse`] | STRING_REVERSE (3) | 8-byte header, the string, one NUL |
//! | [`cgroups`] | CGROUPS_SNAPSHOT (2) | 4-byte request; response header, directory and packed items |
//! | [`lookup`] | CGROUPS_LOOKUP (4), APPS_LOOKUP (5) | 16-byte header, directory, packed keys or items (own error type, [`lookup::LookupError`]) |
//!
//! Every integer is in the host's native byte order. Decoders borrow from the
//! input, never allocate and never panic: malformed input of any shape yields a
//! [`CodecError`] naming the rule that failed. Encoders append to a
//! caller-owned `Vec<u8>` so a buffer can be reused across messages.
//!
//! The design choices and the points where these decoders are stricter than
//! the minimum the protocol requires are written up in `docs/codec.md`.

#![forbid(unsafe_code)]

pub mod cgroups;
pub mod increment;
pub mod lookup;
pub mod string_reverse;

/// Why a payload could not be decoded or encoded.
///
/// Each variant corresponds to one validation rule. Variants about a single
/// item of a cgroups snapshot carry that item's zero-based `index`; variants
/// about a string inside an item carry `field`, which is `"name"` or `"path"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input is shorter than the fixed-size part that must be present.
    #[error("{what} truncated: need at least {need} bytes, have {have}")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Minimum number of bytes required.
        need: usize,
        /// Number of bytes available.
        have: usize,
    },

    /// A header's `layout_version` is not 1.
    #[error("{what}: layout_version is {found}, only 1 is supported")]
    BadLayoutVersion {
        /// Which header carried the value.
        what: &'static str,
        /// The value found.
        found: u16,
    },

    /// A header's `flags` field is not 0.
    #[error("{what}: flags are {found:#06x}, must be 0")]
    NonZeroFlags {
        /// Which header carried the value.
        what: &'static str,
        /// The value found.
        found: u16,
    },

    /// A reserved field is not 0.
    #[error("{what}: reserved field is {found:#x}, must be 0")]
    NonZeroReserved {
        /// Which header carried the value.
        what: &'static str,
        /// The value found.
        found: u32,
    },

    /// STRING_REVERSE: `str_offset` is not 8 (the string must follow the
    /// 8-byte header directly).
    #[error("string offset {found} is not 8")]
    BadStringOffset {
        /// The `str_offset` found.
        found: u32,
    },

    /// STRING_REVERSE: the string and its NUL do not fit in the payload.
    #[error(
        "string at offset {offset} with length {length} plus NUL does not fit in {have} bytes"
    )]
    StringOutOfBounds {
        /// The `str_offset` found.
        offset: u32,
        /// The `str_length` found.
        length: u32,
        /// Payload length.
        have: usize,
    },

    /// STRING_REVERSE: the byte after the string is not NUL.
    #[error("string is not NUL-terminated: byte {found:#04x} at offset {at}")]
    StringMissingNul {
        /// Offset of the byte that should be NUL.
        at: usize,
        /// The byte found there.
        found: u8,
    },

    /// Snapshot: the directory announced by `item_count` does not fit.
    #[error("snapshot announces {item_count} items: header and directory need {need} bytes, have {have}")]
    DirectoryTruncated {
        /// The `item_count` found in the header.
        item_count: u32,
        /// Bytes needed for the header plus the directory.
        need: u64,
        /// Payload length.
        have: usize,
    },

    /// Snapshot: a directory offset is not a multiple of 8.
    #[error("item {index}: offset {offset} is not a multiple of 8")]
    Misaligned {
        /// Item index.
        index: usize,
        /// The offset found in the directory.
        offset: u32,
    },

    /// Snapshot: a directory entry points past the end of the item area.
    #[error(
        "item {index}: offset {offset} + length {length} exceeds the {area_len}-byte item area"
    )]
    ItemOutOfBounds {
        /// Item index.
        index: usize,
        /// The offset found in the directory.
        offset: u32,
        /// The length found in the directory.
        length: u32,
        /// Size of the item area (bytes after the directory).
        area_len: usize,
    },

    /// Snapshot: a directory length is smaller than the 32-byte item header.
    #[error("item {index}: length {length} is shorter than the 32-byte item header")]
    ItemTooShort {
        /// Item index.
        index: usize,
        /// The length found in the directory.
        length: u32,
    },

    /// Snapshot: an item's `layout_version` is not 1.
    #[error("item {index}: layout_version is {found}, only 1 is supported")]
    ItemBadLayoutVersion {
        /// Item index.
        index: usize,
        /// The value found.
        found: u16,
    },

    /// Snapshot: an item's `flags` field is not 0.
    #[error("item {index}: flags are {found:#06x}, must be 0")]
    ItemNonZeroFlags {
        /// Item index.
        index: usize,
        /// The value found.
        found: u16,
    },

    /// Snapshot: a name or path offset points into the 32-byte item header.
    #[error("item {index}: {field} offset {offset} points into the 32-byte item header")]
    FieldOffsetInHeader {
        /// Item index.
        index: usize,
        /// `"name"` or `"path"`.
        field: &'static str,
        /// The offset found.
        offset: u32,
    },

    /// Snapshot: a name or path plus its NUL extends past the item.
    #[error("item {index}: {field} at offset {offset} with length {length} plus NUL exceeds the {item_len}-byte item")]
    FieldOutOfBounds {
        /// Item index.
        index: usize,
        /// `"name"` or `"path"`.
        field: &'static str,
        /// The offset found.
        offset: u32,
        /// The length found.
        length: u32,
        /// Item length from the directory.
        item_len: usize,
    },

    /// Snapshot: the byte after a name or path is not NUL.
    #[error("item {index}: {field} is not NUL-terminated (found byte {found:#04x})")]
    ItemMissingNul {
        /// Item index.
        index: usize,
        /// `"name"` or `"path"`.
        field: &'static str,
        /// The byte found where the NUL belongs.
        found: u8,
    },

    /// Snapshot: the name region and the path region (NULs included) overlap.
    #[error("item {index}: name and path regions overlap")]
    NameOverlapsPath {
        /// Item index.
        index: usize,
    },

    /// Snapshot: bytes follow the end of the furthest item.
    #[error("snapshot payload is {len} bytes but its content ends at {end}")]
    TrailingBytes {
        /// Where the content (header, directory, furthest item) ends.
        end: usize,
        /// Payload length.
        len: usize,
    },

    /// Encoder: a name or path contains a NUL byte.
    #[error("item {index}: {field} contains a NUL byte at position {at}")]
    InteriorNul {
        /// Index the item would have had.
        index: usize,
        /// `"name"` or `"path"`.
        field: &'static str,
        /// Position of the first NUL inside the field.
        at: usize,
    },

    /// Encoder: a length, offset or count does not fit its 32-bit wire field.
    #[error("{what} is {value}, which does not fit in a 32-bit field")]
    FieldOverflow {
        /// Which quantity overflowed.
        what: &'static str,
        /// The value that was too large.
        value: usize,
    },

    /// Encoder: the payload would exceed the limit given to the builder.
    #[error("payload would be {need} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Payload length the operation would have produced (saturated).
        need: usize,
        /// The configured limit.
        limit: usize,
    },

    /// A string field was asked for as `&str` but is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    Utf8 {
        /// `"string"`, `"name"` or `"path"`.
        field: &'static str,
        /// Details from the standard library.
        #[source]
        source: core::str::Utf8Error,
    },
}

impl CodecError {
    /// The snapshot item index this error refers to, if any.
    pub fn item_index(&self) -> Option<usize> {
        match *self {
            Self::Misaligned { index, .. }
            | Self::ItemOutOfBounds { index, .. }
            | Self::ItemTooShort { index, .. }
            | Self::ItemBadLayoutVersion { index, .. }
            | Self::ItemNonZeroFlags { index, .. }
            | Self::FieldOffsetInHeader { index, .. }
            | Self::FieldOutOfBounds { index, .. }
            | Self::ItemMissingNul { index, .. }
            | Self::NameOverlapsPath { index }
            | Self::InteriorNul { index, .. } => Some(index),
            _ => None,
        }
    }
}

/// Converts a length to the `u32` a wire field holds.
#[inline]
pub(crate) fn to_u32(what: &'static str, value: usize) -> Result<u32, CodecError> {
    u32::try_from(value).map_err(|_| CodecError::FieldOverflow { what, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_overflow_helper() {
        assert_eq!(to_u32("x", u32::MAX as usize), Ok(u32::MAX));
        if usize::BITS > 32 {
            assert_eq!(
                to_u32("x", u32::MAX as usize + 1),
                Err(CodecError::FieldOverflow {
                    what: "x",
                    value: u32::MAX as usize + 1
                })
            );
        }
    }
}
