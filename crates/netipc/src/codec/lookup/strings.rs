//! Strings and label tables inside response items (§14.5, §14.6): the
//! decoder checks, the label iterator, and the canonical writer.

use core::iter::FusedIterator;

use super::common::{align8, align8_usize, no_nul, put_u32, u32_at};
use super::error::{Field, LookupError};

/// Size of one label table entry.
pub(crate) const LABEL_ENTRY_LEN: usize = 16;

/// One label of a response item: a non-empty key and a value, both without
/// NUL bytes.
///
/// Decoded labels borrow from the payload; labels given to a builder borrow
/// from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label<'a> {
    /// The key (never empty on the wire).
    pub key: &'a [u8],
    /// The value (may be empty).
    pub value: &'a [u8],
}

impl<'a> Label<'a> {
    /// A label from its key and value.
    pub const fn new(key: &'a [u8], value: &'a [u8]) -> Self {
        Self { key, value }
    }
}

/// Checks one string of an item against §14.5 rules 1–4 and returns its
/// range including the NUL, `[offset, offset + length + 1)`.
pub(crate) fn check_string(
    item: &[u8],
    index: usize,
    field: Field,
    header_len: usize,
    offset: u32,
    length: u32,
) -> Result<(u64, u64), LookupError> {
    if (offset as usize) < header_len {
        return Err(LookupError::StringInHeader {
            index,
            field,
            offset,
            header_len,
        });
    }
    let start = u64::from(offset);
    let nul = start + u64::from(length);
    if nul + 1 > item.len() as u64 {
        return Err(LookupError::StringOutOfBounds {
            index,
            field,
            offset,
            length,
            item_len: item.len(),
        });
    }
    // Both fit in the item, so in usize.
    let text = item.get(start as usize..nul as usize).unwrap_or_default();
    if item.get(nul as usize) != Some(&0) {
        return Err(LookupError::StringMissingNul { index, field });
    }
    if let Err(at) = no_nul(text) {
        return Err(LookupError::StringInteriorNul { index, field, at });
    }
    Ok((start, nul + 1))
}

/// Checks that two string ranges (NULs included) are disjoint (§14.5 rule 5).
#[inline]
pub(crate) fn check_disjoint(
    index: usize,
    a: (Field, (u64, u64)),
    b: (Field, (u64, u64)),
) -> Result<(), LookupError> {
    let ((fa, (sa, ea)), (fb, (sb, eb))) = (a, b);
    if sa < eb && sb < ea {
        return Err(LookupError::StringsOverlap {
            index,
            first: fa,
            second: fb,
        });
    }
    Ok(())
}

/// Checks the end of an item: exactly at `fixed_end` without labels, or a
/// label table per §14.6.
pub(crate) fn check_labels(
    item: &[u8],
    index: usize,
    header_len: usize,
    fixed_end: u64,
    count: u16,
) -> Result<(), LookupError> {
    let item_len = item.len();
    if count == 0 {
        if fixed_end != item_len as u64 {
            return Err(LookupError::ItemLengthMismatch {
                index,
                end: fixed_end,
                item_len,
            });
        }
        return Ok(());
    }
    let table = align8(fixed_end);
    if table > item_len as u64 {
        return Err(LookupError::LabelTableOutOfBounds {
            index,
            end: table,
            item_len,
        });
    }
    // Both bounds are within the item.
    let pad = item
        .get(fixed_end as usize..table as usize)
        .unwrap_or_default();
    if pad.iter().any(|&b| b != 0) {
        return Err(LookupError::LabelPadding { index });
    }
    let table_end = table + LABEL_ENTRY_LEN as u64 * u64::from(count);
    if table_end > item_len as u64 {
        return Err(LookupError::LabelTableOutOfBounds {
            index,
            end: table_end,
            item_len,
        });
    }
    let mut expected = table_end;
    for j in 0..count {
        let at = table as usize + j as usize * LABEL_ENTRY_LEN;
        let key_offset = u32_at(item, at);
        let key_length = u32_at(item, at + 4);
        let value_offset = u32_at(item, at + 8);
        let value_length = u32_at(item, at + 12);
        if key_length == 0 {
            return Err(LookupError::EmptyLabelKey { index, label: j });
        }
        let key = Field::LabelKey(j);
        if u64::from(key_offset) != expected {
            return Err(LookupError::LabelNotPacked {
                index,
                field: key,
                offset: key_offset,
                expected,
            });
        }
        let (_, key_end) = check_string(item, index, key, header_len, key_offset, key_length)?;
        let value = Field::LabelValue(j);
        if u64::from(value_offset) != key_end {
            return Err(LookupError::LabelNotPacked {
                index,
                field: value,
                offset: value_offset,
                expected: key_end,
            });
        }
        let (_, value_end) =
            check_string(item, index, value, header_len, value_offset, value_length)?;
        expected = value_end;
    }
    if expected != item_len as u64 {
        return Err(LookupError::ItemLengthMismatch {
            index,
            end: expected,
            item_len,
        });
    }
    Ok(())
}

/// Iterator over the labels of a decoded item, in table order.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    item: &'a [u8],
    table: usize,
    front: u16,
    back: u16,
}

impl<'a> Labels<'a> {
    /// Labels of a validated item whose fixed strings end at `fixed_end`.
    pub(crate) fn new(item: &'a [u8], fixed_end: usize, count: u16) -> Self {
        Self {
            item,
            table: align8_usize(fixed_end),
            front: 0,
            back: count,
        }
    }

    fn get(&self, j: u16) -> Label<'a> {
        let at = self.table + j as usize * LABEL_ENTRY_LEN;
        let s = |o: usize| {
            let off = u32_at(self.item, at + o) as usize;
            let len = u32_at(self.item, at + o + 4) as usize;
            self.item.get(off..off + len).unwrap_or_default()
        };
        Label {
            key: s(0),
            value: s(8),
        }
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        Some(self.get(self.front - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.back - self.front) as usize;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Labels<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.get(self.back))
    }
}

impl ExactSizeIterator for Labels<'_> {}
impl FusedIterator for Labels<'_> {}

/// Checks a string given to a builder: no NUL inside.
#[inline]
pub(crate) fn check_input(index: usize, field: Field, bytes: &[u8]) -> Result<(), LookupError> {
    no_nul(bytes).map_err(|at| LookupError::StringInteriorNul { index, field, at })
}

/// Validates labels given to a builder (count fits u16, keys non-empty, no
/// NULs) and returns the bytes the table and its strings take.
fn labels_input_len(index: usize, labels: &[Label<'_>]) -> Result<usize, LookupError> {
    if labels.len() > usize::from(u16::MAX) {
        return Err(LookupError::FieldOverflow {
            what: "label count",
            value: labels.len() as u64,
        });
    }
    let mut total = labels.len() * LABEL_ENTRY_LEN;
    for (j, label) in labels.iter().enumerate() {
        let j = j as u16;
        if label.key.is_empty() {
            return Err(LookupError::EmptyLabelKey { index, label: j });
        }
        check_input(index, Field::LabelKey(j), label.key)?;
        check_input(index, Field::LabelValue(j), label.value)?;
        total = total
            .saturating_add(label.key.len())
            .saturating_add(label.value.len())
            .saturating_add(2);
    }
    Ok(total)
}

/// Validates `labels` ([`labels_input_len`]) and returns the canonical
/// length of item `index` with the given header size, fixed strings and
/// labels.
///
/// # Errors
///
/// A label error, or [`LookupError::FieldOverflow`] if the length does not
/// fit 32 bits.
pub(crate) fn item_len(
    index: usize,
    header_len: usize,
    strings: &[&[u8]],
    labels: &[Label<'_>],
) -> Result<usize, LookupError> {
    let labels_len = labels_input_len(index, labels)?;
    // Saturates instead of wrapping.
    let fixed_end = strings.iter().fold(header_len, |n, s| {
        n.saturating_add(s.len()).saturating_add(1)
    });
    let len = if labels.is_empty() {
        fixed_end
    } else {
        align8_usize(fixed_end.min(usize::MAX - 8)).saturating_add(labels_len)
    };
    if len > u32::MAX as usize {
        return Err(LookupError::FieldOverflow {
            what: "item length",
            value: len as u64,
        });
    }
    Ok(len)
}

/// Writes the fixed strings canonically after the header (each followed by
/// its NUL, no alignment between them), their `(offset, length)` pairs at
/// `slots`, then the label table and its strings.
///
/// `item` is zero-filled and exactly [`item_len`] bytes; every length was
/// checked to fit 32 bits (the item length bounds them all).
pub(crate) fn write_body(
    item: &mut [u8],
    header_len: usize,
    strings: &[&[u8]],
    slots: &[usize],
    labels: &[Label<'_>],
) {
    let mut at = header_len;
    for (s, &slot) in strings.iter().zip(slots) {
        put_u32(item, slot, at as u32);
        put_u32(item, slot + 4, s.len() as u32);
        // Empty strings (common in placeholders and unknown items) need no
        // copy: the item is zeroed.
        if !s.is_empty() {
            item[at..at + s.len()].copy_from_slice(s);
        }
        at += s.len() + 1;
    }
    if labels.is_empty() {
        return;
    }
    let table = align8_usize(at);
    let mut text = table + labels.len() * LABEL_ENTRY_LEN;
    for (j, label) in labels.iter().enumerate() {
        let entry = table + j * LABEL_ENTRY_LEN;
        for (k, s) in [label.key, label.value].iter().enumerate() {
            put_u32(item, entry + 8 * k, text as u32);
            put_u32(item, entry + 8 * k + 4, s.len() as u32);
            item[text..text + s.len()].copy_from_slice(s);
            text += s.len() + 1;
        }
    }
}
