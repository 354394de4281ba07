//! The loop of one logical lookup call (PROTOCOL-LOOKUP §18.2), shared by
//! both methods; the method supplies a [`Plan`].

use super::stitch::Absorbed;
use super::{LookupCallError, LookupConfig};
use crate::service::client::{Client, Outgoing, ServiceKind};
use crate::service::{next_pow2, CallError};

/// What the loop needs from a method for one logical call: its keys, how
/// they split, encode and are checked, and the stitched response being
/// built.
pub(crate) trait Plan {
    /// Keys in the call.
    fn len(&self) -> usize;
    /// How many keys from `start` fit a request of `cap` bytes (§18.3); 0
    /// when the key at `start` alone does not.
    fn fit(&self, start: usize, cap: u32) -> Result<usize, LookupCallError>;
    /// Request bytes the key at `start` needs alone.
    fn one(&self, start: usize) -> u64;
    /// Answers the key at `start` OVERSIZED_ITEM without I/O (§18.4 step
    /// 2); `false` when the method has no such answer.
    fn oversized(&mut self, start: usize) -> Result<bool, LookupCallError>;
    /// Encodes the sub-request for keys `start..start + count` into `buf`.
    fn encode(&self, start: usize, count: usize, buf: &mut Vec<u8>) -> Result<(), LookupCallError>;
    /// Decodes and checks a sub-response and keeps its final items
    /// (§18.2 f–j); `first` is the generation of the call's first
    /// sub-response.
    fn absorb(
        &mut self,
        payload: &[u8],
        first: Option<u64>,
        start: usize,
        count: usize,
    ) -> Result<Absorbed, LookupCallError>;
}

/// Runs a logical call: sub-calls until every key has a final item.
/// Returns the common generation.
///
/// The whole call runs under one deadline — `config.timeout`, or the
/// context's call timeout when that is zero, or an earlier one the caller
/// set with `Client::call_with_timeout` — and every sub-call (its sends,
/// receives, retry and reconnects) gets only the time left; an expired
/// deadline or an abort fails the call with `CallError::Timeout` /
/// `CallError::Aborted` and leaves the context Broken.
pub(crate) fn run<K: ServiceKind, P: Plan>(
    client: &mut Client<K>,
    config: &LookupConfig,
    plan: &mut P,
) -> Result<u64, LookupCallError> {
    if client.abort.is_aborted() {
        return Err(CallError::Aborted.into());
    }
    if !client.ready() {
        return Err(CallError::NotReady(client.state()).into());
    }
    let n = plan.len();
    if n > config.max_items() {
        return Err(LookupCallError::TooManyKeys {
            count: n,
            max: config.max_items(),
        });
    }
    let outcome = if config.timeout.is_zero() {
        client.logical_call(|c| Ok(sub_calls(c, config, plan)))
    } else {
        client.call_with_timeout(config.timeout, |c| Ok(sub_calls(c, config, plan)))
    };
    outcome?
}

/// The loop of §18.2 step 3, under the logical call's deadline.
fn sub_calls<K: ServiceKind, P: Plan>(
    client: &mut Client<K>,
    config: &LookupConfig,
    plan: &mut P,
) -> Result<u64, LookupCallError> {
    let n = plan.len();
    let mut start = 0;
    let mut subcalls = 0;
    let mut generation = None;
    loop {
        if client.abort.is_aborted() {
            return Err(CallError::Aborted.into());
        }
        let cap = client
            .agreed_request_limit()
            .unwrap_or_else(|| client.request_proposal());
        let count = if start < n { plan.fit(start, cap)? } else { 0 };
        if count == 0 && start < n {
            let one = plan.one(start);
            let ceiling = config.request_ceiling().max(client.request_proposal());
            if one > u64::from(cap) && one <= u64::from(ceiling) {
                let propose = next_pow2(one).min(ceiling);
                client
                    .grow_request_limit(propose, one)
                    .map_err(|e| match e {
                        Some(e) => LookupCallError::Call(e),
                        None => LookupCallError::RequestCapacity {
                            index: start,
                            need: one,
                        },
                    })?;
                continue;
            }
            if plan.oversized(start)? {
                start += 1;
                continue;
            }
            return Err(LookupCallError::RequestLimitTooSmall { limit: cap });
        }
        subcalls += 1;
        if subcalls > config.max_subcalls() {
            return Err(LookupCallError::TooManySubcalls {
                max: config.max_subcalls(),
            });
        }
        client.request.clear();
        plan.encode(start, count, &mut client.request)?;
        client.exchange(Outgoing { batch: None })?;
        let absorbed = plan.absorb(client.payload(), generation, start, count)?;
        generation = Some(absorbed.generation);
        match absorbed.exceeded_at {
            Some(at) => start += at,
            None => {
                start += count;
                if start >= n {
                    return Ok(absorbed.generation);
                }
            }
        }
    }
}
