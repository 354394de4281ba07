//! The APPS_LOOKUP service (method 5, `apps-lookup`): "what are these
//! PIDs".
//!
//! * [`AppsLookupClient::call_lookup`] looks up any number of PIDs (up to
//!   the [`LookupConfig`](super::lookup::LookupConfig) ceilings) as one
//!   logical call, split into sub-calls of at most `(limit − 16) / 16` PIDs
//!   (63 with the default 1 024-byte request limit) and stitched back
//!   together (PROTOCOL-LOOKUP §18).
//! * [`handler`] adapts a function answering through a [`ReplyBuilder`]
//!   into a managed-server [`Handler`] that applies the server's overflow
//!   rules (§17).
//!
//! ```no_run
//! use netipc::auth::AuthToken;
//! use netipc::codec::lookup::apps_lookup::{Answer, CgroupStatus, PidStatus};
//! use netipc::service::apps_lookup::{self, AppsLookupClient};
//! use netipc::service::lookup::LOOKUP_RESPONSE_PAYLOAD;
//! use netipc::service::{ClientConfig, Endpoint, ManagedServer, ServerConfig};
//!
//! let token = AuthToken::new(0x1234);
//! let endpoint = Endpoint::new("/run/netdata", "apps-lookup")?;
//! let server = ManagedServer::start(
//!     endpoint.clone(),
//!     ServerConfig::new(token).with_response_payload(LOOKUP_RESPONSE_PAYLOAD),
//!     apps_lookup::handler(|request, reply| {
//!         for pid in request.iter() {
//!             let answer = if pid == 1 {
//!                 Answer { comm: b"init", uid: 0, cgroup_status: CgroupStatus::HostRoot, ..Answer::KNOWN }
//!             } else {
//!                 Answer::UNKNOWN
//!             };
//!             reply.add(&answer)?;
//!         }
//!         Ok(())
//!     }),
//! )?;
//!
//! let mut client = AppsLookupClient::new(endpoint, ClientConfig::new(token));
//! client.refresh();
//! let view = client.call_lookup(&[1, 4_000_000])?;
//! assert_eq!(view.item(1).unwrap().status(), PidStatus::Unknown);
//! # drop(server);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::client::ServiceKind;
use super::lookup::stitch::{Absorbed, Stitching};
use super::lookup::{
    split, LookupCallError, LookupClient, Plan, LOOKUP_REQUEST_PAYLOAD, LOOKUP_RESPONSE_PAYLOAD,
};
use super::{Handler, HandlerError};
use crate::codec::lookup::apps_lookup::{
    encode_request, request_len, PidStatus, ReplyBuilder, RequestView, ResponseBuilder,
    ResponseView,
};
use crate::wire::Method;

/// Marker type of the APPS_LOOKUP service.
#[derive(Debug, Clone, Copy)]
pub struct AppsLookup;

impl ServiceKind for AppsLookup {
    const METHOD: Method = Method::AppsLookup;
    fn request_bytes(_batch_items: u32) -> u32 {
        LOOKUP_REQUEST_PAYLOAD
    }
    fn response_bytes(_batch_items: u32) -> u32 {
        LOOKUP_RESPONSE_PAYLOAD
    }
}

/// A client context for an APPS_LOOKUP endpoint.
pub type AppsLookupClient = LookupClient<AppsLookup>;

impl LookupClient<AppsLookup> {
    /// Looks `pids` up as one logical call and returns one item per PID, in
    /// order, each echoing its PID. The view borrows this context until the
    /// next call.
    ///
    /// Items are KNOWN, UNKNOWN or OVERSIZED_ITEM (final);
    /// PAYLOAD_EXCEEDED never reaches the caller. No PIDs still makes one
    /// call, which reports the provider's generation.
    ///
    /// # Errors
    ///
    /// A [`LookupCallError`]; no partial result is returned.
    pub fn call_lookup(&mut self, pids: &[u32]) -> Result<ResponseView<'_>, LookupCallError> {
        let max = self.config.max_response_bytes();
        self.stitched.clear();
        // No directory reserved up front: most calls are answered by one
        // sub-response that is returned as it is, and a stitched response
        // grows its directory as items arrive.
        let out = ResponseBuilder::new(&mut self.stitched, 0, 0).with_limit(max);
        let whole = Stitching::new(pids, out, max).call(&mut self.client, &self.config)?;
        Ok(ResponseView::assume_valid(if whole {
            self.client.payload()
        } else {
            &self.stitched
        }))
    }
}

impl Plan for Stitching<'_, u32, ResponseBuilder<'_>> {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn fit(&self, start: usize, cap: u32) -> Result<usize, LookupCallError> {
        split::apps_keys(self.keys.len() - start, cap)
            .ok_or(LookupCallError::RequestLimitTooSmall { limit: cap })
    }

    fn one(&self, _start: usize) -> u64 {
        request_len(1)
    }

    fn oversized(&mut self, _start: usize) -> Result<bool, LookupCallError> {
        Ok(false)
    }

    fn encode(&self, start: usize, count: usize, buf: &mut Vec<u8>) -> Result<(), LookupCallError> {
        encode_request(buf, &self.keys[start..start + count])
            .map(drop)
            .map_err(LookupCallError::Key)
    }

    fn absorb(
        &mut self,
        payload: &[u8],
        first: Option<u64>,
        start: usize,
        count: usize,
    ) -> Result<Absorbed, LookupCallError> {
        self.take::<ResponseView<'_>>(
            payload,
            first,
            start,
            count,
            |&pid, item| item.pid() == pid,
            |item| item.status() == PidStatus::PayloadExceeded,
        )
    }
}

/// A managed-server handler for APPS_LOOKUP; works like the
/// CGROUPS_LOOKUP [`handler`](super::cgroups_lookup::handler): `f`
/// answers every PID of the request in order through the
/// [`ReplyBuilder`], which echoes the PID and applies the response budget.
pub fn handler<F>(f: F) -> impl Handler
where
    F: Fn(RequestView<'_>, &mut ReplyBuilder<'_, '_>) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
{
    AppsLookupHandler(f)
}

crate::service::lookup::lookup_handler!(AppsLookupHandler, Method::AppsLookup);
