//! APPS_LOOKUP response views (§14.3–§14.6, §16.2–§16.4).

use super::{check_rules, CgroupStatus, PidStatus, Shape, ITEM_HEADER_LEN};
use crate::codec::lookup::common::{u16_at, u32_at, u64_at, Orchestrator};
use crate::codec::lookup::error::{Field, LookupError};
use crate::codec::lookup::strings::{check_disjoint, check_labels, check_string, Labels};

/// Offsets of the `(offset, length)` pairs of comm, cgroup_path and
/// cgroup_name in the item header.
pub(crate) const STRING_SLOTS: [usize; 3] = [32, 40, 48];
const FIELDS: [Field; 3] = [Field::Comm, Field::CgroupPath, Field::CgroupName];

/// Validates one response item (§16.4).
pub(crate) fn validate_item(index: usize, item: &[u8]) -> Result<(), LookupError> {
    if item.len() < ITEM_HEADER_LEN {
        return Err(LookupError::ItemTruncated {
            index,
            length: item.len(),
            need: ITEM_HEADER_LEN,
        });
    }
    let layout = u16_at(item, 0);
    if layout != 1 {
        return Err(LookupError::ItemLayoutVersion {
            index,
            found: layout,
        });
    }
    for (field, found) in [
        ("reserved0", u32_at(item, 20)),
        ("reserved1", u32::from(u16_at(item, 58))),
    ] {
        if found != 0 {
            return Err(LookupError::ItemReserved {
                index,
                field,
                found,
            });
        }
    }
    let label_count = u16_at(item, 56);
    let len_at = |slot: usize| u64::from(u32_at(item, slot + 4));
    check_rules(
        index,
        &Shape {
            status: u16_at(item, 2),
            cgroup_status: u16_at(item, 6),
            orchestrator: u16_at(item, 4),
            ppid: u32_at(item, 12),
            uid: u32_at(item, 16),
            starttime: u64_at(item, 24),
            comm_len: len_at(STRING_SLOTS[0]),
            path_len: len_at(STRING_SLOTS[1]),
            name_len: len_at(STRING_SLOTS[2]),
            label_count: u64::from(label_count),
        },
    )?;
    let mut ranges = [(0u64, 0u64); 3];
    for ((range, &slot), &field) in ranges.iter_mut().zip(&STRING_SLOTS).zip(&FIELDS) {
        let (off, len) = (u32_at(item, slot), u32_at(item, slot + 4));
        *range = check_string(item, index, field, ITEM_HEADER_LEN, off, len)?;
    }
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        check_disjoint(index, (FIELDS[a], ranges[a]), (FIELDS[b], ranges[b]))?;
    }
    let fixed_end = ranges.iter().map(|r| r.1).max().unwrap_or_default();
    check_labels(item, index, ITEM_HEADER_LEN, fixed_end, label_count)
}

crate::codec::lookup::views::response_view!("§16.4: layout and reserved fields, the rules of §16.3, the three strings per §14.5, their pairwise overlap, and the end of the item or its label table per §14.6");

impl<'a> ItemView<'a> {
    /// The PID status.
    #[inline]
    pub fn status(&self) -> PidStatus {
        // Validated: the value is defined.
        PidStatus::from_code(u16_at(self.bytes, 2)).unwrap_or(PidStatus::Known)
    }

    /// The cgroup status (KNOWN unless the PID status is KNOWN).
    #[inline]
    pub fn cgroup_status(&self) -> CgroupStatus {
        CgroupStatus::from_code(u16_at(self.bytes, 6)).unwrap_or(CgroupStatus::Known)
    }

    /// The orchestrator, raw.
    #[inline]
    pub fn orchestrator(&self) -> Orchestrator {
        Orchestrator(u16_at(self.bytes, 4))
    }

    /// The echoed PID.
    #[inline]
    pub fn pid(&self) -> u32 {
        u32_at(self.bytes, 8)
    }

    /// The parent PID (0 if unknown).
    #[inline]
    pub fn ppid(&self) -> u32 {
        u32_at(self.bytes, 12)
    }

    /// The effective uid ([`UID_UNSET`](super::UID_UNSET) if unknown).
    #[inline]
    pub fn uid(&self) -> u32 {
        u32_at(self.bytes, 16)
    }

    /// Start time in clock ticks since boot (0 if unknown).
    #[inline]
    pub fn starttime(&self) -> u64 {
        u64_at(self.bytes, 24)
    }

    /// The command name, without NUL (at most 15 bytes).
    #[inline]
    pub fn comm(&self) -> &'a [u8] {
        self.string(STRING_SLOTS[0])
    }

    /// The cgroup path, without NUL.
    #[inline]
    pub fn cgroup_path(&self) -> &'a [u8] {
        self.string(STRING_SLOTS[1])
    }

    /// The cgroup name, without NUL.
    #[inline]
    pub fn cgroup_name(&self) -> &'a [u8] {
        self.string(STRING_SLOTS[2])
    }

    /// Number of labels.
    #[inline]
    pub fn label_count(&self) -> usize {
        usize::from(u16_at(self.bytes, 56))
    }

    /// The labels in table order.
    pub fn labels(&self) -> Labels<'a> {
        let end = STRING_SLOTS
            .iter()
            .map(|&at| u32_at(self.bytes, at) as usize + u32_at(self.bytes, at + 4) as usize + 1)
            .max()
            .unwrap_or_default();
        Labels::new(self.bytes, end, u16_at(self.bytes, 56))
    }
}
