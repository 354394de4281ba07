//! Watching the session's control socket while waiting on shared memory.
//!
//! A futex cannot be waited on together with a socket, so a receiver that
//! wants to notice its peer leaving looks at the socket (a zero-timeout
//! `poll` for hang-up) at three moments: when it is woken without a new
//! message (a peer that closes its handle nudges the futex word on the way
//! out), every [`PEER_CHECK_INTERVAL`] of sleep, and every
//! [`PEER_CHECK_INTERVAL`] even while messages keep arriving (a hostile or
//! forked writer may keep publishing after the session's client left).

use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fd::BorrowedFd;
use rustix::io::Errno;

/// Longest time a watching receiver sleeps, or keeps consuming messages,
/// without looking at the control socket.
pub const PEER_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Whether the peer of the connected socket `fd` hung up: a zero-timeout
/// `poll` reports `POLLHUP`, `POLLRDHUP`, `POLLERR` or `POLLNVAL`.
pub(super) fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::RDHUP)];
    loop {
        match poll(&mut fds, Some(&Timespec::default())) {
            Ok(0) => return false,
            Ok(_) => {
                return fds[0].revents().intersects(
                    PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR | PollFlags::NVAL,
                )
            }
            Err(Errno::INTR) => {}
            // poll on one valid descriptor does not fail otherwise; if it
            // does, the next check will tell.
            Err(_) => return false,
        }
    }
}

/// The watch of one receive: the socket and when it is next due.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerWatch<'a> {
    fd: BorrowedFd<'a>,
    next: Instant,
}

impl<'a> PeerWatch<'a> {
    /// A watch whose next check is due at `next`.
    pub(super) fn new(fd: BorrowedFd<'a>, next: Instant) -> Self {
        PeerWatch { fd, next }
    }

    /// When the next timed check is due.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// Looks at the socket if `now` is due or `force` is set; returns true if
    /// the peer hung up.
    pub(super) fn check(&mut self, force: bool) -> bool {
        let now = Instant::now();
        if !force && now < self.next {
            return false;
        }
        self.next = now + PEER_CHECK_INTERVAL;
        hung_up(self.fd)
    }

    /// How long to sleep at most before the next timed check.
    pub(super) fn sleep_cap(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

    #[test]
    fn sees_the_peer_close() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        assert!(!hung_up(a.as_fd()));
        let mut w = PeerWatch::new(a.as_fd(), Instant::now() + Duration::from_secs(3600));
        assert!(!w.check(true));
        drop(b);
        assert!(hung_up(a.as_fd()));
        // Not due and not forced: not looked at.
        let mut w = PeerWatch::new(a.as_fd(), Instant::now() + Duration::from_secs(3600));
        assert!(!w.check(false));
        assert!(w.check(true));
        // Due: looked at, and the next check moves on.
        let mut w = PeerWatch::new(a.as_fd(), Instant::now());
        assert!(w.check(false));
        assert!(w.next() > Instant::now());
    }
}
