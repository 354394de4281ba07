//! Level 2 clients of every kind behind one type, their status, and the
//! owned cgroups snapshot table.

use std::time::Duration;

use netipc_core::auth::AuthToken;
use netipc_core::cache::CgroupsTable;
use netipc_core::service::apps_lookup::AppsLookupClient;
use netipc_core::service::cgroups::CgroupsSnapshotClient;
use netipc_core::service::cgroups_lookup::CgroupsLookupClient;
use netipc_core::service::increment::IncrementClient;
use netipc_core::service::lookup::LookupClient;
use netipc_core::service::string_reverse::StringReverseClient;
use netipc_core::service::{AbortHandle, ClientConfig, ClientState, ServiceKind};
use netipc_core::wire::Profiles;

use super::lookup::{lookup_failure, AppsAnswers, CgroupsAnswers};
use super::{call_failure, connect_failure_code, error_text, Endpoint, Kind};
use crate::ffi_client_status::*;
use crate::result::*;

fn state_code(state: ClientState) -> u32 {
    match state {
        ClientState::Disconnected => NETIPC_STATE_DISCONNECTED,
        ClientState::Connecting => NETIPC_STATE_CONNECTING,
        ClientState::Ready => NETIPC_STATE_READY,
        ClientState::NotFound => NETIPC_STATE_NOT_FOUND,
        ClientState::AuthFailed => NETIPC_STATE_AUTH_FAILED,
        ClientState::Incompatible => NETIPC_STATE_INCOMPATIBLE,
        ClientState::Broken => NETIPC_STATE_BROKEN,
        _ => NETIPC_STATE_DISCONNECTED,
    }
}

/// Client settings as C sets them.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub token: u64,
    pub profiles: u32,
    pub preferred: u32,
    pub batch_items: u32,
    pub handshake_timeout: Duration,
    pub response_timeout: Duration,
    /// Default deadline of one call (zero: the library's default).
    pub call_timeout: Duration,
    /// Largest request proposed and sent (zero: automatic).
    pub max_request: u32,
}

impl ClientSettings {
    pub fn new(token: u64) -> Self {
        let defaults = ClientConfig::new(AuthToken::new(token));
        let session = &defaults.session;
        ClientSettings {
            token,
            profiles: session.proposal.supported.bits(),
            preferred: session.proposal.preferred.bits(),
            batch_items: defaults.batch_items,
            handshake_timeout: session.handshake_timeout,
            response_timeout: session.response_timeout,
            call_timeout: defaults.call_timeout,
            max_request: defaults.max_request_payload,
        }
    }

    fn config(&self) -> ClientConfig {
        ClientConfig::new(AuthToken::new(self.token))
            .with_profiles(Profiles(self.profiles), Profiles(self.preferred))
            .with_batch_items(self.batch_items)
            .with_handshake_timeout(self.handshake_timeout)
            .with_response_timeout(self.response_timeout)
            .with_call_timeout(self.call_timeout)
            .with_request_payload(self.max_request)
    }
}

/// What the C status accessors read: a copy, so it outlives the client.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusData {
    pub state: u32,
    pub profile: u32,
    pub session_id: Option<u64>,
    pub connects: u64,
    pub reconnects: u64,
    pub calls: u64,
    pub failures: u64,
    pub overflow_recoveries: u64,
    pub last_error: Vec<u8>,
    pub last_connect_failure: netipc_result,
}

impl StatusData {
    pub fn shm_in_use(&self) -> bool {
        Profiles(self.profile).has_shm()
    }
}

/// A Level 2 client of one kind.
#[derive(Debug)]
pub(crate) enum AnyClient {
    Increment(IncrementClient),
    StringReverse(StringReverseClient),
    CgroupsSnapshot(CgroupsSnapshotClient),
    CgroupsLookup(CgroupsLookupClient),
    AppsLookup(AppsLookupClient),
}

/// Runs the same expression on the typed client inside.
macro_rules! each {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            AnyClient::Increment($c) => $body,
            AnyClient::StringReverse($c) => $body,
            AnyClient::CgroupsSnapshot($c) => $body,
            AnyClient::CgroupsLookup($c) => $body,
            AnyClient::AppsLookup($c) => $body,
        }
    };
}

impl AnyClient {
    /// A client for the endpoint; no I/O happens.
    pub fn new(kind: Kind, endpoint: &Endpoint, settings: &ClientSettings) -> Self {
        let (endpoint, config) = (endpoint.0.clone(), settings.config());
        match kind {
            Kind::Increment => AnyClient::Increment(IncrementClient::new(endpoint, config)),
            Kind::StringReverse => {
                AnyClient::StringReverse(StringReverseClient::new(endpoint, config))
            }
            Kind::CgroupsSnapshot => {
                AnyClient::CgroupsSnapshot(CgroupsSnapshotClient::new(endpoint, config))
            }
            Kind::CgroupsLookup => {
                AnyClient::CgroupsLookup(CgroupsLookupClient::new(endpoint, config))
            }
            Kind::AppsLookup => AnyClient::AppsLookup(AppsLookupClient::new(endpoint, config)),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            AnyClient::Increment(_) => Kind::Increment,
            AnyClient::StringReverse(_) => Kind::StringReverse,
            AnyClient::CgroupsSnapshot(_) => Kind::CgroupsSnapshot,
            AnyClient::CgroupsLookup(_) => Kind::CgroupsLookup,
            AnyClient::AppsLookup(_) => Kind::AppsLookup,
        }
    }

    /// Connects or reconnects as the state requires; returns whether the
    /// state changed.
    pub fn refresh(&mut self) -> bool {
        each!(self, c => c.refresh())
    }

    /// `Ok` when Ready, else why not (the last connect failure).
    pub fn readiness(&self) -> Result<(), Failure> {
        if self.abort_handle().is_aborted() {
            return Err(Failure::new(
                NETIPC_ERR_ABORTED,
                "the client is aborted; clear the abort to connect again",
            ));
        }
        let status = self.status();
        let code = match status.state {
            NETIPC_STATE_READY => return Ok(()),
            NETIPC_STATE_NOT_FOUND => NETIPC_ERR_NO_PROVIDER,
            NETIPC_STATE_AUTH_FAILED => NETIPC_ERR_AUTH_REJECTED,
            NETIPC_STATE_INCOMPATIBLE => NETIPC_ERR_INCOMPATIBLE,
            _ if status.last_connect_failure != NETIPC_OK => status.last_connect_failure,
            _ => NETIPC_ERR_NOT_READY,
        };
        let text = String::from_utf8_lossy(&status.last_error).into_owned();
        Err(Failure::new(
            code,
            if text.is_empty() {
                "not connected".to_string()
            } else {
                text
            },
        ))
    }

    /// The handle that aborts this client's calls from any thread.
    pub fn abort_handle(&self) -> Abort {
        Abort(each!(self, c => c.abort_handle()))
    }

    pub fn ready(&self) -> bool {
        each!(self, c => c.ready())
    }

    pub fn state(&self) -> u32 {
        state_code(each!(self, c => c.state()))
    }

    pub fn close(&mut self) {
        each!(self, c => c.close())
    }

    pub fn status(&self) -> StatusData {
        let s = each!(self, c => c.status());
        StatusData {
            state: state_code(s.state),
            profile: s.profile.map_or(0, Profiles::bits),
            session_id: s.session_id,
            connects: s.connects,
            reconnects: s.reconnects,
            calls: s.calls,
            failures: s.failures,
            overflow_recoveries: s.overflow_recoveries,
            last_connect_failure: s.connect_failure().map_or(NETIPC_OK, connect_failure_code),
            last_error: s
                .last_error
                .map(|e| error_text(&e).into_bytes())
                .unwrap_or_default(),
        }
    }

    fn wrong_kind(&self, wanted: Kind) -> Failure {
        Failure::invalid(format!(
            "this client was created for {}, not {}",
            self.kind().name(),
            wanted.name()
        ))
    }

    // Every call runs under a deadline of `timeout` (zero: the client's
    // default call timeout).

    pub fn increment(&mut self, value: u64, timeout: Duration) -> Result<u64, Failure> {
        match self {
            AnyClient::Increment(c) => c
                .call_with_timeout(timeout, |c| c.call(value))
                .map_err(|e| call_failure(&e)),
            _ => Err(self.wrong_kind(Kind::Increment)),
        }
    }

    /// Answers to `values` in order, in `out` (cleared first).
    pub fn increment_batch(
        &mut self,
        values: &[u64],
        out: &mut Vec<u64>,
        timeout: Duration,
    ) -> Result<(), Failure> {
        out.clear();
        match self {
            AnyClient::Increment(c) => c
                .call_with_timeout(timeout, |c| c.call_batch_into(values, out))
                .map_err(|e| call_failure(&e)),
            _ => Err(self.wrong_kind(Kind::Increment)),
        }
    }

    /// The reversed string, copied into `out` (cleared first).
    pub fn string_reverse(
        &mut self,
        s: &str,
        out: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<(), Failure> {
        out.clear();
        match self {
            AnyClient::StringReverse(c) => c
                .call_with_timeout(timeout, |c| {
                    c.call(s)
                        .map(|answer| out.extend_from_slice(answer.as_bytes()))
                })
                .map_err(|e| call_failure(&e)),
            _ => Err(self.wrong_kind(Kind::StringReverse)),
        }
    }

    /// Fetches the snapshot and copies it into an indexed table.
    pub fn snapshot(&mut self, timeout: Duration) -> Result<Table, Failure> {
        match self {
            AnyClient::CgroupsSnapshot(c) => c
                .call_with_timeout(timeout, |c| {
                    c.call_snapshot()
                        .map(|view| Table(CgroupsTable::from_view(&view)))
                })
                .map_err(|e| call_failure(&e)),
            _ => Err(self.wrong_kind(Kind::CgroupsSnapshot)),
        }
    }

    /// CGROUPS_LOOKUP of `paths` as one logical call (split and stitched by
    /// the library), copied out so it outlives the call.
    pub fn cgroups_lookup(
        &mut self,
        paths: &[&[u8]],
        timeout: Duration,
    ) -> Result<CgroupsAnswers, Failure> {
        match self {
            AnyClient::CgroupsLookup(c) => with_call_timeout(c, timeout, |c| {
                c.call_lookup(paths)
                    .map_err(|e| lookup_failure(&e))
                    .and_then(|view| CgroupsAnswers::copy(&view))
            }),
            _ => Err(self.wrong_kind(Kind::CgroupsLookup)),
        }
    }

    /// APPS_LOOKUP of `pids` as one logical call, copied out.
    pub fn apps_lookup(&mut self, pids: &[u32], timeout: Duration) -> Result<AppsAnswers, Failure> {
        match self {
            AnyClient::AppsLookup(c) => with_call_timeout(c, timeout, |c| {
                c.call_lookup(pids)
                    .map_err(|e| lookup_failure(&e))
                    .and_then(|view| AppsAnswers::copy(&view))
            }),
            _ => Err(self.wrong_kind(Kind::AppsLookup)),
        }
    }
}

/// Runs one logical lookup call with the deadline `timeout` (zero: the
/// client's call timeout). The lookup client takes its deadline from the
/// context's call timeout, so it is set for this call and restored after.
fn with_call_timeout<K: ServiceKind, R>(
    client: &mut LookupClient<K>,
    timeout: Duration,
    call: impl FnOnce(&mut LookupClient<K>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    if timeout.is_zero() {
        return call(client);
    }
    let default = client.call_timeout();
    client.set_call_timeout(timeout);
    let result = call(client);
    client.set_call_timeout(default);
    result
}

/// Aborts the calls of one client from any thread (shared with the client;
/// never locks).
#[derive(Debug, Clone)]
pub(crate) struct Abort(AbortHandle);

impl Abort {
    /// A blocked call returns promptly with `NETIPC_ERR_ABORTED`; later
    /// calls and refreshes fail at once until [`Abort::clear`].
    pub fn abort(&self) {
        self.0.abort();
    }

    pub fn clear(&self) {
        self.0.clear();
    }

    pub fn is_aborted(&self) -> bool {
        self.0.is_aborted()
    }
}

/// One cgroup, borrowed from a [`Table`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item<'a> {
    pub hash: u32,
    pub options: u32,
    pub enabled: u32,
    pub name: &'a [u8],
    pub path: &'a [u8],
}

/// An owned cgroups snapshot with O(1) access by position and by
/// (hash, name).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table(CgroupsTable);

impl Table {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    pub fn systemd_enabled(&self) -> u32 {
        self.0.systemd_enabled()
    }

    pub fn item(&self, index: usize) -> Option<Item<'_>> {
        self.0.item(index).map(|c| Item {
            hash: c.hash,
            options: c.options,
            enabled: c.enabled,
            name: c.name,
            path: c.path,
        })
    }

    pub fn lookup(&self, hash: u32, name: &[u8]) -> Option<Item<'_>> {
        self.0.lookup(hash, name).map(|c| Item {
            hash: c.hash,
            options: c.options,
            enabled: c.enabled,
            name: c.name,
            path: c.path,
        })
    }
}
