//! Every use of the Rust library `netipc` by the C ABI.
//!
//! The exported functions only see the types defined here (settings,
//! clients, tables, servers, status data) and [`Failure`]s carrying C result
//! codes. A change of the Rust API (endpoint type, config layout, token
//! type, typed error causes) is absorbed in this module.

pub(crate) mod client;
pub(crate) mod lookup;
pub(crate) mod server;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use netipc_core::auth;
use netipc_core::service::{
    CallError, ConnectFailure, EndpointError, SessionError, TransportError,
};
use netipc_core::wire::{Method, Profiles, Status};

use crate::result::*;

/// The service kinds the C ABI knows, by their protocol method code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Increment,
    StringReverse,
    CgroupsSnapshot,
    CgroupsLookup,
    AppsLookup,
}

impl Kind {
    pub fn from_code(code: u32) -> Result<Kind, Failure> {
        let method = u16::try_from(code)
            .ok()
            .and_then(|c| Method::try_from(c).ok());
        match method {
            Some(Method::Increment) => Ok(Kind::Increment),
            Some(Method::StringReverse) => Ok(Kind::StringReverse),
            Some(Method::CgroupsSnapshot) => Ok(Kind::CgroupsSnapshot),
            Some(Method::CgroupsLookup) => Ok(Kind::CgroupsLookup),
            Some(Method::AppsLookup) => Ok(Kind::AppsLookup),
            _ => Err(Failure::invalid(format!("unknown service kind {code}"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Increment => "INCREMENT",
            Kind::StringReverse => "STRING_REVERSE",
            Kind::CgroupsSnapshot => "CGROUPS_SNAPSHOT",
            Kind::CgroupsLookup => "CGROUPS_LOOKUP",
            Kind::AppsLookup => "APPS_LOOKUP",
        }
    }
}

/// Profile bits every peer of this implementation can run.
const KNOWN_PROFILES: u32 = Profiles::ALL_LINUX.bits();

/// Checks a (supported, preferred) profile pair from C.
pub(crate) fn check_profiles(supported: u32, preferred: u32) -> Result<(), Failure> {
    if supported == 0 || supported & !KNOWN_PROFILES != 0 {
        return Err(Failure::invalid(format!(
            "supported profiles {supported:#x} must be a non-empty set of NETIPC_PROFILE_* bits"
        )));
    }
    if preferred & !supported != 0 {
        return Err(Failure::invalid(format!(
            "preferred profiles {preferred:#x} are not all in the supported set {supported:#x}"
        )));
    }
    Ok(())
}

/// A checked endpoint: `{run_dir}/{service}.sock`.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint(pub(crate) netipc_core::service::Endpoint);

impl Endpoint {
    pub fn new(run_dir: &[u8], service: &[u8]) -> Result<Endpoint, Failure> {
        if run_dir.is_empty() {
            return Err(Failure::invalid("run directory is empty"));
        }
        if run_dir.contains(&0) {
            return Err(Failure::invalid("run directory contains a NUL byte"));
        }
        let service = std::str::from_utf8(service)
            .map_err(|_| Failure::invalid("service name is not UTF-8"))?;
        let run_dir = Path::new(std::ffi::OsStr::from_bytes(run_dir));
        netipc_core::service::Endpoint::new(run_dir, service)
            .map(Endpoint)
            .map_err(|e| endpoint_failure(&e))
    }
}

/// The auth token of the invocation id in the environment.
pub(crate) fn token_from_env() -> Result<u64, Failure> {
    auth::token_from_env()
        .map(auth::AuthToken::get)
        .map_err(|e| Failure::new(NETIPC_ERR_NO_INVOCATION_ID, error_text(&e)))
}

/// The auth token of an explicit invocation id (a UUID).
pub(crate) fn derive_token(invocation_id: &[u8]) -> Result<u64, Failure> {
    auth::derive_token(invocation_id)
        .map(auth::AuthToken::get)
        .map_err(|e| {
            Failure::invalid(format!(
                "the invocation id is not a UUID: {}",
                error_text(&e)
            ))
        })
}

pub(crate) fn endpoint_failure(e: &EndpointError) -> Failure {
    let code = match e {
        EndpointError::InvalidServiceName { .. } | EndpointError::PathTooLong { .. } => {
            NETIPC_ERR_INVALID_ARGUMENT
        }
        EndpointError::NotFound { .. } => NETIPC_ERR_NO_PROVIDER,
        EndpointError::PermissionDenied { .. } => NETIPC_ERR_PERMISSION_DENIED,
        EndpointError::AddressInUse { .. } => NETIPC_ERR_ADDRESS_IN_USE,
        EndpointError::Timeout { .. } => NETIPC_ERR_TIMEOUT,
        _ => NETIPC_ERR_IO,
    };
    Failure::new(code, error_text(e))
}

/// The code of a kind of connect failure.
pub(crate) fn connect_failure_code(kind: ConnectFailure) -> netipc_result {
    match kind {
        ConnectFailure::NotFound => NETIPC_ERR_NO_PROVIDER,
        ConnectFailure::PermissionDenied => NETIPC_ERR_PERMISSION_DENIED,
        ConnectFailure::AuthFailed => NETIPC_ERR_AUTH_REJECTED,
        ConnectFailure::Incompatible => NETIPC_ERR_INCOMPATIBLE,
        ConnectFailure::LimitRejected => NETIPC_ERR_OVERFLOW,
        ConnectFailure::TimedOut => NETIPC_ERR_TIMEOUT,
        ConnectFailure::PeerClosed => NETIPC_ERR_PEER_CLOSED,
        ConnectFailure::Protocol => NETIPC_ERR_PROTOCOL,
        _ => NETIPC_ERR_IO,
    }
}

fn session_error_code(e: &SessionError) -> netipc_result {
    match e {
        SessionError::RequestTooLarge { .. } => NETIPC_ERR_OVERFLOW,
        SessionError::Timeout | SessionError::Transport(TransportError::Timeout) => {
            NETIPC_ERR_TIMEOUT
        }
        SessionError::PeerClosed | SessionError::Transport(TransportError::PeerClosed) => {
            NETIPC_ERR_PEER_CLOSED
        }
        SessionError::Transport(TransportError::Io { .. }) => NETIPC_ERR_IO,
        _ => NETIPC_ERR_PROTOCOL,
    }
}

fn status_code(status: Status) -> netipc_result {
    match status {
        Status::AuthFailed => NETIPC_ERR_AUTH_REJECTED,
        Status::Incompatible | Status::Unsupported => NETIPC_ERR_INCOMPATIBLE,
        Status::LimitExceeded => NETIPC_ERR_OVERFLOW,
        Status::InternalError => NETIPC_ERR_PROVIDER_FAILED,
        _ => NETIPC_ERR_PROTOCOL,
    }
}

/// A failed typed call as a C code and message.
pub(crate) fn call_failure(e: &CallError) -> Failure {
    let code = match e {
        CallError::NotReady(_) => NETIPC_ERR_NOT_READY,
        CallError::Timeout => NETIPC_ERR_TIMEOUT,
        CallError::Aborted => NETIPC_ERR_ABORTED,
        CallError::RequestTooLarge { .. } | CallError::Overflow { .. } => NETIPC_ERR_OVERFLOW,
        CallError::Reconnect(c) => connect_failure_code(c.kind()),
        CallError::Session(s) => session_error_code(s),
        CallError::Status(s) => status_code(*s),
        // The library names this cause only in its text.
        CallError::Mismatch(what) if what.contains("item count") => NETIPC_ERR_BAD_ITEM_COUNT,
        CallError::TooManyItems { .. } | CallError::Encode(_) | CallError::EncodeBatch(_) => {
            NETIPC_ERR_INVALID_ARGUMENT
        }
        _ => NETIPC_ERR_PROTOCOL,
    };
    Failure::new(code, error_text(e))
}

/// An error and its chain of sources as one line.
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi_client::*;

    #[test]
    fn c_constants_match_the_library() {
        assert_eq!(
            NETIPC_SERVICE_INCREMENT,
            u32::from(Method::Increment.code())
        );
        assert_eq!(
            NETIPC_SERVICE_STRING_REVERSE,
            u32::from(Method::StringReverse.code())
        );
        assert_eq!(
            NETIPC_SERVICE_CGROUPS_SNAPSHOT,
            u32::from(Method::CgroupsSnapshot.code())
        );
        assert_eq!(NETIPC_PROFILE_UDS, Profiles::BASELINE.bits());
        assert_eq!(NETIPC_PROFILE_SHM_HYBRID, Profiles::SHM_HYBRID.bits());
        assert_eq!(NETIPC_PROFILE_SHM_FUTEX, Profiles::SHM_FUTEX.bits());
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(Endpoint::new(b"/tmp", b"ok-name_1.x").is_ok());
        for (dir, service) in [
            (&b""[..], &b"a"[..]),
            (b"/t\0mp", b"a"),
            (b"/tmp", b"a/b"),
            (b"/tmp", b""),
            (b"/tmp", b"\xff"),
        ] {
            assert_eq!(
                Endpoint::new(dir, service).unwrap_err().code,
                NETIPC_ERR_INVALID_ARGUMENT
            );
        }
    }
}
