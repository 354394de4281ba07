//! The UDS listener, connect and stale-socket recovery (PROTOCOL.md §6.1,
//! §6.2) at an [`Endpoint`]'s socket path.
//!
//! An [`Endpoint`] (defined in `address.rs`, the same on every platform) is
//! a validated `(run_dir, service_name)`; on Unix its socket lives at
//! `{run_dir}/{service_name}.sock`. The run directory must exist: this
//! module never creates it.

#![forbid(unsafe_code)]

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;
use rustix::net::{self, sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::abort::AbortHandle;
pub use super::address::{Endpoint, MAX_SOCKET_PATH, REGION_SUFFIX, SOCKET_SUFFIX};
use super::error::{EndpointError, InUseReason, TransportError};
use super::uds::{poll_readable, UdsConn};
use crate::deadline::Deadline;

/// How a `Listener` (Level 1) sets up its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Permission bits of the socket file (a client needs write permission
    /// to connect). Default `0o600`: only the owner (and root) can connect.
    pub socket_mode: u32,
    /// `listen` backlog. Default 16.
    pub backlog: i32,
}

impl ListenerConfig {
    /// Sets the socket file's permission bits.
    pub fn with_socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode;
        self
    }

    /// Sets the `listen` backlog.
    pub fn with_backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            socket_mode: 0o600,
            backlog: 16,
        }
    }
}

/// A listening SEQPACKET socket bound at an endpoint's path.
///
/// Dropping it closes the socket and removes the socket file, but only if
/// the file at the path is still the one this listener created (same device
/// and inode): a successor's socket is never removed.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    path: PathBuf,
    identity: (u64, u64),
}

impl Listener {
    /// Binds and listens at the endpoint's socket path.
    ///
    /// If something already exists at the path, it is judged by liveness
    /// only (PROTOCOL-LOOKUP.md §19.9.4; the permissions of the run
    /// directory are not consulted):
    /// * a probe connection succeeds → a live listener owns it:
    ///   [`EndpointError::AddressInUse`], untouched;
    /// * the probe fails with EAGAIN (a live listener whose backlog is
    ///   full) → `AddressInUse` naming the errno, untouched;
    /// * the probe fails with ENOENT → nothing there any more;
    /// * any other failure (ECONNREFUSED, EACCES, a regular file, a
    ///   symlink, a stream socket, …) → stale: removed, as long as the
    ///   directory entry still names the device and inode found before the
    ///   probe (found with `openat(O_PATH | O_NOFOLLOW)`, removed with
    ///   `unlinkat`; a symlink is removed, never followed);
    /// * only a failure to create the probe socket (descriptor exhaustion)
    ///   keeps the entry and reports `AddressInUse`.
    ///
    /// Then: socket, bind, chmod to `config.socket_mode`, listen. The file
    /// gets its final mode before `listen`, so no client can connect while
    /// it still has the umask's mode. The socket is close-on-exec and
    /// non-blocking (accepted connections are blocking).
    pub fn bind(endpoint: &Endpoint, config: &ListenerConfig) -> Result<Listener, EndpointError> {
        let path = endpoint.socket_path().to_path_buf();
        let addr = SocketAddrUnix::new(path.as_path()).map_err(|e| io_err("address", &path, e))?;
        recover_stale(&path, &addr)?;

        let fd = net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|e| io_err("socket", &path, e))?;
        match net::bind(&fd, &addr) {
            Ok(()) => {}
            Err(Errno::ADDRINUSE) => {
                return Err(EndpointError::AddressInUse {
                    path,
                    reason: InUseReason::BindRace,
                })
            }
            Err(e @ (Errno::ACCESS | Errno::PERM)) => {
                return Err(EndpointError::PermissionDenied {
                    path,
                    source: e.into(),
                })
            }
            Err(e) => return Err(io_err("bind", &path, e)),
        }
        // From here on the file is ours; remove it if setup fails.
        let st = match rustix::fs::lstat(path.as_path()) {
            Ok(st) => st,
            Err(e) => {
                let _ = rustix::fs::unlink(path.as_path());
                return Err(io_err("lstat", &path, e));
            }
        };
        let listener = Listener {
            fd,
            path,
            identity: identity(&st),
        };
        // `listener` is dropped on error, which removes the file.
        rustix::fs::chmod(
            listener.path.as_path(),
            Mode::from_bits_truncate(config.socket_mode & 0o7777),
        )
        .map_err(|e| io_err("chmod", &listener.path, e))?;
        net::listen(&listener.fd, config.backlog)
            .map_err(|e| io_err("listen", &listener.path, e))?;
        Ok(listener)
    }

    /// Accepts one connection, waiting up to `timeout` (`None`: forever).
    /// `Ok(None)` when the timeout expires first. The connection is
    /// close-on-exec and blocking.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Option<UdsConn>, TransportError> {
        let wait = Deadline::new(timeout);
        loop {
            match net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => return Ok(Some(UdsConn::from_fresh_fd(fd))),
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                Err(Errno::AGAIN) => {
                    if !poll_readable(self.fd.as_fd(), &wait)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(TransportError::io("accept", e)),
            }
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Remove the path only while it is still our socket; the fd closes
        // after this.
        if let Ok(st) = rustix::fs::lstat(self.path.as_path()) {
            if identity(&st) == self.identity {
                let _ = rustix::fs::unlink(self.path.as_path());
            }
        }
    }
}

/// Device and inode of a file.
#[allow(clippy::unnecessary_cast)] // the field types differ between architectures
fn identity(st: &Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

fn io_err(op: &'static str, path: &Path, e: Errno) -> EndpointError {
    EndpointError::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Stale-endpoint recovery by liveness only (see [`Listener::bind`]).
///
/// The entry is pinned first (`openat(O_PATH | O_NOFOLLOW)` in the opened
/// run directory, so a symlink is judged as itself and never followed),
/// and it is unlinked only if the directory entry still names that same
/// device and inode after the probe: a file someone put there in the
/// meantime is never removed.
fn recover_stale(path: &Path, addr: &SocketAddrUnix) -> Result<(), EndpointError> {
    let dir_path = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = match path.file_name() {
        Some(name) => name,
        None => return Err(io_err("file name", path, Errno::INVAL)),
    };
    let dir = match rustix::fs::open(
        dir_path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        // No run directory: nothing to recover; bind reports it.
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err(io_err("open run directory", dir_path, e)),
    };
    let entry = match rustix::fs::openat(
        &dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(io_err("open existing entry", path, e)),
    };
    // Kept open until the unlink, so the inode number cannot be reused by
    // a new file in the meantime.
    let pinned = identity(&rustix::fs::fstat(&entry).map_err(|e| io_err("fstat", path, e))?);
    // Non-blocking, so a live listener with a full backlog answers EAGAIN
    // instead of stalling us. Failing to create it (fd exhaustion) is the
    // only case that proves nothing and keeps the entry.
    let probe = net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| EndpointError::AddressInUse {
        path: path.to_owned(),
        reason: InUseReason::ProbeFailed(e.into()),
    })?;
    let probed = loop {
        match net::connect(&probe, addr) {
            Err(Errno::INTR) => continue,
            other => break other,
        }
    };
    drop(probe);
    match probed {
        Ok(()) => {
            return Err(EndpointError::AddressInUse {
                path: path.to_owned(),
                reason: InUseReason::LiveListener,
            })
        }
        Err(Errno::NOENT) => return Ok(()),
        // A listener is alive there, its backlog is full.
        Err(e @ Errno::AGAIN) => {
            return Err(EndpointError::AddressInUse {
                path: path.to_owned(),
                reason: InUseReason::ProbeFailed(e.into()),
            })
        }
        // Anything else (ECONNREFUSED, EACCES, EPROTOTYPE, ENOTSOCK, a
        // symlink to nowhere, ...): nobody answers at this address.
        Err(_) => {}
    }
    match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if identity(&st) == pinned => {}
        Ok(_) => {
            return Err(EndpointError::AddressInUse {
                path: path.to_owned(),
                reason: InUseReason::BindRace,
            })
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(io_err("lstat", path, e)),
    }
    match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_err("unlink stale entry", path, e)),
    }
}

/// Longest single wait of an abortable connect for room in the listener's
/// backlog; the abort flag is looked at between waits.
const CONNECT_SLICE: Duration = Duration::from_millis(50);

/// Connects to the endpoint's socket, blocking while the listener's backlog
/// is full.
///
/// ENOENT and ECONNREFUSED (no file, or nobody listening) are
/// [`EndpointError::NotFound`]; EACCES and EPERM are
/// [`EndpointError::PermissionDenied`].
pub fn connect(endpoint: &Endpoint) -> Result<UdsConn, EndpointError> {
    connect_bounded(endpoint, &Deadline::new(None), None)
}

/// Like [`connect`], giving up with [`EndpointError::Timeout`] when the
/// listener's backlog stays full for `timeout` (for example because the
/// provider is stopped and does not accept).
pub fn connect_timeout(endpoint: &Endpoint, timeout: Duration) -> Result<UdsConn, EndpointError> {
    connect_bounded(endpoint, &Deadline::after(timeout), None)
}

/// [`connect`] until `wait` expires ([`EndpointError::Timeout`]) or `abort`
/// is aborted ([`EndpointError::Aborted`]).
///
/// A Unix-domain `connect` never completes asynchronously: a non-blocking
/// one fails with EAGAIN while the backlog is full, and the socket offers
/// nothing to `poll` for until room appears. So the wait is a blocking
/// `connect` bounded by `SO_SNDTIMEO` (the kernel wakes it as soon as the
/// listener accepts), in slices of at most 50 ms when an abort handle is
/// given so that the flag is looked at between them.
pub(crate) fn connect_bounded(
    endpoint: &Endpoint,
    wait: &Deadline,
    abort: Option<&AbortHandle>,
) -> Result<UdsConn, EndpointError> {
    let path = endpoint.socket_path().to_path_buf();
    let addr = SocketAddrUnix::new(path.as_path()).map_err(|e| io_err("address", &path, e))?;
    let fd = net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| io_err("socket", &path, e))?;
    // SO_SNDTIMEO currently set (None: blocking, the socket's default).
    let mut sndtimeo: Option<Duration> = None;
    let connected = loop {
        if abort.map_or(false, AbortHandle::is_aborted) {
            return Err(EndpointError::Aborted { path });
        }
        let left = wait.remaining();
        if left.map_or(false, |d| d.is_zero()) {
            return Err(EndpointError::Timeout { path });
        }
        let slice = match abort {
            Some(_) => Some(left.map_or(CONNECT_SLICE, |d| d.min(CONNECT_SLICE))),
            None => left,
        };
        // On AF_UNIX, connect waits for backlog room for up to SO_SNDTIMEO.
        let slice = slice.map(|t| t.max(Duration::from_micros(1)));
        if slice != sndtimeo {
            sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, slice)
                .map_err(|e| io_err("setsockopt(SO_SNDTIMEO)", &path, e))?;
            sndtimeo = slice;
        }
        match net::connect(&fd, &addr) {
            // The wait timed out (or was interrupted): the socket is still
            // unconnected; look at the deadline and the flag, then retry.
            Err(Errno::INTR | Errno::AGAIN) => continue,
            other => break other,
        }
    };
    match connected {
        Ok(()) => {}
        Err(e @ (Errno::NOENT | Errno::CONNREFUSED)) => {
            return Err(EndpointError::NotFound {
                path,
                source: e.into(),
            })
        }
        Err(e @ (Errno::ACCESS | Errno::PERM)) => {
            return Err(EndpointError::PermissionDenied {
                path,
                source: e.into(),
            })
        }
        Err(e) => return Err(io_err("connect", &path, e)),
    }
    if sndtimeo.is_some() {
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, None)
            .map_err(|e| io_err("setsockopt(SO_SNDTIMEO)", &path, e))?;
    }
    Ok(UdsConn::from_fresh_fd(fd))
}
