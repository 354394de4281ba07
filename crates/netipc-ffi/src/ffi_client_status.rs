//! A copy of a client's state and counters, read through accessors so the
//! set of fields can grow without changing the ABI.

use crate::adapter::client::StatusData;
use crate::args;
use crate::result::*;

/// Client state: not connected; the next refresh tries.
pub const NETIPC_STATE_DISCONNECTED: u32 = 0;
/// Client state: a connection attempt is running.
pub const NETIPC_STATE_CONNECTING: u32 = 1;
/// Client state: connected, calls can be made.
pub const NETIPC_STATE_READY: u32 = 2;
/// Client state: no provider listens; the next refresh tries again.
pub const NETIPC_STATE_NOT_FOUND: u32 = 3;
/// Client state: the provider rejected our token (sticky until close).
pub const NETIPC_STATE_AUTH_FAILED: u32 = 4;
/// Client state: no common profile or version (sticky until close).
pub const NETIPC_STATE_INCOMPATIBLE: u32 = 5;
/// Client state: the session failed; the next refresh reconnects.
pub const NETIPC_STATE_BROKEN: u32 = 6;

/// A copy of a client's status (opaque). Create it once with
/// `netipc_client_status_new()`, fill it as often as wanted with
/// `netipc_client_get_status()` or `netipc_cache_get_client_status()`, read it with the accessors,
/// free it with `netipc_client_status_free()`. It does not refer to the
/// client, so it may outlive it. Not synchronized.
#[derive(Debug, Default)]
pub struct netipc_client_status {
    pub(crate) data: StatusData,
}

/// Creates an empty status (state `NETIPC_STATE_DISCONNECTED`, counters 0).
/// `*status` receives a handle owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_new(
    status: *mut *mut netipc_client_status,
) -> netipc_result {
    guard(|| {
        // SAFETY: checked for NULL inside; writable per the contract.
        unsafe { args::put_box(status, netipc_client_status::default(), "status") }
    })
}

/// Frees a status. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_free(status: *mut netipc_client_status) {
    guard_value((), || {
        // SAFETY: NULL or a handle from netipc_client_status_new().
        unsafe { args::free_box(status) }
    })
}

/// Reads one field of a status; NULL gives `fallback`.
unsafe fn read<T>(
    status: *const netipc_client_status,
    fallback: T,
    f: impl FnOnce(&StatusData) -> T,
) -> T {
    // SAFETY: NULL or a live status handle per the contract.
    match unsafe { status.as_ref() } {
        Some(s) => guard_value(fallback, || f(&s.data)),
        None => fallback,
    }
}

/// The state (`NETIPC_STATE_*`); NULL gives `NETIPC_STATE_DISCONNECTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_state(status: *const netipc_client_status) -> u32 {
    // SAFETY: forwarded contract.
    unsafe { read(status, NETIPC_STATE_DISCONNECTED, |s| s.state) }
}

/// The profile of the current session (one `NETIPC_PROFILE_*` bit), or 0
/// when there is no session (or NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_profile(status: *const netipc_client_status) -> u32 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.profile) }
}

/// True when the current session moves data through shared memory.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_shm_in_use(
    status: *const netipc_client_status,
) -> bool {
    // SAFETY: forwarded contract.
    unsafe { read(status, false, StatusData::shm_in_use) }
}

/// The server-assigned id of the current session: returns true and writes
/// it to `*session_id` when there is a session; false (nothing written)
/// otherwise or when an argument is NULL.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_session_id(
    status: *const netipc_client_status,
    session_id: *mut u64,
) -> bool {
    // SAFETY: forwarded contract.
    let id = unsafe { read(status, None, |s| s.session_id) };
    match id {
        Some(id) if !session_id.is_null() => {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { session_id.write(id) };
            true
        }
        _ => false,
    }
}

/// Successful connects from disconnected / not-found states.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_connects(status: *const netipc_client_status) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.connects) }
}

/// Successful reconnects (after a broken session, a retry or an overflow).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_reconnects(
    status: *const netipc_client_status,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.reconnects) }
}

/// Calls made while ready.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_calls(status: *const netipc_client_status) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.calls) }
}

/// Calls that failed (including calls made while not ready).
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_failures(status: *const netipc_client_status) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.failures) }
}

/// Renegotiations with larger limits that let a call succeed.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_overflow_recoveries(
    status: *const netipc_client_status,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(status, 0, |s| s.overflow_recoveries) }
}

/// The code of the last failed connection attempt (`NETIPC_ERR_*`), or
/// `NETIPC_OK` if none failed.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_last_connect_failure(
    status: *const netipc_client_status,
) -> netipc_result {
    // SAFETY: forwarded contract.
    unsafe { read(status, NETIPC_OK, |s| s.last_connect_failure) }
}

/// The text of the last connect or call error (UTF-8, not NUL-terminated,
/// length in `*len`; empty if none). Borrowed from `status`: valid until it
/// is filled again or freed. A NULL status gives an empty text; `len` may
/// be NULL only if the length is not wanted.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_status_last_error(
    status: *const netipc_client_status,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: forwarded contract.
    let (ptr, n) = unsafe {
        read(status, (b"".as_ptr(), 0), |s| {
            (s.last_error.as_ptr(), s.last_error.len())
        })
    };
    // SAFETY: optional out-pointer.
    unsafe { args::put_opt(len, n) };
    ptr
}
