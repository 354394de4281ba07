//! The checks every sub-response passes (PROTOCOL-LOOKUP §18.2 g–j, §18.5)
//! before its final items join the stitched response (§18.6), and the
//! decision whether there is anything to stitch at all; [`Stitching`]
//! does both for either method and completes the stitched response.

use super::{run, LookupCallError, LookupConfig, Plan};
use crate::codec::lookup::{LookupError, PlainBuilder, Response};
use crate::service::client::{Client, ServiceKind};

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

/// One logical call's keys and the stitched response both methods build
/// from them; the method's [`Plan`](super::Plan) wraps it.
pub(crate) struct Stitching<'k, K, B> {
    /// The call's keys.
    pub keys: &'k [K],
    /// The stitched response.
    pub out: B,
    /// The stitched-bytes ceiling.
    pub max: usize,
    /// The first sub-response answered every key: nothing was copied to
    /// `out`, the call's answer is that sub-response.
    pub whole: bool,
}

impl<'k, K, B: PlainBuilder> Stitching<'k, K, B> {
    /// A call over `keys` stitching into `out` (capped at `max` bytes).
    pub fn new(keys: &'k [K], out: B, max: usize) -> Self {
        Stitching {
            keys,
            out,
            max,
            whole: false,
        }
    }

    /// Decodes and checks the sub-response `payload` for keys
    /// `start..start + count` ([`absorb`]; `echoes(key, item)` compares an
    /// echoed key, `exceeded(item)` spots PAYLOAD_EXCEEDED) and, unless it
    /// is the whole answer ([`is_whole`]), copies its final items to `out`.
    pub fn take<'a, V: Response<'a>>(
        &mut self,
        payload: &'a [u8],
        first: Option<u64>,
        start: usize,
        count: usize,
        echoes: impl Fn(&K, &V::Item) -> bool,
        exceeded: impl Fn(&V::Item) -> bool,
    ) -> Result<Absorbed, LookupCallError> {
        let view = V::decode(payload).map_err(LookupCallError::Decode)?;
        let keys = self.keys;
        let absorbed = absorb(
            SubResponse {
                generation: view.generation(),
                len: view.len(),
                items: view.iter(),
            },
            first,
            start,
            count,
            |index, item| echoes(&keys[index], item),
            exceeded,
        )?;
        self.whole = is_whole(
            &absorbed,
            first,
            start,
            count,
            keys.len(),
            payload.len(),
            self.max,
        );
        if !self.whole {
            for item in view.iter().take(absorbed.accepted(count)) {
                self.out
                    .push_bytes(V::item_bytes(&item))
                    .map_err(|e| stitch_error(e, self.max))?;
            }
        }
        Ok(absorbed)
    }

    /// Runs the logical call ([`run`](super::run)) and completes the
    /// stitched response. `Ok(true)`: the answer is the client's last
    /// payload as it is (already validated; `out` is dropped empty, which
    /// truncates its buffer); `Ok(false)`: the answer is `out`'s buffer,
    /// validated items in a canonical frame.
    pub fn call<S: ServiceKind>(
        mut self,
        client: &mut Client<S>,
        config: &LookupConfig,
    ) -> Result<bool, LookupCallError>
    where
        Self: Plan,
    {
        let generation = run(client, config, &mut self)?;
        let Stitching {
            keys,
            mut out,
            max,
            whole,
        } = self;
        if whole {
            return Ok(true);
        }
        if out.len() != keys.len() {
            return Err(LookupCallError::ItemCount {
                expected: keys.len(),
                got: out.len(),
            });
        }
        out.set_generation(generation);
        out.finish().map_err(|e| stitch_error(e, max))?;
        Ok(false)
    }
}

/// A stitching failure: over the ceiling, or an item the builder refused.
pub(crate) fn stitch_error(e: LookupError, max: usize) -> LookupCallError {
    match e {
        LookupError::TooLarge { .. } => LookupCallError::ResponseTooLarge { max },
        other => LookupCallError::Decode(other),
    }
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
