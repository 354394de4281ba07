//! The typed lookup client context shared by both methods.

use std::ops::{Deref, DerefMut};

use super::LookupConfig;
use crate::service::client::{Client, ServiceKind};
use crate::service::{ClientConfig, Endpoint};

/// A client context for a lookup service `K`: a [`Client`] plus the
/// ceilings of a logical call and the buffer the stitched response is
/// built in.
///
/// It dereferences to the [`Client`], so `refresh`, `ready`, `status` and
/// `close` are used as on any other context. The logical call is the
/// method's own: [`CgroupsLookupClient::call_lookup`] and
/// [`AppsLookupClient::call_lookup`].
///
/// [`CgroupsLookupClient::call_lookup`]: crate::service::cgroups_lookup::CgroupsLookupClient
/// [`AppsLookupClient::call_lookup`]: crate::service::apps_lookup::AppsLookupClient
#[derive(Debug)]
pub struct LookupClient<K: ServiceKind> {
    pub(crate) client: Client<K>,
    pub(crate) config: LookupConfig,
    pub(crate) stitched: Vec<u8>,
}

impl<K: ServiceKind> LookupClient<K> {
    /// A context for `endpoint` with the default [`LookupConfig`]. No I/O.
    pub fn new(endpoint: Endpoint, config: ClientConfig) -> Self {
        Self::with_lookup_config(endpoint, config, LookupConfig::default())
    }

    /// A context with explicit logical-call ceilings. It proposes a
    /// 1 024-byte request limit (or the ceiling, if smaller) and reconnects
    /// for a larger one, up to `lookup.request_ceiling()`, only when one key
    /// needs it.
    pub fn with_lookup_config(
        endpoint: Endpoint,
        config: ClientConfig,
        lookup: LookupConfig,
    ) -> Self {
        let mut client = Client::new(endpoint, config);
        let proposal = client.request_proposal().min(lookup.request_ceiling());
        client.set_request_proposal(proposal);
        LookupClient {
            client,
            config: lookup,
            stitched: Vec::new(),
        }
    }

    /// The ceilings of a logical call.
    pub fn lookup_config(&self) -> &LookupConfig {
        &self.config
    }
}

impl<K: ServiceKind> Deref for LookupClient<K> {
    type Target = Client<K>;
    fn deref(&self) -> &Client<K> {
        &self.client
    }
}

impl<K: ServiceKind> DerefMut for LookupClient<K> {
    fn deref_mut(&mut self) -> &mut Client<K> {
        &mut self.client
    }
}
