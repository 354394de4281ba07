//! Level 2: typed clients and the managed server.
//!
//! A plugin author touches this layer and nothing below it:
//!
//! * a client context per service kind ([`increment::IncrementClient`],
//!   [`string_reverse::StringReverseClient`],
//!   [`cgroups::CgroupsSnapshotClient`]) that never fails because the
//!   provider is absent, connects and reconnects in [`refresh`], retries a
//!   failed call once, and recovers from size overflows by renegotiating
//!   larger limits — the caller sees one successful call;
//! * a [`server::ManagedServer`] that serves one method per endpoint with a
//!   worker thread per session.
//!
//! [`refresh`]: increment::IncrementClient::refresh

#![forbid(unsafe_code)]

pub mod cgroups;
mod client;
pub mod increment;
pub mod server;
pub mod string_reverse;

use crate::wire::Profiles;
pub use client::{
    CallError, ClientConfig, ClientState, ClientStatus, ConnectFailure, NegotiatedLimits,
};
pub use client::{Client, ServiceKind};

pub use crate::transport::wait::WaitConfig;
pub use crate::transport::{Endpoint, EndpointError};
pub use server::{
    Handler, HandlerError, ManagedServer, ServeError, ServerConfig, ServerError, ServerStats,
};

/// Profiles a Level 2 client offers and a managed server supports unless
/// configured otherwise: the UDS baseline and shared memory.
pub(crate) const DEFAULT_PROFILES: Profiles =
    Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);

/// Profiles preferred by default: shared memory.
pub(crate) const DEFAULT_PREFERRED: Profiles = Profiles::SHM_HYBRID;

/// `next_pow2` of the protocol's size learning: 16 below 16, else the
/// smallest power of two ≥ `n`, saturating at 2^31.
pub(crate) fn next_pow2(n: u64) -> u32 {
    if n < 16 {
        16
    } else if n > 1 << 31 {
        1 << 31
    } else {
        (n as u32).next_power_of_two()
    }
}
