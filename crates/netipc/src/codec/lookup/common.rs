//! Framing shared by both lookup methods: the 16-byte header, the item
//! directory and the packed area as decoders see them (§14.2–§14.4), the
//! orchestrator values, the NUL scan, and the response-budget test of
//! §17.3. Payloads are written by the packer (`packer.rs`).

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
    use crate::codec::lookup::packer::Packer;

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
