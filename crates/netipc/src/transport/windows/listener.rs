//! The server end: pipe instances and accept (PROTOCOL-WINDOWS.md §3.1,
//! §3.2).
//!
//! The listener always owns one spare instance. `accept` waits (with a
//! deadline) for a client to open it, hands it out as the session's pipe
//! and creates the next spare right away. The handshake is **not** run
//! here: the caller runs it on the session's own thread, with a deadline,
//! so a silent client never stalls the accept loop.
//!
//! Two reference pitfalls are avoided:
//!
//! * a client that opened the spare and closed it again before the server
//!   waited on it makes `ConnectNamedPipe` fail with `ERROR_NO_DATA`. The
//!   reference peers retry the same instance forever (every later client
//!   then gets `ERROR_PIPE_BUSY`); here the instance is disconnected and
//!   listens again, or is replaced by a fresh one if that fails;
//! * any other `ConnectNamedPipe` failure drops the instance, so the next
//!   `accept` starts with a fresh one.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_NO_DATA, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, DisconnectNamedPipe, PIPE_READMODE_MESSAGE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};

use super::pipe::{pipe_error, PipeConn, PipeSide};
use super::sys::{io_event, last_error, os_error, overlapped, owned, wide, Io};
use super::DEFAULT_PACKET_SIZE;
use crate::deadline::Deadline;
use crate::transport::address::Endpoint;
use crate::transport::error::{EndpointError, InUseReason, TransportError};

/// Settings of a [`PipeListener`] (on Windows, `transport::ListenerConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeListenerConfig {
    /// The packet size the server will propose (0 = 65 536). Only the
    /// instances' default buffer size depends on it.
    pub packet_size: u32,
    /// In and out buffer size of each instance: what the pipe absorbs in
    /// each direction while the other side is not reading. 0 (the default)
    /// means `max(packet_size, 65 536)`, as the reference peers use. A
    /// client that writes many requests before reading the responses needs
    /// the bytes in flight per direction to fit (PROTOCOL-WINDOWS.md §3.6).
    pub buffer_size: u32,
    /// Create instances with `PIPE_REJECT_REMOTE_CLIENTS`, so the pipe is
    /// not reachable over the network (`\\host\pipe\…`). The reference peers
    /// do not set it; it is invisible to local clients. Default: true.
    pub reject_remote_clients: bool,
}

impl Default for PipeListenerConfig {
    fn default() -> Self {
        PipeListenerConfig {
            packet_size: 0,
            buffer_size: 0,
            reject_remote_clients: true,
        }
    }
}

impl PipeListenerConfig {
    /// Sets the instances' in and out buffer size (0: the default).
    pub fn with_buffer_size(mut self, bytes: u32) -> Self {
        self.buffer_size = bytes;
        self
    }
}

/// A listening named pipe `\\.\pipe\netipc-{hash}-{service}` (on
/// Windows, `transport::Listener`).
///
/// `accept` takes `&self`, as on Unix: the spare instance and the event of
/// the pending `ConnectNamedPipe` sit behind a lock, so concurrent accepts
/// take turns.
#[derive(Debug)]
pub struct PipeListener {
    name: String,
    wide: Vec<u16>,
    buffer: u32,
    pipe_mode: u32,
    waiting: Mutex<Waiting>,
}

/// The state of the instance waiting for the next client.
#[derive(Debug)]
struct Waiting {
    /// The instance waiting for the next client; `None` after a failure
    /// (re-created by the next `accept`).
    spare: Option<OwnedHandle>,
    /// Event of the overlapped `ConnectNamedPipe`.
    event: OwnedHandle,
}

impl PipeListener {
    /// Creates the first instance of the endpoint's pipe
    /// ([`Endpoint::pipe_name`], with `FILE_FLAG_FIRST_PIPE_INSTANCE`).
    /// Fails with [`EndpointError::AddressInUse`] when another process
    /// serves the name. Nothing is created in the run directory, which need
    /// not exist.
    pub fn bind(
        endpoint: &Endpoint,
        config: &PipeListenerConfig,
    ) -> Result<PipeListener, EndpointError> {
        let name = endpoint.pipe_name().to_owned();
        let packet = if config.packet_size == 0 {
            DEFAULT_PACKET_SIZE
        } else {
            config.packet_size
        };
        let mut pipe_mode = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT;
        if config.reject_remote_clients {
            pipe_mode |= PIPE_REJECT_REMOTE_CLIENTS;
        }
        let event = io_event().map_err(|source| EndpointError::Io {
            op: "CreateEventW",
            path: PathBuf::from(&name),
            source,
        })?;
        let listener = PipeListener {
            wide: wide(&name),
            name,
            buffer: if config.buffer_size == 0 {
                packet.max(DEFAULT_PACKET_SIZE)
            } else {
                config.buffer_size
            },
            pipe_mode,
            waiting: Mutex::new(Waiting { spare: None, event }),
        };
        match listener.create_instance(true) {
            Ok(h) => listener.lock().spare = Some(h),
            Err(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY) => {
                return Err(EndpointError::AddressInUse {
                    path: PathBuf::from(&listener.name),
                    reason: InUseReason::PipeInstanceExists,
                })
            }
            Err(code) => {
                return Err(EndpointError::Io {
                    op: "CreateNamedPipeW",
                    path: PathBuf::from(&listener.name),
                    source: os_error(code),
                })
            }
        }
        Ok(listener)
    }

    /// The full pipe name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One new instance of the pipe, or the Win32 error code.
    fn create_instance(&self, first: bool) -> Result<OwnedHandle, u32> {
        let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
        if first {
            open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
        }
        // SAFETY: `wide` is a NUL-terminated UTF-16 name that outlives the
        // call; null security attributes select the default descriptor; the
        // returned handle is checked and owned exactly once.
        unsafe {
            let raw = CreateNamedPipeW(
                self.wide.as_ptr(),
                open_mode,
                self.pipe_mode,
                PIPE_UNLIMITED_INSTANCES,
                self.buffer,
                self.buffer,
                0,
                std::ptr::null(),
            );
            owned(raw).ok_or_else(last_error)
        }
    }

    /// Waits up to `timeout` (`None`: forever) for a client and returns its
    /// connection, before any handshake; `Ok(None)` on timeout.
    ///
    /// The handshake must follow, with a deadline, on another thread than
    /// the one accepting (see [`super::ServerSession::accept`]).
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Option<PipeConn>, TransportError> {
        let deadline = Deadline::new(timeout);
        let mut waiting = self.lock();
        loop {
            let spare = match waiting.spare.take() {
                Some(h) => h,
                None => self
                    .create_instance(false)
                    .map_err(|code| pipe_io("CreateNamedPipeW", code))?,
            };
            let h = spare.as_raw_handle() as HANDLE;
            let ev = waiting.event.as_raw_handle() as HANDLE;
            // SAFETY: one overlapped ConnectNamedPipe on our overlapped
            // instance with the OVERLAPPED `overlapped` provides; it returns
            // only after the operation completed or was cancelled; the
            // listener's event is used by this call alone (the lock is
            // held).
            let io = unsafe { overlapped(h, ev, &deadline, |ov| ConnectNamedPipe(h, ov)) };
            match io {
                Io::Done(_)
                | Io::Failed {
                    code: ERROR_PIPE_CONNECTED,
                    ..
                } => {
                    // The next spare first, so clients arriving during this
                    // session's handshake find an instance. If that fails the
                    // next accept retries it.
                    waiting.spare = self.create_instance(false).ok();
                    let conn =
                        PipeConn::from_handle(spare, PipeSide::Server).map_err(|source| {
                            TransportError::Io {
                                op: "CreateEventW",
                                source,
                            }
                        })?;
                    return Ok(Some(conn));
                }
                Io::TimedOut => {
                    waiting.spare = Some(spare);
                    return Ok(None);
                }
                Io::Failed {
                    code: ERROR_NO_DATA,
                    ..
                } => {
                    // A client opened the instance and closed it before we
                    // waited: disconnect so it listens again, or replace it.
                    // SAFETY: `h` is our valid instance handle.
                    if unsafe { DisconnectNamedPipe(h) } != 0 {
                        waiting.spare = Some(spare);
                    }
                    if deadline.expired() {
                        return Ok(None);
                    }
                }
                Io::Failed { code, .. } => {
                    // Drop the instance; the next call starts with a new one.
                    drop(spare);
                    return Err(pipe_io("ConnectNamedPipe", code));
                }
            }
        }
    }
}

/// A Win32 error of a listener operation as an I/O error (never
/// "peer closed": there is no session yet).
fn pipe_io(op: &'static str, code: u32) -> TransportError {
    match pipe_error(op, code) {
        TransportError::PeerClosed => TransportError::Io {
            op,
            source: os_error(code),
        },
        e => e,
    }
}
