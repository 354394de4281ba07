//! CGROUPS_LOOKUP response views (§14.3–§14.6, §15.2–§15.4).

use super::{check_rules, Status, ITEM_HEADER_LEN};
use crate::codec::lookup::common::{u16_at, u32_at, Orchestrator};
use crate::codec::lookup::error::{Field, LookupError};
use crate::codec::lookup::strings::{check_disjoint, check_labels, check_string, Labels};

/// Validates one response item (§15.4).
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
    for (field, at) in [("reserved0", 6), ("reserved1", 26)] {
        let found = u16_at(item, at);
        if found != 0 {
            return Err(LookupError::ItemReserved {
                index,
                field,
                found: u32::from(found),
            });
        }
    }
    let (path_off, path_len) = (u32_at(item, 8), u32_at(item, 12));
    let (name_off, name_len) = (u32_at(item, 16), u32_at(item, 20));
    let label_count = u16_at(item, 24);
    check_rules(
        index,
        u16_at(item, 2),
        u16_at(item, 4),
        u64::from(path_len),
        u64::from(name_len),
        u64::from(label_count),
    )?;
    let h = ITEM_HEADER_LEN;
    let path = check_string(item, index, Field::Path, h, path_off, path_len)?;
    let name = check_string(item, index, Field::Name, h, name_off, name_len)?;
    check_disjoint(index, (Field::Path, path), (Field::Name, name))?;
    check_labels(item, index, h, path.1.max(name.1), label_count)
}

crate::codec::lookup::views::response_view!("§15.4: layout and reserved fields, the status rules of §15.3, path and name per §14.5, their overlap, and the end of the item or its label table per §14.6");

impl<'a> ItemView<'a> {
    /// The item status.
    #[inline]
    pub fn status(&self) -> Status {
        // Validated: the value is defined.
        Status::from_code(u16_at(self.bytes, 2)).unwrap_or(Status::Known)
    }

    /// The orchestrator, raw (0 unless KNOWN).
    #[inline]
    pub fn orchestrator(&self) -> Orchestrator {
        Orchestrator(u16_at(self.bytes, 4))
    }

    /// The echoed path, without NUL (never empty).
    #[inline]
    pub fn path(&self) -> &'a [u8] {
        self.string(8)
    }

    /// The cgroup name, without NUL (empty unless KNOWN; may be empty).
    #[inline]
    pub fn name(&self) -> &'a [u8] {
        self.string(16)
    }

    /// Number of labels (0 unless KNOWN).
    #[inline]
    pub fn label_count(&self) -> usize {
        usize::from(u16_at(self.bytes, 24))
    }

    /// The labels in table order.
    pub fn labels(&self) -> Labels<'a> {
        let end =
            |at: usize| u32_at(self.bytes, at) as usize + u32_at(self.bytes, at + 4) as usize + 1;
        Labels::new(self.bytes, end(8).max(end(16)), u16_at(self.bytes, 24))
    }
}
