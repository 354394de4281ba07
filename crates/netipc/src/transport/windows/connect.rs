//! The client end: opening the pipe (PROTOCOL-WINDOWS.md §3.3).

use std::path::PathBuf;
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, GENERIC_READ, GENERIC_WRITE,
};
use windows_sys::Win32::Storage::FileSystem::{CreateFileW, FILE_FLAG_OVERLAPPED, OPEN_EXISTING};
use windows_sys::Win32::System::Pipes::{
    SetNamedPipeHandleState, WaitNamedPipeW, PIPE_READMODE_MESSAGE,
};

use super::abort::AbortHandle;
use super::pipe::{PipeConn, PipeSide};
use super::sys::{last_error, ms_ceil, os_error, owned, wide};
use crate::deadline::Deadline;
use crate::transport::address::Endpoint;
use crate::transport::error::EndpointError;

/// Longest single `WaitNamedPipeW` while every instance is busy; the
/// overall connect deadline is re-checked after each.
const BUSY_WAIT_STEP: Duration = Duration::from_millis(50);

/// How long [`connect`] waits for a free pipe instance.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the endpoint's pipe ([`Endpoint::pipe_name`]) and switches it to
/// message read mode, waiting up to [`DEFAULT_CONNECT_TIMEOUT`] while
/// every instance is busy. No handshake is run.
///
/// Unlike its Unix namesake, which blocks while the listener's backlog is
/// full, this always has a deadline: a busy pipe has no queue to wait in,
/// only retries.
pub fn connect(endpoint: &Endpoint) -> Result<PipeConn, EndpointError> {
    connect_timeout(endpoint, DEFAULT_CONNECT_TIMEOUT)
}

/// Opens the endpoint's pipe and switches it to message read mode. No
/// handshake is run.
///
/// While every instance is busy (`ERROR_PIPE_BUSY`: the server is between
/// two accepts) it waits with `WaitNamedPipeW` in steps of at most 50 ms and
/// retries until `timeout`, then fails with [`EndpointError::Timeout`]
/// (distinct from [`EndpointError::NotFound`]: a server exists).
///
/// Errors: no such pipe → [`EndpointError::NotFound`]; access denied (a
/// pipe of another user) → [`EndpointError::PermissionDenied`].
pub fn connect_timeout(endpoint: &Endpoint, timeout: Duration) -> Result<PipeConn, EndpointError> {
    connect_bounded(endpoint, &Deadline::after(timeout), None)
}

/// [`connect_timeout`] until `deadline`, failing with
/// [`EndpointError::Aborted`] when `abort` is aborted (looked at before
/// each attempt, so within one 50 ms busy wait).
pub(crate) fn connect_bounded(
    endpoint: &Endpoint,
    deadline: &Deadline,
    abort: Option<&AbortHandle>,
) -> Result<PipeConn, EndpointError> {
    let name = endpoint.pipe_name();
    let wname = wide(name);
    let path = || PathBuf::from(name);
    loop {
        if abort.map_or(false, AbortHandle::is_aborted) {
            return Err(EndpointError::Aborted { path: path() });
        }
        // SAFETY: `wname` is a NUL-terminated UTF-16 name that outlives the
        // call; null security attributes and template are allowed; the
        // returned handle is checked and owned exactly once.
        let handle = unsafe {
            owned(CreateFileW(
                wname.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED,
                std::ptr::null_mut(),
            ))
        };
        let handle = match handle {
            Some(h) => h,
            None => match last_error() {
                ERROR_PIPE_BUSY => {
                    let left = deadline.remaining().unwrap_or(Duration::MAX);
                    if left.is_zero() {
                        return Err(EndpointError::Timeout { path: path() });
                    }
                    // SAFETY: `wname` is a valid NUL-terminated name. The
                    // result only tells whether to retry now; the loop
                    // retries either way until the deadline.
                    unsafe { WaitNamedPipeW(wname.as_ptr(), ms_ceil(left.min(BUSY_WAIT_STEP))) };
                    continue;
                }
                ERROR_FILE_NOT_FOUND => {
                    return Err(EndpointError::NotFound {
                        path: path(),
                        source: os_error(ERROR_FILE_NOT_FOUND),
                    })
                }
                ERROR_ACCESS_DENIED => {
                    return Err(EndpointError::PermissionDenied {
                        path: path(),
                        source: os_error(ERROR_ACCESS_DENIED),
                    })
                }
                code => {
                    return Err(EndpointError::Io {
                        op: "CreateFileW",
                        path: path(),
                        source: os_error(code),
                    })
                }
            },
        };
        let mode = PIPE_READMODE_MESSAGE;
        // SAFETY: `handle` is our open pipe handle; `mode` is a valid
        // pointer for the call; the other two parameters may be null.
        let ok = unsafe {
            use std::os::windows::io::AsRawHandle;
            SetNamedPipeHandleState(
                handle.as_raw_handle() as _,
                &mode,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(EndpointError::Io {
                op: "SetNamedPipeHandleState",
                path: path(),
                source: os_error(last_error()),
            });
        }
        return PipeConn::from_handle(handle, PipeSide::Client).map_err(|source| {
            EndpointError::Io {
                op: "CreateEventW",
                path: path(),
                source,
            }
        });
    }
}
