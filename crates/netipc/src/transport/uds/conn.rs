//! [`UdsConn`]: one connected `AF_UNIX` / `SOCK_SEQPACKET` socket and the
//! system calls that move single packets (send, receive with a timeout,
//! poll, socket options).

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{
    self, sockopt, AddressFamily, RecvFlags, SendAncillaryBuffer, SendFlags, SocketFlags,
    SocketType,
};

use crate::deadline::Deadline;
use crate::transport::abort::{wait_fd, AbortHandle, Woken};
use crate::transport::common::{PacketConn, PacketWait};
use crate::transport::error::TransportError;

/// Packet size used when `SO_SNDBUF` cannot be read (PROTOCOL.md §6.3).
pub const FALLBACK_PACKET_SIZE: u32 = 65_536;

/// Bytes the kernel needs below `SO_SNDBUF` for one SEQPACKET message: a
/// message larger than `SO_SNDBUF − 32` is refused with EMSGSIZE.
pub const SNDBUF_HEADROOM: usize = 32;

/// Encoded `SO_RCVTIMEO` cache value: not known (set it on first use).
const RCVTIMEO_UNKNOWN: u64 = u64::MAX;
/// Encoded `SO_RCVTIMEO` cache value: no timeout (block forever).
const RCVTIMEO_NONE: u64 = 0;

/// Encoded `until` value: no bound.
const UNTIL_NONE: u64 = u64::MAX;

/// A connected `AF_UNIX` / `SOCK_SEQPACKET` socket that moves whole packets.
///
/// Every method takes `&self`; the type is `Send + Sync`, so one thread may
/// watch for hang-up ([`UdsConn::is_hung_up`]) while another uses the
/// connection.
#[derive(Debug)]
pub struct UdsConn {
    fd: OwnedFd,
    /// Receive timeout currently set on the socket, in microseconds
    /// (`RCVTIMEO_NONE` = none, `RCVTIMEO_UNKNOWN` = not known).
    rcvtimeo: AtomicU64,
    /// When set, every wait polls the socket together with the handle's
    /// eventfd and fails with [`TransportError::Aborted`] once aborted.
    abort: Option<AbortHandle>,
    /// Origin of `until`.
    epoch: Instant,
    /// Nanoseconds after `epoch` at which every wait (send or receive)
    /// ends, whatever its own timeout; `UNTIL_NONE`: no bound.
    until: AtomicU64,
}

impl UdsConn {
    /// Wraps a connected SEQPACKET socket (for example one end of a
    /// `socketpair`, or a socket passed in by a supervisor).
    pub fn from_fd(fd: OwnedFd) -> UdsConn {
        UdsConn::with_rcvtimeo(fd, RCVTIMEO_UNKNOWN)
    }

    /// Wraps a socket this crate just created or accepted, whose receive
    /// timeout is known to be unset.
    pub(crate) fn from_fresh_fd(fd: OwnedFd) -> UdsConn {
        UdsConn::with_rcvtimeo(fd, RCVTIMEO_NONE)
    }

    fn with_rcvtimeo(fd: OwnedFd, rcvtimeo: u64) -> UdsConn {
        UdsConn {
            fd,
            rcvtimeo: AtomicU64::new(rcvtimeo),
            abort: None,
            epoch: Instant::now(),
            until: AtomicU64::new(UNTIL_NONE),
        }
    }

    /// Makes every later wait of this connection (receives, continuation
    /// chunks, sends into a full socket buffer) abortable through `abort`:
    /// the socket is polled together with the handle's eventfd, and an
    /// abort fails the wait with [`TransportError::Aborted`].
    pub fn set_abort(&mut self, abort: AbortHandle) {
        self.abort = Some(abort);
    }

    /// Bounds every later wait of this connection by `until` (`None`:
    /// no bound besides each wait's own timeout). A wait cut short by it
    /// fails as its own timeout would ([`TransportError::Timeout`], or
    /// [`TransportError::StalledMessage`] inside a chunked message).
    pub fn set_until(&self, until: Option<Instant>) {
        let enc = until.map_or(UNTIL_NONE, |at| {
            u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
                .unwrap_or(UNTIL_NONE - 1)
        });
        self.until.store(enc, Ordering::Relaxed);
    }

    /// The bound set with [`UdsConn::set_until`].
    fn until(&self) -> Option<Instant> {
        match self.until.load(Ordering::Relaxed) {
            UNTIL_NONE => None,
            nanos => self.epoch.checked_add(Duration::from_nanos(nanos)),
        }
    }

    /// True when waits must go through [`wait_fd`] (abortable or bounded).
    fn guarded(&self) -> bool {
        self.abort.is_some() || self.until.load(Ordering::Relaxed) != UNTIL_NONE
    }

    /// Waits for `events` on the socket within `wait` and the connection's
    /// bound, watching the abort handle.
    fn wait_guarded(&self, events: PollFlags, wait: &Deadline) -> Result<(), TransportError> {
        let wait = wait.min_at(self.until());
        match wait_fd(self.fd.as_fd(), events, &wait, self.abort.as_ref())
            .map_err(|e| TransportError::io("poll", e))?
        {
            Woken::Ready => Ok(()),
            Woken::TimedOut => Err(TransportError::Timeout),
            Woken::Aborted => Err(TransportError::Aborted),
        }
    }

    /// A connected pair of SEQPACKET sockets (close-on-exec), useful for
    /// tests and for sessions inside one process.
    pub fn pair() -> Result<(UdsConn, UdsConn), TransportError> {
        let (a, b) = net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| TransportError::io("socketpair", e))?;
        Ok((UdsConn::from_fresh_fd(a), UdsConn::from_fresh_fd(b)))
    }

    /// Gives up the socket.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Sends one packet made of `parts` concatenated, with one `sendmsg`
    /// (`MSG_NOSIGNAL`: a closed peer gives [`TransportError::PeerClosed`],
    /// never SIGPIPE). Up to 8 parts go out without allocating.
    pub fn send_packet(&self, parts: &[&[u8]]) -> Result<(), TransportError> {
        const INLINE: usize = 8;
        if parts.len() <= INLINE {
            let mut iov = [IoSlice::new(&[]); INLINE];
            for (slot, part) in iov.iter_mut().zip(parts) {
                *slot = IoSlice::new(part);
            }
            self.send_iov(&iov[..parts.len()])
        } else {
            let iov: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            self.send_iov(&iov)
        }
    }

    /// One `sendmsg` of a whole packet.
    pub(crate) fn send_iov(&self, iov: &[IoSlice<'_>]) -> Result<(), TransportError> {
        let want: usize = iov.iter().map(|s| s.len()).sum();
        // A guarded connection never blocks in sendmsg: a full socket buffer
        // is waited out with poll, which the abort handle can interrupt.
        let guarded = self.guarded();
        let flags = if guarded {
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT
        } else {
            SendFlags::NOSIGNAL
        };
        loop {
            match net::sendmsg(&self.fd, iov, &mut SendAncillaryBuffer::default(), flags) {
                Ok(n) if n == want => return Ok(()),
                Ok(n) => {
                    return Err(TransportError::Io {
                        op: "sendmsg",
                        source: std::io::Error::new(
                            std::io::ErrorKind::WriteZero,
                            format!("short send of a SEQPACKET packet: {n} of {want} bytes"),
                        ),
                    })
                }
                Err(Errno::INTR) => continue,
                Err(Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN) => {
                    return Err(TransportError::PeerClosed)
                }
                Err(Errno::AGAIN) if guarded => {
                    self.wait_guarded(PollFlags::OUT, &Deadline::new(None))?
                }
                Err(Errno::AGAIN) => return Err(TransportError::Timeout),
                Err(e) => return Err(TransportError::io("sendmsg", e)),
            }
        }
    }

    /// Receives one packet into `buf` and returns its length.
    ///
    /// `timeout`: `None` blocks, `Some(ZERO)` does not wait at all.
    /// A packet larger than `buf` is an error
    /// ([`TransportError::OversizePacket`], detected with `MSG_TRUNC`), never
    /// a silent truncation. EOF, a zero-length packet and ECONNRESET are
    /// [`TransportError::PeerClosed`].
    pub fn recv_packet(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, TransportError> {
        let n = self.recv_raw(buf, timeout)?;
        check_fits(n, buf.len())
    }

    /// Like [`UdsConn::recv_packet`] without waiting: `Ok(None)` when no
    /// packet is queued (`MSG_DONTWAIT`). Lets a caller spin for a short
    /// window before blocking.
    pub fn try_recv_packet(&self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        match self.recv_now(|flags| recv_slice(&self.fd, buf, flags)) {
            Ok(n) => check_fits(n, buf.len()).map(Some),
            Err(TransportError::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives one packet into `buf` and returns its *real* length, which
    /// exceeds `buf.len()` when the packet was truncated.
    pub(crate) fn recv_raw(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, TransportError> {
        self.recv_first(Deadline::new(timeout), |flags| {
            recv_slice(&self.fd, buf, flags)
        })
    }

    /// Waits until a packet (or EOF) can be received without blocking.
    /// Returns `false` on timeout. `None` waits forever.
    pub fn wait_readable(&self, timeout: Option<Duration>) -> Result<bool, TransportError> {
        poll_readable(self.fd.as_fd(), &Deadline::new(timeout))
    }

    /// True when the peer has closed or shut down its end (POLLHUP or
    /// POLLRDHUP), checked without waiting and without consuming data.
    ///
    /// A server whose data plane is shared memory calls this between waits
    /// to notice a client that vanished. Packets may still be queued even
    /// when this returns true. Returns false if `poll` itself fails.
    pub fn is_hung_up(&self) -> bool {
        let mut fds = [PollFd::new(&self.fd, PollFlags::RDHUP)];
        loop {
            match poll(&mut fds, Some(&Timespec::default())) {
                Ok(0) => return false,
                Ok(_) => {
                    return fds[0]
                        .revents()
                        .intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR)
                }
                Err(Errno::INTR) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The socket's `SO_SNDBUF` as the kernel reports it.
    pub fn so_sndbuf(&self) -> Result<usize, TransportError> {
        sockopt::socket_send_buffer_size(&self.fd).map_err(|e| TransportError::io("getsockopt", e))
    }

    /// The packet size to propose when configured as 0 ("auto"):
    /// `SO_SNDBUF − 32`, or 65 536 when `SO_SNDBUF` cannot be read or is 32
    /// or less.
    ///
    /// The reference peers propose the raw `SO_SNDBUF`, but Linux refuses a
    /// SEQPACKET message larger than `SO_SNDBUF − 32` with EMSGSIZE (stock:
    /// 212 960 bytes accepted, 212 961 refused), so every full-size chunk
    /// would fail (PROTOCOL.md §6.3). The agreed size is the minimum of both
    /// proposals, so proposing 32 bytes less is interoperable.
    pub fn default_packet_size(&self) -> u32 {
        match self.so_sndbuf() {
            Ok(n) if n > SNDBUF_HEADROOM => u32::try_from(n - SNDBUF_HEADROOM).unwrap_or(u32::MAX),
            _ => FALLBACK_PACKET_SIZE,
        }
    }

    /// Sets `SO_SNDTIMEO`: a send that cannot complete in time (the peer
    /// stopped reading and the socket buffer is full) fails with
    /// [`TransportError::Timeout`]. `None` (the default) blocks.
    ///
    /// A send that timed out may have transmitted part of a chunked
    /// message; the session must then be dropped.
    pub fn set_send_timeout(&self, timeout: Option<Duration>) -> Result<(), TransportError> {
        let timeout = timeout.map(|t| t.max(Duration::from_micros(1)));
        sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Send, timeout)
            .map_err(|e| TransportError::io("setsockopt(SO_SNDTIMEO)", e))
    }

    /// Sets `SO_RCVTIMEO` unless the socket already has that value.
    fn set_recv_timeout(&self, timeout: Option<Duration>) -> Result<(), TransportError> {
        let enc = match timeout {
            None => RCVTIMEO_NONE,
            Some(t) => u64::try_from(t.as_micros())
                .unwrap_or(u64::MAX - 1)
                .clamp(1, u64::MAX - 1),
        };
        if self.rcvtimeo.load(Ordering::Relaxed) == enc {
            return Ok(());
        }
        let value = (enc != RCVTIMEO_NONE).then(|| Duration::from_micros(enc));
        sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Recv, value)
            .map_err(|e| TransportError::io("setsockopt(SO_RCVTIMEO)", e))?;
        self.rcvtimeo.store(enc, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `op` (one receive call; gets `MSG_TRUNC` and possibly more
    /// flags, returns the real packet length) waiting for the packet until
    /// `wait` expires.
    fn recv_first(
        &self,
        wait: Deadline,
        mut op: impl FnMut(RecvFlags) -> Result<usize, Errno>,
    ) -> Result<usize, TransportError> {
        if self.guarded() {
            return self.recv_next(&wait, op);
        }
        if wait.timeout().map_or(false, |t| t.is_zero()) {
            return self.recv_now(op);
        }
        self.set_recv_timeout(wait.timeout())?;
        loop {
            match op(RecvFlags::TRUNC) {
                Ok(n) => return packet_len(n),
                // SO_RCVTIMEO makes the kernel return EINTR even for
                // SA_RESTART handlers; carry on with the time left.
                Err(Errno::INTR) => match wait.remaining() {
                    Some(left) if left.is_zero() => return Err(TransportError::Timeout),
                    left => self.set_recv_timeout(left)?,
                },
                Err(Errno::AGAIN) => return Err(TransportError::Timeout),
                Err(e) => return Err(recv_error(e)),
            }
        }
    }

    /// Runs `op` once with `MSG_DONTWAIT`; no packet is
    /// [`TransportError::Timeout`].
    fn recv_now(
        &self,
        mut op: impl FnMut(RecvFlags) -> Result<usize, Errno>,
    ) -> Result<usize, TransportError> {
        loop {
            match op(RecvFlags::TRUNC | RecvFlags::DONTWAIT) {
                Ok(n) => return packet_len(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Err(TransportError::Timeout),
                Err(e) => return Err(recv_error(e)),
            }
        }
    }

    /// Receives a packet that is expected soon (a continuation chunk): try
    /// without waiting, poll only if nothing is queued yet. Also the
    /// receive of a guarded connection (poll with the abort handle, then
    /// receive without waiting).
    fn recv_next(
        &self,
        wait: &Deadline,
        mut op: impl FnMut(RecvFlags) -> Result<usize, Errno>,
    ) -> Result<usize, TransportError> {
        loop {
            match self.recv_now(&mut op) {
                Err(TransportError::Timeout) if self.guarded() => {
                    self.wait_guarded(PollFlags::IN, wait)?
                }
                Err(TransportError::Timeout) => {
                    if !poll_readable(self.fd.as_fd(), wait)? {
                        return Err(TransportError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }
}

impl PacketConn for UdsConn {
    /// One `sendmsg` gathering `prefix` and `data`.
    fn send_prefixed(
        &self,
        prefix: &[u8],
        data: &[u8],
        _scratch: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        self.send_iov(&[IoSlice::new(prefix), IoSlice::new(data)])
    }

    /// One `recv` into the spare capacity of `buf` (all of it, at least
    /// `max`), returning the real length (`MSG_TRUNC`). The first packet
    /// of a message is awaited with `SO_RCVTIMEO`; a continuation chunk is
    /// read without waiting first and polled for only when not yet queued.
    fn recv_appended(
        &self,
        buf: &mut Vec<u8>,
        _max: usize,
        wait: PacketWait<'_>,
    ) -> Result<usize, TransportError> {
        let op = |flags| recv_spare(&self.fd, buf, flags);
        match wait {
            PacketWait::Now => self.recv_now(op),
            PacketWait::First(deadline) => self.recv_first(*deadline, op),
            PacketWait::Next(deadline) => self.recv_next(deadline, op),
        }
    }
}

impl AsFd for UdsConn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Polls `fd` for input (or hang-up) until `wait` expires; `false` on
/// timeout. EINTR resumes with the time left.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, wait: &Deadline) -> Result<bool, TransportError> {
    loop {
        let left = wait.remaining();
        if left.map_or(false, |d| d.is_zero()) {
            return Ok(false);
        }
        // `Deadline` maps timeouts too large for a deadline to "forever"; one
        // too large for a Timespec waits forever as well.
        let ts = left.and_then(|d| Timespec::try_from(d).ok());
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(TransportError::io("poll", e)),
        }
    }
}

/// One `recv` into a slice; returns the real packet length (`MSG_TRUNC`).
fn recv_slice(fd: &OwnedFd, buf: &mut [u8], flags: RecvFlags) -> Result<usize, Errno> {
    net::recv(fd, &mut *buf, flags).map(|(_, real)| real)
}

/// One `recv` appended to the spare capacity of `buf`; returns the real
/// packet length (`MSG_TRUNC`). `buf` grows by the bytes that fitted.
fn recv_spare(fd: &OwnedFd, buf: &mut Vec<u8>, flags: RecvFlags) -> Result<usize, Errno> {
    net::recv(fd, spare_capacity(buf), flags).map(|(_, real)| real)
}

/// A received length of 0 is EOF (or an empty packet, which no peer sends).
fn packet_len(n: usize) -> Result<usize, TransportError> {
    if n == 0 {
        Err(TransportError::PeerClosed)
    } else {
        Ok(n)
    }
}

fn recv_error(e: Errno) -> TransportError {
    match e {
        Errno::CONNRESET | Errno::PIPE | Errno::NOTCONN => TransportError::PeerClosed,
        e => TransportError::io("recv", e),
    }
}

fn check_fits(n: usize, cap: usize) -> Result<usize, TransportError> {
    if n > cap {
        Err(TransportError::OversizePacket { len: n, limit: cap })
    } else {
        Ok(n)
    }
}
