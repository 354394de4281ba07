//! The checks every sub-response passes (PROTOCOL-LOOKUP §18.2 g–j, §18.5)
//! before its final items join the stitched response (§18.6), and the
//! decision whether there is anything to stitch at all.

use super::LookupCallError;

/// What one sub-response contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Absorbed {
    /// Its generation.
    pub generation: u64,
    /// Index (within the sub-call) of the first PAYLOAD_EXCEEDED item.
    pub exceeded_at: Option<usize>,
}

/// One decoded sub-response, as the checks see it.
pub(crate) struct SubResponse<I> {
    /// The response generation.
    pub generation: u64,
    /// The response item count.
    pub len: usize,
    /// The items in order.
    pub items: I,
}

impl Absorbed {
    /// Items of the sub-response that are final (before the suffix).
    pub fn accepted(&self, count: usize) -> usize {
        self.exceeded_at.unwrap_or(count)
    }
}

/// Whether a checked sub-response is the whole answer of a logical call
/// of `keys` keys: the first sub-call (`first` is `None`, `start` is 0),
/// every key final. The client then returns it as it is, without copying
/// it into a stitched response, if it is within the stitched-bytes
/// ceiling (`len ≤ max`).
pub(crate) fn is_whole(
    absorbed: &Absorbed,
    first: Option<u64>,
    start: usize,
    count: usize,
    keys: usize,
    len: usize,
    max: usize,
) -> bool {
    first.is_none() && start == 0 && count == keys && absorbed.exceeded_at.is_none() && len <= max
}

/// Checks a decoded sub-response for keys `start..start + count` of the
/// call, in the specification's order: generation (against `first`), item
/// count, then per item the echoed key (`echoes(index, item)`) and the
/// PAYLOAD_EXCEEDED suffix (`exceeded(item)`). The items before the suffix
/// ([`Absorbed::accepted`]) are final.
pub(crate) fn absorb<I, T>(
    response: SubResponse<I>,
    first: Option<u64>,
    start: usize,
    count: usize,
    echoes: impl Fn(usize, &T) -> bool,
    exceeded: impl Fn(&T) -> bool,
) -> Result<Absorbed, LookupCallError>
where
    I: Iterator<Item = T>,
{
    if let Some(first) = first {
        if first != response.generation {
            return Err(LookupCallError::GenerationChanged {
                first,
                now: response.generation,
            });
        }
    }
    if response.len != count {
        return Err(LookupCallError::ItemCount {
            expected: count,
            got: response.len,
        });
    }
    let mut exceeded_at = None;
    for (i, item) in response.items.enumerate() {
        let index = start + i;
        if !echoes(index, &item) {
            return Err(LookupCallError::EchoMismatch { index });
        }
        match (exceeded_at, exceeded(&item)) {
            (None, false) => {}
            (None, true) => exceeded_at = Some(i),
            (Some(_), true) => {}
            (Some(_), false) => return Err(LookupCallError::BrokenSuffix { index }),
        }
    }
    if exceeded_at == Some(0) {
        return Err(LookupCallError::NoProgress { index: start });
    }
    Ok(Absorbed {
        generation: response.generation,
        exceeded_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_first_sub_response_within_the_ceiling_is_whole() {
        let done = Absorbed {
            generation: 1,
            exceeded_at: None,
        };
        let cut = Absorbed {
            generation: 1,
            exceeded_at: Some(3),
        };
        assert!(is_whole(&done, None, 0, 8, 8, 100, 100));
        // A later sub-call, a partial one, a suffix, or too many bytes.
        assert!(!is_whole(&done, Some(1), 0, 8, 8, 100, 100));
        assert!(!is_whole(&done, None, 2, 6, 8, 100, 100));
        assert!(!is_whole(&done, None, 0, 6, 8, 100, 100));
        assert!(!is_whole(&cut, None, 0, 8, 8, 100, 100));
        assert!(!is_whole(&done, None, 0, 8, 8, 101, 100));
        assert_eq!(cut.accepted(8), 3);
        assert_eq!(done.accepted(8), 8);
    }
}
