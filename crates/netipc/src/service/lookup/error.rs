//! Why a logical lookup call failed (PROTOCOL-LOOKUP §18.7).

use crate::codec::lookup::{ErrorKind, LookupError};
use crate::service::CallError;

/// Why a logical lookup call failed. No partial result is ever returned.
///
/// [`kind`](Self::kind) gives the specification's error class for the
/// conditions §18.7 names (OVERFLOW, BAD_LAYOUT, BAD_ITEM_COUNT, …).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LookupCallError {
    /// A sub-call failed (after the client's retry and overflow recovery),
    /// the context is not Ready, or the call's deadline passed
    /// ([`CallError::Timeout`]) or it was aborted ([`CallError::Aborted`]).
    #[error("a lookup sub-call failed")]
    Call(#[source] CallError),
    /// More keys than the configured ceiling; no I/O was done.
    #[error("{count} keys exceed the ceiling of {max} per call")]
    TooManyKeys {
        /// Keys given.
        count: usize,
        /// The ceiling.
        max: usize,
    },
    /// The call needed more sub-calls than the configured ceiling.
    #[error("more than {max} sub-calls needed")]
    TooManySubcalls {
        /// The ceiling.
        max: usize,
    },
    /// The stitched response would exceed the configured ceiling.
    #[error("the stitched response exceeds {max} bytes")]
    ResponseTooLarge {
        /// The ceiling.
        max: usize,
    },
    /// The server answered PAYLOAD_EXCEEDED for the first key of a
    /// sub-call: no progress is possible.
    #[error(
        "no progress: the server answered PAYLOAD_EXCEEDED for key {index}, first of its sub-call"
    )]
    NoProgress {
        /// Index of the key in the logical call.
        index: usize,
    },
    /// A key needs a larger request limit and reconnecting did not obtain
    /// one; the context is Broken.
    #[error(
        "key {index} needs a {need}-byte request; reconnecting did not raise the request limit"
    )]
    RequestCapacity {
        /// Index of the key.
        index: usize,
        /// Request bytes the key needs alone.
        need: u64,
    },
    /// The session's request limit cannot carry a single key.
    #[error("a request limit of {limit} bytes cannot carry one key")]
    RequestLimitTooSmall {
        /// The agreed request limit.
        limit: u32,
    },
    /// A key cannot be encoded (empty path, or a NUL inside it).
    #[error("cannot encode the request keys")]
    Key(#[source] LookupError),
    /// A sub-response does not decode.
    #[error("undecodable lookup response")]
    Decode(#[source] LookupError),
    /// A sub-response carries another generation than the first one.
    #[error("the provider's generation changed from {first} to {now} between sub-calls")]
    GenerationChanged {
        /// Generation of the first sub-response.
        first: u64,
        /// Generation of this one.
        now: u64,
    },
    /// A sub-response has another item count than its request had keys.
    #[error("the response has {got} items for {expected} keys")]
    ItemCount {
        /// Keys in the sub-request.
        expected: usize,
        /// Items in the sub-response.
        got: usize,
    },
    /// An item does not echo the key it answers.
    #[error("item for key {index} echoes another key")]
    EchoMismatch {
        /// Index of the key in the logical call.
        index: usize,
    },
    /// An item after a PAYLOAD_EXCEEDED item is not PAYLOAD_EXCEEDED.
    #[error("item for key {index} follows a PAYLOAD_EXCEEDED item but is not one")]
    BrokenSuffix {
        /// Index of the key in the logical call.
        index: usize,
    },
}

impl LookupCallError {
    /// The error class of PROTOCOL-LOOKUP §18.7, when the condition has
    /// one: OVERFLOW for the ceilings, no progress and capacity failures,
    /// BAD_LAYOUT for generation, echo and suffix mismatches,
    /// BAD_ITEM_COUNT for a wrong item count, the decoder's class for an
    /// undecodable response. `None` for failed sub-calls (timeouts and
    /// aborts included).
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            Self::TooManyKeys { .. }
            | Self::TooManySubcalls { .. }
            | Self::ResponseTooLarge { .. }
            | Self::NoProgress { .. }
            | Self::RequestCapacity { .. }
            | Self::RequestLimitTooSmall { .. } => ErrorKind::Overflow,
            Self::GenerationChanged { .. }
            | Self::EchoMismatch { .. }
            | Self::BrokenSuffix { .. } => ErrorKind::BadLayout,
            Self::ItemCount { .. } => ErrorKind::BadItemCount,
            Self::Key(e) | Self::Decode(e) => e.kind(),
            Self::Call(_) => return None,
        })
    }
}

impl From<CallError> for LookupCallError {
    fn from(e: CallError) -> Self {
        LookupCallError::Call(e)
    }
}
