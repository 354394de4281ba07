//! The client context shared by every typed service: connection state,
//! refresh, status, the default call deadline and the abort handle. The
//! call itself (deadline, at-least-once retry, overflow recovery, size
//! learning) is `call.rs`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{DEFAULT_REQUEST_PAYLOAD, DEFAULT_RESPONSE_PAYLOAD};
use super::status::state_after;
use super::{CallError, ClientConfig, ClientError, ClientState, ClientStatus, NegotiatedLimits};
use crate::transport::{
    AbortHandle, ClientSession, ConnectError, Endpoint, HandshakeError, SessionConfig,
};
use crate::wire::{Method, Profiles};

// The typed service modules import the request descriptor from here.
pub(crate) use super::call::Outgoing;

/// Default deadline of one logical call, used when neither the context nor
/// the call sets one (PROTOCOL-LOOKUP §19.8).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Seals [`ServiceKind`]: only this crate's service modules implement it.
mod sealed {
    pub trait Sealed {}
    impl Sealed for super::super::increment::Increment {}
    impl Sealed for super::super::string_reverse::StringReverse {}
    impl Sealed for super::super::cgroups::CgroupsSnapshot {}
    impl Sealed for super::super::cgroups_lookup::CgroupsLookup {}
    impl Sealed for super::super::apps_lookup::AppsLookup {}
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

/// A client context for one service kind `K` at one endpoint.
///
/// Creating it does no I/O and cannot fail because the provider is absent;
/// [`Client::refresh`] connects and reconnects; calls (in the typed modules)
/// fail at once without I/O unless the context is Ready.
///
/// Every call is bounded by one deadline for the whole logical call
/// ([`ClientConfig::with_call_timeout`], default 5 s; per call
/// [`Client::call_with_timeout`]) and can be aborted from another thread
/// through [`Client::abort_handle`]. A call that times out or is aborted
/// fails with [`CallError::Timeout`] / [`CallError::Aborted`], is not
/// retried, and leaves the context Broken: the next `refresh()`
/// reconnects.
#[derive(Debug)]
pub struct Client<K: ServiceKind> {
    pub(super) endpoint: Endpoint,
    /// Built once from the [`ClientConfig`]; size learning and the
    /// shared-memory fallback update its proposal in place.
    pub(super) config: SessionConfig,
    /// [`ClientConfig::max_request_payload`], or 1024 / what the batch
    /// needs: the request proposal, which learning never raises.
    pub(super) request_ceiling: u32,
    pub(super) state: ClientState,
    pub(super) session: Option<ClientSession>,
    pub(super) next_message_id: u64,
    pub(super) connects: u64,
    pub(super) reconnects: u64,
    pub(super) calls: u64,
    pub(super) failures: u64,
    pub(super) overflow_recoveries: u64,
    pub(super) last_error: Option<ClientError>,
    pub(super) last_connect_error: Option<Arc<ConnectError>>,
    /// Deadline of a call when none is given (never zero).
    pub(super) call_timeout: Duration,
    /// Deadline of the logical call running now (`None` between calls).
    pub(super) call_deadline: Option<Instant>,
    pub(super) abort: AbortHandle,
    /// Reusable buffer the typed calls encode requests into.
    pub(crate) request: Vec<u8>,
    _kind: PhantomData<K>,
}

impl<K: ServiceKind> Client<K> {
    /// A context for `endpoint`. No I/O happens here: the session settings
    /// are built once, from `config` and the service's schema.
    pub fn new(endpoint: Endpoint, config: ClientConfig) -> Self {
        let batch = config.batch_items.max(1);
        let request_ceiling = match config.max_request_payload {
            0 if batch > 1 => K::request_bytes(batch).max(DEFAULT_REQUEST_PAYLOAD),
            0 => DEFAULT_REQUEST_PAYLOAD,
            n => n,
        };
        let mut session = config.session;
        let proposal = &mut session.proposal;
        // Propose the configured ceiling (PROTOCOL-LOOKUP.md §19.1) and
        // hint 65 536 response bytes (§19.9 item 5), or what a batch needs.
        proposal.max_request_payload = request_ceiling;
        proposal.max_response_payload = K::response_bytes(batch).max(DEFAULT_RESPONSE_PAYLOAD);
        proposal.max_request_batch_items = batch;
        proposal.max_response_batch_items = batch;
        Client {
            endpoint,
            config: session,
            request_ceiling,
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
            call_timeout: effective_timeout(config.call_timeout, DEFAULT_CALL_TIMEOUT),
            call_deadline: None,
            abort: AbortHandle::new(),
            request: Vec::new(),
            _kind: PhantomData,
        }
    }

    /// Connects or reconnects as the state requires; returns whether the
    /// state changed. Ready, AuthFailed and Incompatible are left alone,
    /// and nothing is done while the abort handle is aborted. A connection
    /// attempt takes at most the handshake timeout.
    pub fn refresh(&mut self) -> bool {
        if self.abort.is_aborted() {
            return false;
        }
        let before = self.state;
        match before {
            ClientState::Disconnected | ClientState::NotFound => {
                if self.connect(None).is_ok() {
                    self.connects += 1;
                }
            }
            ClientState::Broken => {
                self.session = None;
                if self.connect(None).is_ok() {
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

    /// A handle that aborts this context's calls from any thread (see
    /// [`AbortHandle`]). Every call returns a clone of the same handle.
    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }

    /// The default deadline of one call.
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// Sets the default deadline of one call; zero restores the default of
    /// 30 s.
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.call_timeout = effective_timeout(timeout, DEFAULT_CALL_TIMEOUT);
    }

    /// Runs `call` — one or more calls of this context — under one deadline
    /// of `timeout` from now instead of the default; zero means the
    /// context's default. Every chunk, shared-memory wait, retry and
    /// reconnect inside gets only the time left; when it runs out the call
    /// in progress fails with [`CallError::Timeout`]. Nested inside another
    /// `call_with_timeout`, the earlier deadline wins.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use netipc::service::increment::IncrementClient;
    /// # fn f(client: &mut IncrementClient) -> Result<(), netipc::service::CallError> {
    /// let answer = client.call_with_timeout(Duration::from_millis(200), |c| c.call(41))?;
    /// # Ok(()) }
    /// ```
    pub fn call_with_timeout<R>(
        &mut self,
        timeout: Duration,
        call: impl FnOnce(&mut Self) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        let timeout = effective_timeout(timeout, self.call_timeout);
        // A timeout too large for an instant means no deadline of its own.
        let mine = Instant::now().checked_add(timeout);
        let outer = self.call_deadline;
        self.call_deadline = match (outer, mine) {
            (Some(o), Some(m)) => Some(o.min(m)),
            (o, m) => o.or(m),
        };
        let result = call(self);
        self.call_deadline = outer;
        result
    }

    /// Runs `call` as one logical call: under the deadline already running,
    /// or else under a new one of the context's default. A typed call made
    /// of several exchanges (sub-calls) wraps them in this.
    #[allow(dead_code)] // used by typed calls made of several exchanges
    pub(crate) fn logical_call<R>(
        &mut self,
        call: impl FnOnce(&mut Self) -> Result<R, CallError>,
    ) -> Result<R, CallError> {
        if self.call_deadline.is_some() {
            call(self)
        } else {
            self.call_with_timeout(self.call_timeout, call)
        }
    }

    /// State, counters and the current session's negotiated values.
    pub fn status(&self) -> ClientStatus {
        let ack = self.session.as_ref().map(|s| *s.negotiated());
        let limits = self.session.as_ref().map(|s| *s.limits());
        ClientStatus {
            state: self.state,
            connects: self.connects,
            reconnects: self.reconnects,
            calls: self.calls,
            failures: self.failures,
            overflow_recoveries: self.overflow_recoveries,
            profile: ack.map(|a| a.selected_profile),
            session_id: ack.map(|a| a.session_id),
            limits: limits.map(|l| NegotiatedLimits {
                max_request_payload: l.max_send_payload,
                max_request_batch_items: l.max_send_items,
                max_response_payload: l.max_recv_payload,
                max_response_batch_items: l.max_recv_items,
                packet_size: l.packet_size,
            }),
            peer: self.session.as_ref().map(|s| s.peer()),
            request_proposal: self.config.proposal.max_request_payload,
            response_hint: self.config.proposal.max_response_payload,
            call_timeout: self.call_timeout,
            aborted: self.abort.is_aborted(),
            last_error: self.last_error.clone(),
            last_connect_error: self.last_connect_error.clone(),
        }
    }

    /// Closes the session (if any) and returns to Disconnected. Learned
    /// sizes are kept; AuthFailed / Incompatible are cleared. The abort
    /// handle is left as it is.
    pub fn close(&mut self) {
        self.session = None;
        self.state = ClientState::Disconnected;
    }

    /// One connect attempt (with the shared-memory fallback), ending at
    /// `until` at the latest. On failure the state is the one PROTOCOL.md
    /// §10.1 assigns to the error.
    ///
    /// A handshake rejected with LIMIT_EXCEEDED is retried once with a
    /// smaller request proposal (PROTOCOL-LOOKUP.md §19.1): the server's cap
    /// if its ACK named one, else the default 1024; the context's proposal
    /// itself is kept.
    pub(super) fn connect(&mut self, until: Option<Instant>) -> Result<(), Arc<ConnectError>> {
        self.state = ClientState::Connecting;
        let mut smaller: Option<SessionConfig> = None;
        loop {
            let config = smaller.as_ref().unwrap_or(&self.config);
            match ClientSession::connect_bounded(&self.endpoint, config, until, Some(&self.abort)) {
                Ok(session) => {
                    self.session = Some(session);
                    self.state = ClientState::Ready;
                    return Ok(());
                }
                Err(ConnectError::ShmAttach { .. } | ConnectError::ShmResponseOverCap { .. })
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
                    if let Some(c) = smaller.as_mut() {
                        c.proposal.supported = proposal.supported;
                        c.proposal.preferred = proposal.preferred;
                    }
                }
                Err(ConnectError::Handshake(HandshakeError::LimitRejected {
                    proposed,
                    server_cap,
                })) if smaller.is_none()
                    && server_cap.unwrap_or(DEFAULT_REQUEST_PAYLOAD).min(proposed) < proposed =>
                {
                    let mut c = self.config.clone();
                    c.proposal.max_request_payload =
                        server_cap.unwrap_or(DEFAULT_REQUEST_PAYLOAD).min(proposed);
                    smaller = Some(c);
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

    /// The current session's agreed request payload limit.
    pub(crate) fn agreed_request_limit(&self) -> Option<u32> {
        self.session
            .as_ref()
            .map(|s| s.negotiated().agreed_max_request_payload_bytes)
    }

    /// The request payload this context proposes.
    pub(crate) fn request_proposal(&self) -> u32 {
        self.config.proposal.max_request_payload
    }

    /// Sets the request payload to propose from the next handshake on; it
    /// becomes this context's request ceiling (a lookup client configures
    /// its own, see `LookupConfig`).
    pub(crate) fn set_request_proposal(&mut self, bytes: u32) {
        self.config.proposal.max_request_payload = bytes;
        self.request_ceiling = bytes;
    }

    /// Reconnects, within the call's time, to obtain a request limit of at
    /// least `need` bytes (proposing `propose`); the new agreed limit, or
    /// the reason it did not grow enough, with the context Broken.
    pub(crate) fn grow_request_limit(
        &mut self,
        propose: u32,
        need: u64,
    ) -> Result<u32, Option<CallError>> {
        let before = self.agreed_request_limit().unwrap_or(0);
        // `propose` is within the caller's configured ceiling.
        let proposal = (self.config.proposal.max_request_payload).max(propose);
        self.set_request_proposal(proposal);
        let grown = match self.reconnect() {
            Ok(()) => self
                .agreed_request_limit()
                .filter(|&now| now > before && u64::from(now) >= need)
                .ok_or(None),
            Err(e) => Err(Some(e)),
        };
        if grown.is_err() {
            self.break_session();
        }
        grown
    }

    /// Payload of the last successful call's response.
    pub(crate) fn payload(&self) -> &[u8] {
        self.session.as_ref().map_or(&[], |s| s.payload())
    }
}

/// `timeout`, or `default` when it is zero.
fn effective_timeout(timeout: Duration, default: Duration) -> Duration {
    if timeout.is_zero() {
        default
    } else {
        timeout
    }
}
