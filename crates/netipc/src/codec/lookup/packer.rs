//! [`Packer`]: the writer of lookup payloads (header, directory, packed
//! area) used by every response builder, and the checks and header writes
//! the request encoders share with it.

use super::common::{
    align8, align8_usize, put_u16, put_u32, put_u64, ENTRY_LEN, HEADER_LEN, LAYOUT_VERSION,
};
use super::error::LookupError;

/// Where the packed area ends once item `index` of `len` bytes is added at
/// the next multiple of 8 after `area`: the one check every writer applies,
/// as [`Packer::push`] does.
///
/// # Errors
///
/// [`LookupError::FieldOverflow`] if the area or the item count would not
/// fit 32 bits.
#[inline]
pub(crate) fn packed_end(area: u64, len: u64, index: usize) -> Result<u64, LookupError> {
    let end = align8(area) + len;
    if end > u64::from(u32::MAX) {
        return Err(LookupError::FieldOverflow {
            what: "packed area length",
            value: end,
        });
    }
    if index >= u32::MAX as usize {
        return Err(LookupError::FieldOverflow {
            what: "item count",
            value: index as u64 + 1,
        });
    }
    Ok(end)
}

/// Writes layout 1 and `count` items into the zeroed header `head`; flags
/// and bytes 8–15 (a request's reserved words, a response's generation)
/// stay as they are. The count was checked to fit.
#[inline]
pub(crate) fn write_header(head: &mut [u8], count: usize) {
    put_u16(head, 0, LAYOUT_VERSION);
    put_u32(head, 4, count as u32);
}

/// Writes a lookup payload (header, directory, packed area) at the end of a
/// caller's buffer.
///
/// Directory slots are reserved up front; when more items arrive the slot
/// count doubles and the packed area moves once, and [`finish`] moves it back
/// over unused slots, so the reservation never changes the bytes. Directory
/// offsets count from the packed area, so moving it leaves them valid.
/// Dropping an unfinished packer truncates the buffer back to where it
/// started.
///
/// The buffer is zero-filled ahead of the items in steps that grow with the
/// payload rather than once per item (a call into `memset` per item cost more
/// than the item's own writes): every byte past the last item is zero until
/// an item claims it, and [`finish`] cuts the unused zeros off.
///
/// [`finish`]: Packer::finish
#[derive(Debug)]
pub(crate) struct Packer<'b> {
    buf: &'b mut Vec<u8>,
    base: usize,
    slots: usize,
    count: usize,
    area_len: usize,
    done: bool,
}

/// Largest number of slots reserved up front from a hint.
const MAX_RESERVED_SLOTS: usize = 1 << 16;

/// Zeros filled ahead of the items at least (bytes) when more are needed…
const MIN_ZERO_AHEAD: usize = 256;
/// …and at most; in between, an eighth of the payload so far, so that the
/// fills grow with the payload while wasting little past its end.
const MAX_ZERO_AHEAD: usize = 64 << 10;

impl<'b> Packer<'b> {
    /// Appends a header (layout 1, everything else 0) and `slots` zeroed
    /// directory entries.
    pub(crate) fn new(buf: &'b mut Vec<u8>, slots: usize) -> Self {
        let base = buf.len();
        let slots = slots.min(MAX_RESERVED_SLOTS);
        buf.resize(base + HEADER_LEN + slots * ENTRY_LEN, 0);
        // The count is written by `finish`.
        write_header(&mut buf[base..], 0);
        Self {
            buf,
            base,
            slots,
            count: 0,
            area_len: 0,
            done: false,
        }
    }

    /// Items written so far.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Offset in the packed area where the next item would start.
    #[inline]
    pub(crate) fn next_start(&self) -> usize {
        align8_usize(self.area_len)
    }

    /// Payload length once the next item of `len` bytes is added and the
    /// directory holds exactly `entries` slots.
    #[inline]
    pub(crate) fn end_with(&self, len: usize, entries: usize) -> u64 {
        (HEADER_LEN + entries * ENTRY_LEN) as u64 + self.next_start() as u64 + len as u64
    }

    /// Payload length if finished now.
    #[inline]
    pub(crate) fn payload_len(&self) -> usize {
        HEADER_LEN + self.count * ENTRY_LEN + self.area_len
    }

    /// Start of the packed area in the buffer.
    #[inline]
    fn area(&self) -> usize {
        self.base + HEADER_LEN + self.slots * ENTRY_LEN
    }

    /// Zero-fills ahead so that the packed area can take `bytes` more
    /// bytes after the last item without another fill (a sizing hint, e.g.
    /// the placeholders a reply reserves).
    pub(crate) fn zero_ahead(&mut self, bytes: usize) {
        let end = (self.area() + self.area_len).saturating_add(bytes);
        if end > self.buf.len() {
            self.buf.resize(end, 0);
        }
    }

    /// Adds an item of `len` bytes: records its directory entry and returns
    /// its bytes, all zero, for the caller to fill.
    ///
    /// Fails with [`LookupError::FieldOverflow`] (and changes nothing) if
    /// the item count or the packed area would not fit 32 bits.
    #[inline]
    pub(crate) fn push(&mut self, len: usize) -> Result<&mut [u8], LookupError> {
        let start = self.next_start();
        packed_end(start as u64, len as u64, self.count)?;
        if self.count == self.slots {
            self.grow();
        }
        let area = self.area();
        let dir = self.base + HEADER_LEN + self.count * ENTRY_LEN;
        put_u32(self.buf, dir, start as u32);
        put_u32(self.buf, dir + 4, len as u32);
        // The gap before the item and the item itself are zero already, or
        // become so with the next step of zeros.
        let end = area + start + len;
        if end > self.buf.len() {
            let step = ((end - self.base) / 8).clamp(MIN_ZERO_AHEAD, MAX_ZERO_AHEAD);
            self.buf.resize(end + step, 0);
        }
        self.area_len = start + len;
        self.count += 1;
        Ok(&mut self.buf[area + start..end])
    }

    /// Doubles the directory reservation, moving the packed area right.
    fn grow(&mut self) {
        let extra = self.slots.max(4) * ENTRY_LEN;
        let area = self.area();
        let len = self.area_len;
        // Bytes past the moved area stay zero: they were past the last item.
        if area + extra + len > self.buf.len() {
            self.buf.resize(area + extra + len, 0);
        }
        self.buf.copy_within(area..area + len, area + extra);
        self.buf[area..area + extra].fill(0);
        self.slots += extra / ENTRY_LEN;
    }

    /// Writes the item count and `word` (bytes 8–15), drops unused slots and
    /// returns the payload length.
    pub(crate) fn finish(mut self, word: u64) -> usize {
        let dir = self.base + HEADER_LEN;
        let old_area = dir + self.slots * ENTRY_LEN;
        let new_area = dir + self.count * ENTRY_LEN;
        if new_area != old_area {
            self.buf
                .copy_within(old_area..old_area + self.area_len, new_area);
        }
        // Also drops the zeros filled ahead.
        self.buf.truncate(new_area + self.area_len);
        // `push` keeps the count within u32.
        put_u32(self.buf, self.base + 4, self.count as u32);
        put_u64(self.buf, self.base + 8, word);
        self.done = true;
        self.buf.len() - self.base
    }
}

impl Drop for Packer<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.buf.truncate(self.base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zeros filled ahead and the directory growth never show in the
    /// bytes: padding stays zero, the payload ends at its last item, and an
    /// abandoned packer leaves the buffer as it was.
    #[test]
    fn zero_fill_ahead_and_slot_growth_keep_the_canonical_bytes() {
        let prefix = [0xAAu8; 5];
        for hint in [0, 3, 200] {
            let mut buf = prefix.to_vec();
            let mut packer = Packer::new(&mut buf, hint);
            packer.zero_ahead(17);
            let lens: Vec<usize> = (1..=120).map(|i| (i * 37) % 300 + 1).collect();
            for &len in &lens {
                let item = packer.push(len).unwrap();
                assert_eq!(item.len(), len);
                assert!(item.iter().all(|&b| b == 0));
                item.fill(0xFF);
            }
            let total = packer.finish(9);
            assert_eq!(buf.len(), prefix.len() + total);
            assert_eq!(&buf[..5], &prefix);
            // Rebuild the payload by the rules: header, directory, items at
            // multiples of 8 with zero padding.
            let mut want = vec![0u8; HEADER_LEN + lens.len() * ENTRY_LEN];
            put_u16(&mut want, 0, LAYOUT_VERSION);
            put_u32(&mut want, 4, lens.len() as u32);
            put_u64(&mut want, 8, 9);
            let mut area = Vec::new();
            for (i, &len) in lens.iter().enumerate() {
                area.resize(align8_usize(area.len()), 0);
                put_u32(&mut want, HEADER_LEN + i * ENTRY_LEN, area.len() as u32);
                put_u32(&mut want, HEADER_LEN + i * ENTRY_LEN + 4, len as u32);
                area.resize(area.len() + len, 0xFF);
            }
            want.extend_from_slice(&area);
            assert_eq!(&buf[5..], &want[..], "hint {hint}");

            let mut packer = Packer::new(&mut buf, hint);
            packer.push(1000).unwrap();
            drop(packer);
            assert_eq!(buf.len(), prefix.len() + total);
        }
    }
}
