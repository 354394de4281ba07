//! The CGROUPS_LOOKUP service (method 4, `cgroups-lookup`): "what do you
//! know about these cgroup paths".
//!
//! * [`CgroupsLookupClient::call_lookup`] looks up any number of paths (up
//!   to the [`LookupConfig`](super::lookup::LookupConfig) ceilings) as one logical call, split into
//!   sub-calls by the session's request limit and stitched back together
//!   (PROTOCOL-LOOKUP §18).
//! * [`handler`] adapts a function answering through a [`ReplyBuilder`]
//!   into a managed-server [`Handler`] that applies the server's overflow
//!   rules (§17).
//!
//! ```no_run
//! use netipc::auth::AuthToken;
//! use netipc::codec::lookup::cgroups_lookup::{Answer, Status};
//! use netipc::codec::lookup::Orchestrator;
//! use netipc::service::cgroups_lookup::{self, CgroupsLookupClient};
//! use netipc::service::lookup::LOOKUP_RESPONSE_PAYLOAD;
//! use netipc::service::{ClientConfig, Endpoint, ManagedServer, ServerConfig};
//!
//! let token = AuthToken::new(0x1234);
//! let endpoint = Endpoint::new("/run/netdata", "cgroups-lookup")?;
//! let server = ManagedServer::start(
//!     endpoint.clone(),
//!     ServerConfig::new(token).with_response_payload(LOOKUP_RESPONSE_PAYLOAD),
//!     cgroups_lookup::handler(|request, reply| {
//!         for path in request.iter() {
//!             if path.ends_with(b".service") {
//!                 reply.add(&Answer::known(Orchestrator::SYSTEMD, b"ssh", &[]))?;
//!             } else {
//!                 reply.add(&Answer::UNKNOWN_PERMANENT)?;
//!             }
//!         }
//!         reply.set_generation(1);
//!         Ok(())
//!     }),
//! )?;
//!
//! let mut client = CgroupsLookupClient::new(endpoint, ClientConfig::new(token));
//! client.refresh();
//! let view = client.call_lookup(&["/sys/fs/cgroup/ssh.service", "/gone"])?;
//! assert_eq!(view.item(0).unwrap().status(), Status::Known);
//! # drop(server);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::client::ServiceKind;
use super::lookup::stitch::{Absorbed, Stitching};
use super::lookup::{
    split, LookupCallError, LookupClient, Plan, LOOKUP_REQUEST_PAYLOAD, LOOKUP_RESPONSE_PAYLOAD,
};
use super::{Handler, HandlerError};
use crate::codec::lookup::cgroups_lookup::{
    encode_request, request_len, Answer, ReplyBuilder, RequestView, ResponseBuilder, ResponseView,
    Status,
};
use crate::codec::lookup::LookupError;
use crate::wire::Method;

/// Marker type of the CGROUPS_LOOKUP service.
#[derive(Debug, Clone, Copy)]
pub struct CgroupsLookup;

impl ServiceKind for CgroupsLookup {
    const METHOD: Method = Method::CgroupsLookup;
    fn request_bytes(_batch_items: u32) -> u32 {
        LOOKUP_REQUEST_PAYLOAD
    }
    fn response_bytes(_batch_items: u32) -> u32 {
        LOOKUP_RESPONSE_PAYLOAD
    }
}

/// A client context for a CGROUPS_LOOKUP endpoint.
pub type CgroupsLookupClient = LookupClient<CgroupsLookup>;

impl LookupClient<CgroupsLookup> {
    /// Looks `paths` up as one logical call and returns one item per path,
    /// in order, each echoing its path. The view borrows this context until
    /// the next call.
    ///
    /// Items are KNOWN, UNKNOWN_RETRY_LATER, UNKNOWN_PERMANENT or
    /// OVERSIZED_ITEM (final: the answer cannot be delivered; a path too
    /// long for any request gets it without I/O); PAYLOAD_EXCEEDED never
    /// reaches the caller. No paths still makes one call, which reports the
    /// provider's generation.
    ///
    /// # Errors
    ///
    /// A [`LookupCallError`]; no partial result is returned.
    pub fn call_lookup<P: AsRef<[u8]>>(
        &mut self,
        paths: &[P],
    ) -> Result<ResponseView<'_>, LookupCallError> {
        let max = self.config.max_response_bytes();
        self.stitched.clear();
        // No directory reserved up front: most calls are answered by one
        // sub-response that is returned as it is, and a stitched response
        // grows its directory as items arrive.
        let out = ResponseBuilder::new(&mut self.stitched, 0, 0).with_limit(max);
        let whole = Stitching::new(paths, out, max).call(&mut self.client, &self.config)?;
        // Either one sub-response that answered every key, already
        // validated, or validated items the builder laid out canonically.
        Ok(ResponseView::assume_valid(if whole {
            self.client.payload()
        } else {
            &self.stitched
        }))
    }
}

impl<P: AsRef<[u8]>> Plan for Stitching<'_, P, ResponseBuilder<'_>> {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn fit(&self, start: usize, cap: u32) -> Result<usize, LookupCallError> {
        Ok(split::cgroups_keys(&self.keys[start..], cap))
    }

    fn one(&self, start: usize) -> u64 {
        request_len(&self.keys[start..start + 1])
    }

    fn oversized(&mut self, start: usize) -> Result<bool, LookupCallError> {
        let path = self.keys[start].as_ref();
        match self.out.push(path, &Answer::empty(Status::OversizedItem)) {
            Ok(()) => Ok(true),
            Err(LookupError::TooLarge { .. }) => {
                Err(LookupCallError::ResponseTooLarge { max: self.max })
            }
            Err(e) => Err(LookupCallError::Key(e)),
        }
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
            |path, item| item.path() == path.as_ref(),
            |item| item.status() == Status::PayloadExceeded,
        )
    }
}

/// A managed-server handler for CGROUPS_LOOKUP.
///
/// For each request `f` gets the decoded request and a [`ReplyBuilder`]
/// bound to the session's response limit; it answers every key in order
/// with [`ReplyBuilder::add`] (which echoes the path itself and turns what
/// does not fit into OVERSIZED_ITEM / PAYLOAD_EXCEEDED placeholders) and
/// may set the generation. It may stop early once
/// [`ReplyBuilder::is_exceeded`] is true.
///
/// Outcomes (PROTOCOL-LOOKUP §17.8): an undecodable request or a batch is
/// answered BAD_ENVELOPE; keys left unanswered, or a builder layout error
/// returned by `f` (`?` on `add`), BAD_ENVELOPE; a placeholder that does
/// not fit the response limit, LIMIT_EXCEEDED (the server learns a larger
/// limit); any other failure of `f`, INTERNAL_ERROR. Another method code is
/// UNSUPPORTED. Serve it with a response limit of at least
/// [`LOOKUP_RESPONSE_PAYLOAD`] (`ServerConfig::with_response_payload`).
pub fn handler<F>(f: F) -> impl Handler
where
    F: Fn(RequestView<'_>, &mut ReplyBuilder<'_, '_>) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
{
    CgroupsLookupHandler(f)
}

crate::service::lookup::lookup_handler!(CgroupsLookupHandler, Method::CgroupsLookup);
