//! [`SnapshotView`]: validates a CGROUPS_SNAPSHOT response completely up
//! front, then gives infallible borrowed access to its items.

use std::borrow::Cow;
use std::iter::FusedIterator;
use std::slice::ChunksExact;

use super::CgroupItem;
use super::{
    check_header, Snapshot, SnapshotItem, DIRECTORY_ENTRY_LEN, ITEM_ALIGN, ITEM_HEADER_LEN,
    LAYOUT_VERSION, RESPONSE_HEADER_LEN,
};
use crate::bytes::{read_u16, read_u32, read_u64};
use crate::codec::CodecError;

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
        check_header(WHAT, layout, flags)?;
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

    /// All fields at once, borrowed from the payload.
    #[inline]
    pub fn item(&self) -> CgroupItem<'a> {
        CgroupItem {
            hash: self.hash,
            options: self.options,
            enabled: self.enabled,
            name: self.name,
            path: self.path,
        }
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
