//! CGROUPS_SNAPSHOT (method code 2): the list of control groups a provider
//! knows about.
//!
//! # Request
//!
//! Four bytes: `u16 layout_version` (1) and `u16 flags` (0). See
//! [`SnapshotRequest`].
//!
//! # Response
//!
//! ```text
//! payload:  header (24 B) | directory (8 B per item) | item area
//! header:   u16 layout_version=1, u16 flags=0, u32 item_count,
//!           u32 systemd_enabled, u32 reserved=0, u64 generation
//! entry:    u32 offset, u32 length  (offset counted from the item area start)
//! item:     u16 layout_version=1, u16 flags=0, u32 hash, u32 options,
//!           u32 enabled, u32 name_offset, u32 name_length,
//!           u32 path_offset, u32 path_length, then name NUL path NUL
//! ```
//!
//! Items start at multiples of 8 inside the item area and the bytes between
//! items are zero. The payload stops right after the last item's final NUL:
//! unlike a batch, it is not padded to a multiple of 8. String offsets count
//! from the start of their item and lengths exclude the NUL.
//!
//! [`SnapshotBuilder`] writes a response into a reusable buffer and
//! [`SnapshotView`] validates one completely up front, after which every
//! accessor is infallible and cheap. [`Snapshot`] is an owned copy.

use std::borrow::Cow;
use std::iter::FusedIterator;
use std::slice::ChunksExact;

use super::{to_u32, CodecError};
use crate::bytes::{align8, get_u32, put_u32, read_u16, read_u32, read_u64};

/// The only supported `layout_version` for requests, responses and items.
pub const LAYOUT_VERSION: u16 = 1;
/// Length of a request payload.
pub const REQUEST_LEN: usize = 4;
/// Length of the response header that precedes the directory.
pub const RESPONSE_HEADER_LEN: usize = 24;
/// Length of one directory entry.
pub const DIRECTORY_ENTRY_LEN: usize = 8;
/// Length of the fixed header at the start of every item.
pub const ITEM_HEADER_LEN: usize = 32;
/// Alignment of items inside the item area.
pub const ITEM_ALIGN: usize = 8;

/// Upper bound on the directory slots a builder reserves up front; the hint
/// only affects speed, so a huge one is clamped rather than honoured.
const MAX_RESERVED_SLOTS: usize = 1 << 17;

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/// A CGROUPS_SNAPSHOT request. It has no parameters: its four bytes only
/// carry the layout version and zero flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotRequest;

impl SnapshotRequest {
    /// The request payload.
    #[inline]
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[..2].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
        out
    }

    /// Appends the request payload to `buf`.
    #[inline]
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.encode());
    }

    /// Validates a request payload. Bytes after the fourth are ignored.
    ///
    /// # Errors
    ///
    /// [`CodecError::Truncated`] below 4 bytes,
    /// [`CodecError::BadLayoutVersion`] if the layout is not 1,
    /// [`CodecError::NonZeroFlags`] if the flags are not 0.
    pub fn decode(payload: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "snapshot request";
        let (layout, flags) = match (read_u16(payload, 0), read_u16(payload, 2)) {
            (Some(l), Some(f)) => (l, f),
            _ => {
                return Err(CodecError::Truncated {
                    what: WHAT,
                    need: REQUEST_LEN,
                    have: payload.len(),
                })
            }
        };
        if layout != LAYOUT_VERSION {
            return Err(CodecError::BadLayoutVersion {
                what: WHAT,
                found: layout,
            });
        }
        if flags != 0 {
            return Err(CodecError::NonZeroFlags {
                what: WHAT,
                found: flags,
            });
        }
        Ok(Self)
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// Writes a CGROUPS_SNAPSHOT response payload into a caller-owned buffer.
///
/// The payload is **appended** at the buffer's current length; whatever the
/// buffer already holds (for example an envelope header) is left alone. To
/// reuse a buffer for a new payload, clear it first: once it has grown to a
/// working size, building does not allocate.
///
/// `item_hint` is the number of directory slots reserved before the first
/// item. Any value gives the same bytes: if it turns out wrong, [`finish`]
/// moves the item area once to close or open the gap. A good hint avoids that
/// move.
///
/// Dropping a builder without calling [`finish`] (or after `finish` failed)
/// truncates the buffer back to its original length, so an error propagated
/// with `?` leaves no partial payload behind.
///
/// ```
/// use netipc::codec::cgroups::{SnapshotBuilder, SnapshotView};
///
/// let mut buf = Vec::with_capacity(4096);
/// let mut b = SnapshotBuilder::new(&mut buf, 1, 42, 2);
/// b.push(0x1234, 0, 1, b"init.scope", b"/sys/fs/cgroup/init.scope")?;
/// b.push(0x5678, 0, 0, b"", b"")?;
/// let len = b.finish()?;
/// assert_eq!(len, buf.len());
///
/// let view = SnapshotView::decode(&buf)?;
/// assert_eq!(view.item_count(), 2);
/// assert_eq!(view.item(0).map(|i| i.name()), Some(&b"init.scope"[..]));
/// # Ok::<(), netipc::codec::CodecError>(())
/// ```
///
/// [`finish`]: SnapshotBuilder::finish
#[derive(Debug)]
pub struct SnapshotBuilder<'b> {
    buf: &'b mut Vec<u8>,
    /// Offset of the payload inside `buf`.
    base: usize,
    /// Directory slots currently reserved between the header and the items.
    slots: usize,
    /// Items pushed so far.
    count: usize,
    /// Bytes used in the item area (no padding after the last item).
    area_len: usize,
    /// Maximum payload length.
    limit: usize,
    finished: bool,
}

impl<'b> SnapshotBuilder<'b> {
    /// Starts a response payload at the end of `buf`.
    ///
    /// Writes the 24-byte header and reserves `item_hint` directory slots
    /// (clamped to an internal maximum; the hint never changes the output).
    pub fn new(
        buf: &'b mut Vec<u8>,
        systemd_enabled: u32,
        generation: u64,
        item_hint: usize,
    ) -> Self {
        let base = buf.len();
        let slots = item_hint.min(MAX_RESERVED_SLOTS);
        let mut header = [0u8; RESPONSE_HEADER_LEN];
        header[0..2].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
        // flags (2..4) and item_count (4..8) stay 0 until finish().
        header[8..12].copy_from_slice(&systemd_enabled.to_ne_bytes());
        // reserved (12..16) is 0.
        header[16..24].copy_from_slice(&generation.to_ne_bytes());
        buf.extend_from_slice(&header);
        buf.resize(base + RESPONSE_HEADER_LEN + slots * DIRECTORY_ENTRY_LEN, 0);
        Self {
            buf,
            base,
            slots,
            count: 0,
            area_len: 0,
            limit: usize::MAX,
            finished: false,
        }
    }

    /// Caps the finished payload at `max_len` bytes.
    ///
    /// A [`push`](Self::push) that would make the payload longer fails with
    /// [`CodecError::TooLarge`] and leaves the builder as it was, so a server
    /// can report LIMIT_EXCEEDED. If even the empty payload (24 bytes) is over
    /// the limit, [`finish`](Self::finish) fails the same way.
    #[must_use]
    pub fn with_limit(mut self, max_len: usize) -> Self {
        self.limit = max_len;
        self
    }

    /// Number of items pushed so far.
    #[inline]
    pub fn item_count(&self) -> usize {
        self.count
    }

    /// Length the payload would have if finished now.
    #[inline]
    pub fn payload_len(&self) -> usize {
        RESPONSE_HEADER_LEN + self.count * DIRECTORY_ENTRY_LEN + self.area_len
    }

    /// Appends one item.
    ///
    /// `name` and `path` are given without a terminating NUL and must not
    /// contain one: receivers written in C read them as NUL-terminated
    /// strings, so an embedded NUL would silently cut them short there.
    ///
    /// # Errors
    ///
    /// * [`CodecError::InteriorNul`]: `name` or `path` contains a 0 byte.
    /// * [`CodecError::FieldOverflow`]: the item length, its offset or the
    ///   item count would not fit in 32 bits.
    /// * [`CodecError::TooLarge`]: the payload would exceed the limit set
    ///   with [`with_limit`](Self::with_limit).
    ///
    /// On error nothing is written and the builder can still be used.
    pub fn push(
        &mut self,
        hash: u32,
        options: u32,
        enabled: u32,
        name: &[u8],
        path: &[u8],
    ) -> Result<(), CodecError> {
        let index = self.count;
        // `contains` on bytes uses a word-at-a-time search; the position is
        // only computed for the error.
        for (field, bytes) in [("name", name), ("path", path)] {
            if bytes.contains(&0) {
                let at = bytes.iter().position(|&b| b == 0).unwrap_or_default();
                return Err(CodecError::InteriorNul { index, field, at });
            }
        }
        to_u32("item count", index.saturating_add(1))?;
        let item_len = (ITEM_HEADER_LEN + 2)
            .saturating_add(name.len())
            .saturating_add(path.len());
        // The item length bounds every offset and length inside the item.
        to_u32("item length", item_len)?;
        let offset = self.area_len.saturating_add(ITEM_ALIGN - 1) & !(ITEM_ALIGN - 1);
        to_u32("item offset", offset)?;

        let need = RESPONSE_HEADER_LEN
            .saturating_add((index + 1).saturating_mul(DIRECTORY_ENTRY_LEN))
            .saturating_add(offset)
            .saturating_add(item_len);
        if need > self.limit {
            return Err(CodecError::TooLarge {
                need,
                limit: self.limit,
            });
        }

        let name_len = name.len() as u32;
        let path_len = path.len() as u32;
        let name_off = ITEM_HEADER_LEN as u32;
        let path_off = name_off + name_len + 1;
        let mut header = [0u8; ITEM_HEADER_LEN];
        header[0..2].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
        header[4..8].copy_from_slice(&hash.to_ne_bytes());
        header[8..12].copy_from_slice(&options.to_ne_bytes());
        header[12..16].copy_from_slice(&enabled.to_ne_bytes());
        header[16..20].copy_from_slice(&name_off.to_ne_bytes());
        header[20..24].copy_from_slice(&name_len.to_ne_bytes());
        header[24..28].copy_from_slice(&path_off.to_ne_bytes());
        header[28..32].copy_from_slice(&path_len.to_ne_bytes());

        // Grow by gap + item in one step (the gap and both NULs stay zero),
        // then copy the parts in.
        let start = self.buf.len() + (offset - self.area_len);
        self.buf.resize(start + item_len, 0);
        let dst = &mut self.buf[start..];
        let (dst_header, rest) = dst.split_at_mut(ITEM_HEADER_LEN);
        dst_header.copy_from_slice(&header);
        rest[..name.len()].copy_from_slice(name);
        rest[name.len() + 1..name.len() + 1 + path.len()].copy_from_slice(path);

        self.area_len = offset + item_len;
        self.count += 1;
        Ok(())
    }

    /// Appends a copy of an owned item. Same rules as [`push`](Self::push).
    ///
    /// # Errors
    ///
    /// As for [`push`](Self::push).
    pub fn push_item(&mut self, item: &SnapshotItem) -> Result<(), CodecError> {
        self.push(
            item.hash,
            item.options,
            item.enabled,
            &item.name,
            &item.path,
        )
    }

    /// Appends a copy of a decoded item. Same rules as [`push`](Self::push).
    ///
    /// # Errors
    ///
    /// As for [`push`](Self::push); in particular a decoded item whose name
    /// or path contains a NUL is refused.
    pub fn push_view(&mut self, item: &ItemView<'_>) -> Result<(), CodecError> {
        self.push(item.hash, item.options, item.enabled, item.name, item.path)
    }

    /// Completes the payload and returns its length in bytes.
    ///
    /// Writes the item count and the directory and, if the number of items
    /// differs from the reserved slots, moves the item area once so that it
    /// directly follows the directory.
    ///
    /// # Errors
    ///
    /// [`CodecError::TooLarge`] if the payload exceeds the limit set with
    /// [`with_limit`](Self::with_limit) (only possible when the limit is
    /// below the 24-byte header). The buffer is then restored.
    pub fn finish(mut self) -> Result<usize, CodecError> {
        let payload_len = self.payload_len();
        if payload_len > self.limit {
            return Err(CodecError::TooLarge {
                need: payload_len,
                limit: self.limit,
            });
        }
        let n = self.count;
        let dir_start = self.base + RESPONSE_HEADER_LEN;
        let old_area = dir_start + self.slots * DIRECTORY_ENTRY_LEN;
        let new_area = dir_start + n * DIRECTORY_ENTRY_LEN;
        let area_len = self.area_len;
        if new_area < old_area {
            self.buf
                .copy_within(old_area..old_area + area_len, new_area);
            self.buf.truncate(new_area + area_len);
        } else if new_area > old_area {
            self.buf.resize(new_area + area_len, 0);
            self.buf
                .copy_within(old_area..old_area + area_len, new_area);
        }

        // `push` already checked that the count fits in 32 bits.
        put_u32(self.buf, self.base + 4, n as u32);

        // Rebuild the directory from the item headers: item k starts at the
        // aligned end of item k-1 and its length follows from its strings.
        let mut offset = 0usize;
        for i in 0..n {
            let item = new_area + offset;
            let name_len = get_u32(self.buf, item + 20) as usize;
            let path_len = get_u32(self.buf, item + 28) as usize;
            let len = ITEM_HEADER_LEN + name_len + path_len + 2;
            let entry = dir_start + i * DIRECTORY_ENTRY_LEN;
            put_u32(self.buf, entry, offset as u32);
            put_u32(self.buf, entry + 4, len as u32);
            offset = align8(offset + len);
        }

        debug_assert_eq!(self.buf.len() - self.base, payload_len);
        self.finished = true;
        Ok(payload_len)
    }
}

impl Drop for SnapshotBuilder<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.base);
        }
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A validated CGROUPS_SNAPSHOT response borrowing the payload.
///
/// [`decode`](Self::decode) checks the header, the directory and every item,
/// so the accessors below cannot fail and do no validation of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotView<'a> {
    payload: &'a [u8],
    directory: &'a [u8],
    area: &'a [u8],
    systemd_enabled: u32,
    generation: u64,
}

impl<'a> SnapshotView<'a> {
    /// Validates a complete response payload.
    ///
    /// All of the following are checked, in this order, before returning:
    ///
    /// 1. at least 24 bytes ([`CodecError::Truncated`]);
    /// 2. layout 1, flags 0, reserved 0 ([`CodecError::BadLayoutVersion`],
    ///    [`CodecError::NonZeroFlags`], [`CodecError::NonZeroReserved`]);
    /// 3. the directory fits ([`CodecError::DirectoryTruncated`]);
    /// 4. per entry: offset a multiple of 8 ([`CodecError::Misaligned`]),
    ///    inside the item area ([`CodecError::ItemOutOfBounds`]), at least 32
    ///    bytes long ([`CodecError::ItemTooShort`]);
    /// 5. per item: layout 1 and flags 0 ([`CodecError::ItemBadLayoutVersion`],
    ///    [`CodecError::ItemNonZeroFlags`]); name and path offsets past the
    ///    item header ([`CodecError::FieldOffsetInHeader`]), inside the item
    ///    ([`CodecError::FieldOutOfBounds`]), followed by a NUL
    ///    ([`CodecError::ItemMissingNul`]), and not overlapping each other
    ///    ([`CodecError::NameOverlapsPath`]);
    /// 6. nothing follows the item that ends last
    ///    ([`CodecError::TrailingBytes`]).
    ///
    /// Items may appear in any order and may overlap one another; names and
    /// paths may contain interior NULs. Neither is produced by a conforming
    /// builder, but neither makes the data ambiguous to read.
    ///
    /// # Errors
    ///
    /// The first rule that fails, as listed above.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "snapshot";
        let header = match payload.get(..RESPONSE_HEADER_LEN) {
            Some(h) => h,
            None => {
                return Err(CodecError::Truncated {
                    what: "snapshot header",
                    need: RESPONSE_HEADER_LEN,
                    have: payload.len(),
                })
            }
        };
        let h = header;
        let layout = read_u16(h, 0).unwrap_or_default();
        let flags = read_u16(h, 2).unwrap_or_default();
        let item_count = read_u32(h, 4).unwrap_or_default();
        let systemd_enabled = read_u32(h, 8).unwrap_or_default();
        let reserved = read_u32(h, 12).unwrap_or_default();
        let generation = read_u64(h, 16).unwrap_or_default();
        if layout != LAYOUT_VERSION {
            return Err(CodecError::BadLayoutVersion {
                what: WHAT,
                found: layout,
            });
        }
        if flags != 0 {
            return Err(CodecError::NonZeroFlags {
                what: WHAT,
                found: flags,
            });
        }
        if reserved != 0 {
            return Err(CodecError::NonZeroReserved {
                what: WHAT,
                found: reserved,
            });
        }

        let dir_end =
            RESPONSE_HEADER_LEN as u64 + u64::from(item_count) * DIRECTORY_ENTRY_LEN as u64;
        let dir_truncated = CodecError::DirectoryTruncated {
            item_count,
            need: dir_end,
            have: payload.len(),
        };
        if dir_end > payload.len() as u64 {
            return Err(dir_truncated);
        }
        let dir_end = dir_end as usize;
        let directory = payload
            .get(RESPONSE_HEADER_LEN..dir_end)
            .ok_or(dir_truncated)?;
        let area = payload.get(dir_end..).ok_or(dir_truncated)?;
        let area_len = area.len() as u64;

        let mut content_end = 0u64;
        for (index, entry) in directory.chunks_exact(DIRECTORY_ENTRY_LEN).enumerate() {
            let offset = read_u32(entry, 0).unwrap_or_default();
            let length = read_u32(entry, 4).unwrap_or_default();
            if offset as usize % ITEM_ALIGN != 0 {
                return Err(CodecError::Misaligned { index, offset });
            }
            let end = u64::from(offset) + u64::from(length);
            let out_of_bounds = CodecError::ItemOutOfBounds {
                index,
                offset,
                length,
                area_len: area.len(),
            };
            if end > area_len {
                return Err(out_of_bounds);
            }
            if (length as usize) < ITEM_HEADER_LEN {
                return Err(CodecError::ItemTooShort { index, length });
            }
            let item = area
                .get(offset as usize..end as usize)
                .ok_or(out_of_bounds)?;
            validate_item(index, item)?;
            content_end = content_end.max(end);
        }

        if content_end != area_len {
            return Err(CodecError::TrailingBytes {
                end: dir_end + content_end as usize,
                len: payload.len(),
            });
        }

        Ok(Self {
            payload,
            directory,
            area,
            systemd_enabled,
            generation,
        })
    }

    /// Number of items.
    #[inline]
    pub fn item_count(&self) -> usize {
        self.directory.len() / DIRECTORY_ENTRY_LEN
    }

    /// Whether the snapshot has no items.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.directory.is_empty()
    }

    /// The provider's `systemd_enabled` value.
    #[inline]
    pub fn systemd_enabled(&self) -> u32 {
        self.systemd_enabled
    }

    /// The provider's snapshot generation.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The whole payload this view was decoded from.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.payload
    }

    /// Item `index` in directory order, or `None` if `index >= item_count()`.
    #[inline]
    pub fn item(&self, index: usize) -> Option<ItemView<'a>> {
        let at = index.checked_mul(DIRECTORY_ENTRY_LEN)?;
        let entry = self
            .directory
            .get(at..at.checked_add(DIRECTORY_ENTRY_LEN)?)?;
        ItemView::from_entry(self.area, entry)
    }

    /// Iterator over the items in directory order.
    #[inline]
    pub fn iter(&self) -> Items<'a> {
        Items {
            entries: self.directory.chunks_exact(DIRECTORY_ENTRY_LEN),
            area: self.area,
        }
    }

    /// Copies the snapshot into owned memory.
    pub fn to_owned(&self) -> Snapshot {
        Snapshot {
            systemd_enabled: self.systemd_enabled,
            generation: self.generation,
            items: self.iter().map(|item| item.to_owned()).collect(),
        }
    }
}

impl<'a> IntoIterator for SnapshotView<'a> {
    type Item = ItemView<'a>;
    type IntoIter = Items<'a>;

    fn into_iter(self) -> Items<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &SnapshotView<'a> {
    type Item = ItemView<'a>;
    type IntoIter = Items<'a>;

    fn into_iter(self) -> Items<'a> {
        self.iter()
    }
}

/// Checks one item against step 5 of the response rules. `item` is the
/// exact slice named by its directory entry and is at least 32 bytes long.
#[inline(always)]
fn validate_item(index: usize, item: &[u8]) -> Result<(), CodecError> {
    let too_short = CodecError::ItemTooShort {
        index,
        length: item.len() as u32,
    };
    let h = item.get(..ITEM_HEADER_LEN).ok_or(too_short)?;
    let layout = read_u16(h, 0).unwrap_or_default();
    let flags = read_u16(h, 2).unwrap_or_default();
    let name_off = read_u32(h, 16).unwrap_or_default();
    let name_len = read_u32(h, 20).unwrap_or_default();
    let path_off = read_u32(h, 24).unwrap_or_default();
    let path_len = read_u32(h, 28).unwrap_or_default();
    if layout != LAYOUT_VERSION {
        return Err(CodecError::ItemBadLayoutVersion {
            index,
            found: layout,
        });
    }
    if flags != 0 {
        return Err(CodecError::ItemNonZeroFlags {
            index,
            found: flags,
        });
    }
    validate_field(index, "name", item, name_off, name_len)?;
    validate_field(index, "path", item, path_off, path_len)?;
    // Regions are [off, off + len] inclusive of the NUL.
    let name_end = u64::from(name_off) + u64::from(name_len) + 1;
    let path_end = u64::from(path_off) + u64::from(path_len) + 1;
    if u64::from(name_off) < path_end && u64::from(path_off) < name_end {
        return Err(CodecError::NameOverlapsPath { index });
    }
    Ok(())
}

#[inline(always)]
fn validate_field(
    index: usize,
    field: &'static str,
    item: &[u8],
    offset: u32,
    length: u32,
) -> Result<(), CodecError> {
    if (offset as usize) < ITEM_HEADER_LEN {
        return Err(CodecError::FieldOffsetInHeader {
            index,
            field,
            offset,
        });
    }
    let out_of_bounds = CodecError::FieldOutOfBounds {
        index,
        field,
        offset,
        length,
        item_len: item.len(),
    };
    let nul_at = u64::from(offset) + u64::from(length);
    if nul_at >= item.len() as u64 {
        return Err(out_of_bounds);
    }
    match item.get(nul_at as usize) {
        Some(0) => Ok(()),
        Some(&found) => Err(CodecError::ItemMissingNul {
            index,
            field,
            found,
        }),
        None => Err(out_of_bounds),
    }
}

/// One item of a validated snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemView<'a> {
    hash: u32,
    options: u32,
    enabled: u32,
    name: &'a [u8],
    path: &'a [u8],
}

impl<'a> ItemView<'a> {
    /// Builds a view from a directory entry that `SnapshotView::decode` has
    /// already validated; `None` only if that invariant were broken.
    #[inline(always)]
    fn from_entry(area: &'a [u8], entry: &[u8]) -> Option<Self> {
        let offset = read_u32(entry, 0)? as usize;
        let length = read_u32(entry, 4)? as usize;
        let item = area.get(offset..offset.checked_add(length)?)?;
        let h = item.get(..ITEM_HEADER_LEN)?;
        let slice = |off_at: usize, len_at: usize| -> Option<&'a [u8]> {
            let off = read_u32(h, off_at)? as usize;
            let len = read_u32(h, len_at)? as usize;
            item.get(off..off.checked_add(len)?)
        };
        Some(Self {
            hash: read_u32(h, 4)?,
            options: read_u32(h, 8)?,
            enabled: read_u32(h, 12)?,
            name: slice(16, 20)?,
            path: slice(24, 28)?,
        })
    }

    /// The producer's identity hash of the name (opaque; never recomputed).
    #[inline]
    pub fn hash(&self) -> u32 {
        self.hash
    }

    /// The item's option bits.
    #[inline]
    pub fn options(&self) -> u32 {
        self.options
    }

    /// The item's enabled value.
    #[inline]
    pub fn enabled(&self) -> u32 {
        self.enabled
    }

    /// The cgroup name, without its NUL.
    #[inline]
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The cgroup path, without its NUL.
    #[inline]
    pub fn path(&self) -> &'a [u8] {
        self.path
    }

    /// The name as UTF-8.
    ///
    /// # Errors
    ///
    /// [`CodecError::Utf8`] with field `"name"` if it is not valid UTF-8.
    pub fn name_str(&self) -> Result<&'a str, CodecError> {
        core::str::from_utf8(self.name).map_err(|source| CodecError::Utf8 {
            field: "name",
            source,
        })
    }

    /// The path as UTF-8.
    ///
    /// # Errors
    ///
    /// [`CodecError::Utf8`] with field `"path"` if it is not valid UTF-8.
    pub fn path_str(&self) -> Result<&'a str, CodecError> {
        core::str::from_utf8(self.path).map_err(|source| CodecError::Utf8 {
            field: "path",
            source,
        })
    }

    /// The name as text, replacing invalid UTF-8 with U+FFFD.
    pub fn name_lossy(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.name)
    }

    /// The path as text, replacing invalid UTF-8 with U+FFFD.
    pub fn path_lossy(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.path)
    }

    /// Copies the item into owned memory.
    pub fn to_owned(&self) -> SnapshotItem {
        SnapshotItem {
            hash: self.hash,
            options: self.options,
            enabled: self.enabled,
            name: self.name.to_vec(),
            path: self.path.to_vec(),
        }
    }
}

/// Iterator over the items of a [`SnapshotView`], in directory order.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    entries: ChunksExact<'a, u8>,
    area: &'a [u8],
}

impl<'a> Iterator for Items<'a> {
    type Item = ItemView<'a>;

    #[inline]
    fn next(&mut self) -> Option<ItemView<'a>> {
        let entry = self.entries.next()?;
        ItemView::from_entry(self.area, entry)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl<'a> DoubleEndedIterator for Items<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<ItemView<'a>> {
        let entry = self.entries.next_back()?;
        ItemView::from_entry(self.area, entry)
    }
}

impl ExactSizeIterator for Items<'_> {}
impl FusedIterator for Items<'_> {}

// ---------------------------------------------------------------------------
// Owned form
// ---------------------------------------------------------------------------

/// An owned CGROUPS_SNAPSHOT response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The provider's `systemd_enabled` value.
    pub systemd_enabled: u32,
    /// The provider's snapshot generation.
    pub generation: u64,
    /// The items, in directory order.
    pub items: Vec<SnapshotItem>,
}

/// An owned item of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotItem {
    /// The producer's identity hash of the name.
    pub hash: u32,
    /// Option bits.
    pub options: u32,
    /// Enabled value.
    pub enabled: u32,
    /// The cgroup name, without NUL.
    pub name: Vec<u8>,
    /// The cgroup path, without NUL.
    pub path: Vec<u8>,
}

impl Snapshot {
    /// Appends the response payload to `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// As for [`SnapshotBuilder::push`]; `buf` is then left unchanged.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<usize, CodecError> {
        let mut builder =
            SnapshotBuilder::new(buf, self.systemd_enabled, self.generation, self.items.len());
        for item in &self.items {
            builder.push_item(item)?;
        }
        builder.finish()
    }

    /// Encodes the response payload into a new vector.
    ///
    /// # Errors
    ///
    /// As for [`SnapshotBuilder::push`].
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item<'a> = (u32, u32, u32, &'a [u8], &'a [u8]);

    const TWO: [Item<'static>; 2] = [
        (0xdead_beef, 3, 1, b"a", b"/b"),
        (7, 0, 0, b"init.scope", b"/sys/fs/cgroup/init.scope"),
    ];

    fn build(items: &[Item<'_>], hint: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 1, 9, hint);
        for &(h, o, e, n, p) in items {
            b.push(h, o, e, n, p).expect("push");
        }
        b.finish().expect("finish");
        buf
    }

    fn set_u16(p: &mut [u8], at: usize, v: u16) {
        p[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    fn set_u32(p: &mut [u8], at: usize, v: u32) {
        p[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn get(p: &[u8], at: usize) -> u32 {
        read_u32(p, at).expect("in range")
    }

    /// Start of item `i` in a payload with `n` items.
    fn item_at(p: &[u8], n: usize, i: usize) -> usize {
        24 + 8 * n + get(p, 24 + 8 * i) as usize
    }

    fn decode_err(p: &[u8]) -> CodecError {
        SnapshotView::decode(p).expect_err("must be rejected")
    }

    // --- request -----------------------------------------------------------

    #[test]
    fn request_round_trip_and_extra_bytes() {
        let r = SnapshotRequest.encode();
        assert_eq!(r.len(), REQUEST_LEN);
        assert_eq!(SnapshotRequest::decode(&r), Ok(SnapshotRequest));
        let mut longer = r.to_vec();
        longer.extend_from_slice(&[0xff; 4]);
        assert_eq!(SnapshotRequest::decode(&longer), Ok(SnapshotRequest));
        let mut buf = vec![1];
        SnapshotRequest.encode_into(&mut buf);
        assert_eq!(&buf[1..], &r);
    }

    #[test]
    fn request_truncated() {
        for len in 0..REQUEST_LEN {
            assert_eq!(
                SnapshotRequest::decode(&SnapshotRequest.encode()[..len]),
                Err(CodecError::Truncated {
                    what: "snapshot request",
                    need: 4,
                    have: len
                })
            );
        }
    }

    #[test]
    fn request_bad_layout_and_flags() {
        let mut r = SnapshotRequest.encode();
        set_u16(&mut r, 0, 2);
        assert_eq!(
            SnapshotRequest::decode(&r),
            Err(CodecError::BadLayoutVersion {
                what: "snapshot request",
                found: 2
            })
        );
        let mut r = SnapshotRequest.encode();
        set_u16(&mut r, 2, 0x10);
        assert_eq!(
            SnapshotRequest::decode(&r),
            Err(CodecError::NonZeroFlags {
                what: "snapshot request",
                found: 0x10
            })
        );
    }

    // --- builder layout ----------------------------------------------------

    #[test]
    fn builder_matches_documented_example() {
        // name "a", path "/b": 37-byte item, directory {0,37}, payload 69.
        let p = build(&TWO[..1], 1);
        assert_eq!(p.len(), 69);
        assert_eq!((get(&p, 24), get(&p, 28)), (0, 37));
        let item = 32;
        assert_eq!(get(&p, item + 16), 32);
        assert_eq!(get(&p, item + 20), 1);
        assert_eq!(get(&p, item + 24), 34);
        assert_eq!(get(&p, item + 28), 2);
        assert_eq!(&p[item + 32..], b"a\0/b\0");
    }

    #[test]
    fn builder_aligns_items_zero_gaps_and_no_final_padding() {
        let p = build(&TWO, 2);
        let first_len = get(&p, 28) as usize;
        let second_off = get(&p, 32) as usize;
        assert_eq!(first_len, 37);
        assert_eq!(second_off, 40);
        let area = 24 + 16;
        assert!(p[area + 37..area + 40].iter().all(|&b| b == 0));
        let second_len = get(&p, 36) as usize;
        assert_eq!(p.len(), area + second_off + second_len);
        assert_eq!(p.last(), Some(&0));
    }

    #[test]
    fn builder_output_independent_of_hint() {
        let reference = build(&TWO, 2);
        for hint in [0, 1, 3, 20, 1000, usize::MAX] {
            assert_eq!(build(&TWO, hint), reference, "hint {hint}");
        }
        let empty = build(&[], 0);
        for hint in [1, 5, 100] {
            assert_eq!(build(&[], hint), empty);
        }
    }

    #[test]
    fn builder_appends_after_existing_bytes() {
        let reference = build(&TWO, 2);
        for hint in [0, 2, 9] {
            let mut buf = b"prefix".to_vec();
            let mut b = SnapshotBuilder::new(&mut buf, 1, 9, hint);
            for &(h, o, e, n, p) in &TWO {
                b.push(h, o, e, n, p).expect("push");
            }
            assert_eq!(b.finish(), Ok(reference.len()));
            assert_eq!(&buf[..6], b"prefix");
            assert_eq!(&buf[6..], &reference[..]);
        }
    }

    #[test]
    fn builder_reuses_capacity_without_reallocating() {
        let mut buf = Vec::with_capacity(4096);
        for round in 0..3 {
            buf.clear();
            let ptr = buf.as_ptr();
            let cap = buf.capacity();
            // A hint of 0 forces the item area to move right at finish().
            let mut b = SnapshotBuilder::new(&mut buf, 0, round, if round == 1 { 0 } else { 40 });
            for i in 0..20u32 {
                b.push(i, i, i, b"name", b"/some/path").expect("push");
            }
            b.finish().expect("finish");
            assert_eq!(buf.as_ptr(), ptr);
            assert_eq!(buf.capacity(), cap);
            assert_eq!(SnapshotView::decode(&buf).map(|v| v.item_count()), Ok(20));
        }
    }

    #[test]
    fn builder_rejects_interior_nul_with_index() {
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 0, 0, 4);
        b.push(1, 0, 0, b"ok", b"/ok").expect("push");
        assert_eq!(
            b.push(2, 0, 0, b"x\0y", b"/p"),
            Err(CodecError::InteriorNul {
                index: 1,
                field: "name",
                at: 1
            })
        );
        assert_eq!(
            b.push(2, 0, 0, b"x", b"/p\0"),
            Err(CodecError::InteriorNul {
                index: 1,
                field: "path",
                at: 2
            })
        );
        assert_eq!(b.item_count(), 1);
        let len = b.finish().expect("finish");
        let v = SnapshotView::decode(&buf[..len]).expect("valid");
        assert_eq!(v.item_count(), 1);
    }

    #[test]
    fn builder_limit_rejects_and_rolls_back() {
        let full = build(&TWO, 2);
        let one = build(&TWO[..1], 1);
        // A limit one byte short of the two-item payload.
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 1, 9, 2).with_limit(full.len() - 1);
        let (h, o, e, n, p) = TWO[0];
        b.push(h, o, e, n, p).expect("first fits");
        let (h, o, e, n, p) = TWO[1];
        assert_eq!(
            b.push(h, o, e, n, p),
            Err(CodecError::TooLarge {
                need: full.len(),
                limit: full.len() - 1
            })
        );
        assert_eq!(b.payload_len(), one.len());
        assert_eq!(b.finish(), Ok(one.len()));
        assert_eq!(buf, one);

        // Exactly at the limit is fine.
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 1, 9, 0).with_limit(full.len());
        for &(h, o, e, n, p) in &TWO {
            b.push(h, o, e, n, p).expect("fits");
        }
        assert_eq!(b.finish(), Ok(full.len()));
        assert_eq!(buf, full);
    }

    #[test]
    fn builder_limit_below_header_fails_finish_and_restores_buffer() {
        let mut buf = b"keep".to_vec();
        let b = SnapshotBuilder::new(&mut buf, 1, 1, 8).with_limit(23);
        assert_eq!(
            b.finish(),
            Err(CodecError::TooLarge {
                need: 24,
                limit: 23
            })
        );
        assert_eq!(buf, b"keep");
    }

    #[test]
    fn dropped_builder_restores_buffer() {
        let mut buf = b"keep".to_vec();
        {
            let mut b = SnapshotBuilder::new(&mut buf, 1, 1, 8);
            b.push(1, 2, 3, b"n", b"p").expect("push");
        }
        assert_eq!(buf, b"keep");
    }

    // --- decode: happy paths and boundaries --------------------------------

    #[test]
    fn decode_reads_every_field() {
        let p = build(&TWO, 2);
        let v = SnapshotView::decode(&p).expect("valid");
        assert_eq!(v.item_count(), 2);
        assert_eq!(v.systemd_enabled(), 1);
        assert_eq!(v.generation(), 9);
        assert_eq!(v.as_bytes(), &p[..]);
        for (i, (item, &(h, o, e, n, pa))) in v.iter().zip(TWO.iter()).enumerate() {
            assert_eq!(item.hash(), h);
            assert_eq!(item.options(), o);
            assert_eq!(item.enabled(), e);
            assert_eq!(item.name(), n);
            assert_eq!(item.path(), pa);
            assert_eq!(v.item(i), Some(item));
        }
        assert_eq!(v.item(2), None);
        assert_eq!(v.item(usize::MAX), None);
        assert_eq!(v.iter().len(), 2);
        assert_eq!(
            v.iter().rev().map(|i| i.hash()).collect::<Vec<_>>(),
            [7, 0xdead_beef]
        );
        let first = v.item(0).expect("item 0");
        assert_eq!(first.name_str(), Ok("a"));
        assert_eq!(first.path_lossy(), "/b");
    }

    #[test]
    fn empty_snapshot_is_header_only() {
        let p = build(&[], 0);
        assert_eq!(p.len(), 24);
        let v = SnapshotView::decode(&p).expect("valid");
        assert!(v.is_empty());
        assert_eq!(v.item_count(), 0);
        assert_eq!(v.iter().next(), None);
        assert_eq!(v.item(0), None);
    }

    #[test]
    fn empty_name_and_path_make_a_34_byte_item() {
        let p = build(&[(5, 6, 7, b"", b"")], 1);
        assert_eq!(p.len(), 24 + 8 + 34);
        assert_eq!(get(&p, 28), 34);
        assert_eq!(get(&p, 32 + 16), 32);
        assert_eq!(get(&p, 32 + 24), 33);
        let v = SnapshotView::decode(&p).expect("valid");
        let item = v.item(0).expect("item");
        assert_eq!((item.name(), item.path()), (&b""[..], &b""[..]));
        assert_eq!(item.hash(), 5);
    }

    #[test]
    fn one_mebibyte_item_round_trips() {
        let name = vec![b'n'; 300 * 1024];
        let path = vec![b'p'; 1024 * 1024 - 300 * 1024 - 24 - 8 - 34];
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 0, 1, 1).with_limit(1 << 20);
        b.push(1, 2, 3, &name, &path).expect("fits exactly");
        assert_eq!(b.finish(), Ok(1 << 20));
        let v = SnapshotView::decode(&buf).expect("valid");
        let item = v.item(0).expect("item");
        assert_eq!(item.name(), &name[..]);
        assert_eq!(item.path(), &path[..]);
        // One byte more is over the limit.
        let mut buf = Vec::new();
        let mut b = SnapshotBuilder::new(&mut buf, 0, 1, 1).with_limit(1 << 20);
        let mut longer = path.clone();
        longer.push(b'p');
        assert!(matches!(
            b.push(1, 2, 3, &name, &longer),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn items_out_of_directory_order_are_accepted() {
        let mut p = build(&TWO, 2);
        // Swap the two directory entries.
        let (a, b) = (get(&p, 24), get(&p, 28));
        let (c, d) = (get(&p, 32), get(&p, 36));
        set_u32(&mut p, 24, c);
        set_u32(&mut p, 28, d);
        set_u32(&mut p, 32, a);
        set_u32(&mut p, 36, b);
        let v = SnapshotView::decode(&p).expect("valid");
        assert_eq!(v.item(0).map(|i| i.hash()), Some(7));
        assert_eq!(v.item(1).map(|i| i.hash()), Some(0xdead_beef));
    }

    #[test]
    fn items_sharing_bytes_are_accepted() {
        let mut p = build(&TWO, 2);
        let (off, len) = (get(&p, 32), get(&p, 36));
        set_u32(&mut p, 24, off);
        set_u32(&mut p, 28, len);
        let v = SnapshotView::decode(&p).expect("valid");
        assert_eq!(v.item(0), v.item(1));
    }

    #[test]
    fn decoded_interior_nul_is_accepted_but_not_re_encoded() {
        let mut p = build(&[(1, 0, 0, b"ab", b"/p")], 1);
        p[32 + 32] = 0; // "ab" -> "\0b"
        let v = SnapshotView::decode(&p).expect("valid");
        let item = v.item(0).expect("item");
        assert_eq!(item.name(), b"\0b");
        let mut out = Vec::new();
        let mut b = SnapshotBuilder::new(&mut out, 0, 0, 1);
        assert!(matches!(
            b.push_view(&item),
            Err(CodecError::InteriorNul { field: "name", .. })
        ));
    }

    #[test]
    fn owned_round_trip() {
        let p = build(&TWO, 2);
        let owned = SnapshotView::decode(&p).expect("valid").to_owned();
        assert_eq!(owned.items.len(), 2);
        assert_eq!(owned.items[1].name, b"init.scope");
        assert_eq!(owned.encode(), Ok(p.clone()));
        let mut buf = vec![9];
        assert_eq!(owned.encode_into(&mut buf), Ok(p.len()));
        assert_eq!(&buf[1..], &p[..]);
    }

    #[test]
    fn non_utf8_name_helpers() {
        let p = build(&[(1, 0, 0, &[0xff, b'a'], b"/p")], 1);
        let v = SnapshotView::decode(&p).expect("valid");
        let item = v.item(0).expect("item");
        assert!(matches!(
            item.name_str(),
            Err(CodecError::Utf8 { field: "name", .. })
        ));
        assert_eq!(item.name_lossy(), "\u{fffd}a");
        assert_eq!(item.path_str(), Ok("/p"));
    }

    // --- decode: one test per rule -----------------------------------------

    #[test]
    fn rule1_header_truncated() {
        let p = build(&[], 0);
        for len in 0..24 {
            assert_eq!(
                decode_err(&p[..len]),
                CodecError::Truncated {
                    what: "snapshot header",
                    need: 24,
                    have: len
                }
            );
        }
    }

    #[test]
    fn rule2_bad_layout_flags_reserved() {
        let mut p = build(&TWO, 2);
        set_u16(&mut p, 0, 0);
        assert_eq!(
            decode_err(&p),
            CodecError::BadLayoutVersion {
                what: "snapshot",
                found: 0
            }
        );
        let mut p = build(&TWO, 2);
        set_u16(&mut p, 2, 1);
        assert_eq!(
            decode_err(&p),
            CodecError::NonZeroFlags {
                what: "snapshot",
                found: 1
            }
        );
        let mut p = build(&TWO, 2);
        set_u32(&mut p, 12, 0x100);
        assert_eq!(
            decode_err(&p),
            CodecError::NonZeroReserved {
                what: "snapshot",
                found: 0x100
            }
        );
    }

    #[test]
    fn rule3_directory_truncated() {
        let mut p = build(&[], 0);
        set_u32(&mut p, 4, 1);
        assert_eq!(
            decode_err(&p),
            CodecError::DirectoryTruncated {
                item_count: 1,
                need: 32,
                have: 24
            }
        );
        // The largest count must not overflow the size computation.
        let mut p = build(&TWO, 2);
        set_u32(&mut p, 4, u32::MAX);
        assert_eq!(
            decode_err(&p),
            CodecError::DirectoryTruncated {
                item_count: u32::MAX,
                need: 24 + 8 * u64::from(u32::MAX),
                have: p.len()
            }
        );
    }

    #[test]
    fn rule4_misaligned_offset() {
        let mut p = build(&TWO, 2);
        set_u32(&mut p, 32, 44);
        assert_eq!(
            decode_err(&p),
            CodecError::Misaligned {
                index: 1,
                offset: 44
            }
        );
    }

    #[test]
    fn rule4_item_out_of_bounds() {
        let mut p = build(&TWO, 2);
        let area_len = p.len() - 40;
        let len = get(&p, 36);
        set_u32(&mut p, 36, len + 1);
        assert_eq!(
            decode_err(&p),
            CodecError::ItemOutOfBounds {
                index: 1,
                offset: 40,
                length: len + 1,
                area_len
            }
        );
        // Offsets near the top of the 32-bit range must not wrap.
        let mut p = build(&TWO, 2);
        set_u32(&mut p, 24, u32::MAX - 7);
        assert!(matches!(
            decode_err(&p),
            CodecError::ItemOutOfBounds { index: 0, .. }
        ));
    }

    #[test]
    fn rule4_length_below_item_header() {
        let mut p = build(&TWO, 2);
        set_u32(&mut p, 28, 31);
        assert_eq!(
            decode_err(&p),
            CodecError::ItemTooShort {
                index: 0,
                length: 31
            }
        );
    }

    #[test]
    fn rule5_item_layout_and_flags() {
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        set_u16(&mut p, at, 3);
        assert_eq!(
            decode_err(&p),
            CodecError::ItemBadLayoutVersion { index: 1, found: 3 }
        );
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        set_u16(&mut p, at + 2, 0x8000);
        assert_eq!(
            decode_err(&p),
            CodecError::ItemNonZeroFlags {
                index: 1,
                found: 0x8000
            }
        );
    }

    #[test]
    fn rule5_string_offsets_inside_header() {
        for (field, off_at) in [("name", 16), ("path", 24)] {
            let mut p = build(&TWO, 2);
            let at = item_at(&p, 2, 1);
            set_u32(&mut p, at + off_at, 31);
            assert_eq!(
                decode_err(&p),
                CodecError::FieldOffsetInHeader {
                    index: 1,
                    field,
                    offset: 31
                }
            );
        }
    }

    #[test]
    fn rule5_string_out_of_bounds() {
        for (field, off_at) in [("name", 16), ("path", 24)] {
            let mut p = build(&TWO, 2);
            let at = item_at(&p, 2, 0);
            let item_len = get(&p, 28) as usize;
            let offset = get(&p, at + off_at);
            // Make the NUL land exactly one byte past the item.
            let length = item_len as u32 - offset;
            set_u32(&mut p, at + off_at + 4, length);
            assert_eq!(
                decode_err(&p),
                CodecError::FieldOutOfBounds {
                    index: 0,
                    field,
                    offset,
                    length,
                    item_len
                }
            );
            // Huge values must not wrap.
            set_u32(&mut p, at + off_at, u32::MAX);
            set_u32(&mut p, at + off_at + 4, u32::MAX);
            assert!(matches!(
                decode_err(&p),
                CodecError::FieldOutOfBounds { index: 0, .. }
            ));
        }
    }

    #[test]
    fn rule5_missing_nul_for_name_and_path() {
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        // Name is "init.scope" (10 bytes) at 32: its NUL is at 42.
        p[at + 42] = b'!';
        assert_eq!(
            decode_err(&p),
            CodecError::ItemMissingNul {
                index: 1,
                field: "name",
                found: b'!'
            }
        );
        let mut p = build(&TWO, 2);
        let last = p.len() - 1;
        p[last] = b'?';
        assert_eq!(
            decode_err(&p),
            CodecError::ItemMissingNul {
                index: 1,
                field: "path",
                found: b'?'
            }
        );
    }

    #[test]
    fn rule5_overlapping_name_and_path() {
        // Path pointing at the name itself.
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        set_u32(&mut p, at + 24, 32);
        set_u32(&mut p, at + 28, 10);
        assert_eq!(decode_err(&p), CodecError::NameOverlapsPath { index: 1 });
        // An empty path sitting on the name's NUL overlaps too.
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        set_u32(&mut p, at + 24, 42);
        set_u32(&mut p, at + 28, 0);
        assert_eq!(decode_err(&p), CodecError::NameOverlapsPath { index: 1 });
        // Name placed after the path, adjacent but disjoint, is fine.
        let mut p = build(&[(1, 0, 0, b"", b"")], 1);
        set_u32(&mut p, 32 + 16, 33);
        set_u32(&mut p, 32 + 24, 32);
        assert!(SnapshotView::decode(&p).is_ok());
    }

    #[test]
    fn strict_item_count_consistent_with_size() {
        // Header claims no items but an item area follows.
        let mut p = build(&TWO[..1], 1);
        set_u32(&mut p, 4, 0);
        assert_eq!(
            decode_err(&p),
            CodecError::TrailingBytes {
                end: 24,
                len: p.len()
            }
        );
    }

    #[test]
    fn strict_trailing_bytes_rejected() {
        for extra in [&[0u8][..], &[0; 3], b"junk"] {
            let mut p = build(&TWO, 2);
            let end = p.len();
            p.extend_from_slice(extra);
            assert_eq!(
                decode_err(&p),
                CodecError::TrailingBytes { end, len: p.len() }
            );
        }
        let mut p = build(&[], 0);
        p.push(0);
        assert_eq!(
            decode_err(&p),
            CodecError::TrailingBytes { end: 24, len: 25 }
        );
    }

    #[test]
    fn error_item_index_helper() {
        assert_eq!(
            CodecError::NameOverlapsPath { index: 4 }.item_index(),
            Some(4)
        );
        assert_eq!(
            CodecError::Truncated {
                what: "x",
                need: 1,
                have: 0
            }
            .item_index(),
            None
        );
    }

    #[test]
    fn field_overflow_helper() {
        assert_eq!(super::to_u32("x", u32::MAX as usize), Ok(u32::MAX));
        if usize::BITS > 32 {
            assert_eq!(
                super::to_u32("x", u32::MAX as usize + 1),
                Err(CodecError::FieldOverflow {
                    what: "x",
                    value: u32::MAX as usize + 1
                })
            );
        }
    }
}
