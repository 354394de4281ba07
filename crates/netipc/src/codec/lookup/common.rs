//! Framing shared by both lookup methods: the 16-byte header, the item
//! directory and the packed area (§14.2–§14.4), the payload writer used by
//! every encoder, and the response-budget test of §17.3.

use super::error::LookupError;
pub(crate) use crate::bytes::{align8 as align8_usize, put_u16, put_u32, put_u64};
use crate::bytes::{read_u16, read_u32, read_u64};

/// `layout_version` of every lookup header and item.
pub const LAYOUT_VERSION: u16 = 1;
/// Size of the request and response headers.
pub const HEADER_LEN: usize = 16;
/// Size of one directory entry (`u32 offset`, `u32 length`).
pub const ENTRY_LEN: usize = 8;
/// Alignment of keys and items inside the packed area.
pub(crate) const ALIGN: usize = 8;

/// Rounds up to a multiple of 8, in 64 bits (for sizes read from the wire;
/// `align8_usize` is the crate's `usize` version).
#[inline(always)]
pub(crate) const fn align8(x: u64) -> u64 {
    (x + 7) & !7
}

/// Reads a `u16` from bytes the decoder has already bounds-checked.
#[inline(always)]
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    read_u16(b, at).unwrap_or_default()
}

/// Reads a `u32` from bytes the decoder has already bounds-checked.
#[inline(always)]
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    read_u32(b, at).unwrap_or_default()
}

/// Reads a `u64` from bytes the decoder has already bounds-checked.
#[inline(always)]
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    read_u64(b, at).unwrap_or_default()
}

/// The orchestrator of a cgroup (§14.7), shared by both methods.
///
/// Decoders accept every value and expose it raw; the associated constants
/// name the values the protocol defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Orchestrator(pub u16);

impl Orchestrator {
    /// Not known (also the only value allowed on non-KNOWN items).
    pub const UNKNOWN: Self = Self(0);
    /// systemd unit or slice.
    pub const SYSTEMD: Self = Self(1);
    /// Docker container.
    pub const DOCKER: Self = Self(2);
    /// Kubernetes pod or container.
    pub const K8S: Self = Self(3);
    /// KVM / libvirt virtual machine.
    pub const KVM: Self = Self(4);
    /// LXC container.
    pub const LXC: Self = Self(5);
    /// Podman container.
    pub const PODMAN: Self = Self(6);
    /// systemd-nspawn container.
    pub const NSPAWN: Self = Self(7);

    /// The specification's name for a defined value, `None` otherwise.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "UNKNOWN",
            1 => "SYSTEMD",
            2 => "DOCKER",
            3 => "K8S",
            4 => "KVM",
            5 => "LXC",
            6 => "PODMAN",
            7 => "NSPAWN",
            _ => return None,
        })
    }
}

/// What a request-backed builder did with an item (§17.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Added {
    /// The item was written as given.
    Item,
    /// Item 0 did not fit with the placeholders reserved for the later keys;
    /// an OVERSIZED_ITEM placeholder was written instead.
    OversizedItem,
    /// The budget is exhausted; a PAYLOAD_EXCEEDED placeholder was written,
    /// and every later key gets one too.
    PayloadExceeded,
}

/// Which header a payload starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Bytes 8–15 are two reserved `u32` that must be 0.
    Request,
    /// Bytes 8–15 are the `u64` generation, any value.
    Response,
}

/// The length rule for directory entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryLen {
    /// At least this many bytes.
    AtLeast(u32),
    /// Exactly this many bytes.
    Exactly(u32),
}

/// A payload whose header and directory passed §14.2–§14.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    payload: &'a [u8],
    count: usize,
}

impl<'a> Frame<'a> {
    /// Checks the header and every directory entry (§14.4 steps 1–4).
    pub(crate) fn decode(
        payload: &'a [u8],
        side: Side,
        rule: EntryLen,
    ) -> Result<Self, LookupError> {
        if payload.len() < HEADER_LEN {
            return Err(LookupError::HeaderTruncated {
                have: payload.len(),
            });
        }
        let layout = u16_at(payload, 0);
        if layout != LAYOUT_VERSION {
            return Err(LookupError::BadLayoutVersion { found: layout });
        }
        let flags = u16_at(payload, 2);
        if flags != 0 {
            return Err(LookupError::NonZeroFlags { found: flags });
        }
        if side == Side::Request {
            for (field, at) in [("reserved0", 8), ("reserved1", 12)] {
                let found = u32_at(payload, at);
                if found != 0 {
                    return Err(LookupError::NonZeroReserved { field, found });
                }
            }
        }
        let item_count = u32_at(payload, 4);
        // 64-bit arithmetic: 8 · u32::MAX cannot overflow.
        let area_start = HEADER_LEN as u64 + ENTRY_LEN as u64 * u64::from(item_count);
        if area_start > payload.len() as u64 {
            return Err(LookupError::DirectoryTruncated {
                item_count,
                need: area_start,
                have: payload.len(),
            });
        }
        let area_len = payload.len() as u64 - area_start;
        if area_len > u64::from(u32::MAX) {
            return Err(LookupError::AreaTooLong { len: area_len });
        }
        // `area_start` is at most the payload length, so it fits usize.
        let count = item_count as usize;
        let directory = payload
            .get(HEADER_LEN..area_start as usize)
            .unwrap_or_default();
        let mut previous_end = 0u64;
        for (index, entry) in directory.chunks_exact(ENTRY_LEN).enumerate() {
            let offset = u32_at(entry, 0);
            let length = u32_at(entry, 4);
            if offset as usize % ALIGN != 0 {
                return Err(LookupError::Misaligned { index, offset });
            }
            match rule {
                EntryLen::AtLeast(min) if length < min => {
                    return Err(LookupError::EntryTooShort { index, length, min })
                }
                EntryLen::Exactly(n) if length != n => {
                    return Err(LookupError::BadKeyLength { index, length })
                }
                _ => {}
            }
            let end = u64::from(offset) + u64::from(length);
            if end > area_len {
                return Err(LookupError::EntryOutOfBounds {
                    index,
                    offset,
                    length,
                    area_len,
                });
            }
            if index > 0 && u64::from(offset) < previous_end {
                return Err(LookupError::EntryOutOfOrder {
                    index,
                    offset,
                    previous_end,
                });
            }
            previous_end = end;
        }
        Ok(Self { payload, count })
    }

    /// [`Frame::decode`], then `check(index, entry)` on every entry in
    /// order; the first error wins.
    pub(crate) fn decode_each(
        payload: &'a [u8],
        side: Side,
        rule: EntryLen,
        mut check: impl FnMut(usize, &'a [u8]) -> Result<(), LookupError>,
    ) -> Result<Self, LookupError> {
        let frame = Self::decode(payload, side, rule)?;
        let mut entries = Entries::new(frame);
        let mut index = 0;
        while let Some(entry) = entries.next() {
            check(index, entry)?;
            index += 1;
        }
        Ok(frame)
    }

    /// A frame over a payload that already passed [`Frame::decode`] with
    /// the same rules (or that this crate's [`Packer`] wrote), without
    /// checking it again. Accessors stay bounds-checked, so a payload that
    /// did not would give wrong answers but never a panic.
    #[inline]
    pub(crate) fn assume_valid(payload: &'a [u8]) -> Self {
        let count = if payload.len() >= HEADER_LEN {
            u32_at(payload, 4) as usize
        } else {
            0
        };
        Self { payload, count }
    }

    /// Number of directory entries.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Bytes 8–15 of the header as one `u64` (the response generation).
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        u64_at(self.payload, 8)
    }

    /// The whole payload.
    #[inline]
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The bytes of entry `i` (its exact directory range), if `i < count`.
    #[inline]
    pub(crate) fn entry(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.count {
            return None;
        }
        let dir = HEADER_LEN + i * ENTRY_LEN;
        let offset = u32_at(self.payload, dir) as usize;
        let length = u32_at(self.payload, dir + 4) as usize;
        let start = HEADER_LEN + self.count * ENTRY_LEN + offset;
        self.payload.get(start..start + length)
    }

    /// The length of entry `i` as stored in the directory.
    #[inline]
    pub(crate) fn entry_len(&self, i: usize) -> u32 {
        u32_at(self.payload, HEADER_LEN + i * ENTRY_LEN + 4)
    }
}

/// Iterator over the entries of a [`Frame`], front and back.
#[derive(Debug, Clone)]
pub(crate) struct Entries<'a> {
    frame: Frame<'a>,
    front: usize,
    back: usize,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(frame: Frame<'a>) -> Self {
        Self {
            frame,
            front: 0,
            back: frame.count(),
        }
    }

    pub(crate) fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        self.frame.entry(self.front - 1)
    }

    pub(crate) fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.frame.entry(self.back)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.back - self.front
    }
}

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

/// Writes the header of a request (layout 1, flags 0, `count` items, the
/// reserved words 0) into zeroed `head`. The count was checked to fit.
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
        put_u16(buf, base, LAYOUT_VERSION);
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

/// The response-budget test of §17.3 D: an item ending at payload offset
/// `end` fits iff `end ≤ B` and `align8(end) + suffix ≤ B`, where `suffix` is
/// the room reserved for the placeholders of the later keys.
#[inline]
pub(crate) fn fits_budget(end: u64, suffix: u64, budget: usize) -> bool {
    let budget = budget as u64;
    end <= budget && align8(end).saturating_add(suffix) <= budget
}

/// Checks that a string holds no NUL; `Err` carries the first one's
/// position.
///
/// Strings here are short (paths, names, labels), where a call into the
/// general `memchr` costs more than the scan: this tests eight bytes at a
/// time inline (a word has a zero byte iff `(w - 0x01…) & !w & 0x80…` is
/// non-zero), the tail with one load of the last eight bytes, and looks for
/// the position only once a NUL is known to exist.
#[inline]
pub(crate) fn no_nul(bytes: &[u8]) -> Result<(), usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(LO) & !w & HI != 0;
    // Every chunk is eight bytes long, so the conversion cannot fail (and
    // compiles to one load); `u64::MAX` holds no zero byte.
    let word = |c: &[u8]| c.try_into().map_or(u64::MAX, u64::from_ne_bytes);
    let n = bytes.len();
    let found = if n < 8 {
        // Under eight bytes: a branch-free fold, no call.
        bytes.iter().fold(false, |found, &b| found | (b == 0))
    } else {
        let mut chunks = bytes.chunks_exact(8);
        let whole = chunks.any(|c| has_zero(word(c)));
        // The tail: the last eight bytes, overlapping the last chunk.
        whole || (n % 8 != 0 && has_zero(word(&bytes[n - 8..])))
    };
    if found {
        Err(bytes.iter().position(|&b| b == 0).unwrap_or_default())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_nul_finds_the_first_nul_at_every_position_and_length() {
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert_eq!(no_nul(&clean), Ok(()), "len {len}");
            // Bytes with the high bit set must not look like zeros.
            assert_eq!(no_nul(&vec![0x80u8; len]), Ok(()), "len {len}");
            assert_eq!(no_nul(&vec![0x01u8; len]), Ok(()), "len {len}");
            for at in 0..len {
                let mut dirty = clean.clone();
                dirty[at] = 0;
                if at + 1 < len {
                    dirty[len - 1] = 0;
                }
                assert_eq!(no_nul(&dirty), Err(at), "len {len} at {at}");
            }
        }
    }

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

    #[test]
    fn an_assumed_frame_reads_the_count_of_a_checked_one() {
        let mut buf = Vec::new();
        let mut packer = Packer::new(&mut buf, 1);
        packer.push(3).unwrap().copy_from_slice(b"ab\0");
        packer.finish(7);
        let checked = Frame::decode(&buf, Side::Response, EntryLen::AtLeast(1)).unwrap();
        assert_eq!(Frame::assume_valid(&buf), checked);
        assert_eq!(Frame::assume_valid(&buf[..3]).count(), 0);
    }
}
