//! Providers: a managed server for one service kind, answering with a C
//! handler, on threads the library starts.

use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::adapter::server::{
    start_increment, start_snapshot, start_string_reverse, Running, ServerSettings, SnapshotSink,
    StatsData,
};
use crate::adapter::{check_profiles, Endpoint};
use crate::args;
use crate::result::*;

/// Server counter: sessions being served now.
pub const NETIPC_SERVER_STAT_ACTIVE_SESSIONS: u32 = 0;
/// Server counter: sessions that completed the handshake.
pub const NETIPC_SERVER_STAT_SESSIONS_SERVED: u32 = 1;
/// Server counter: handshakes that failed or were rejected (wrong token,
/// no common profile) and sessions turned away (all workers busy).
pub const NETIPC_SERVER_STAT_SESSIONS_REFUSED: u32 = 2;
/// Server counter: requests answered.
pub const NETIPC_SERVER_STAT_REQUESTS: u32 = 3;
/// Server counter: handler calls that failed (answered INTERNAL_ERROR).
pub const NETIPC_SERVER_STAT_HANDLER_FAILURES: u32 = 4;

/// Settings of a provider (opaque). Create with
/// `netipc_server_config_new()`, adjust with the setters, pass to a
/// `netipc_server_start_*()` function (which copies it), free with
/// `netipc_server_config_free()`. Not synchronized.
#[derive(Debug)]
pub struct netipc_server_config {
    settings: ServerSettings,
}

/// A running provider (opaque): a listening socket, an acceptor thread and
/// one worker thread per session, all started by the library. Its
/// functions may be called from any thread.
#[derive(Debug)]
pub struct netipc_server {
    phase: Mutex<Phase>,
    done: Arc<Done>,
    /// The counters when stopping began.
    final_stats: Mutex<StatsData>,
}

#[derive(Debug)]
enum Phase {
    Running(Running),
    Stopping(JoinHandle<()>),
    Stopped,
}

#[derive(Debug, Default)]
struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn finish(&self) {
        *lock(&self.finished) = true;
        self.cv.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Updates under these locks are single assignments; a caught panic
    // cannot leave them half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The snapshot response a CGROUPS_SNAPSHOT handler fills (opaque, lent to
/// the handler for the duration of one call; never keep it).
pub struct netipc_snapshot_builder {
    _opaque: [u8; 0],
}

/// The answer a STRING_REVERSE handler fills (opaque, lent to the handler
/// for the duration of one call; never keep it).
pub struct netipc_string_builder {
    _opaque: [u8; 0],
}

/// An INCREMENT handler: answer `value` (normally with `value + 1`) through
/// `*answer` and return `NETIPC_OK`. Any other return value makes the
/// library answer INTERNAL_ERROR. Runs on a worker thread, concurrently
/// with other sessions' calls: `ctx` is shared by all of them.
pub type netipc_increment_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, value: u64, answer: *mut u64) -> netipc_result>;

/// A STRING_REVERSE handler: `len` bytes of UTF-8 at `s` (valid during the
/// call only); append the answer with `netipc_string_builder_append()` and
/// return `NETIPC_OK`. Any other return value, or an answer that is not
/// UTF-8, makes the library answer INTERNAL_ERROR. Concurrency as for
/// `netipc_increment_fn`.
pub type netipc_string_reverse_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        s: *const u8,
        len: usize,
        answer: *mut netipc_string_builder,
    ) -> netipc_result,
>;

/// A CGROUPS_SNAPSHOT handler: call `netipc_snapshot_builder_begin()`
/// once, then `netipc_snapshot_builder_add()` per cgroup, and return
/// `NETIPC_OK`: the items added are sent. When an add returns
/// `NETIPC_ERR_OVERFLOW`, the snapshot is full; returning `NETIPC_OK` then
/// sends what fits. Any other return value, or returning without
/// `begin`, makes the library answer INTERNAL_ERROR. Concurrency as for
/// `netipc_increment_fn`.
pub type netipc_snapshot_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, builder: *mut netipc_snapshot_builder) -> netipc_result,
>;

/// The plugin's context pointer, handed to its handler on worker threads.
#[derive(Clone, Copy)]
pub(crate) struct UserCtx(pub(crate) *mut c_void);

// SAFETY: the library never dereferences `ctx`; it only passes it back to
// the plugin's handler. The header requires handlers (and so their use of
// ctx) to be safe to run from several worker threads at once.
unsafe impl Send for UserCtx {}
// SAFETY: as above; sharing the pointer value between threads is the
// documented contract.
unsafe impl Sync for UserCtx {}

fn handler_error(code: netipc_result) -> String {
    let mut len = 0;
    // SAFETY: `len` is a valid out-pointer; the name is static text of
    // `len` bytes.
    let name = unsafe { std::slice::from_raw_parts(netipc_result_name(code, &mut len), len) };
    format!("the handler returned {}", String::from_utf8_lossy(name))
}

/// Creates a provider configuration with the auth token `token` and the
/// defaults: 2 workers (sessions served at once), profiles UDS and
/// shared memory (shared memory preferred), snapshot responses up to 1 MiB,
/// socket mode 0600. `*config` receives a handle owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_new(
    token: u64,
    config: *mut *mut netipc_server_config,
) -> netipc_result {
    guard(|| {
        let value = netipc_server_config {
            settings: ServerSettings::new(token),
        };
        // SAFETY: checked for NULL inside; writable per the contract.
        unsafe { args::put_box(config, value, "config") }
    })
}

/// Runs `body` on a live, mutable server config.
unsafe fn with_config(
    config: *mut netipc_server_config,
    body: impl FnOnce(&mut ServerSettings) -> Result<(), Failure>,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        body(&mut config.settings)
    })
}

/// Sets how many sessions are served at once, each on its own worker
/// thread (at least 1). A client beyond that completes its handshake and
/// is then disconnected.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_workers(
    config: *mut netipc_server_config,
    workers: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            if workers == 0 {
                return Err(Failure::invalid("workers must be at least 1"));
            }
            s.workers = workers;
            Ok(())
        })
    }
}

/// Sets the profiles offered (`supported`, a non-empty OR of
/// `NETIPC_PROFILE_*`) and preferred (a subset of `supported`).
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_profiles(
    config: *mut netipc_server_config,
    supported: u32,
    preferred: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            check_profiles(supported, preferred)?;
            s.profiles = supported;
            s.preferred = preferred;
            Ok(())
        })
    }
}

/// Caps the size of a snapshot response, in bytes (at least 24, the empty
/// snapshot): `netipc_snapshot_builder_add()` returns
/// `NETIPC_ERR_OVERFLOW` for an item that would go past it. Default 1 MiB,
/// the largest response a client of this version accepts.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_max_response_bytes(
    config: *mut netipc_server_config,
    bytes: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            if bytes < 24 {
                return Err(Failure::invalid(
                    "the response cap must be at least 24 bytes",
                ));
            }
            s.max_response = bytes;
            Ok(())
        })
    }
}

/// Sets the largest request a client may propose, in bytes (0: 1024, the
/// default). A client proposing more is refused at the handshake; raise
/// it for clients that send large batches.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_max_request_bytes(
    config: *mut netipc_server_config,
    bytes: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            s.max_request = bytes;
            Ok(())
        })
    }
}

/// Sets the permission bits of the socket file (default 0600: only the
/// same user, or root, can connect). At most 0777.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_socket_mode(
    config: *mut netipc_server_config,
    mode: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            if mode > 0o777 {
                return Err(Failure::invalid(format!(
                    "socket mode {mode:#o} is over 0777"
                )));
            }
            s.socket_mode = mode;
            Ok(())
        })
    }
}

/// Frees a provider configuration. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_free(config: *mut netipc_server_config) {
    guard_value((), || {
        // SAFETY: NULL or a handle from netipc_server_config_new().
        unsafe { args::free_box(config) }
    })
}

/// Where and how to start a provider: the arguments every start function
/// shares, as C passed them. Built only by the `unsafe` [`StartArgs::new`],
/// whose caller vouches for the pointers.
pub(crate) struct StartArgs {
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    server: *mut *mut netipc_server,
}

impl StartArgs {
    /// # Safety
    ///
    /// The pointers obey the header's contract: `run_dir` / `service` are
    /// NULL or point to that many readable bytes, `config` is NULL or a live
    /// config handle, `server` is NULL or writable.
    pub(crate) unsafe fn new(
        run_dir: *const u8,
        run_dir_len: usize,
        service: *const u8,
        service_len: usize,
        config: *const netipc_server_config,
        server: *mut *mut netipc_server,
    ) -> StartArgs {
        StartArgs {
            run_dir,
            run_dir_len,
            service,
            service_len,
            config,
            server,
        }
    }
}

/// Checks the shared arguments and the handler, starts the server with
/// `start` (given the endpoint, the settings, the handler and the plugin's
/// context) and hands C the new handle.
pub(crate) fn start_server<F>(
    a: StartArgs,
    handler: Option<F>,
    ctx: *mut c_void,
    start: impl FnOnce(&Endpoint, &ServerSettings, F, UserCtx) -> Result<Running, Failure>,
) -> netipc_result {
    guard(|| {
        args::require(a.server, "server")?;
        // SAFETY: vouched for by the caller of StartArgs::new().
        let (dir, service, config) = unsafe {
            (
                args::bytes(a.run_dir, a.run_dir_len, "run_dir")?,
                args::bytes(a.service, a.service_len, "service")?,
                args::handle(a.config, "config")?,
            )
        };
        let endpoint = Endpoint::new(dir, service)?;
        let f = handler.ok_or_else(|| Failure::invalid("handler is NULL"))?;
        let running = start(&endpoint, &config.settings, f, UserCtx(ctx))?;
        let value = netipc_server {
            phase: Mutex::new(Phase::Running(running)),
            done: Arc::new(Done::default()),
            final_stats: Mutex::new(StatsData::default()),
        };
        // SAFETY: checked non-NULL above; writable per StartArgs::new().
        unsafe { args::put_box(a.server, value, "server") }
    })
}

/// What a handler's return value means to the library.
pub(crate) fn handler_result(rc: netipc_result) -> Result<(), String> {
    if rc == NETIPC_OK {
        Ok(())
    } else {
        Err(handler_error(rc))
    }
}

/// Starts an INCREMENT provider at `{run_dir}/{service}.sock` (arguments as
/// for `netipc_client_new()`; `config` is copied). Removes shared-memory
/// files a crashed predecessor left, binds the socket, and returns once it
/// listens; sessions are then served on library threads, each request by
/// `handler(ctx, ...)`.
///
/// `ctx` is passed through untouched; it must stay valid until
/// `netipc_server_stop()` returned `NETIPC_OK` or `netipc_server_free()`
/// returned. Fails with `NETIPC_ERR_ADDRESS_IN_USE` when a live provider
/// already serves the endpoint (a stale socket is replaced),
/// `NETIPC_ERR_PERMISSION_DENIED` / `NETIPC_ERR_IO` when the run directory
/// is not usable. `*server` receives a handle owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_start_increment(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    handler: netipc_increment_fn,
    ctx: *mut c_void,
    server: *mut *mut netipc_server,
) -> netipc_result {
    // SAFETY: the caller's pointers obey the header's contract.
    let a = unsafe { StartArgs::new(run_dir, run_dir_len, service, service_len, config, server) };
    start_server(a, handler, ctx, |endpoint, settings, f, ctx| {
        start_increment(endpoint, settings, move |value| {
            let ctx = ctx;
            let mut answer = 0u64;
            // SAFETY: the plugin's handler with its own context and a
            // valid out-pointer, as the header documents.
            handler_result(unsafe { f(ctx.0, value, &mut answer) }).map(|()| answer)
        })
    })
}

/// Starts a STRING_REVERSE provider; as `netipc_server_start_increment()`
/// with a `netipc_string_reverse_fn` handler.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_start_string_reverse(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    handler: netipc_string_reverse_fn,
    ctx: *mut c_void,
    server: *mut *mut netipc_server,
) -> netipc_result {
    // SAFETY: the caller's pointers obey the header's contract.
    let a = unsafe { StartArgs::new(run_dir, run_dir_len, service, service_len, config, server) };
    start_server(a, handler, ctx, |endpoint, settings, f, ctx| {
        start_string_reverse(endpoint, settings, move |s, answer| {
            let ctx = ctx;
            let builder = (answer as *mut Vec<u8>).cast::<netipc_string_builder>();
            // SAFETY: the plugin's handler with its context, `s.len()`
            // readable bytes and a builder valid for this call.
            handler_result(unsafe { f(ctx.0, s.as_ptr(), s.len(), builder) })
        })
    })
}

/// Starts a CGROUPS_SNAPSHOT provider; as `netipc_server_start_increment()`
/// with a `netipc_snapshot_fn` handler, called once per request.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_start_snapshot(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    handler: netipc_snapshot_fn,
    ctx: *mut c_void,
    server: *mut *mut netipc_server,
) -> netipc_result {
    // SAFETY: the caller's pointers obey the header's contract.
    let a = unsafe { StartArgs::new(run_dir, run_dir_len, service, service_len, config, server) };
    start_server(a, handler, ctx, |endpoint, settings, f, ctx| {
        start_snapshot(endpoint, settings, move |sink| {
            let ctx = ctx;
            let builder = (sink as *mut SnapshotSink<'_>).cast::<netipc_snapshot_builder>();
            // SAFETY: the plugin's handler with its context and a
            // builder valid for this call.
            handler_result(unsafe { f(ctx.0, builder) })
        })
    })
}

/// Appends `len` bytes at `s` to a STRING_REVERSE answer.
#[no_mangle]
pub unsafe extern "C" fn netipc_string_builder_append(
    builder: *mut netipc_string_builder,
    s: *const u8,
    len: usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a builder lent to the running handler is a Vec<u8> (see
        // netipc_server_start_string_reverse); `len` readable bytes at `s`.
        let (out, s) = unsafe {
            (
                args::handle_mut(builder.cast::<Vec<u8>>(), "builder")?,
                args::bytes(s, len, "s")?,
            )
        };
        out.extend_from_slice(s);
        Ok(())
    })
}

/// Runs `body` on the sink behind a snapshot builder.
unsafe fn with_sink(
    builder: *mut netipc_snapshot_builder,
    body: impl FnOnce(&mut SnapshotSink<'_>) -> Result<(), Failure>,
) -> netipc_result {
    guard(|| {
        // SAFETY: a builder lent to the running handler is a SnapshotSink
        // that outlives the handler call (netipc_server_start_snapshot).
        let sink = unsafe { args::handle_mut(builder.cast::<SnapshotSink<'_>>(), "builder") }?;
        body(sink)
    })
}

/// Starts the snapshot: its `systemd_enabled` and `generation` header
/// fields, and how many items are expected (`item_hint`, only a sizing
/// hint). Must be called exactly once, before any add.
#[no_mangle]
pub unsafe extern "C" fn netipc_snapshot_builder_begin(
    builder: *mut netipc_snapshot_builder,
    systemd_enabled: u32,
    generation: u64,
    item_hint: usize,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe { with_sink(builder, |s| s.begin(systemd_enabled, generation, item_hint)) }
}

/// Adds one cgroup: the producer's `hash` of its name, `options` and
/// `enabled` flags, its `name` and `path` (raw bytes with lengths, no NUL
/// inside: `NETIPC_ERR_INVALID_ARGUMENT` otherwise). Returns
/// `NETIPC_ERR_OVERFLOW` when the item would push the response past the
/// configured cap: nothing is added, and the items added so far can still
/// be sent.
#[no_mangle]
pub unsafe extern "C" fn netipc_snapshot_builder_add(
    builder: *mut netipc_snapshot_builder,
    hash: u32,
    options: u32,
    enabled: u32,
    name: *const u8,
    name_len: usize,
    path: *const u8,
    path_len: usize,
) -> netipc_result {
    // SAFETY: forwarded contract; `name_len` / `path_len` readable bytes.
    unsafe {
        with_sink(builder, |s| {
            let name = args::bytes(name, name_len, "name")?;
            let path = args::bytes(path, path_len, "path")?;
            s.add(hash, options, enabled, name, path)
        })
    }
}

/// Number of items added so far (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_snapshot_builder_count(
    builder: *const netipc_snapshot_builder,
) -> usize {
    guard_value(0, || {
        // SAFETY: NULL or a builder lent to the running handler.
        unsafe { builder.cast::<SnapshotSink<'_>>().as_ref() }.map_or(0, SnapshotSink::item_count)
    })
}

impl netipc_server {
    /// Begins stopping (once) and waits up to `timeout` for it to finish.
    fn stop(&self, timeout: Option<Duration>) -> Result<(), Failure> {
        {
            let mut phase = lock(&self.phase);
            if let Phase::Running(_) = &*phase {
                let Phase::Running(running) = std::mem::replace(&mut *phase, Phase::Stopped) else {
                    unreachable!("checked above");
                };
                *lock(&self.final_stats) = running.stats();
                let done = self.done.clone();
                let spawned = std::thread::Builder::new()
                    .name("netipc-stop".into())
                    .spawn(move || {
                        running.shutdown();
                        done.finish();
                    });
                match spawned {
                    Ok(handle) => *phase = Phase::Stopping(handle),
                    // The closure, and the server in it, were dropped,
                    // which stops the server on this thread.
                    Err(_) => self.done.finish(),
                }
            }
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut finished = lock(&self.done.finished);
        while !*finished {
            finished = match deadline {
                None => self
                    .done
                    .cv
                    .wait(finished)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Failure::new(
                            NETIPC_ERR_TIMEOUT,
                            "a handler is still running; the server keeps stopping",
                        ));
                    }
                    self.done
                        .cv
                        .wait_timeout(finished, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        drop(finished);
        let mut phase = lock(&self.phase);
        if let Phase::Stopping(_) = &*phase {
            if let Phase::Stopping(handle) = std::mem::replace(&mut *phase, Phase::Stopped) {
                // The thread has finished its work; this only reaps it.
                let _ = handle.join();
            }
        }
        Ok(())
    }
}

/// Stops the provider: no new connections (the socket is removed at once),
/// every session ends, shared-memory files are removed. Waits up to
/// `timeout_ms` milliseconds for handler calls in progress.
///
/// Returns `NETIPC_OK` when everything has stopped: no handler runs any
/// more and `ctx` may be freed. Returns `NETIPC_ERR_TIMEOUT` when a handler
/// is still running after `timeout_ms`; stopping goes on in the background,
/// and calling this again (or `netipc_server_free()`) waits for it.
/// Idle sessions end within about 100 ms. Calling it on a stopped server
/// returns `NETIPC_OK`. Must not be called from inside a handler.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_stop(
    server: *const netipc_server,
    timeout_ms: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live server handle per the contract.
        let server = unsafe { args::handle(server, "server") }?;
        server.stop(Some(Duration::from_millis(u64::from(timeout_ms))))
    })
}

/// Reads a counter (`NETIPC_SERVER_STAT_*`) into `*value`. After stopping
/// began, the counters are those at that moment.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_stat(
    server: *const netipc_server,
    which: u32,
    value: *mut u64,
) -> netipc_result {
    guard(|| {
        args::require(value, "value")?;
        // SAFETY: a live server handle per the contract.
        let server = unsafe { args::handle(server, "server") }?;
        let stats = match &*lock(&server.phase) {
            Phase::Running(running) => running.stats(),
            _ => *lock(&server.final_stats),
        };
        let v = match which {
            NETIPC_SERVER_STAT_ACTIVE_SESSIONS => stats.active_sessions,
            NETIPC_SERVER_STAT_SESSIONS_SERVED => stats.sessions_served,
            NETIPC_SERVER_STAT_SESSIONS_REFUSED => stats.sessions_refused,
            NETIPC_SERVER_STAT_REQUESTS => stats.requests,
            NETIPC_SERVER_STAT_HANDLER_FAILURES => stats.handler_failures,
            _ => return Err(Failure::invalid(format!("unknown server counter {which}"))),
        };
        // SAFETY: checked non-NULL above.
        unsafe { args::put(value, v, "value") }
    })
}

/// Stops the provider (waiting without limit for handlers in progress) and
/// frees it. NULL is ignored. When it returns no handler runs any more.
/// Must not be called from inside a handler; no other thread may use the
/// server during or after this call.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_free(server: *mut netipc_server) {
    guard_value((), || {
        // SAFETY: NULL or a live server handle per the contract.
        if let Some(s) = unsafe { server.as_ref() } {
            let _ = s.stop(None);
        }
        // SAFETY: NULL or a handle from a start function, not used again.
        unsafe { args::free_box(server) }
    })
}
