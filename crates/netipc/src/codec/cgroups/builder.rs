//! [`SnapshotBuilder`]: encodes a CGROUPS_SNAPSHOT response into a reusable
//! caller-owned buffer.

use super::{
    CgroupItem, ItemView, SnapshotItem, DIRECTORY_ENTRY_LEN, ITEM_ALIGN, ITEM_HEADER_LEN,
    LAYOUT_VERSION, MAX_RESERVED_SLOTS, RESPONSE_HEADER_LEN,
};
use crate::bytes::{align8, get_u32, put_u32};
use crate::codec::{to_u32, CodecError};

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
/// use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder, SnapshotView};
///
/// let mut buf = Vec::with_capacity(4096);
/// let mut b = SnapshotBuilder::new(&mut buf, 1, 42, 2);
/// b.push(CgroupItem { hash: 0x1234, options: 0, enabled: 1,
///     name: b"init.scope", path: b"/sys/fs/cgroup/init.scope" })?;
/// b.push(CgroupItem { hash: 0x5678, ..CgroupItem::default() })?;
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
    pub fn push(&mut self, item: CgroupItem<'_>) -> Result<(), CodecError> {
        let CgroupItem {
            hash,
            options,
            enabled,
            name,
            path,
        } = item;
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
        self.push(item.as_item())
    }

    /// Appends a copy of a decoded item. Same rules as [`push`](Self::push).
    ///
    /// # Errors
    ///
    /// As for [`push`](Self::push); in particular a decoded item whose name
    /// or path contains a NUL is refused.
    pub fn push_view(&mut self, item: &ItemView<'_>) -> Result<(), CodecError> {
        self.push(item.item())
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
