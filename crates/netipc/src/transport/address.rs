//! [`Endpoint`]: the validated address of a service, on every platform
//! (PROTOCOL.md §1, PROTOCOL-WINDOWS.md §2).
//!
//! An endpoint is a run directory and a service name. What it names
//! depends on the platform: on Unix the socket
//! `{run_dir}/{service_name}.sock` (and the session regions next to it),
//! on Windows the named pipe
//! `\\.\pipe\netipc-{FNV-1a-64(run_dir):016x}-{service_name}` (and the
//! session's kernel objects). The service-name rule is the same everywhere.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use super::error::EndpointError;

/// Longest socket path in bytes: `sun_path` is 108 bytes including the
/// terminating NUL.
#[cfg(unix)]
pub const MAX_SOCKET_PATH: usize = 107;

/// Suffix appended to the service name to form the socket file name.
#[cfg(unix)]
pub const SOCKET_SUFFIX: &str = ".sock";

/// Suffix of a session's shared-memory region file.
#[cfg(unix)]
pub const REGION_SUFFIX: &str = ".ipcshm";

/// A validated endpoint: a run directory and a service name.
///
/// Every layer takes an `Endpoint`, so the service-name rule and the
/// platform's length rule are checked once, here, when it is built.
/// Building an `Endpoint` touches no file.
///
/// * On Unix the endpoint's socket is `{run_dir}/{service}.sock`
///   ([`Endpoint::socket_path`]) and the shared-memory region of session
///   `id` is `{run_dir}/{service}-{id:016x}.ipcshm`. The run directory must
///   exist when the endpoint is used.
/// * On Windows the endpoint is the named pipe
///   `\\.\pipe\netipc-{FNV-1a-64(run_dir):016x}-{service}`
///   (`Endpoint::pipe_name`, Windows only); the run directory is only hashed and need
///   not exist.
///
/// `Display` shows the socket path (Unix) or the pipe name (Windows).
///
/// ```
/// use netipc::service::Endpoint;
///
/// # #[cfg(unix)] {
/// let ep = Endpoint::new("/run/netdata", "cgroups-snapshot")?;
/// assert_eq!(ep.socket_path(), std::path::Path::new("/run/netdata/cgroups-snapshot.sock"));
/// assert_eq!(ep.to_string(), "/run/netdata/cgroups-snapshot.sock");
/// assert!(Endpoint::new("/run/netdata", "../etc").is_err());
/// # }
/// # Ok::<(), netipc::service::EndpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    run_dir: PathBuf,
    service: String,
    #[cfg(unix)]
    socket_path: PathBuf,
    #[cfg(windows)]
    pipe_name: String,
}

impl Endpoint {
    /// Validates `service` ([`Endpoint::check_service_name`]) and the
    /// platform's length rule: on Unix `{run_dir}/{service}.sock` is at
    /// most 107 bytes (`MAX_SOCKET_PATH`), on Windows the service name is
    /// at most 222 characters (what a pipe name leaves for it).
    pub fn new(run_dir: impl AsRef<Path>, service: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::check_service_name(service)?;
        Endpoint::for_platform(run_dir.as_ref().to_path_buf(), service)
    }

    #[cfg(unix)]
    fn for_platform(run_dir: PathBuf, service: &str) -> Result<Endpoint, EndpointError> {
        use std::os::unix::ffi::OsStrExt;
        let mut path = run_dir.join(service).into_os_string();
        path.push(SOCKET_SUFFIX);
        let socket_path = PathBuf::from(path);
        let len = socket_path.as_os_str().as_bytes().len();
        if len > MAX_SOCKET_PATH {
            return Err(EndpointError::PathTooLong {
                path: socket_path,
                len,
                max: MAX_SOCKET_PATH,
            });
        }
        Ok(Endpoint {
            run_dir,
            service: service.to_owned(),
            socket_path,
        })
    }

    #[cfg(windows)]
    fn for_platform(run_dir: PathBuf, service: &str) -> Result<Endpoint, EndpointError> {
        use super::windows::naming::{pipe_name, MAX_PIPE_SERVICE_NAME};
        if service.len() > MAX_PIPE_SERVICE_NAME {
            return Err(EndpointError::InvalidServiceName {
                name: service.to_owned(),
                reason: "longer than the 222 characters a pipe name leaves for it",
            });
        }
        Ok(Endpoint {
            pipe_name: pipe_name(&run_dir, service),
            run_dir,
            service: service.to_owned(),
        })
    }

    /// The service-name rule: non-empty, not `.` or `..`, and only
    /// `A-Z a-z 0-9 . _ -`. Bad names are rejected, never sanitised.
    pub fn check_service_name(name: &str) -> Result<(), EndpointError> {
        let reason = if name.is_empty() {
            Some("the name is empty")
        } else if name == "." || name == ".." {
            Some("the name may not be \".\" or \"..\"")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("only A-Z, a-z, 0-9, '.', '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(EndpointError::InvalidServiceName {
                name: name.to_owned(),
                reason,
            }),
        }
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `{run_dir}/{service}.sock` (Unix only: on Windows see
    /// `Endpoint::pipe_name`).
    #[cfg(unix)]
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// `{run_dir}/{service}-{session_id:016x}.ipcshm`: the shared-memory
    /// region file of one session (Unix only).
    #[cfg(unix)]
    pub fn region_path(&self, session_id: u64) -> PathBuf {
        self.run_dir
            .join(format!("{}-{session_id:016x}{REGION_SUFFIX}", self.service))
    }

    /// The session id of a region file name of this endpoint
    /// (`{service}-{16 lowercase hex digits}.ipcshm`), `None` for any other
    /// name (Unix only).
    #[cfg(unix)]
    pub fn region_session_id(&self, file_name: &std::ffi::OsStr) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let id = file_name
            .as_bytes()
            .strip_prefix(self.service.as_bytes())?
            .strip_prefix(b"-")?
            .strip_suffix(REGION_SUFFIX.as_bytes())?;
        if id.len() != 16 || !id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(std::str::from_utf8(id).ok()?, 16).ok()
    }

    /// `\\.\pipe\netipc-{FNV-1a-64(run_dir):016x}-{service}`: the named
    /// pipe of the endpoint (Windows only).
    #[cfg(windows)]
    pub fn pipe_name(&self) -> &str {
        &self.pipe_name
    }
}

impl std::fmt::Display for Endpoint {
    /// The socket path (Unix) or the pipe name (Windows).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(unix)]
        let shown = self.socket_path.display();
        #[cfg(windows)]
        let shown = &self.pipe_name;
        shown.fmt(f)
    }
}
