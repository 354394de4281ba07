//! Lookup providers: CGROUPS_LOOKUP and APPS_LOOKUP servers whose C
//! handler reads the request keys and answers each through a reply.

use std::ffi::c_void;

use crate::adapter::lookup::{
    start_apps_lookup, start_cgroups_lookup, AppAnswer, LookupSink, RequestKeys,
};
use crate::args;
use crate::ffi_server::{handler_result, netipc_server_config, start_server, StartArgs};
use crate::ffi_server_lifecycle::netipc_server;
use crate::result::*;

/// The keys of one lookup request (opaque, lent to the handler for the
/// duration of one call; never keep it or the strings it lends): cgroup
/// paths for CGROUPS_LOOKUP, PIDs for APPS_LOOKUP.
pub struct netipc_lookup_request {
    _opaque: [u8; 0],
}

/// The response a lookup handler fills (opaque, lent to the handler for
/// the duration of one call; never keep it).
pub struct netipc_lookup_reply {
    _opaque: [u8; 0],
}

/// A lookup handler (CGROUPS_LOOKUP or APPS_LOOKUP): read the keys with
/// `netipc_lookup_request_count()` and `netipc_lookup_request_path()` /
/// `netipc_lookup_request_pid()`, answer every key in order with one
/// `netipc_lookup_reply_add_*()` call each (labels staged before with
/// `netipc_lookup_reply_add_label()`), optionally set the generation, and
/// return `NETIPC_OK`.
///
/// The reply applies the session's response limit itself. An add returns
/// `NETIPC_ERR_OVERFLOW` when the answer did not fit and a placeholder was
/// sent instead; once `netipc_lookup_reply_exceeded()` is true every later
/// key is sent as "ask again" whatever is added, so the handler may stop
/// and return `NETIPC_OK`: the library completes the response and the
/// client asks for the rest in its next request. Returning `NETIPC_OK`
/// with keys unanswered while the response still has room, or returning
/// any other value, makes the library answer INTERNAL_ERROR. Runs on a
/// worker thread, concurrently with other sessions' calls: `ctx` is shared
/// by all of them.
pub type netipc_lookup_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        request: *const netipc_lookup_request,
        reply: *mut netipc_lookup_reply,
    ) -> netipc_result,
>;

/// Starts a provider of one lookup kind with the C handler `f`.
fn start_lookup(
    a: StartArgs,
    handler: netipc_lookup_fn,
    ctx: *mut c_void,
    apps: bool,
) -> netipc_result {
    start_server(a, handler, ctx, |endpoint, settings, f, ctx| {
        let serve = move |keys: &RequestKeys<'_>, sink: &mut LookupSink<'_, '_, '_>| {
            let ctx = ctx;
            let request = (keys as *const RequestKeys<'_>).cast::<netipc_lookup_request>();
            let reply = (sink as *mut LookupSink<'_, '_, '_>).cast::<netipc_lookup_reply>();
            // SAFETY: the plugin's handler with its context, and a request
            // and reply valid for this call, as the header documents.
            handler_result(unsafe { f(ctx.0, request, reply) })
        };
        if apps {
            start_apps_lookup(endpoint, settings, serve)
        } else {
            start_cgroups_lookup(endpoint, settings, serve)
        }
    })
}

/// Starts a CGROUPS_LOOKUP provider (the cgroups collector's, endpoint
/// `cgroups-lookup`); as `netipc_server_start_increment()` with a
/// `netipc_lookup_fn` handler, called once per request. It announces a
/// 64 KiB response limit, enough for the worst case of a full request.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_start_cgroups_lookup(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    handler: netipc_lookup_fn,
    ctx: *mut c_void,
    server: *mut *mut netipc_server,
) -> netipc_result {
    // SAFETY: the caller's pointers obey the header's contract.
    let a = unsafe { StartArgs::new(run_dir, run_dir_len, service, service_len, config, server) };
    start_lookup(a, handler, ctx, false)
}

/// Starts an APPS_LOOKUP provider (the apps collector's, endpoint
/// `apps-lookup`); as `netipc_server_start_cgroups_lookup()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_server_start_apps_lookup(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_server_config,
    handler: netipc_lookup_fn,
    ctx: *mut c_void,
    server: *mut *mut netipc_server,
) -> netipc_result {
    // SAFETY: the caller's pointers obey the header's contract.
    let a = unsafe { StartArgs::new(run_dir, run_dir_len, service, service_len, config, server) };
    start_lookup(a, handler, ctx, true)
}

/// Reads the request behind a handle.
///
/// # Safety
///
/// `request` is NULL or the request lent to a running handler.
unsafe fn keys<'a>(request: *const netipc_lookup_request) -> Result<&'a RequestKeys<'a>, Failure> {
    // SAFETY: a request lent to the running handler is a RequestKeys that
    // outlives the handler call (start_lookup).
    unsafe { args::handle(request.cast::<RequestKeys<'_>>(), "request") }
}

/// Number of keys in the request (0 for NULL). The response must hold one
/// answer per key, in order.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_request_count(
    request: *const netipc_lookup_request,
) -> usize {
    guard_value(0, || {
        // SAFETY: forwarded contract.
        unsafe { keys(request) }.map_or(0, |k| k.len())
    })
}

/// Key `index` of a CGROUPS_LOOKUP request: `*path` / `*path_len` receive
/// the cgroup path (non-empty, no NUL, not NUL-terminated), valid during
/// the handler call. `NETIPC_ERR_INVALID_ARGUMENT` for a NULL argument, an
/// index past the end or an APPS_LOOKUP request.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_request_path(
    request: *const netipc_lookup_request,
    index: usize,
    path: *mut *const u8,
    path_len: *mut usize,
) -> netipc_result {
    guard(|| {
        args::require(path, "path")?;
        args::require(path_len, "path_len")?;
        // SAFETY: forwarded contract.
        let p = unsafe { keys(request) }?.path(index)?;
        // SAFETY: checked non-NULL above.
        unsafe {
            args::put(path, p.as_ptr(), "path")?;
            args::put(path_len, p.len(), "path_len")
        }
    })
}

/// Key `index` of an APPS_LOOKUP request: `*pid` receives the PID.
/// `NETIPC_ERR_INVALID_ARGUMENT` for a NULL argument, an index past the end
/// or a CGROUPS_LOOKUP request.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_request_pid(
    request: *const netipc_lookup_request,
    index: usize,
    pid: *mut u32,
) -> netipc_result {
    guard(|| {
        args::require(pid, "pid")?;
        // SAFETY: forwarded contract.
        let value = unsafe { keys(request) }?.pid(index)?;
        // SAFETY: checked non-NULL above.
        unsafe { args::put(pid, value, "pid") }
    })
}

/// Runs `body` on the sink behind a reply.
unsafe fn with_reply(
    reply: *mut netipc_lookup_reply,
    body: impl FnOnce(&mut LookupSink<'_, '_, '_>) -> Result<(), Failure>,
) -> netipc_result {
    guard(|| {
        // SAFETY: a reply lent to the running handler is a LookupSink that
        // outlives the handler call (start_lookup).
        let sink = unsafe { args::handle_mut(reply.cast::<LookupSink<'_, '_, '_>>(), "reply") }?;
        body(sink)
    })
}

/// Stages a label (`key` non-empty, neither with a NUL) for the next
/// answer added: the next `netipc_lookup_reply_add_*()` call takes every
/// label staged since the previous one, whatever its outcome. Labels are
/// only valid on a known cgroup (a known CGROUPS_LOOKUP answer, or a known
/// process whose cgroup status is `NETIPC_APP_CGROUP_KNOWN`); the add
/// refuses them otherwise. The bytes are copied.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_add_label(
    reply: *mut netipc_lookup_reply,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
) -> netipc_result {
    // SAFETY: forwarded contract; `key_len` / `value_len` readable bytes.
    unsafe {
        with_reply(reply, |sink| {
            let key = args::bytes(key, key_len, "key")?;
            let value = args::bytes(value, value_len, "value")?;
            sink.stage_label(key, value);
            Ok(())
        })
    }
}

/// Answers the next key of a CGROUPS_LOOKUP request as known: its
/// `orchestrator` (`NETIPC_ORCHESTRATOR_*`), its `name` (may be empty, no
/// NUL) and the staged labels.
///
/// Returns `NETIPC_OK` when the answer was added; `NETIPC_ERR_OVERFLOW`
/// when it did not fit and a placeholder answers the key instead (check
/// `netipc_lookup_reply_exceeded()`: when true, stop); and
/// `NETIPC_ERR_INVALID_ARGUMENT`, with nothing added, for an answer that
/// breaks a rule (a NUL in a string, an empty label key), when every key
/// already has an answer, or on an APPS_LOOKUP reply.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_add_cgroup_known(
    reply: *mut netipc_lookup_reply,
    orchestrator: u32,
    name: *const u8,
    name_len: usize,
) -> netipc_result {
    // SAFETY: forwarded contract; `name_len` readable bytes.
    unsafe {
        with_reply(reply, |sink| {
            let name = args::bytes(name, name_len, "name");
            match name {
                Ok(name) => sink.add_cgroup(0, orchestrator, name),
                Err(e) => {
                    sink.clear_labels();
                    Err(e)
                }
            }
        })
    }
}

/// Answers the next key of a CGROUPS_LOOKUP request as not known:
/// `status` is `NETIPC_CGROUP_UNKNOWN_RETRY_LATER` or
/// `NETIPC_CGROUP_UNKNOWN_PERMANENT`. Results as for
/// `netipc_lookup_reply_add_cgroup_known()` (labels staged are refused).
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_add_cgroup_unknown(
    reply: *mut netipc_lookup_reply,
    status: u32,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_reply(reply, |sink| {
            if status == 0 {
                sink.clear_labels();
                return Err(Failure::invalid(
                    "status 0 is KNOWN; use netipc_lookup_reply_add_cgroup_known()",
                ));
            }
            sink.add_cgroup(status, 0, b"")
        })
    }
}

/// Answers the next key of an APPS_LOOKUP request as a known process:
/// `ppid` (0 if unknown), `uid` (`NETIPC_UID_UNSET` if unknown),
/// `starttime`, `comm` (1 to 15 bytes), and its cgroup: `cgroup_status`
/// (`NETIPC_APP_CGROUP_*`), `orchestrator`, `cgroup_path` (non-empty when
/// known or permanent, empty for the host root), `cgroup_name` and the
/// staged labels (only for a known cgroup). Results as for
/// `netipc_lookup_reply_add_cgroup_known()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_add_app_known(
    reply: *mut netipc_lookup_reply,
    ppid: u32,
    uid: u32,
    starttime: u64,
    comm: *const u8,
    comm_len: usize,
    cgroup_status: u32,
    orchestrator: u32,
    cgroup_path: *const u8,
    cgroup_path_len: usize,
    cgroup_name: *const u8,
    cgroup_name_len: usize,
) -> netipc_result {
    // SAFETY: forwarded contract; each length is readable at its pointer.
    unsafe {
        with_reply(reply, |sink| {
            let strings = (|| {
                Ok::<_, Failure>((
                    args::bytes(comm, comm_len, "comm")?,
                    args::bytes(cgroup_path, cgroup_path_len, "cgroup_path")?,
                    args::bytes(cgroup_name, cgroup_name_len, "cgroup_name")?,
                ))
            })();
            match strings {
                Ok((comm, cgroup_path, cgroup_name)) => sink.add_app(Some(&AppAnswer {
                    ppid,
                    uid,
                    starttime,
                    comm,
                    cgroup_status,
                    orchestrator,
                    cgroup_path,
                    cgroup_name,
                })),
                Err(e) => {
                    sink.clear_labels();
                    Err(e)
                }
            }
        })
    }
}

/// Answers the next key of an APPS_LOOKUP request as an unknown PID.
/// Results as for `netipc_lookup_reply_add_cgroup_known()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_add_app_unknown(
    reply: *mut netipc_lookup_reply,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe { with_reply(reply, |sink| sink.add_app(None)) }
}

/// True once the response is full: every later key is sent as "ask
/// again" (PAYLOAD_EXCEEDED) whatever is added, so the handler can stop
/// and return `NETIPC_OK`. False for NULL.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_exceeded(reply: *const netipc_lookup_reply) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or a reply lent to the running handler.
        unsafe { reply.cast::<LookupSink<'_, '_, '_>>().as_ref() }
            .is_some_and(LookupSink::is_exceeded)
    })
}

/// Sets the response's generation (default 0): a number the provider
/// moves when what it knows changes, so clients can tell stale cached
/// answers.
#[no_mangle]
pub unsafe extern "C" fn netipc_lookup_reply_set_generation(
    reply: *mut netipc_lookup_reply,
    generation: u64,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_reply(reply, |sink| {
            sink.set_generation(generation);
            Ok(())
        })
    }
}
