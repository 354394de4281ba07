//! The budget logic of a request-backed response builder (§17.2, §17.3),
//! shared by both methods. The method modules supply item lengths, writers
//! and placeholder sizes.

use super::common::{align8, fits_budget, Added};
use super::error::LookupError;
use super::packer::Packer;

/// Budget state of a response that answers the keys of one request.
#[derive(Debug)]
pub(crate) struct ReplyCore<'b> {
    packer: Packer<'b>,
    /// Keys in the request: the response gets exactly this many items.
    keys: usize,
    /// The agreed response payload limit `B`.
    budget: usize,
    /// `S[k]` for the next key `k`: room reserved for the placeholders of
    /// keys `k..n`.
    suffix: u64,
    /// Sticky PAYLOAD_EXCEEDED flag.
    exceeded: bool,
    generation: u64,
}

impl<'b> ReplyCore<'b> {
    /// Reserves the directory for `keys` items; `suffix` is `S[0]`.
    pub(crate) fn new(buf: &'b mut Vec<u8>, keys: usize, budget: usize, suffix: u64) -> Self {
        let mut packer = Packer::new(buf, keys);
        // The items take at least the room of their placeholders: zero that
        // much at once (within the budget, which bounds the payload anyway).
        packer.zero_ahead(usize::try_from(suffix).unwrap_or(usize::MAX).min(budget));
        Self {
            packer,
            keys,
            budget,
            suffix,
            exceeded: false,
            generation: 0,
        }
    }

    /// `S` from the placeholder sizes `P_0..P_{n-1}`: `Σ align8(P_i)` over all
    /// but the last key, plus the last one unaligned.
    pub(crate) fn suffix_of(sizes: impl Iterator<Item = u64>) -> u64 {
        let mut total = 0u64;
        let mut last = 0u64;
        for p in sizes {
            total = total.saturating_add(align8(last));
            last = p;
        }
        // The first iteration adds align8(0) = 0.
        total.saturating_add(last)
    }

    /// Index of the next key to answer.
    #[inline]
    pub(crate) fn next(&self) -> usize {
        self.packer.count()
    }

    /// Number of keys in the request.
    #[inline]
    pub(crate) fn keys(&self) -> usize {
        self.keys
    }

    /// Whether the budget ran out (every later key is PAYLOAD_EXCEEDED).
    #[inline]
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded
    }

    #[inline]
    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    #[inline]
    pub(crate) fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    #[inline]
    pub(crate) fn payload_len(&self) -> usize {
        self.packer.payload_len()
    }

    /// Adds the item for the next key (§17.3).
    ///
    /// `item_len` validates the handler's item and returns its length; it is
    /// not called once the sticky flag is set. `placeholder` is the size of
    /// this key's placeholder, `P_k`. `write` fills a zeroed item of the
    /// requested length; it gets `None` for the handler's item, or the
    /// placeholder status to write.
    pub(crate) fn add(
        &mut self,
        item_len: impl FnOnce() -> Result<usize, LookupError>,
        placeholder: usize,
        write: impl FnOnce(&mut [u8], Option<Added>),
    ) -> Result<Added, LookupError> {
        let k = self.packer.count();
        if k >= self.keys {
            return Err(LookupError::ItemCountMismatch {
                expected: self.keys,
                added: k + 1,
            });
        }
        let after = if k + 1 < self.keys {
            self.suffix.saturating_sub(align8(placeholder as u64))
        } else {
            0
        };
        let (outcome, len) = if self.exceeded {
            (Added::PayloadExceeded, placeholder)
        } else {
            let len = item_len()?;
            let end = self.packer.end_with(len, self.keys);
            if fits_budget(end, after, self.budget) {
                (Added::Item, len)
            } else if k == 0 {
                (Added::OversizedItem, placeholder)
            } else {
                (Added::PayloadExceeded, placeholder)
            }
        };
        if outcome != Added::Item {
            // Placeholders skip the suffix test but must still fit.
            let end = self.packer.end_with(len, self.keys);
            if end > self.budget as u64 {
                return Err(LookupError::TooLarge {
                    need: end,
                    limit: self.budget,
                });
            }
        }
        let dst = self.packer.push(len)?;
        write(
            dst,
            if outcome == Added::Item {
                None
            } else {
                Some(outcome)
            },
        );
        if outcome == Added::PayloadExceeded {
            self.exceeded = true;
        }
        self.suffix = after;
        Ok(outcome)
    }

    /// Completes the response. Every key must have an item, except that
    /// once the budget ran out the caller fills the rest with placeholders
    /// before calling this.
    pub(crate) fn finish(self) -> Result<usize, LookupError> {
        if self.packer.count() != self.keys {
            return Err(LookupError::ItemCountMismatch {
                expected: self.keys,
                added: self.packer.count(),
            });
        }
        Ok(self.packer.finish(self.generation))
    }
}

/// A response built from items given in order, with an optional length
/// limit; the method modules wrap it.
#[derive(Debug)]
pub(crate) struct PlainCore<'b> {
    packer: Packer<'b>,
    generation: u64,
    limit: usize,
}

impl<'b> PlainCore<'b> {
    pub(crate) fn new(buf: &'b mut Vec<u8>, generation: u64, item_hint: usize) -> Self {
        Self {
            packer: Packer::new(buf, item_hint),
            generation,
            limit: usize::MAX,
        }
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    pub(crate) fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.packer.count()
    }

    #[inline]
    pub(crate) fn payload_len(&self) -> usize {
        self.packer.payload_len()
    }

    /// Adds an item of `len` bytes, filled by `write` from zero, if the
    /// payload stays within the limit.
    pub(crate) fn push(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), LookupError> {
        let need = self.packer.end_with(len, self.packer.count() + 1);
        if need > self.limit as u64 {
            return Err(LookupError::TooLarge {
                need,
                limit: self.limit,
            });
        }
        write(self.packer.push(len)?);
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<usize, LookupError> {
        let need = self.packer.payload_len();
        if need > self.limit {
            return Err(LookupError::TooLarge {
                need: need as u64,
                limit: self.limit,
            });
        }
        Ok(self.packer.finish(self.generation))
    }
}
