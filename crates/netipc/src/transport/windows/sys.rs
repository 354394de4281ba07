//! Win32 plumbing shared by the pipe and shared-memory code: wide strings,
//! error codes, owned handles, deadlines and overlapped I/O with a deadline.

use std::io;
use std::os::windows::io::{FromRawHandle, OwnedHandle};
use std::time::Duration;

use crate::deadline::Deadline;

use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_IO_PENDING, ERROR_OPERATION_ABORTED, HANDLE, INVALID_HANDLE_VALUE,
    WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject, INFINITE};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

/// The NUL-terminated UTF-16 form of `s`, as the `…W` calls want it.
pub(super) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The calling thread's last Win32 error code.
pub(super) fn last_error() -> u32 {
    // SAFETY: GetLastError has no preconditions; it reads thread-local state.
    unsafe { GetLastError() }
}

/// A Win32 error code as an `io::Error` (its message names the code).
pub(super) fn os_error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(code as i32)
}

/// Takes ownership of a handle a Win32 call returned, or `None` for the two
/// failure values (NULL and `INVALID_HANDLE_VALUE`).
///
/// # Safety
/// `raw` must be NULL, `INVALID_HANDLE_VALUE`, or a handle the caller owns
/// and closes nowhere else.
pub(super) unsafe fn owned(raw: HANDLE) -> Option<OwnedHandle> {
    if raw.is_null() || raw == INVALID_HANDLE_VALUE {
        None
    } else {
        // SAFETY: per this function's contract `raw` is a valid handle
        // owned by the caller, which hands that ownership over here.
        Some(unsafe { OwnedHandle::from_raw_handle(raw) })
    }
}

/// A new unnamed event for overlapped I/O (manual reset, not signalled).
pub(super) fn io_event() -> io::Result<OwnedHandle> {
    // SAFETY: null security attributes and a null name are allowed; the
    // returned handle is checked and owned exactly once.
    unsafe {
        let raw = CreateEventW(std::ptr::null(), 1, 0, std::ptr::null());
        owned(raw).ok_or_else(|| os_error(last_error()))
    }
}

/// The time left before `deadline` as a Win32 wait argument: milliseconds
/// rounded up (so a wait never ends before the deadline), `INFINITE` for
/// none.
pub(super) fn wait_ms(deadline: &Deadline) -> u32 {
    match deadline.remaining() {
        None => INFINITE,
        Some(d) => ms_ceil(d),
    }
}

/// `d` in whole milliseconds rounded up, below `INFINITE`.
pub(super) fn ms_ceil(d: Duration) -> u32 {
    let ms = d.as_nanos().saturating_add(999_999) / 1_000_000;
    u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
}

/// How one overlapped operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Io {
    /// Completed; the bytes transferred.
    Done(u32),
    /// Failed with a Win32 error code after transferring `bytes` (for a
    /// message-mode read, `ERROR_MORE_DATA` comes with the bytes that fit).
    Failed {
        /// The Win32 error code.
        code: u32,
        /// Bytes transferred before the failure.
        bytes: u32,
    },
    /// The deadline passed; the operation was cancelled and transferred
    /// nothing.
    TimedOut,
}

/// Runs one overlapped operation on `handle` and waits for it until
/// `deadline`. On expiry the operation is cancelled (`CancelIoEx`) and its
/// completion awaited, so it never outlives this call; an operation that
/// completed while being cancelled counts as completed.
///
/// # Safety
/// `start` must begin at most one overlapped operation on `handle`, using
/// the `OVERLAPPED` it is given, with buffers that stay valid until this
/// function returns, and return that call's `BOOL`. `handle` must have been
/// opened with `FILE_FLAG_OVERLAPPED` and `event` must be a manual-reset
/// event no other operation uses at the same time.
pub(super) unsafe fn overlapped(
    handle: HANDLE,
    event: HANDLE,
    deadline: &Deadline,
    start: impl FnOnce(*mut OVERLAPPED) -> i32,
) -> Io {
    let mut ov = OVERLAPPED {
        hEvent: event,
        ..OVERLAPPED::default()
    };
    let ov_ptr: *mut OVERLAPPED = &mut ov;
    if start(ov_ptr) == 0 {
        let code = last_error();
        if code != ERROR_IO_PENDING {
            // Completed at once with an error (ERROR_MORE_DATA among them:
            // GetOverlappedResult reports the bytes that fitted).
            let mut n = 0u32;
            // SAFETY: the operation is complete (not pending), `ov` is the
            // OVERLAPPED it used, and `n` is a valid out pointer.
            unsafe { GetOverlappedResult(handle, ov_ptr, &mut n, 0) };
            return Io::Failed { code, bytes: n };
        }
        loop {
            // SAFETY: `event` is a valid event handle per the contract.
            let r = unsafe { WaitForSingleObject(event, wait_ms(deadline)) };
            if r == WAIT_OBJECT_0 {
                break;
            }
            if r == WAIT_TIMEOUT && !deadline.expired() {
                // Milliseconds were capped below INFINITE: wait again.
                continue;
            }
            // Timed out (or the wait itself failed): cancel and wait for the
            // operation to finish so `ov` and the buffers are free again.
            let mut n = 0u32;
            // SAFETY: `ov` identifies our pending operation on `handle`;
            // after CancelIoEx, GetOverlappedResult with bWait = TRUE returns
            // once the operation has completed or been aborted.
            let ok = unsafe {
                CancelIoEx(handle, ov_ptr);
                GetOverlappedResult(handle, ov_ptr, &mut n, 1)
            };
            if ok != 0 {
                return Io::Done(n);
            }
            let code = last_error();
            return if code == ERROR_OPERATION_ABORTED {
                Io::TimedOut
            } else {
                Io::Failed { code, bytes: n }
            };
        }
    }
    let mut n = 0u32;
    // SAFETY: the operation completed (synchronously, or its event was
    // signalled); `ov` is its OVERLAPPED and `n` a valid out pointer.
    let ok = unsafe { GetOverlappedResult(handle, ov_ptr, &mut n, 1) };
    if ok != 0 {
        Io::Done(n)
    } else {
        Io::Failed {
            code: last_error(),
            bytes: n,
        }
    }
}
