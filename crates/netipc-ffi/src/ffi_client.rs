//! Level 2 clients: configuration, connection management and typed calls.

use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use crate::adapter::client::{Abort, AnyClient, ClientSettings};
use crate::adapter::{check_profiles, Endpoint, Kind};
use crate::args;
use crate::ffi_cgroups::netipc_cgroups;
use crate::ffi_lookup::{netipc_apps_lookup_result, netipc_cgroups_lookup_result};
use crate::result::*;

/// Service kind INCREMENT (a test and benchmark method: u64 in, u64 + 1
/// out). The service kinds are the protocol's method codes.
pub const NETIPC_SERVICE_INCREMENT: u32 = 1;
/// Service kind CGROUPS_SNAPSHOT (the cgroups collector's snapshot).
pub const NETIPC_SERVICE_CGROUPS_SNAPSHOT: u32 = 2;
/// Service kind STRING_REVERSE (a test method: a string in, reversed out).
pub const NETIPC_SERVICE_STRING_REVERSE: u32 = 3;
/// Service kind CGROUPS_LOOKUP (cgroup metadata by path; endpoint
/// `cgroups-lookup`).
pub const NETIPC_SERVICE_CGROUPS_LOOKUP: u32 = 4;
/// Service kind APPS_LOOKUP (process metadata by PID; endpoint
/// `apps-lookup`).
pub const NETIPC_SERVICE_APPS_LOOKUP: u32 = 5;

/// Transport profile bit: UDS SEQPACKET, the baseline every peer runs.
pub const NETIPC_PROFILE_UDS: u32 = 1;
/// Transport profile bit: shared memory, spin then futex.
pub const NETIPC_PROFILE_SHM_HYBRID: u32 = 2;
/// Transport profile bit: shared memory with futex waits (on Linux the
/// same data plane as `NETIPC_PROFILE_SHM_HYBRID`).
pub const NETIPC_PROFILE_SHM_FUTEX: u32 = 4;

/// Settings for clients and caches (opaque). Create with
/// `netipc_client_config_new()`, adjust with the setters, pass to
/// `netipc_client_new()` / `netipc_cache_new()` (which copy it), free with
/// `netipc_client_config_free()`. Not synchronized: do not modify one
/// config from two threads at once.
#[derive(Debug)]
pub struct netipc_client_config {
    settings: ClientSettings,
}

/// A Level 2 client context for one service at one endpoint (opaque).
///
/// All functions on one client are serialized by an internal lock, so a
/// client may be shared between threads; a call then waits for the one in
/// progress. Borrowed results (a string answer, a snapshot, a lookup
/// result) are replaced by the next call on the client, whichever thread
/// makes it.
#[derive(Debug)]
pub struct netipc_client {
    inner: Mutex<ClientInner>,
    /// Outside the lock, so another thread can abort a call in progress.
    abort: Abort,
}

#[derive(Debug)]
pub(crate) struct ClientInner {
    pub(crate) client: AnyClient,
    /// The last STRING_REVERSE answer.
    answer: Vec<u8>,
    /// Scratch space of batch calls.
    batch: Vec<u64>,
    /// The last snapshot, lent to C until the next call.
    snapshot: Option<Box<netipc_cgroups>>,
    /// The last CGROUPS_LOOKUP result, lent to C until the next call.
    pub(crate) cgroups_lookup: Option<Box<netipc_cgroups_lookup_result>>,
    /// The last APPS_LOOKUP result, lent to C until the next call.
    pub(crate) apps_lookup: Option<Box<netipc_apps_lookup_result>>,
}

impl netipc_client_config {
    pub(crate) fn settings(&self) -> &ClientSettings {
        &self.settings
    }
}

impl netipc_client {
    fn lock(&self) -> MutexGuard<'_, ClientInner> {
        // A panic inside is caught at the boundary and leaves the client in
        // a consistent state (every update is a single assignment).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a client configuration with the auth token `token` and the
/// defaults: profiles UDS and shared memory (shared memory preferred), handshake
/// timeout 5000 ms, response timeout 30000 ms, call timeout 30000 ms,
/// batches of 1.
///
/// On success `*config` receives a new handle owned by the caller (free it
/// with `netipc_client_config_free()`).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_new(
    token: u64,
    config: *mut *mut netipc_client_config,
) -> netipc_result {
    guard(|| {
        let value = netipc_client_config {
            settings: ClientSettings::new(token),
        };
        // SAFETY: `config` is checked for NULL inside; writable per contract.
        unsafe { args::put_box(config, value, "config") }
    })
}

/// Sets the profiles a client may run (`supported`, a non-empty OR of
/// `NETIPC_PROFILE_*`) and those it prefers (`preferred`, a subset of
/// `supported`). `NETIPC_PROFILE_UDS` alone disables shared memory.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_set_profiles(
    config: *mut netipc_client_config,
    supported: u32,
    preferred: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        check_profiles(supported, preferred)?;
        config.settings.profiles = supported;
        config.settings.preferred = preferred;
        Ok(())
    })
}

/// Sets the longest a connection attempt may take (connect, handshake,
/// shared-memory attach) and the longest wait for each response, in
/// milliseconds (both at least 1). The whole of one call is bounded by the
/// call timeout (`netipc_client_config_set_call_timeout()`).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_set_timeouts(
    config: *mut netipc_client_config,
    handshake_ms: u32,
    response_ms: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        let handshake = args::millis(handshake_ms, "handshake timeout")?;
        let response = args::millis(response_ms, "response timeout")?;
        config.settings.handshake_timeout = handshake;
        config.settings.response_timeout = response;
        Ok(())
    })
}

/// Sets the default deadline of one call, in milliseconds (0: the default,
/// 30000): everything a call does (every wait, its one retry, reconnects,
/// overflow renegotiations) shares it, and when it passes the call returns
/// `NETIPC_ERR_TIMEOUT` and the client needs a refresh. A call given its
/// own `timeout_ms` uses that instead.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_set_call_timeout(
    config: *mut netipc_client_config,
    call_ms: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        config.settings.call_timeout = Duration::from_millis(u64::from(call_ms));
        Ok(())
    })
}

/// Sets the largest request the client proposes and sends, in bytes (0:
/// automatic, 1024 or what a batch of the configured batch items needs).
/// A larger request fails with `NETIPC_ERR_OVERFLOW`. Providers refuse a
/// client that proposes more than their own maximum
/// (`netipc_server_config_set_max_request_bytes()`, default 1024), so raise
/// both together.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_set_max_request_bytes(
    config: *mut netipc_client_config,
    bytes: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        config.settings.max_request = bytes;
        Ok(())
    })
}

/// Sets the largest batch the caller intends to send with
/// `netipc_client_call_increment_batch()` (at least 1). It only sizes the
/// first size proposal: larger batches still work, after one
/// renegotiation.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_set_batch_items(
    config: *mut netipc_client_config,
    items: u32,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live config handle per the contract.
        let config = unsafe { args::handle_mut(config, "config") }?;
        if items == 0 {
            return Err(Failure::invalid("batch items must be at least 1"));
        }
        config.settings.batch_items = items;
        Ok(())
    })
}

/// Frees a client configuration. NULL is ignored. Clients and caches
/// created from it keep their own copy.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_config_free(config: *mut netipc_client_config) {
    guard_value((), || {
        // SAFETY: NULL or a handle from netipc_client_config_new(), not used
        // again per the contract.
        unsafe { args::free_box(config) }
    })
}

/// Creates a client of service kind `kind` (`NETIPC_SERVICE_*`) for the
/// endpoint `{run_dir}/{service}.sock`. No I/O happens: the client starts
/// disconnected, and `netipc_client_refresh()` connects. A missing provider
/// is therefore not an error here.
///
/// `run_dir` (`run_dir_len` bytes, no NUL inside) and `service`
/// (`service_len` bytes of `A-Z a-z 0-9 . _ -`) are copied, as is
/// `config`. On success `*client` receives a new handle owned by the caller
/// (free it with `netipc_client_free()`).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_new(
    kind: u32,
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_client_config,
    client: *mut *mut netipc_client,
) -> netipc_result {
    guard(|| {
        args::require(client, "client")?;
        let kind = Kind::from_code(kind)?;
        // SAFETY: pointers with lengths and a config handle per the contract.
        let (dir, service, config) = unsafe {
            (
                args::bytes(run_dir, run_dir_len, "run_dir")?,
                args::bytes(service, service_len, "service")?,
                args::handle(config, "config")?,
            )
        };
        let endpoint = Endpoint::new(dir, service)?;
        let client_inner = AnyClient::new(kind, &endpoint, &config.settings);
        let value = netipc_client {
            abort: client_inner.abort_handle(),
            inner: Mutex::new(ClientInner {
                client: client_inner,
                answer: Vec::new(),
                batch: Vec::new(),
                snapshot: None,
                cgroups_lookup: None,
                apps_lookup: None,
            }),
        };
        // SAFETY: checked non-NULL above.
        unsafe { args::put_box(client, value, "client") }
    })
}

/// Connects (or reconnects after a broken session) when the client is not
/// ready; does nothing when it is ready, or after the provider rejected the
/// token or was incompatible (those stick until `netipc_client_close()`).
/// Call it periodically (for example every tick, or before calls).
///
/// Returns `NETIPC_OK` when the client is ready afterwards; otherwise why
/// it is not (`NETIPC_ERR_NO_PROVIDER`, `NETIPC_ERR_AUTH_REJECTED`,
/// `NETIPC_ERR_INCOMPATIBLE`, `NETIPC_ERR_PERMISSION_DENIED`,
/// `NETIPC_ERR_TIMEOUT`, `NETIPC_ERR_ABORTED` while the client is
/// aborted, ...). `*changed` (optional, may be NULL) tells whether the
/// state changed. Blocks for at most the handshake timeout.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_refresh(
    client: *const netipc_client,
    changed: *mut bool,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live client handle per the contract.
        let client = unsafe { args::handle(client, "client") }?;
        let mut inner = client.lock();
        let did_change = inner.client.refresh();
        // SAFETY: optional out-pointer, writable when non-NULL.
        unsafe { args::put_opt(changed, did_change) };
        inner.client.readiness()
    })
}

/// True when the client is connected and calls can be made. No system
/// call. NULL gives false.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_ready(client: *const netipc_client) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or a live client handle per the contract.
        unsafe { client.as_ref() }.is_some_and(|c| c.lock().client.ready())
    })
}

/// The client's state (`NETIPC_STATE_*`). NULL gives
/// `NETIPC_STATE_DISCONNECTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_state(client: *const netipc_client) -> u32 {
    guard_value(crate::ffi_client_status::NETIPC_STATE_DISCONNECTED, || {
        // SAFETY: NULL or a live client handle per the contract.
        unsafe { client.as_ref() }
            .map_or(crate::ffi_client_status::NETIPC_STATE_DISCONNECTED, |c| {
                c.lock().client.state()
            })
    })
}

/// Closes the client's session (if any) and returns it to
/// `NETIPC_STATE_DISCONNECTED`, clearing a sticky auth or compatibility
/// failure; the next refresh connects again. Borrowed results are
/// released.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_close(client: *const netipc_client) -> netipc_result {
    guard(|| {
        // SAFETY: a live client handle per the contract.
        let client = unsafe { args::handle(client, "client") }?;
        let mut inner = client.lock();
        inner.client.close();
        inner.snapshot = None;
        inner.cgroups_lookup = None;
        inner.apps_lookup = None;
        inner.answer = Vec::new();
        Ok(())
    })
}

/// Aborts the client's calls, from any thread: a call blocked in this
/// client returns `NETIPC_ERR_ABORTED` promptly (a socket wait at once, a
/// shared-memory wait within about 50 ms), and every later call and
/// refresh fails at once with `NETIPC_ERR_ABORTED`, without I/O, until
/// `netipc_client_clear_abort()`. Meant for shutdown: abort from the thread
/// that stops the plugin, then join the worker, then close and free.
/// Takes no lock and does not allocate.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_abort(client: *const netipc_client) -> netipc_result {
    guard(|| {
        // SAFETY: a live client handle per the contract.
        let client = unsafe { args::handle(client, "client") }?;
        client.abort.abort();
        Ok(())
    })
}

/// Ends an abort: calls work again; a session the abort broke is
/// reconnected by the next `netipc_client_refresh()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_clear_abort(client: *const netipc_client) -> netipc_result {
    guard(|| {
        // SAFETY: a live client handle per the contract.
        let client = unsafe { args::handle(client, "client") }?;
        client.abort.clear();
        Ok(())
    })
}

/// Closes and frees a client. NULL is ignored. Borrowed results of the
/// client become invalid. No other thread may use the client during or
/// after this call.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_free(client: *mut netipc_client) {
    guard_value((), || {
        // SAFETY: NULL or a handle from netipc_client_new(), not used again.
        unsafe { args::free_box(client) }
    })
}

/// A per-call timeout from C (0: the client's default).
pub(crate) fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Runs `body` on the client of a typed call.
pub(crate) unsafe fn with_client(
    client: *const netipc_client,
    body: impl FnOnce(&mut ClientInner) -> Result<(), Failure>,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live client handle per the contract.
        let client = unsafe { args::handle(client, "client") }?;
        let mut inner = client.lock();
        body(&mut inner)
    })
}

/// INCREMENT: sends `value`, writes the provider's answer to `*answer`.
///
/// Fails with `NETIPC_ERR_NOT_READY` (no I/O) unless the client is ready,
/// and with `NETIPC_ERR_INVALID_ARGUMENT` on a client of another kind. A
/// failed exchange is retried once on a new connection before an error is
/// returned.
///
/// `timeout_ms` bounds the whole call (0: the client's call timeout): when
/// it passes the call returns `NETIPC_ERR_TIMEOUT`. An abort from another
/// thread (`netipc_client_abort()`) makes it return `NETIPC_ERR_ABORTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_increment(
    client: *const netipc_client,
    value: u64,
    timeout_ms: u32,
    answer: *mut u64,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_client(client, |inner| {
            args::require(answer, "answer")?;
            let result = inner.client.increment(value, millis(timeout_ms))?;
            args::put(answer, result, "answer")
        })
    }
}

/// INCREMENT as one batch message: sends the `count` values at `values`
/// and writes the `count` answers, in order, to `answers` (room for
/// `count` values). `count` 0 does nothing. A batch too large for the
/// session is renegotiated transparently. `NETIPC_ERR_BAD_ITEM_COUNT` means
/// the provider answered another number of items.
///
/// `timeout_ms` bounds the whole call (0: the client's call timeout): when
/// it passes the call returns `NETIPC_ERR_TIMEOUT`. An abort from another
/// thread (`netipc_client_abort()`) makes it return `NETIPC_ERR_ABORTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_increment_batch(
    client: *const netipc_client,
    values: *const u64,
    count: usize,
    timeout_ms: u32,
    answers: *mut u64,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_client(client, |inner| {
            if count > 0 && (values.is_null() || answers.is_null()) {
                return Err(Failure::invalid("values or answers is NULL"));
            }
            if count > (isize::MAX as usize) / 8 {
                return Err(Failure::invalid("count is too large"));
            }
            let input: &[u64] = if count == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(values, count)
            };
            let ClientInner { client, batch, .. } = inner;
            client.increment_batch(input, batch, millis(timeout_ms))?;
            if batch.len() != count {
                return Err(Failure::new(
                    NETIPC_ERR_BAD_ITEM_COUNT,
                    format!("{} answers for {count} values", batch.len()),
                ));
            }
            if count > 0 {
                answers.copy_from_nonoverlapping(batch.as_ptr(), count);
            }
            Ok(())
        })
    }
}

/// STRING_REVERSE: sends `len` bytes of UTF-8 text at `s`; on success
/// `*answer` / `*answer_len` describe the provider's answer (not
/// NUL-terminated), borrowed from the client: valid until the next call,
/// close or free of this client. Text that is not UTF-8 is an invalid
/// argument.
///
/// `timeout_ms` bounds the whole call (0: the client's call timeout): when
/// it passes the call returns `NETIPC_ERR_TIMEOUT`. An abort from another
/// thread (`netipc_client_abort()`) makes it return `NETIPC_ERR_ABORTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_string_reverse(
    client: *const netipc_client,
    s: *const u8,
    len: usize,
    timeout_ms: u32,
    answer: *mut *const u8,
    answer_len: *mut usize,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_client(client, |inner| {
            args::require(answer, "answer")?;
            args::require(answer_len, "answer_len")?;
            let text = args::text(s, len, "s")?;
            let ClientInner {
                client,
                answer: buf,
                ..
            } = inner;
            client.string_reverse(text, buf, millis(timeout_ms))?;
            args::put(answer, buf.as_ptr(), "answer")?;
            args::put(answer_len, buf.len(), "answer_len")
        })
    }
}

/// CGROUPS_SNAPSHOT: fetches the provider's snapshot. On success
/// `*snapshot` points to it, borrowed from the client: walk it with the
/// `netipc_cgroups_*` functions until the next call, close or free of this
/// client. Do not pass it to `netipc_cgroups_release()`. A snapshot larger
/// than the provider first announced is renegotiated transparently.
///
/// `timeout_ms` bounds the whole call (0: the client's call timeout): when
/// it passes the call returns `NETIPC_ERR_TIMEOUT`. An abort from another
/// thread (`netipc_client_abort()`) makes it return `NETIPC_ERR_ABORTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_snapshot(
    client: *const netipc_client,
    timeout_ms: u32,
    snapshot: *mut *const netipc_cgroups,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe {
        with_client(client, |inner| {
            args::require(snapshot, "snapshot")?;
            inner.snapshot = None;
            let table = inner.client.snapshot(millis(timeout_ms))?;
            let lent = inner.snapshot.insert(Box::new(netipc_cgroups {
                table: Arc::new(table),
                owned: false,
            }));
            args::put(snapshot, &**lent as *const netipc_cgroups, "snapshot")
        })
    }
}

/// Fills `status` with the client's current state and counters (see the
/// `netipc_client_status_*` accessors).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_get_status(
    client: *const netipc_client,
    status: *mut crate::ffi_client_status::netipc_client_status,
) -> netipc_result {
    guard(|| {
        // SAFETY: live handles per the contract.
        let (client, status) = unsafe {
            (
                args::handle(client, "client")?,
                args::handle_mut(status, "status")?,
            )
        };
        status.data = client.lock().client.status();
        Ok(())
    })
}
