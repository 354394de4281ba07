//! Batch payloads: an item directory followed by packed, 8-aligned items
//! (PROTOCOL.md §3).

use super::WireError;
use crate::bytes::{align8, get_u32, put_u32};

/// Size of one directory entry (`u32 offset`, `u32 length`).
pub const BATCH_ENTRY_LEN: usize = 8;

/// Writes a batch payload of a known number of items into a reusable buffer.
///
/// The payload starts at the buffer's length when the builder is created, so
/// a caller may reserve room for a header first. Items are appended in order;
/// each starts 8-aligned within the packed area with zero gap bytes, and
/// [`BatchBuilder::finish`] pads after the last item too, as the protocol's
/// builders do.
#[derive(Debug)]
pub struct BatchBuilder<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
    count: u32,
    pushed: u32,
}

impl<'b> BatchBuilder<'b> {
    /// Starts a batch of exactly `item_count` items at the end of `buf`.
    pub fn new(buf: &'b mut Vec<u8>, item_count: u32) -> Result<Self, WireError> {
        if item_count == 0 {
            return Err(WireError::EmptyBatch);
        }
        let start = buf.len();
        let dir = (item_count as usize)
            .checked_mul(BATCH_ENTRY_LEN)
            .ok_or(WireError::TooLong {
                what: "batch directory",
                len: usize::MAX,
            })?;
        buf.resize(start + dir, 0);
        Ok(BatchBuilder {
            buf,
            start,
            count: item_count,
            pushed: 0,
        })
    }

    /// Items announced at construction.
    pub fn item_count(&self) -> u32 {
        self.count
    }

    /// Bytes of payload written so far (directory included).
    pub fn payload_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends one item's bytes.
    pub fn push(&mut self, item: &[u8]) -> Result<(), WireError> {
        self.push_with(|buf| buf.extend_from_slice(item))
    }

    /// Appends one item written by `write`, which must only append to the
    /// buffer it is given (the bytes it appends are the item).
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), WireError> {
        if self.pushed >= self.count {
            return Err(WireError::BatchCountMismatch {
                expected: self.count,
                pushed: self.pushed + 1,
            });
        }
        let area_start = self.start + self.count as usize * BATCH_ENTRY_LEN;
        let item_start = area_start + align8(self.buf.len() - area_start);
        self.buf.resize(item_start, 0);
        write(self.buf);
        if self.buf.len() < item_start {
            // A writer that shrank the buffer wrote an empty item.
            self.buf.resize(item_start, 0);
        }
        let len = self.buf.len().saturating_sub(item_start);
        let offset = u32::try_from(item_start - area_start).map_err(|_| WireError::TooLong {
            what: "batch item offset",
            len: item_start - area_start,
        })?;
        let length = u32::try_from(len).map_err(|_| WireError::TooLong {
            what: "batch item",
            len,
        })?;
        let entry = self.start + self.pushed as usize * BATCH_ENTRY_LEN;
        put_u32(self.buf, entry, offset);
        put_u32(self.buf, entry + 4, length);
        self.pushed += 1;
        Ok(())
    }

    /// Pads the last item to 8 bytes and returns the payload length.
    pub fn finish(self) -> Result<u32, WireError> {
        if self.pushed != self.count {
            return Err(WireError::BatchCountMismatch {
                expected: self.count,
                pushed: self.pushed,
            });
        }
        let len = align8(self.buf.len() - self.start);
        self.buf.resize(self.start + len, 0);
        u32::try_from(len).map_err(|_| WireError::TooLong {
            what: "batch payload",
            len,
        })
    }
}

/// A validated, borrowed view of a received batch payload.
///
/// Validation (done once, in [`BatchView::new`]): at least one item; the
/// directory fits; every offset is 8-aligned and every item lies inside the
/// packed area. Stricter than the reference peers, the area may extend past
/// the furthest item by at most 7 bytes of zero padding (a builder that
/// omits the final pad is accepted too). Item overlaps are not checked.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    dir: &'a [u8],
    area: &'a [u8],
    count: u32,
}

impl<'a> BatchView<'a> {
    /// Validates `payload` as a batch of `item_count` items.
    pub fn new(payload: &'a [u8], item_count: u32) -> Result<Self, WireError> {
        if item_count == 0 {
            return Err(WireError::EmptyBatch);
        }
        let dir_len = u64::from(item_count) * BATCH_ENTRY_LEN as u64;
        if dir_len > payload.len() as u64 {
            return Err(WireError::BatchDirectoryTruncated {
                items: item_count,
                need: dir_len,
                have: payload.len(),
            });
        }
        let (dir, area) = payload.split_at(dir_len as usize);
        let mut max_end = 0u64;
        for (index, entry) in dir.chunks_exact(BATCH_ENTRY_LEN).enumerate() {
            let offset = get_u32(entry, 0);
            let length = get_u32(entry, 4);
            if offset % 8 != 0 {
                return Err(WireError::BatchItemMisaligned {
                    index: index as u32,
                    offset,
                });
            }
            let end = u64::from(offset) + u64::from(length);
            if end > area.len() as u64 {
                return Err(WireError::BatchItemOutOfBounds {
                    index: index as u32,
                    offset,
                    length,
                    area: area.len(),
                });
            }
            max_end = max_end.max(end);
        }
        // max_end <= area.len(), so it fits usize.
        let tail = &area[max_end as usize..];
        if tail.len() >= 8 {
            return Err(WireError::BatchTrailingBytes { extra: tail.len() });
        }
        if let Some(pos) = tail.iter().position(|&b| b != 0) {
            return Err(WireError::BatchNonZeroPadding {
                offset: dir.len() + max_end as usize + pos,
            });
        }
        Ok(BatchView {
            dir,
            area,
            count: item_count,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Always false: a batch has at least one item.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Item `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        let entry = self
            .dir
            .get(index * BATCH_ENTRY_LEN..(index + 1) * BATCH_ENTRY_LEN)?;
        let offset = get_u32(entry, 0) as usize;
        let length = get_u32(entry, 4) as usize;
        self.area.get(offset..offset + length)
    }

    /// The items in directory order.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            view: *self,
            next: 0,
        }
    }
}

impl<'a> IntoIterator for BatchView<'a> {
    type Item = &'a [u8];
    type IntoIter = BatchIter<'a>;
    fn into_iter(self) -> BatchIter<'a> {
        self.iter()
    }
}

/// Iterator over the items of a [`BatchView`].
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    view: BatchView<'a>,
    next: usize,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let item = self.view.get(self.next)?;
        self.next += 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.view.len() - self.next.min(self.view.len());
        (left, Some(left))
    }
}

impl ExactSizeIterator for BatchIter<'_> {}
