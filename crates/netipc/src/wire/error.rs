//! The error type of the wire layer.

/// A rule of the envelope that received bytes broke, or a local encoding
/// request that cannot be represented.
///
/// Each variant names the rule; the message is meant for a person reading a
/// log after a peer sent something wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the structure needs.
    #[error("{what} truncated: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The magic number is not the expected one.
    #[error("{what}: bad magic {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// The structure being decoded.
        what: &'static str,
        /// The value found.
        found: u32,
        /// The value required.
        expected: u32,
    },
    /// The envelope version is not 1.
    #[error("{what}: unsupported version {found}, expected 1")]
    BadVersion {
        /// The structure being decoded.
        what: &'static str,
        /// The value found.
        found: u16,
    },
    /// The outer header's `header_len` is not 32.
    #[error("message header: header_len is {found}, expected 32")]
    BadHeaderLen {
        /// The value found.
        found: u16,
    },
    /// The `kind` field is not REQUEST, RESPONSE or CONTROL.
    #[error("message header: unknown kind {found}")]
    UnknownKind {
        /// The value found.
        found: u16,
    },
    /// Flag bits the protocol does not define are set.
    #[error("{what}: unknown flag bits {found:#06x}")]
    UnknownFlags {
        /// The structure being decoded.
        what: &'static str,
        /// The flags found.
        found: u16,
    },
    /// A `transport_status` value outside the protocol's table.
    #[error("unknown transport status {found}")]
    UnknownStatus {
        /// The value found.
        found: u16,
    },
    /// A method code outside the protocol's table.
    #[error("unknown method code {found}")]
    UnknownMethod {
        /// The value found.
        found: u16,
    },
    /// A control opcode other than HELLO or HELLO_ACK.
    #[error("unknown control opcode {found}")]
    UnknownControlOpcode {
        /// The value found.
        found: u16,
    },
    /// A payload's `layout_version` is not 1.
    #[error("{what}: unsupported layout version {found}, expected 1")]
    BadLayoutVersion {
        /// The structure being decoded.
        what: &'static str,
        /// The value found.
        found: u16,
    },
    /// A reserved field is not zero.
    #[error("{what}: reserved field is {found:#x}, must be zero")]
    NonZeroReserved {
        /// The structure being decoded.
        what: &'static str,
        /// The value found.
        found: u64,
    },
    /// A continuation chunk announces zero payload bytes.
    #[error("chunk header: chunk_payload_len is zero")]
    EmptyChunk,
    /// A batch payload is shorter than its directory.
    #[error("batch: {items} directory entries need {need} bytes, payload has {have}")]
    BatchDirectoryTruncated {
        /// Items announced.
        items: u32,
        /// Bytes the directory needs.
        need: u64,
        /// Payload length.
        have: usize,
    },
    /// A batch directory entry's offset is not a multiple of 8.
    #[error("batch: item {index} offset {offset} is not 8-byte aligned")]
    BatchItemMisaligned {
        /// Item index.
        index: u32,
        /// Offset found.
        offset: u32,
    },
    /// A batch directory entry points past the end of the packed area.
    #[error("batch: item {index} ({offset}+{length}) ends past the packed area of {area} bytes")]
    BatchItemOutOfBounds {
        /// Item index.
        index: u32,
        /// Offset found.
        offset: u32,
        /// Length found.
        length: u32,
        /// Size of the packed area.
        area: usize,
    },
    /// Bytes after the last batch item other than zero padding up to 8.
    #[error("batch: {extra} bytes after the last item (at most 7 zero padding bytes are allowed)")]
    BatchTrailingBytes {
        /// Bytes past the end of the furthest item.
        extra: usize,
    },
    /// A padding byte inside a batch is not zero.
    #[error("batch: padding byte at offset {offset} is not zero")]
    BatchNonZeroPadding {
        /// Offset of the offending byte in the payload.
        offset: usize,
    },
    /// A batch must carry at least one item.
    #[error("batch: item_count is zero")]
    EmptyBatch,
    /// The builder was finished with a different number of items than announced.
    #[error("batch builder: {pushed} items pushed, {expected} announced")]
    BatchCountMismatch {
        /// Items announced at construction.
        expected: u32,
        /// Items pushed.
        pushed: u32,
    },
    /// A received header's `payload_len` leaves no room for the header in a
    /// 32-bit total message length (`32 + payload_len > u32::MAX`).
    #[error("message header: payload_len {found} makes the total message length overflow 32 bits")]
    PayloadLenTooLarge {
        /// The `payload_len` found.
        found: u32,
    },
    /// A length does not fit the protocol's 32-bit fields.
    #[error("{what}: length {len} does not fit in 32 bits")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// The length.
        len: usize,
    },
}
