//! CGROUPS_LOOKUP requests (§14.2, §14.4, §15.1).

use super::MIN_KEY_LEN;
use crate::codec::lookup::common::{
    align8_usize, no_nul, put_u32, Entries, EntryLen, Frame, Side, ENTRY_LEN, HEADER_LEN,
};
use crate::codec::lookup::error::LookupError;
use crate::codec::lookup::packer::{packed_end, write_header};

/// Appends a request for `paths` to `buf` and returns its length.
///
/// Each path is given without a NUL; key `i` is path `i` plus one NUL, at
/// the next multiple of 8 in the packed area. On error `buf` is left as it
/// was.
///
/// # Errors
///
/// * [`LookupError::EmptyKey`]: a path is empty.
/// * [`LookupError::KeyInteriorNul`]: a path contains a NUL byte.
/// * [`LookupError::FieldOverflow`]: the key count or the packed area does
///   not fit 32 bits.
pub fn encode_request<P: AsRef<[u8]>>(
    buf: &mut Vec<u8>,
    paths: &[P],
) -> Result<usize, LookupError> {
    // First every key is checked, in order, and the packed area measured;
    // then the payload is written in one piece (one zero fill, one copy per
    // key): the layout is the one `request_len` describes.
    let mut area = 0u64;
    for (index, path) in paths.iter().enumerate() {
        let path = path.as_ref();
        if path.is_empty() {
            return Err(LookupError::EmptyKey { index });
        }
        no_nul(path).map_err(|at| LookupError::KeyInteriorNul { index, at })?;
        area = packed_end(area, path.len() as u64 + 1, index)?;
    }
    let dir_len = HEADER_LEN + paths.len() * ENTRY_LEN;
    // Checked above: the area fits 32 bits.
    let total = dir_len + area as usize;
    let base = buf.len();
    buf.resize(base + total, 0);
    let (head, packed) = buf[base..].split_at_mut(dir_len);
    write_header(head, paths.len());
    let mut at = 0;
    for (index, path) in paths.iter().enumerate() {
        let path = path.as_ref();
        let start = align8_usize(at);
        let entry = HEADER_LEN + index * ENTRY_LEN;
        put_u32(head, entry, start as u32);
        put_u32(head, entry + 4, path.len() as u32 + 1);
        packed[start..start + path.len()].copy_from_slice(path);
        at = start + path.len() + 1;
    }
    Ok(total)
}

/// Length of the request [`encode_request`] writes for these paths (§15.1):
/// `16 + 8k`, then each key at the next multiple of 8. Clients use it to
/// split a lookup by the request limit (§18.3).
pub fn request_len<P: AsRef<[u8]>>(paths: &[P]) -> u64 {
    let mut area = 0u64;
    for path in paths {
        area = ((area + 7) & !7) + path.as_ref().len() as u64 + 1;
    }
    (HEADER_LEN + paths.len() * ENTRY_LEN) as u64 + area
}

/// A validated CGROUPS_LOOKUP request borrowing the payload.
///
/// [`decode`](Self::decode) checks the header, the directory and every key,
/// so the accessors cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestView<'a> {
    frame: Frame<'a>,
}

impl<'a> RequestView<'a> {
    /// Validates a request payload (§14.4 steps 1–4, then §15.1 per key).
    ///
    /// # Errors
    ///
    /// The first rule broken: header ([`LookupError::HeaderTruncated`],
    /// [`LookupError::BadLayoutVersion`], [`LookupError::NonZeroFlags`],
    /// [`LookupError::NonZeroReserved`]), directory
    /// ([`LookupError::DirectoryTruncated`], [`LookupError::AreaTooLong`],
    /// then per entry [`LookupError::Misaligned`],
    /// [`LookupError::EntryTooShort`], [`LookupError::EntryOutOfBounds`],
    /// [`LookupError::EntryOutOfOrder`]), then per key
    /// [`LookupError::KeyMissingNul`] and [`LookupError::KeyInteriorNul`].
    pub fn decode(payload: &'a [u8]) -> Result<Self, LookupError> {
        let frame = Frame::decode_each(
            payload,
            Side::Request,
            EntryLen::AtLeast(MIN_KEY_LEN),
            |index, key| {
                let (last, path) = match key.split_last() {
                    Some(parts) => parts,
                    None => return Err(LookupError::KeyMissingNul { index }),
                };
                if *last != 0 {
                    return Err(LookupError::KeyMissingNul { index });
                }
                no_nul(path).map_err(|at| LookupError::KeyInteriorNul { index, at })
            },
        )?;
        Ok(Self { frame })
    }

    /// Number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.frame.count()
    }

    /// Whether the request has no keys (a probe for the generation).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Path `i` without its NUL, if `i < len()`.
    #[inline]
    pub fn key(&self, i: usize) -> Option<&'a [u8]> {
        self.frame.entry(i).map(strip_nul)
    }

    /// The paths in order.
    pub fn iter(&self) -> Keys<'a> {
        Keys(Entries::new(self.frame))
    }

    /// The whole payload.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.frame.payload()
    }

    /// Placeholder size of key `i` (§17.2): `28 + path length + 2`.
    pub(crate) fn placeholder_len(&self, i: usize) -> usize {
        // Directory length = path length + 1.
        self.frame.entry_len(i) as usize + super::ITEM_HEADER_LEN + 1
    }
}

#[inline]
fn strip_nul(key: &[u8]) -> &[u8] {
    key.split_last().map(|(_, path)| path).unwrap_or_default()
}

crate::codec::lookup::views::view_into_iter!(RequestView, &'a [u8], Keys);

crate::codec::lookup::views::entry_iter!(
    /// Iterator over the paths of a [`RequestView`] (without NULs).
    Keys, &'a [u8], strip_nul
);
