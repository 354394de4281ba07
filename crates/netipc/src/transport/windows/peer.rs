//! The identity of the process serving a named pipe
//! (`GetNamedPipeServerProcessId`), as far as Windows gives one.

/// The server process of a client's pipe. Windows has no numeric user ids,
/// so unlike the Unix type (pid, uid, gid from `SO_PEERCRED`) this holds
/// the process id only, and the trusted-peer check of the Unix client is
/// not made (docs/windows.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// Process id of the pipe's server (0 if Windows could not tell).
    pub pid: u32,
}
