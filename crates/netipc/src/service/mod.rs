//! Level 2: typed clients and the managed server.
//!
//! A plugin author touches this layer and nothing below it:
//!
//! * a client context per service kind ([`increment::IncrementClient`],
//!   [`string_reverse::StringReverseClient`],
//!   [`cgroups::CgroupsSnapshotClient`],
//!   [`cgroups_lookup::CgroupsLookupClient`],
//!   [`apps_lookup::AppsLookupClient`]) that never fails because the
//!   provider is absent, connects and reconnects in [`refresh`], retries a
//!   failed call once, and recovers from size overflows by renegotiating
//!   larger limits — the caller sees one successful call; every call is
//!   bounded by one deadline and can be aborted from another thread
//!   ([`AbortHandle`]);
//! * a [`server::ManagedServer`] that serves one method per endpoint with a
//!   worker thread per session.
//!
//! [`refresh`]: increment::IncrementClient::refresh

#![forbid(unsafe_code)]

pub mod apps_lookup;
mod call;
pub mod cgroups;
pub mod cgroups_lookup;
mod client;
mod config;
mod error;
pub mod increment;
pub mod lookup;
pub mod server;
mod session_log;
mod status;
pub mod string_reverse;

pub use client::{Client, ServiceKind, DEFAULT_CALL_TIMEOUT};
pub use config::{ClientConfig, PeerCheck, ServerConfig};
pub use error::{CallError, ClientError, HandlerError, ServeError, ServerError};
pub use server::{Handler, ManagedServer, ServerRunner, ServerStats};
pub use session_log::{SessionEvent, SessionObserver};
pub use status::{ClientState, ClientStatus, NegotiatedLimits};

// What a Level 2 user meets in the signatures and errors above, so that
// nothing below this layer needs importing.
pub use crate::auth::AuthToken;
pub use crate::codec::CodecError;
#[cfg(unix)]
pub use crate::transport::shm::{BadSizeReason, NotReadyReason};
pub use crate::transport::wait::{WaitConfig, WaitPolicy};
pub use crate::transport::{
    AbortHandle, ClientProposal, ConnectError, ConnectFailure, Endpoint, EndpointError,
    HandshakeError, InUseReason, Incompatibility, ListenerConfig, PeerCredentials, ServerPolicy,
    ServerSessionConfig, SessionConfig, SessionError, ShmError, TransportError,
};
pub use crate::wire::{Method, Profiles, Status, WireError};

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
