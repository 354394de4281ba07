//! Managed servers for C handlers, and the snapshot builder they fill.

use netipc_core::auth::AuthToken;
use netipc_core::codec::cgroups::{CgroupItem, SnapshotBuilder};
use netipc_core::codec::CodecError;
use netipc_core::service::{
    cgroups, increment, string_reverse, Handler, HandlerError, ManagedServer, ServerConfig,
    ServerError, ServerRunner,
};
use netipc_core::wire::{Profiles, MAX_REQUEST_PAYLOAD};

use super::{endpoint_failure, error_text, Endpoint};
use crate::result::*;

/// Worker sessions a C provider serves at once unless told otherwise (what
/// the agent's plugins use).
pub(crate) const DEFAULT_WORKERS: u32 = 2;

/// Largest response a Rust client of this version renegotiates up to; the
/// default cap of the snapshot builder.
pub(crate) const DEFAULT_MAX_RESPONSE: u32 = MAX_REQUEST_PAYLOAD;

/// Server settings as C sets them.
#[derive(Debug, Clone)]
pub(crate) struct ServerSettings {
    pub token: u64,
    pub workers: u32,
    pub profiles: u32,
    pub preferred: u32,
    pub max_response: u32,
    pub socket_mode: u32,
    /// Largest request a client may propose (zero: the library's 1024).
    pub max_request: u32,
    /// The accept loop runs on a thread of the plugin
    /// (`netipc_server_run()`), not on one the library starts.
    pub caller_thread: bool,
}

impl ServerSettings {
    pub fn new(token: u64) -> Self {
        let defaults = ServerConfig::new(AuthToken::new(token));
        ServerSettings {
            token,
            workers: DEFAULT_WORKERS,
            profiles: defaults.session.policy.supported.bits(),
            preferred: defaults.session.policy.preferred.bits(),
            max_response: DEFAULT_MAX_RESPONSE,
            socket_mode: defaults.listener.socket_mode,
            max_request: defaults.session.policy.max_request_payload,
            caller_thread: false,
        }
    }

    fn config(&self) -> ServerConfig {
        ServerConfig::new(AuthToken::new(self.token))
            .with_max_sessions(self.workers as usize)
            .with_profiles(Profiles(self.profiles), Profiles(self.preferred))
            .with_socket_mode(self.socket_mode)
            .with_request_payload(self.max_request)
    }
}

/// Counters of a server, copied out.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StatsData {
    pub active_sessions: u64,
    pub sessions_served: u64,
    pub sessions_refused: u64,
    pub requests: u64,
    pub handler_failures: u64,
}

/// A running managed server, with its accept loop until the plugin's
/// thread takes it (servers started for a caller thread only).
#[derive(Debug)]
pub(crate) struct Running {
    server: ManagedServer,
    runner: Option<Runner>,
}

/// The accept loop of a server that runs on a thread of the plugin.
#[derive(Debug)]
pub(crate) struct Runner(ServerRunner);

impl Runner {
    /// Serves on the calling thread until the server is shut down and
    /// every session has ended. Dropping it unrun closes the listener.
    pub fn run(self) {
        self.0.run();
    }
}

impl Running {
    /// The accept loop, once, when the server was started for a caller
    /// thread; `None` when the library runs it.
    pub fn take_runner(&mut self) -> Option<Runner> {
        self.runner.take()
    }

    pub fn stats(&self) -> StatsData {
        let s = self.server.stats();
        StatsData {
            active_sessions: s.active_sessions as u64,
            sessions_served: s.sessions_served,
            sessions_refused: s.sessions_refused,
            requests: s.requests,
            handler_failures: s.handler_failures,
        }
    }

    /// Stops accepting, ends every session, removes the socket and the
    /// shared-memory files, and waits for every thread (so for every
    /// handler call in progress), including an accept loop running on the
    /// plugin's thread. An accept loop not taken yet is discarded.
    pub fn shutdown(self) {
        drop(self.runner);
        self.server.shutdown();
    }
}

/// Starts a managed server (binds it only, when its accept loop is to run
/// on the plugin's thread); `response_payload` is the response limit it
/// announces (0: the library's default).
pub(crate) fn start(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    response_payload: u32,
    handler: impl Handler,
) -> Result<Running, Failure> {
    let mut config = settings.config();
    if response_payload != 0 {
        config = config.with_response_payload(response_payload);
    }
    let started = if settings.caller_thread {
        ManagedServer::bind(endpoint.0.clone(), config, handler).map(|(server, runner)| Running {
            server,
            runner: Some(Runner(runner)),
        })
    } else {
        ManagedServer::start(endpoint.0.clone(), config, handler).map(|server| Running {
            server,
            runner: None,
        })
    };
    started.map_err(|e| match &e {
        ServerError::Endpoint(inner) => endpoint_failure(inner),
        _ => Failure::new(NETIPC_ERR_IO, error_text(&e)),
    })
}

/// Serves INCREMENT with `f`; an `Err` is answered INTERNAL_ERROR.
pub(crate) fn start_increment<F>(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    f: F,
) -> Result<Running, Failure>
where
    F: Fn(u64) -> Result<u64, String> + Send + Sync + 'static,
{
    start(
        endpoint,
        settings,
        0,
        increment::handler(move |v| f(v).map_err(HandlerError::new)),
    )
}

/// Serves STRING_REVERSE with `f`, which appends the answer to its buffer;
/// an `Err`, or an answer that is not UTF-8, is answered INTERNAL_ERROR.
pub(crate) fn start_string_reverse<F>(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    f: F,
) -> Result<Running, Failure>
where
    F: Fn(&[u8], &mut Vec<u8>) -> Result<(), String> + Send + Sync + 'static,
{
    start(
        endpoint,
        settings,
        0,
        string_reverse::handler(move |s| {
            let mut answer = Vec::new();
            f(s.as_bytes(), &mut answer).map_err(HandlerError::new)?;
            String::from_utf8(answer)
                .map_err(|_| HandlerError::new("the handler's answer is not UTF-8"))
        }),
    )
}

/// Serves CGROUPS_SNAPSHOT with `f`, which fills a [`SnapshotSink`]; an
/// `Err`, or a sink never begun, is answered INTERNAL_ERROR.
pub(crate) fn start_snapshot<F>(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    f: F,
) -> Result<Running, Failure>
where
    F: Fn(&mut SnapshotSink<'_>) -> Result<(), String> + Send + Sync + 'static,
{
    let limit = settings.max_response as usize;
    start(
        endpoint,
        settings,
        0,
        cgroups::handler(move |buf| {
            let mut sink = SnapshotSink {
                buf: Some(buf),
                builder: None,
                limit,
            };
            f(&mut sink).map_err(HandlerError::new)?;
            sink.finish().map_err(HandlerError::new)
        }),
    )
}

/// A snapshot response being built by a C handler: `begin` once, then
/// `add` items.
#[derive(Debug)]
pub(crate) struct SnapshotSink<'b> {
    buf: Option<&'b mut Vec<u8>>,
    builder: Option<SnapshotBuilder<'b>>,
    limit: usize,
}

impl SnapshotSink<'_> {
    pub fn begin(
        &mut self,
        systemd_enabled: u32,
        generation: u64,
        item_hint: usize,
    ) -> Result<(), Failure> {
        let buf = self
            .buf
            .take()
            .ok_or_else(|| Failure::invalid("the snapshot was already begun"))?;
        self.builder = Some(
            SnapshotBuilder::new(buf, systemd_enabled, generation, item_hint)
                .with_limit(self.limit),
        );
        Ok(())
    }

    pub fn add(
        &mut self,
        hash: u32,
        options: u32,
        enabled: u32,
        name: &[u8],
        path: &[u8],
    ) -> Result<(), Failure> {
        let builder = self
            .builder
            .as_mut()
            .ok_or_else(|| Failure::invalid("begin the snapshot before adding items"))?;
        builder
            .push(CgroupItem {
                hash,
                options,
                enabled,
                name,
                path,
            })
            .map_err(|e| {
                let code = match e {
                    CodecError::TooLarge { .. } | CodecError::FieldOverflow { .. } => {
                        NETIPC_ERR_OVERFLOW
                    }
                    CodecError::InteriorNul { .. } => NETIPC_ERR_INVALID_ARGUMENT,
                    _ => NETIPC_ERR_INTERNAL,
                };
                Failure::new(code, error_text(&e))
            })
    }

    pub fn item_count(&self) -> usize {
        self.builder.as_ref().map_or(0, SnapshotBuilder::item_count)
    }

    fn finish(self) -> Result<(), String> {
        let builder = self
            .builder
            .ok_or("the snapshot handler returned without beginning a snapshot")?;
        builder.finish().map(drop).map_err(|e| error_text(&e))
    }
}
