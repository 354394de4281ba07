//! APPS_LOOKUP requests (§14.2, §14.4, §16.1).

use super::KEY_LEN;
use crate::codec::lookup::common::{
    put_u32, u32_at, Entries, EntryLen, Frame, Side, ENTRY_LEN, HEADER_LEN,
};
use crate::codec::lookup::error::LookupError;
use crate::codec::lookup::packer::{packed_end, write_header};

/// Appends a request for `pids` to `buf` and returns its length
/// (`16 + 16k` bytes: key `i` at packed offset `8i`).
///
/// # Errors
///
/// [`LookupError::FieldOverflow`] if the key count does not fit 32 bits;
/// `buf` is then left as it was.
pub fn encode_request(buf: &mut Vec<u8>, pids: &[u32]) -> Result<usize, LookupError> {
    // Keys are 8 bytes at offsets 8i: the packed area ends at 8n, and the
    // first key past 32 bits is the one that overflows.
    let key = u64::from(KEY_LEN);
    if key * pids.len() as u64 > u64::from(u32::MAX) {
        let first = u64::from(u32::MAX) / key;
        packed_end(first * key, key, first as usize)?;
    }
    let dir_len = HEADER_LEN + pids.len() * ENTRY_LEN;
    let total = dir_len + pids.len() * KEY_LEN as usize;
    let base = buf.len();
    buf.resize(base + total, 0);
    let (head, packed) = buf[base..].split_at_mut(dir_len);
    write_header(head, pids.len());
    for (index, (&pid, key)) in pids
        .iter()
        .zip(packed.chunks_exact_mut(KEY_LEN as usize))
        .enumerate()
    {
        let entry = HEADER_LEN + index * ENTRY_LEN;
        put_u32(head, entry, (index * KEY_LEN as usize) as u32);
        put_u32(head, entry + 4, KEY_LEN);
        put_u32(key, 0, pid);
    }
    Ok(total)
}

/// Length of the request for `keys` PIDs: `16 + 16·keys` (§16.1).
pub const fn request_len(keys: usize) -> u64 {
    HEADER_LEN as u64 + (ENTRY_LEN as u64 + KEY_LEN as u64) * keys as u64
}

/// A validated APPS_LOOKUP request borrowing the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestView<'a> {
    frame: Frame<'a>,
}

impl<'a> RequestView<'a> {
    /// Validates a request payload (§14.4 steps 1–4 with every key length
    /// exactly 8, then each key's reserved word).
    ///
    /// # Errors
    ///
    /// The first rule broken: header ([`LookupError::HeaderTruncated`],
    /// [`LookupError::BadLayoutVersion`], [`LookupError::NonZeroFlags`],
    /// [`LookupError::NonZeroReserved`]), directory
    /// ([`LookupError::DirectoryTruncated`], [`LookupError::AreaTooLong`],
    /// per entry [`LookupError::Misaligned`], [`LookupError::BadKeyLength`],
    /// [`LookupError::EntryOutOfBounds`], [`LookupError::EntryOutOfOrder`]),
    /// then [`LookupError::KeyReserved`].
    pub fn decode(payload: &'a [u8]) -> Result<Self, LookupError> {
        let frame = Frame::decode_each(
            payload,
            Side::Request,
            EntryLen::Exactly(KEY_LEN),
            |index, key| match u32_at(key, 4) {
                0 => Ok(()),
                found => Err(LookupError::KeyReserved { index, found }),
            },
        )?;
        Ok(Self { frame })
    }

    /// Number of PIDs.
    #[inline]
    pub fn len(&self) -> usize {
        self.frame.count()
    }

    /// Whether the request has no keys (a probe for the generation).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// PID `i`, if `i < len()`.
    #[inline]
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.frame.entry(i).map(|k| u32_at(k, 0))
    }

    /// The PIDs in order.
    pub fn iter(&self) -> Pids<'a> {
        Pids(Entries::new(self.frame))
    }

    /// The whole payload.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.frame.payload()
    }
}

crate::codec::lookup::views::view_into_iter!(RequestView, u32, Pids);

crate::codec::lookup::views::entry_iter!(
    /// Iterator over the PIDs of a [`RequestView`].
    Pids, u32, |k: &[u8]| u32_at(k, 0)
);
