//! The error type of the lookup codecs.

use core::fmt;

/// The rule class of a [`LookupError`], named as in the protocol
/// specification (§14).
///
/// These names never travel on the wire; a server folds every request decode
/// error into the transport status BAD_ENVELOPE. They let callers and tests
/// check that a payload was refused for the same reason the reference
/// decoders give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A fixed-size part (header, directory, item header) is cut short.
    Truncated,
    /// A layout rule is violated (version, flags, reserved fields, lengths,
    /// order, status rules, string and label table rules).
    BadLayout,
    /// An offset/length pair points outside the area that must hold it.
    OutOfBounds,
    /// A string or key is not followed by its NUL.
    MissingNul,
    /// A directory offset is not a multiple of 8.
    BadAlignment,
    /// The item count does not match the payload or the request.
    BadItemCount,
    /// A value does not fit its wire field or a size limit.
    Overflow,
}

impl ErrorKind {
    /// The specification's name: `"TRUNCATED"`, `"BAD_LAYOUT"`, ….
    pub const fn name(self) -> &'static str {
        match self {
            Self::Truncated => "TRUNCATED",
            Self::BadLayout => "BAD_LAYOUT",
            Self::OutOfBounds => "OUT_OF_BOUNDS",
            Self::MissingNul => "MISSING_NUL",
            Self::BadAlignment => "BAD_ALIGNMENT",
            Self::BadItemCount => "BAD_ITEM_COUNT",
            Self::Overflow => "OVERFLOW",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string of a response item, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// CGROUPS_LOOKUP: the echoed cgroup path.
    Path,
    /// CGROUPS_LOOKUP: the cgroup name.
    Name,
    /// APPS_LOOKUP: the process command name.
    Comm,
    /// APPS_LOOKUP: the process's cgroup path.
    CgroupPath,
    /// APPS_LOOKUP: the process's cgroup name.
    CgroupName,
    /// The key of label `n` (zero-based).
    LabelKey(u16),
    /// The value of label `n` (zero-based).
    LabelValue(u16),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Path => f.write_str("path"),
            Self::Name => f.write_str("name"),
            Self::Comm => f.write_str("comm"),
            Self::CgroupPath => f.write_str("cgroup_path"),
            Self::CgroupName => f.write_str("cgroup_name"),
            Self::LabelKey(n) => write!(f, "label {n} key"),
            Self::LabelValue(n) => write!(f, "label {n} value"),
        }
    }
}

/// Why a lookup payload could not be decoded or built.
///
/// One variant per rule of the specification (§14–§17). Variants about one
/// key or item carry its zero-based `index`; variants about a string inside
/// an item carry its [`Field`]. [`kind`](Self::kind) gives the rule class
/// under the specification's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The payload is shorter than the 16-byte header (TRUNCATED).
    #[error("payload of {have} bytes is shorter than the 16-byte header")]
    HeaderTruncated {
        /// Payload length.
        have: usize,
    },

    /// The header's `layout_version` is not 1 (BAD_LAYOUT).
    #[error("header layout_version is {found}, only 1 is supported")]
    BadLayoutVersion {
        /// The value found.
        found: u16,
    },

    /// The header's `flags` are not 0 (BAD_LAYOUT).
    #[error("header flags are {found:#06x}, must be 0")]
    NonZeroFlags {
        /// The value found.
        found: u16,
    },

    /// A reserved field of the request header is not 0 (BAD_LAYOUT).
    #[error("request header {field} is {found:#x}, must be 0")]
    NonZeroReserved {
        /// `"reserved0"` or `"reserved1"`.
        field: &'static str,
        /// The value found.
        found: u32,
    },

    /// The directory for `item_count` entries does not fit (TRUNCATED).
    #[error("{item_count} entries: header and directory need {need} bytes, have {have}")]
    DirectoryTruncated {
        /// The header's `item_count`.
        item_count: u32,
        /// Bytes needed for header and directory.
        need: u64,
        /// Payload length.
        have: usize,
    },

    /// The packed area is longer than 2³²−1 bytes (BAD_ITEM_COUNT).
    #[error("packed area of {len} bytes does not fit 32-bit offsets")]
    AreaTooLong {
        /// Length of the packed area.
        len: u64,
    },

    /// A directory offset is not a multiple of 8 (BAD_ALIGNMENT).
    #[error("entry {index}: offset {offset} is not a multiple of 8")]
    Misaligned {
        /// Entry index.
        index: usize,
        /// The offset found.
        offset: u32,
    },

    /// A directory length is below the minimum for its kind (BAD_LAYOUT):
    /// 2 for CGROUPS_LOOKUP keys, 28 / 60 for response items.
    #[error("entry {index}: length {length} is below the minimum of {min}")]
    EntryTooShort {
        /// Entry index.
        index: usize,
        /// The length found.
        length: u32,
        /// The minimum length.
        min: u32,
    },

    /// An APPS_LOOKUP key length is not exactly 8 (BAD_LAYOUT).
    #[error("entry {index}: key length {length} is not 8")]
    BadKeyLength {
        /// Entry index.
        index: usize,
        /// The length found.
        length: u32,
    },

    /// A directory entry extends past the packed area (OUT_OF_BOUNDS).
    #[error(
        "entry {index}: offset {offset} + length {length} exceeds the {area_len}-byte packed area"
    )]
    EntryOutOfBounds {
        /// Entry index.
        index: usize,
        /// The offset found.
        offset: u32,
        /// The length found.
        length: u32,
        /// Length of the packed area.
        area_len: u64,
    },

    /// A directory entry starts before the end of the previous one
    /// (BAD_LAYOUT): entries must be ascending and non-overlapping.
    #[error(
        "entry {index}: offset {offset} is before the end {previous_end} of the previous entry"
    )]
    EntryOutOfOrder {
        /// Entry index.
        index: usize,
        /// The offset found.
        offset: u32,
        /// End of the previous entry.
        previous_end: u64,
    },

    /// A CGROUPS_LOOKUP key does not end with a NUL (MISSING_NUL).
    #[error("key {index} is not NUL-terminated")]
    KeyMissingNul {
        /// Key index.
        index: usize,
    },

    /// A CGROUPS_LOOKUP path contains a NUL (BAD_LAYOUT).
    #[error("key {index} contains a NUL byte at position {at}")]
    KeyInteriorNul {
        /// Key index.
        index: usize,
        /// Position of the NUL inside the path.
        at: usize,
    },

    /// Encoder: a CGROUPS_LOOKUP path is empty (BAD_LAYOUT).
    #[error("key {index} is an empty path")]
    EmptyKey {
        /// Key index.
        index: usize,
    },

    /// An APPS_LOOKUP key's reserved word is not 0 (BAD_LAYOUT).
    #[error("key {index}: reserved word is {found:#x}, must be 0")]
    KeyReserved {
        /// Key index.
        index: usize,
        /// The value found.
        found: u32,
    },

    /// An item is shorter than its fixed header (TRUNCATED).
    #[error("item {index}: {length} bytes is shorter than the {need}-byte item header")]
    ItemTruncated {
        /// Item index.
        index: usize,
        /// Item length.
        length: usize,
        /// Header size.
        need: usize,
    },

    /// An item's `layout_version` is not 1 (BAD_LAYOUT).
    #[error("item {index}: layout_version is {found}, only 1 is supported")]
    ItemLayoutVersion {
        /// Item index.
        index: usize,
        /// The value found.
        found: u16,
    },

    /// A reserved field of an item header is not 0 (BAD_LAYOUT).
    #[error("item {index}: {field} is {found:#x}, must be 0")]
    ItemReserved {
        /// Item index.
        index: usize,
        /// `"reserved0"` or `"reserved1"`.
        field: &'static str,
        /// The value found.
        found: u32,
    },

    /// A status field holds a value the method does not define (BAD_LAYOUT).
    #[error("item {index}: {field} {found} is not defined")]
    UnknownStatus {
        /// Item index.
        index: usize,
        /// `"status"` or `"cgroup_status"`.
        field: &'static str,
        /// The value found.
        found: u16,
    },

    /// A per-status rule is violated (BAD_LAYOUT), e.g. a non-KNOWN item
    /// with a name, or a HOST_ROOT item with a cgroup path.
    #[error("item {index}: {field} {rule}")]
    StatusRule {
        /// Item index.
        index: usize,
        /// The header field that breaks the rule.
        field: &'static str,
        /// The rule, phrased to follow the field name.
        rule: &'static str,
    },

    /// A string offset points into the item header (OUT_OF_BOUNDS).
    #[error("item {index}: {field} offset {offset} points into the {header_len}-byte item header")]
    StringInHeader {
        /// Item index.
        index: usize,
        /// Which string.
        field: Field,
        /// The offset found.
        offset: u32,
        /// Item header size.
        header_len: usize,
    },

    /// A string and its NUL extend past the item (OUT_OF_BOUNDS).
    #[error("item {index}: {field} at {offset} with length {length} plus NUL exceeds the {item_len}-byte item")]
    StringOutOfBounds {
        /// Item index.
        index: usize,
        /// Which string.
        field: Field,
        /// The offset found.
        offset: u32,
        /// The length found.
        length: u32,
        /// Item length.
        item_len: usize,
    },

    /// The byte after a string is not NUL (MISSING_NUL).
    #[error("item {index}: {field} is not NUL-terminated")]
    StringMissingNul {
        /// Item index.
        index: usize,
        /// Which string.
        field: Field,
    },

    /// A string contains a NUL byte (BAD_LAYOUT). Also reported by the
    /// builders for input strings.
    #[error("item {index}: {field} contains a NUL byte at position {at}")]
    StringInteriorNul {
        /// Item index.
        index: usize,
        /// Which string.
        field: Field,
        /// Position of the NUL inside the string.
        at: usize,
    },

    /// Two fixed strings (NULs included) overlap (BAD_LAYOUT).
    #[error("item {index}: {first} and {second} overlap")]
    StringsOverlap {
        /// Item index.
        index: usize,
        /// One string.
        first: Field,
        /// The other string.
        second: Field,
    },

    /// The item does not end exactly after its last string (BAD_LAYOUT).
    #[error("item {index}: content ends at {end} but the item is {item_len} bytes")]
    ItemLengthMismatch {
        /// Item index.
        index: usize,
        /// Where the content ends.
        end: u64,
        /// Item length.
        item_len: usize,
    },

    /// The label table does not fit in the item (OUT_OF_BOUNDS).
    #[error("item {index}: label table ends at {end}, past the {item_len}-byte item")]
    LabelTableOutOfBounds {
        /// Item index.
        index: usize,
        /// Where the table (or its start) would end.
        end: u64,
        /// Item length.
        item_len: usize,
    },

    /// The padding before the label table is not zero (BAD_LAYOUT).
    #[error("item {index}: padding before the label table is not zero")]
    LabelPadding {
        /// Item index.
        index: usize,
    },

    /// A label key is empty (BAD_LAYOUT). Also reported by the builders.
    #[error("item {index}: label {label} has an empty key")]
    EmptyLabelKey {
        /// Item index.
        index: usize,
        /// Label index.
        label: u16,
    },

    /// A label string is not where packing puts it (BAD_LAYOUT).
    #[error("item {index}: {field} is at {offset}, expected {expected}")]
    LabelNotPacked {
        /// Item index.
        index: usize,
        /// Which label string.
        field: Field,
        /// The offset found.
        offset: u32,
        /// The offset packing requires.
        expected: u64,
    },

    /// Encoder: a count, length or offset does not fit its wire field
    /// (OVERFLOW).
    #[error("{what} is {value}, which does not fit its wire field")]
    FieldOverflow {
        /// Which quantity.
        what: &'static str,
        /// The value.
        value: u64,
    },

    /// Encoder: the payload would exceed the builder's limit or budget
    /// (OVERFLOW).
    #[error("payload would be {need} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length the operation needed.
        need: u64,
        /// The limit.
        limit: usize,
    },

    /// Request-backed builder: the number of items added does not match the
    /// request's key count (BAD_ITEM_COUNT).
    #[error("the request has {expected} keys but {added} items were added")]
    ItemCountMismatch {
        /// Keys in the request.
        expected: usize,
        /// Items added (counting the one refused, if too many).
        added: usize,
    },
}

impl LookupError {
    /// The rule class under the specification's name.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::HeaderTruncated { .. }
            | Self::DirectoryTruncated { .. }
            | Self::ItemTruncated { .. } => ErrorKind::Truncated,
            Self::AreaTooLong { .. } | Self::ItemCountMismatch { .. } => ErrorKind::BadItemCount,
            Self::Misaligned { .. } => ErrorKind::BadAlignment,
            Self::EntryOutOfBounds { .. }
            | Self::StringInHeader { .. }
            | Self::StringOutOfBounds { .. }
            | Self::LabelTableOutOfBounds { .. } => ErrorKind::OutOfBounds,
            Self::KeyMissingNul { .. } | Self::StringMissingNul { .. } => ErrorKind::MissingNul,
            Self::FieldOverflow { .. } | Self::TooLarge { .. } => ErrorKind::Overflow,
            Self::BadLayoutVersion { .. }
            | Self::NonZeroFlags { .. }
            | Self::NonZeroReserved { .. }
            | Self::EntryTooShort { .. }
            | Self::BadKeyLength { .. }
            | Self::EntryOutOfOrder { .. }
            | Self::KeyInteriorNul { .. }
            | Self::EmptyKey { .. }
            | Self::KeyReserved { .. }
            | Self::ItemLayoutVersion { .. }
            | Self::ItemReserved { .. }
            | Self::UnknownStatus { .. }
            | Self::StatusRule { .. }
            | Self::StringInteriorNul { .. }
            | Self::StringsOverlap { .. }
            | Self::ItemLengthMismatch { .. }
            | Self::LabelPadding { .. }
            | Self::EmptyLabelKey { .. }
            | Self::LabelNotPacked { .. } => ErrorKind::BadLayout,
        }
    }

    /// The key or item index this error refers to, if any.
    pub fn index(&self) -> Option<usize> {
        match *self {
            Self::Misaligned { index, .. }
            | Self::EntryTooShort { index, .. }
            | Self::BadKeyLength { index, .. }
            | Self::EntryOutOfBounds { index, .. }
            | Self::EntryOutOfOrder { index, .. }
            | Self::KeyMissingNul { index }
            | Self::KeyInteriorNul { index, .. }
            | Self::EmptyKey { index }
            | Self::KeyReserved { index, .. }
            | Self::ItemTruncated { index, .. }
            | Self::ItemLayoutVersion { index, .. }
            | Self::ItemReserved { index, .. }
            | Self::UnknownStatus { index, .. }
            | Self::StatusRule { index, .. }
            | Self::StringInHeader { index, .. }
            | Self::StringOutOfBounds { index, .. }
            | Self::StringMissingNul { index, .. }
            | Self::StringInteriorNul { index, .. }
            | Self::StringsOverlap { index, .. }
            | Self::ItemLengthMismatch { index, .. }
            | Self::LabelTableOutOfBounds { index, .. }
            | Self::LabelPadding { index }
            | Self::EmptyLabelKey { index, .. }
            | Self::LabelNotPacked { index, .. } => Some(index),
            _ => None,
        }
    }
}
