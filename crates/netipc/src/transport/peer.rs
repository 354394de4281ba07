//! The identity of the process at the other end of a connected Unix
//! socket (`SO_PEERCRED`), and the trust rule a client applies to it
//! before it sends its auth token.

#![forbid(unsafe_code)]

use rustix::fd::AsFd;
use rustix::io::Errno;

/// Process, user and group ids of a socket's peer, as the kernel recorded
/// them when the peer created (server: called `listen`, client: called
/// `connect` on) the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// Process id.
    pub pid: u32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

impl PeerCredentials {
    /// Reads `SO_PEERCRED` of a connected Unix socket.
    pub fn of(socket: impl AsFd) -> Result<PeerCredentials, Errno> {
        let cred = rustix::net::sockopt::socket_peercred(socket)?;
        Ok(PeerCredentials {
            pid: cred.pid.as_raw_nonzero().get() as u32,
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
        })
    }

    /// True when the peer runs as `uid` or as root (uid 0): the users a
    /// process running as `uid` may trust with its auth token.
    pub fn trusted_by(&self, uid: u32) -> bool {
        self.uid == uid || self.uid == 0
    }
}

/// The effective uid of this process.
pub(crate) fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

    #[test]
    fn a_socketpair_peer_is_this_process() {
        let (a, _b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let cred = PeerCredentials::of(&a).unwrap();
        assert_eq!(cred.pid, std::process::id());
        assert_eq!(cred.uid, own_uid());
        assert_eq!(cred.gid, rustix::process::getegid().as_raw());
        assert!(cred.trusted_by(own_uid()));
    }

    #[test]
    fn trust_is_same_uid_or_root() {
        let peer = |uid| PeerCredentials {
            pid: 1,
            uid,
            gid: 0,
        };
        assert!(peer(1000).trusted_by(1000));
        assert!(peer(0).trusted_by(1000));
        assert!(!peer(65534).trusted_by(1000));
        assert!(peer(0).trusted_by(0));
        assert!(!peer(1000).trusted_by(0));
    }
}
