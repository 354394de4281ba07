//! The checks every sub-response passes (PROTOCOL-LOOKUP §18.2 g–j, §18.5)
//! before its final items join the stitched response (§18.6).

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

/// Checks a decoded sub-response for keys `start..start + count` of the
/// call, in the specification's order: generation (against `first`), item
/// count, then per item the echoed key (`echoes(index, item)`) and the
/// PAYLOAD_EXCEEDED suffix (`exceeded(item)`); items before the suffix go
/// to `accept`.
pub(crate) fn absorb<I, T>(
    response: SubResponse<I>,
    first: Option<u64>,
    start: usize,
    count: usize,
    echoes: impl Fn(usize, &T) -> bool,
    exceeded: impl Fn(&T) -> bool,
    mut accept: impl FnMut(&T) -> Result<(), LookupCallError>,
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
            (None, false) => accept(&item)?,
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
