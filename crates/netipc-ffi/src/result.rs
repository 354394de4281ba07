//! Result codes, the per-thread error message and the panic guard.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every fallible netipc function returns: `NETIPC_OK` (0) or one of
/// the `NETIPC_ERR_*` codes. A plain `int32_t`, so a callback returning a
/// value that is not listed here is still well defined (it counts as an
/// error).
pub type netipc_result = i32;

/// Success.
pub const NETIPC_OK: netipc_result = 0;
/// An argument is NULL where a value is required, a length or count is out
/// of range, a string is not valid for its use (a service name with a
/// character outside `A-Z a-z 0-9 . _ -`, a path with a NUL byte), a
/// handle is used for an operation of another service kind, or for one its
/// configuration does not allow (`netipc_server_run()` on a provider the
/// library runs, or a second time).
pub const NETIPC_ERR_INVALID_ARGUMENT: netipc_result = 1;
/// The client is not connected: no I/O was done. Call
/// `netipc_client_refresh()` (or `netipc_cache_refresh()`) and retry later.
pub const NETIPC_ERR_NOT_READY: netipc_result = 2;
/// The peer did not answer (or did not complete the handshake) within the
/// configured timeout.
pub const NETIPC_ERR_TIMEOUT: netipc_result = 3;
/// The call or refresh was aborted from another thread
/// (`netipc_client_abort()`, `netipc_cache_abort()`), or the handle is
/// still aborted.
pub const NETIPC_ERR_ABORTED: netipc_result = 4;
/// Something did not fit: a snapshot item over the response limit (the
/// provider can still send the items added so far), a request over the
/// protocol's limits, a copy-out buffer that is too small (the needed size
/// is reported), or a response that still did not fit after renegotiation.
pub const NETIPC_ERR_OVERFLOW: netipc_result = 5;
/// A batch response carried another number of items than the request.
pub const NETIPC_ERR_BAD_ITEM_COUNT: netipc_result = 6;
/// The provider rejected our auth token. The client stays in this state
/// until `netipc_client_close()`; refreshing does not retry.
pub const NETIPC_ERR_AUTH_REJECTED: netipc_result = 7;
/// The peer speaks no common profile or protocol version, or does not
/// serve the method asked for.
pub const NETIPC_ERR_INCOMPATIBLE: netipc_result = 8;
/// No provider listens at the endpoint (no socket, or a stale one).
pub const NETIPC_ERR_NO_PROVIDER: netipc_result = 9;
/// The peer broke the protocol: malformed envelope or payload, unexpected
/// message, or a request our provider could not decode.
pub const NETIPC_ERR_PROTOCOL: netipc_result = 10;
/// A bug or resource failure inside the library (including a caught Rust
/// panic). The handle stays usable.
pub const NETIPC_ERR_INTERNAL: netipc_result = 11;
/// The peer closed the session.
pub const NETIPC_ERR_PEER_CLOSED: netipc_result = 12;
/// The provider answered INTERNAL_ERROR: its handler failed.
pub const NETIPC_ERR_PROVIDER_FAILED: netipc_result = 13;
/// A lookup found no item with that hash and name.
pub const NETIPC_ERR_NOT_FOUND: netipc_result = 14;
/// The socket or run directory exists but we may not use it.
pub const NETIPC_ERR_PERMISSION_DENIED: netipc_result = 15;
/// Any other operating-system failure (bind, socket, shared memory, thread
/// creation); the message says which.
pub const NETIPC_ERR_IO: netipc_result = 16;
/// Another provider already serves this endpoint.
pub const NETIPC_ERR_ADDRESS_IN_USE: netipc_result = 17;
/// Neither `NETDATA_INVOCATION_ID` nor `INVOCATION_ID` is set to a
/// non-empty value.
pub const NETIPC_ERR_NO_INVOCATION_ID: netipc_result = 18;

/// Names of the codes, indexed by value.
const NAMES: [&str; 19] = [
    "NETIPC_OK\0",
    "NETIPC_ERR_INVALID_ARGUMENT\0",
    "NETIPC_ERR_NOT_READY\0",
    "NETIPC_ERR_TIMEOUT\0",
    "NETIPC_ERR_ABORTED\0",
    "NETIPC_ERR_OVERFLOW\0",
    "NETIPC_ERR_BAD_ITEM_COUNT\0",
    "NETIPC_ERR_AUTH_REJECTED\0",
    "NETIPC_ERR_INCOMPATIBLE\0",
    "NETIPC_ERR_NO_PROVIDER\0",
    "NETIPC_ERR_PROTOCOL\0",
    "NETIPC_ERR_INTERNAL\0",
    "NETIPC_ERR_PEER_CLOSED\0",
    "NETIPC_ERR_PROVIDER_FAILED\0",
    "NETIPC_ERR_NOT_FOUND\0",
    "NETIPC_ERR_PERMISSION_DENIED\0",
    "NETIPC_ERR_IO\0",
    "NETIPC_ERR_ADDRESS_IN_USE\0",
    "NETIPC_ERR_NO_INVOCATION_ID\0",
];

/// A failed operation inside the crate: the code C sees and the message
/// `netipc_last_error()` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: netipc_result,
    pub message: String,
}

impl Failure {
    pub fn new(code: netipc_result, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(NETIPC_ERR_INVALID_ARGUMENT, message)
    }
}

thread_local! {
    /// The message of the last failure on this thread, NUL-terminated.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn set_last_error(message: &str) {
    let mut text = Vec::with_capacity(message.len() + 1);
    text.extend_from_slice(message.as_bytes());
    text.push(0);
    // A thread being torn down has no slot any more; the code still tells
    // the caller what happened.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic");
    format!("internal error: {what}")
}

/// Runs the body of an exported function: a failure becomes its code and
/// this thread's message, a panic becomes `NETIPC_ERR_INTERNAL`.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> netipc_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => NETIPC_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.message);
            failure.code
        }
        Err(panic) => {
            set_last_error(&panic_message(&*panic));
            NETIPC_ERR_INTERNAL
        }
    }
}

/// Like [`guard`] for functions that return a value rather than a code:
/// a panic yields `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(panic) => {
            set_last_error(&panic_message(&*panic));
            fallback
        }
    }
}

/// The symbolic name of a result code (`"NETIPC_ERR_TIMEOUT"`), or
/// `"NETIPC_ERR_UNKNOWN"` for a value that is not a netipc code.
///
/// Returns a pointer to static, NUL-terminated text; `*len` (when `len` is
/// not NULL) receives its length without the NUL. Never fails; callable from
/// any thread.
#[no_mangle]
pub unsafe extern "C" fn netipc_result_name(code: netipc_result, len: *mut usize) -> *const u8 {
    let name = usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("NETIPC_ERR_UNKNOWN\0");
    if !len.is_null() {
        // SAFETY: `len` is non-NULL and the caller passes a writable size_t.
        unsafe { *len = name.len() - 1 };
    }
    name.as_ptr()
}

/// The message of the most recent failure of a netipc function on the
/// calling thread (empty text if there was none).
///
/// Every function that returns an error code other than `NETIPC_OK` sets
/// it first; successful calls leave it alone. The text is NUL-terminated
/// UTF-8; `*len` (when `len` is not NULL) receives its length without the
/// NUL. The pointer stays valid until the next netipc call on the same
/// thread; the memory belongs to the library (do not free it). The message
/// is per thread, so concurrent failures on other threads do not
/// overwrite it.
#[no_mangle]
pub unsafe extern "C" fn netipc_last_error(len: *mut usize) -> *const u8 {
    static EMPTY: [u8; 1] = [0];
    let (ptr, n) = LAST_ERROR
        .try_with(|slot| {
            let text = slot.borrow();
            if text.is_empty() {
                (EMPTY.as_ptr(), 0)
            } else {
                (text.as_ptr(), text.len() - 1)
            }
        })
        .unwrap_or((EMPTY.as_ptr(), 0));
    if !len.is_null() {
        // SAFETY: `len` is non-NULL and the caller passes a writable size_t.
        unsafe { *len = n };
    }
    ptr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_codes() {
        let codes = [
            (NETIPC_OK, "NETIPC_OK"),
            (NETIPC_ERR_TIMEOUT, "NETIPC_ERR_TIMEOUT"),
            (NETIPC_ERR_NO_INVOCATION_ID, "NETIPC_ERR_NO_INVOCATION_ID"),
            (NETIPC_ERR_ADDRESS_IN_USE, "NETIPC_ERR_ADDRESS_IN_USE"),
            (-1, "NETIPC_ERR_UNKNOWN"),
            (19, "NETIPC_ERR_UNKNOWN"),
        ];
        for (code, want) in codes {
            let mut len = 0;
            // SAFETY: `len` is a valid out-pointer.
            let ptr = unsafe { netipc_result_name(code, &mut len) };
            // SAFETY: the function returns `len` readable bytes plus a NUL.
            let got = unsafe { std::slice::from_raw_parts(ptr, len + 1) };
            assert_eq!(&got[..len], want.as_bytes());
            assert_eq!(got[len], 0);
        }
    }

    #[test]
    fn guard_maps_failures_and_panics() {
        assert_eq!(guard(|| Ok(())), NETIPC_OK);
        assert_eq!(
            guard(|| Err(Failure::new(NETIPC_ERR_TIMEOUT, "slow"))),
            NETIPC_ERR_TIMEOUT
        );
        let mut len = 0;
        // SAFETY: valid out-pointer; the text is read before the next call.
        let text = unsafe { std::slice::from_raw_parts(netipc_last_error(&mut len), len) };
        assert_eq!(text, b"slow");
        assert_eq!(guard(|| panic!("boom")), NETIPC_ERR_INTERNAL);
        // SAFETY: as above.
        let text = unsafe { std::slice::from_raw_parts(netipc_last_error(&mut len), len) };
        assert_eq!(text, b"internal error: boom");
        assert_eq!(guard_value(7, || panic!("again")), 7);
    }
}
