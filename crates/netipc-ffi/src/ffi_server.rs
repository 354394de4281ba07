//! Providers: a managed server for one service kind, answering with a C
//! handler; its configuration, the start functions and the builders its
//! handlers fill (the running server's functions: `ffi_server_lifecycle`).

use std::ffi::c_void;

use crate::adapter::server::{
    start_increment, start_snapshot, start_string_reverse, Running, ServerSettings, SnapshotSink,
};
use crate::adapter::{check_profiles, Endpoint};
use crate::args;
use crate::ffi_server_lifecycle::netipc_server;
use crate::result::*;

/// Settings of a provider (opaque). Create with
/// `netipc_server_config_new()`, adjust with the setters, pass to a
/// `netipc_server_start_*()` function (which copies it), free with
/// `netipc_server_config_free()`. Not synchronized.
#[derive(Debug)]
pub struct netipc_server_config {
    settings: ServerSettings,
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

/// Chooses the thread that accepts clients. `false` (the default): a
/// thread the library starts in `netipc_server_start_*()`. `true`: a
/// thread the plugin owns, which calls `netipc_server_run()`; the start
/// functions then only bind the socket (clients connecting before
/// `netipc_server_run()` wait, up to their handshake timeout). Sessions
/// are served on library worker threads either way.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_config_set_caller_thread(
    config: *mut netipc_server_config,
    caller_thread: bool,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_config(config, |s| {
            s.caller_thread = caller_thread;
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
        let value = netipc_server::new(running);
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
/// `handler(ctx, ...)`. With `netipc_server_config_set_caller_thread()`
/// nothing is served until a thread of the plugin calls
/// `netipc_server_run()`.
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
