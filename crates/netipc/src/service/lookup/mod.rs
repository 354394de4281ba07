//! What the two lookup services share: the client-side split, retry and
//! stitch of one logical call (PROTOCOL-LOOKUP §18), its ceilings, and its
//! errors.
//!
//! A logical call (a list of cgroup paths or PIDs) becomes one or more
//! ordinary sub-calls, each holding as many keys as the session's agreed
//! request limit allows (`split.rs`). Every sub-response is decoded strictly
//! and checked against its sub-request — item count, echoed keys in order,
//! one generation across the call, PAYLOAD_EXCEEDED only as a non-initial
//! suffix — and its final items are copied byte for byte into one response
//! (`stitch.rs`); keys answered PAYLOAD_EXCEEDED are asked again in the next
//! sub-call. The caller receives a single validated response view with one
//! item per key, or an error and nothing. When the first sub-call answers
//! every key — the common case when the request limit is large enough —
//! the view is that sub-response itself: nothing is copied or decoded
//! twice.
//!
//! The typed clients are
//! [`CgroupsLookupClient`](super::cgroups_lookup::CgroupsLookupClient) and
//! [`AppsLookupClient`](super::apps_lookup::AppsLookupClient).

mod client;
mod engine;
mod error;
pub(crate) mod split;
pub(crate) mod stitch;

use std::time::Duration;

pub use client::LookupClient;
pub(crate) use engine::{run, Plan};
pub use error::LookupCallError;

/// Response payload limit a lookup server should announce (the reference
/// servers' default): large enough that a full 1 024-byte request always
/// fits its worst-case expansion (×2.5 for cgroups, ×4.5 for apps).
pub const LOOKUP_RESPONSE_PAYLOAD: u32 = 65_536;

/// Request payload a lookup client proposes by default (§19.1).
pub const LOOKUP_REQUEST_PAYLOAD: u32 = 1_024;

/// Ceilings of one logical lookup call (PROTOCOL-LOOKUP §18.1). A zero
/// field means its default.
///
/// ```
/// use std::time::Duration;
/// use netipc::service::lookup::LookupConfig;
///
/// let config = LookupConfig::default()
///     .with_max_items(8_192)
///     .with_timeout(Duration::from_secs(2));
/// assert_eq!(config.timeout, Duration::from_secs(2));
/// assert_eq!(config.max_items(), 8_192);
/// assert_eq!(config.max_subcalls(), 4_096);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupConfig {
    /// Keys per logical call; default 65 536.
    pub max_items: usize,
    /// Sub-calls per logical call; default 4 096.
    pub max_subcalls: usize,
    /// Bytes of the stitched response; default 64 MiB.
    pub max_response_bytes: usize,
    /// The whole call's deadline, all sub-calls together; zero: the
    /// context's call timeout (default 30 s, see
    /// [`Client::set_call_timeout`](crate::service::Client::set_call_timeout)).
    /// A deadline the caller set with
    /// [`Client::call_with_timeout`](crate::service::Client::call_with_timeout)
    /// wins when it is earlier.
    pub timeout: Duration,
    /// The largest request limit the client reconnects for when a single
    /// key does not fit the session's (§18.4); a key needing more is
    /// answered OVERSIZED_ITEM locally (CGROUPS_LOOKUP). The client proposes
    /// 1 024 bytes, or this ceiling if smaller. Default 1 024.
    pub request_ceiling: u32,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            max_items: 0,
            max_subcalls: 0,
            max_response_bytes: 0,
            timeout: Duration::ZERO,
            request_ceiling: 0,
        }
    }
}

fn or(v: usize, default: usize) -> usize {
    if v == 0 {
        default
    } else {
        v
    }
}

impl LookupConfig {
    /// Sets the keys-per-call ceiling (0: default).
    pub fn with_max_items(mut self, n: usize) -> Self {
        self.max_items = n;
        self
    }

    /// Sets the sub-calls-per-call ceiling (0: default).
    pub fn with_max_subcalls(mut self, n: usize) -> Self {
        self.max_subcalls = n;
        self
    }

    /// Sets the stitched-bytes ceiling (0: default).
    pub fn with_max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }

    /// Sets the whole-call deadline (zero: the context's call timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the request ceiling (0: default).
    pub fn with_request_ceiling(mut self, bytes: u32) -> Self {
        self.request_ceiling = bytes;
        self
    }

    /// Effective keys-per-call ceiling.
    pub fn max_items(&self) -> usize {
        or(self.max_items, 65_536)
    }

    /// Effective sub-calls-per-call ceiling.
    pub fn max_subcalls(&self) -> usize {
        or(self.max_subcalls, 4_096)
    }

    /// Effective stitched-bytes ceiling.
    pub fn max_response_bytes(&self) -> usize {
        or(self.max_response_bytes, 64 << 20)
    }

    /// Effective request ceiling.
    pub fn request_ceiling(&self) -> u32 {
        or(
            self.request_ceiling as usize,
            LOOKUP_REQUEST_PAYLOAD as usize,
        ) as u32
    }
}

/// The outcome of a failed lookup handler (PROTOCOL-LOOKUP §17.8): a
/// builder error it returned is mapped by class, anything else is a
/// handler failure.
pub(crate) fn serve_error(e: crate::service::HandlerError) -> crate::service::ServeError {
    match e {
        crate::service::HandlerError::Lookup(e) => crate::service::ServeError::from_lookup(e),
        other => other.into(),
    }
}

/// Defines `$name<F>`, the managed-server [`Handler`](crate::service::Handler)
/// of a lookup method, for a module that has the method's `RequestView`
/// and `ReplyBuilder` in scope: it decodes the request (undecodable:
/// BAD_ENVELOPE), lets `F` answer through a `ReplyBuilder` bound to the
/// response budget, and maps a failure by class ([`serve_error`]).
macro_rules! lookup_handler {
    ($name:ident, $method:expr) => {
        struct $name<F>(F);

        impl<F> crate::service::Handler for $name<F>
        where
            F: Fn(
                    RequestView<'_>,
                    &mut ReplyBuilder<'_, '_>,
                ) -> Result<(), crate::service::HandlerError>
                + Send
                + Sync
                + 'static,
        {
            fn method(&self) -> crate::wire::Method {
                $method
            }
            fn allows_batch(&self) -> bool {
                false
            }
            fn serve(
                &self,
                request: &[u8],
                out: &mut Vec<u8>,
            ) -> Result<(), crate::service::ServeError> {
                self.serve_within(request, out, u32::MAX as usize)
            }
            fn serve_within(
                &self,
                request: &[u8],
                out: &mut Vec<u8>,
                budget: usize,
            ) -> Result<(), crate::service::ServeError> {
                let request = RequestView::decode(request)
                    .map_err(|_| crate::service::ServeError::BadRequest)?;
                let mut reply = ReplyBuilder::new(out, request, budget);
                match (self.0)(request, &mut reply) {
                    // Dropping the builder truncates `out`.
                    Ok(()) => reply
                        .finish()
                        .map(drop)
                        .map_err(crate::service::ServeError::from_lookup),
                    Err(e) => Err(crate::service::lookup::serve_error(e)),
                }
            }
        }
    };
}

pub(crate) use lookup_handler;
