//! The client context shared by every typed service: state machine,
//! at-least-once retry, overflow recovery and size learning
//! (PROTOCOL.md §10.1–§10.5).

use std::marker::PhantomData;
use std::sync::Arc;

use super::next_pow2;
use super::{CallError, ClientConfig, ClientError};
use crate::transport::{
    ClientSession, ConnectError, ConnectFailure, Endpoint, SessionConfig, SessionError,
};
use crate::wire::{Header, Method, Profiles, Status, MAX_REQUEST_PAYLOAD};

/// Rounds of overflow recovery before a call gives up.
const MAX_OVERFLOW_ROUNDS: u32 = 8;

/// Seals [`ServiceKind`]: only this crate's service modules implement it.
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::super::increment::Increment {}
    impl Sealed for super::super::string_reverse::StringReverse {}
    impl Sealed for super::super::cgroups::CgroupsSnapshot {}
}

/// A kind of service: its method code and the sizes its schema implies.
///
/// Implemented by the marker types of the typed service modules
/// ([`Increment`](super::increment::Increment),
/// [`StringReverse`](super::string_reverse::StringReverse),
/// [`CgroupsSnapshot`](super::cgroups::CgroupsSnapshot)); sealed, because
/// a kind is only useful together with the typed calls its module adds.
pub trait ServiceKind: sealed::Sealed {
    /// The method every request of this kind carries.
    const METHOD: Method;
    /// Request payload to propose for a plain call, or for batches of
    /// `batch_items` items when `batch_items > 1`.
    fn request_bytes(batch_items: u32) -> u32;
    /// Response payload to hint before anything was learned.
    fn response_bytes(batch_items: u32) -> u32;
}

/// Connection state of a client context (PROTOCOL.md §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientState {
    /// Not connected; the next [`Client::refresh`] tries.
    Disconnected,
    /// A connection attempt is running.
    Connecting,
    /// Connected; calls can be made.
    Ready,
    /// No provider listens at the endpoint; the next refresh tries again.
    NotFound,
    /// The provider rejected our auth token. Sticks until the context is
    /// closed: retrying cannot help.
    AuthFailed,
    /// The provider shares no profile or protocol version with us. Sticks
    /// until the context is closed.
    Incompatible,
    /// An established session failed; the next refresh reconnects.
    Broken,
}

impl std::fmt::Display for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientState::Disconnected => "disconnected",
            ClientState::Connecting => "connecting",
            ClientState::Ready => "ready",
            ClientState::NotFound => "not found",
            ClientState::AuthFailed => "auth failed",
            ClientState::Incompatible => "incompatible",
            ClientState::Broken => "broken",
        })
    }
}

/// Limits of the current session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedLimits {
    /// Largest request payload.
    pub max_request_payload: u32,
    /// Largest request batch.
    pub max_request_batch_items: u32,
    /// Largest response payload.
    pub max_response_payload: u32,
    /// Largest response batch.
    pub max_response_batch_items: u32,
    /// UDS packet size.
    pub packet_size: u32,
}

/// A snapshot of a client context's state and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientStatus {
    /// Current state.
    pub state: ClientState,
    /// Successful connects from Disconnected / NotFound.
    pub connects: u64,
    /// Successful reconnects (after Broken, a retry or an overflow).
    pub reconnects: u64,
    /// Calls made while Ready.
    pub calls: u64,
    /// Calls that returned an error (including not-Ready calls).
    pub failures: u64,
    /// Overflow recoveries (renegotiations with larger limits).
    pub overflow_recoveries: u64,
    /// Selected profile of the current session.
    pub profile: Option<Profiles>,
    /// Server-assigned id of the current session.
    pub session_id: Option<u64>,
    /// Limits of the current session.
    pub limits: Option<NegotiatedLimits>,
    /// Request payload this context proposes (learned, never shrinks).
    pub request_proposal: u32,
    /// Response payload this context hints (learned, never shrinks).
    pub response_hint: u32,
    /// The last failure, connecting or calling.
    pub last_error: Option<ClientError>,
    /// The last failed connection attempt: why the context is (or was) not
    /// connected. [`ClientStatus::connect_failure`] gives its kind.
    pub last_connect_error: Option<Arc<ConnectError>>,
}

impl ClientStatus {
    /// The kind of the last failed connection attempt: no provider,
    /// permission denied, auth token rejected, incompatible, timed out ….
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        self.last_connect_error.as_ref().map(|e| e.kind())
    }
}

/// A request already encoded into the context's buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing {
    /// Items for a batch (`BATCH` flag), `None` for a plain request.
    pub batch: Option<u32>,
}

/// Which limit a call overflowed.
enum Overflow {
    /// The request payload (`len` bytes) is over the session's limit.
    Request(usize),
    /// The batch (`n` items) is over the session's batch limit.
    Batch(u32),
    /// The server answered LIMIT_EXCEEDED: the response did not fit.
    Response,
}

enum AttemptError {
    /// A limit was too small; renegotiate.
    Overflow(Overflow),
    /// Anything else.
    Failure(CallError),
}

/// A client context for one service kind `K` at one endpoint.
///
/// Creating it does no I/O and cannot fail because the provider is absent;
/// [`Client::refresh`] connects and reconnects; calls (in the typed modules)
/// fail at once without I/O unless the context is Ready.
#[derive(Debug)]
pub struct Client<K: ServiceKind> {
    endpoint: Endpoint,
    /// Built once from the [`ClientConfig`]; size learning and the
    /// shared-memory fallback update its proposal in place.
    config: SessionConfig,
    state: ClientState,
    session: Option<ClientSession>,
    next_message_id: u64,
    connects: u64,
    reconnects: u64,
    calls: u64,
    failures: u64,
    overflow_recoveries: u64,
    last_error: Option<ClientError>,
    last_connect_error: Option<Arc<ConnectError>>,
    /// Reusable buffer the typed calls encode requests into.
    pub(crate) request: Vec<u8>,
    _kind: PhantomData<K>,
}

impl<K: ServiceKind> Client<K> {
    /// A context for `endpoint`. No I/O happens here: the session settings
    /// are built once, from `config` and the service's schema.
    pub fn new(endpoint: Endpoint, config: ClientConfig) -> Self {
        let batch = config.batch_items.max(1);
        let mut session = config.session;
        let proposal = &mut session.proposal;
        proposal.max_request_payload = K::request_bytes(batch).min(MAX_REQUEST_PAYLOAD);
        proposal.max_response_payload = K::response_bytes(batch);
        proposal.max_request_batch_items = batch;
        proposal.max_response_batch_items = batch;
        Client {
            endpoint,
            config: session,
            state: ClientState::Disconnected,
            session: None,
            next_message_id: 1,
            connects: 0,
            reconnects: 0,
            calls: 0,
            failures: 0,
            overflow_recoveries: 0,
            last_error: None,
            last_connect_error: None,
            request: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// Connects or reconnects as the state requires; returns whether the
    /// state changed. Ready, AuthFailed and Incompatible are left alone.
    pub fn refresh(&mut self) -> bool {
        let before = self.state;
        match before {
            ClientState::Disconnected | ClientState::NotFound => {
                if self.connect().is_ok() {
                    self.connects += 1;
                }
            }
            ClientState::Broken => {
                self.session = None;
                if self.connect().is_ok() {
                    self.reconnects += 1;
                }
            }
            ClientState::Ready
            | ClientState::Connecting
            | ClientState::AuthFailed
            | ClientState::Incompatible => {}
        }
        self.state != before
    }

    /// True when Ready. No system call.
    pub fn ready(&self) -> bool {
        self.state == ClientState::Ready
    }

    /// The endpoint this context connects to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// State, counters and the current session's negotiated values.
    pub fn status(&self) -> ClientStatus {
        let ack = self.session.as_ref().map(|s| *s.negotiated());
        ClientStatus {
            state: self.state,
            connects: self.connects,
            reconnects: self.reconnects,
            calls: self.calls,
            failures: self.failures,
            overflow_recoveries: self.overflow_recoveries,
            profile: ack.map(|a| a.selected_profile),
            session_id: ack.map(|a| a.session_id),
            limits: ack.map(|a| NegotiatedLimits {
                max_request_payload: a.agreed_max_request_payload_bytes,
                max_request_batch_items: a.agreed_max_request_batch_items,
                max_response_payload: a.agreed_max_response_payload_bytes,
                max_response_batch_items: a.agreed_max_response_batch_items,
                packet_size: a.agreed_packet_size,
            }),
            request_proposal: self.config.proposal.max_request_payload,
            response_hint: self.config.proposal.max_response_payload,
            last_error: self.last_error.clone(),
            last_connect_error: self.last_connect_error.clone(),
        }
    }

    /// Closes the session (if any) and returns to Disconnected. Learned
    /// sizes are kept; AuthFailed / Incompatible are cleared.
    pub fn close(&mut self) {
        self.session = None;
        self.state = ClientState::Disconnected;
    }

    /// One connect attempt (with the shared-memory attach fallback). On
    /// failure the state is the one PROTOCOL.md §10.1 assigns to the error.
    fn connect(&mut self) -> Result<(), Arc<ConnectError>> {
        self.state = ClientState::Connecting;
        loop {
            match ClientSession::connect(&self.endpoint, &self.config) {
                Ok(session) => {
                    self.session = Some(session);
                    self.state = ClientState::Ready;
                    return Ok(());
                }
                Err(ConnectError::ShmAttach { .. })
                    if !self
                        .config
                        .proposal
                        .supported
                        .without(Profiles::SHM_ANY)
                        .is_empty() =>
                {
                    // No same-session fallback: drop shared memory from
                    // this context for good and handshake again.
                    let proposal = &mut self.config.proposal;
                    proposal.supported = proposal.supported.without(Profiles::SHM_ANY);
                    proposal.preferred = proposal.preferred.without(Profiles::SHM_ANY);
                }
                Err(e) => {
                    self.state = state_after(e.kind());
                    let e = Arc::new(e);
                    self.last_error = Some(ClientError::Connect(e.clone()));
                    self.last_connect_error = Some(e.clone());
                    return Err(e);
                }
            }
        }
    }

    /// Runs one call with retry and overflow recovery. On success the
    /// response payload is in the session (see [`Client::payload`]).
    pub(crate) fn exchange(&mut self, out: Outgoing) -> Result<Header, CallError> {
        if self.state != ClientState::Ready {
            self.failures += 1;
            return Err(CallError::NotReady(self.state));
        }
        self.calls += 1;
        let result = self.call_with_recovery(out);
        if let Err(e) = &result {
            self.failures += 1;
            self.last_error = Some(ClientError::Call(e.clone()));
        }
        result
    }

    fn call_with_recovery(&mut self, out: Outgoing) -> Result<Header, CallError> {
        if self.request.len() > MAX_REQUEST_PAYLOAD as usize {
            return Err(CallError::RequestTooLarge {
                len: self.request.len(),
            });
        }
        let mut retried = false;
        let mut rounds = 0;
        loop {
            let before = self.sizes();
            match self.attempt(out) {
                Ok(h) => return Ok(h),
                Err(AttemptError::Overflow(what)) => {
                    self.learn(what, before[1]);
                    self.reconnect()?;
                    rounds += 1;
                    if self.sizes_grew(before) {
                        self.overflow_recoveries += 1;
                    } else {
                        self.break_session();
                        return Err(CallError::Overflow { rounds });
                    }
                    if rounds >= MAX_OVERFLOW_ROUNDS {
                        self.break_session();
                        return Err(CallError::Overflow { rounds });
                    }
                }
                Err(AttemptError::Failure(e)) => {
                    if retried {
                        self.break_session();
                        return Err(e);
                    }
                    retried = true;
                    self.reconnect()?;
                }
            }
        }
    }

    /// Raises the proposal an overflow showed to be too small (PROTOCOL.md
    /// §10.5). `response_limit` is the failed session's response limit.
    fn learn(&mut self, what: Overflow, response_limit: u32) {
        let proposal = &mut self.config.proposal;
        match what {
            Overflow::Request(len) => {
                let want = next_pow2(len as u64).min(MAX_REQUEST_PAYLOAD);
                proposal.max_request_payload = proposal.max_request_payload.max(want);
            }
            Overflow::Batch(n) => {
                let batch = proposal.max_request_batch_items.max(n.next_power_of_two());
                proposal.max_request_batch_items = batch;
                proposal.max_response_batch_items = batch;
            }
            Overflow::Response => {
                let want = next_pow2(2 * u64::from(response_limit)).min(MAX_REQUEST_PAYLOAD);
                proposal.max_response_payload = proposal.max_response_payload.max(want);
            }
        }
    }

    /// The session's request and response limits and batch limit, then this
    /// context's proposals: what overflow recovery must see grow.
    fn sizes(&self) -> [u32; 6] {
        let ack = self.session.as_ref().map(|s| *s.negotiated());
        [
            ack.map_or(0, |a| a.agreed_max_request_payload_bytes),
            ack.map_or(0, |a| a.agreed_max_response_payload_bytes),
            ack.map_or(0, |a| a.agreed_max_request_batch_items),
            self.config.proposal.max_request_payload,
            self.config.proposal.max_response_payload,
            self.config.proposal.max_request_batch_items,
        ]
    }

    fn sizes_grew(&self, before: [u32; 6]) -> bool {
        self.sizes()
            .iter()
            .zip(before)
            .any(|(now, then)| *now > then)
    }

    fn break_session(&mut self) {
        self.session = None;
        self.state = ClientState::Broken;
    }

    /// Drops the session and handshakes again; the state becomes the
    /// connect result.
    fn reconnect(&mut self) -> Result<(), CallError> {
        self.session = None;
        self.connect().map_err(CallError::Reconnect)?;
        self.reconnects += 1;
        Ok(())
    }

    fn attempt(&mut self, out: Outgoing) -> Result<Header, AttemptError> {
        let session = match self.session.as_mut() {
            Some(s) => s,
            None => return Err(AttemptError::Failure(CallError::NotReady(self.state))),
        };
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        let len = self.request.len() as u32;
        if let Some(n) = out.batch {
            if n > session.negotiated().agreed_max_request_batch_items {
                return Err(AttemptError::Overflow(Overflow::Batch(n)));
            }
        }
        let header = match out.batch {
            Some(n) => Header::batch_request(K::METHOD, len, n, id),
            None => Header::request(K::METHOD, len, id),
        };
        let response = match session.call(&header, &self.request) {
            Ok(h) => h,
            Err(SessionError::RequestTooLarge { len, .. }) => {
                return Err(AttemptError::Overflow(Overflow::Request(len)))
            }
            Err(e) => return Err(AttemptError::Failure(CallError::Session(Arc::new(e)))),
        };
        if response.code != K::METHOD.code() {
            return Err(AttemptError::Failure(CallError::Mismatch(
                "response carries another method code",
            )));
        }
        match response.status() {
            Ok(Status::Ok) => {}
            Ok(Status::LimitExceeded) => return Err(AttemptError::Overflow(Overflow::Response)),
            Ok(status) => return Err(AttemptError::Failure(CallError::Status(status))),
            Err(_) => {
                return Err(AttemptError::Failure(CallError::UnknownStatus(
                    response.transport_status,
                )))
            }
        }
        if let Some(n) = out.batch {
            if !response.is_batch() || response.item_count != n {
                return Err(AttemptError::Failure(CallError::Mismatch(
                    "batch response item count differs from the request",
                )));
            }
        }
        Ok(response)
    }

    /// Payload of the last successful call's response.
    pub(crate) fn payload(&self) -> &[u8] {
        self.session.as_ref().map_or(&[], |s| s.payload())
    }
}

/// The state a failed connect leaves (PROTOCOL.md §10.1).
fn state_after(failure: ConnectFailure) -> ClientState {
    match failure {
        ConnectFailure::NotFound => ClientState::NotFound,
        ConnectFailure::AuthFailed => ClientState::AuthFailed,
        ConnectFailure::Incompatible => ClientState::Incompatible,
        _ => ClientState::Disconnected,
    }
}
