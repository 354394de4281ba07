//! UDS SEQPACKET sessions: send/receive, chunking, in-flight ids
//! (PROTOCOL.md §4, §6).
//!
//! Three layers, each usable on its own:
//!
//! * [`UdsConn`] owns a connected `AF_UNIX` / `SOCK_SEQPACKET` socket and
//!   moves single packets: one `sendmsg` or one `recv` per packet.
//! * [`UdsChannel`] adds the negotiated [`Limits`], chunking and every
//!   receive-side rule, and owns a reusable receive buffer.
//! * [`InFlight`] tracks the message ids of pipelined requests.
//!
//! # System calls on the hot path
//!
//! A message that fits one packet costs exactly one `sendmsg` to send and one
//! `recv` to receive. Receive timeouts are implemented with `SO_RCVTIMEO`,
//! set only when the requested timeout differs from the one already on the
//! socket, so a loop that always waits with the same timeout does not pay a
//! `poll` per message. Continuation packets of a chunked message are read
//! with `MSG_DONTWAIT` first and only polled for when not yet queued.
//!
//! # Receive buffer
//!
//! A SEQPACKET packet of unknown size can only be received whole into a
//! buffer as large as the largest legal packet, or by paying an extra
//! `MSG_PEEK` call per packet. We reserve
//! `min(packet_size, 32 + max_recv_payload)` bytes of *capacity* on the
//! first receive (no zeroing, so untouched pages cost nothing) and grow to
//! `32 + payload_len` only when a chunked message needs it. The buffer is
//! reused for every later message and never shrinks, so the steady state
//! allocates nothing. Continuation chunks are received straight into their
//! final place in the buffer (the 32 bytes the chunk header lands on are
//! saved and restored around the call), so the payload is never copied in
//! user space.

#![forbid(unsafe_code)]

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{
    self, sockopt, AddressFamily, RecvFlags, SendAncillaryBuffer, SendFlags, SocketFlags,
    SocketType,
};

use super::error::TransportError;
use crate::deadline::Deadline;
use crate::wire::{BatchView, ChunkHeader, Header, HelloAck, Kind, CHUNK_HEADER_LEN, HEADER_LEN};

/// Packet size used when `SO_SNDBUF` cannot be read (PROTOCOL.md §6.3).
pub const FALLBACK_PACKET_SIZE: u32 = 65_536;

/// Bytes the kernel needs below `SO_SNDBUF` for one SEQPACKET message: a
/// message larger than `SO_SNDBUF − 32` is refused with EMSGSIZE.
pub const SNDBUF_HEADROOM: usize = 32;

/// Encoded `SO_RCVTIMEO` cache value: not known (set it on first use).
const RCVTIMEO_UNKNOWN: u64 = u64::MAX;
/// Encoded `SO_RCVTIMEO` cache value: no timeout (block forever).
const RCVTIMEO_NONE: u64 = 0;

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
}

impl UdsConn {
    /// Wraps a connected SEQPACKET socket (for example one end of a
    /// `socketpair`, or a socket passed in by a supervisor).
    pub fn from_fd(fd: OwnedFd) -> UdsConn {
        UdsConn {
            fd,
            rcvtimeo: AtomicU64::new(RCVTIMEO_UNKNOWN),
        }
    }

    /// Wraps a socket this crate just created or accepted, whose receive
    /// timeout is known to be unset.
    pub(crate) fn from_fresh_fd(fd: OwnedFd) -> UdsConn {
        UdsConn {
            fd,
            rcvtimeo: AtomicU64::new(RCVTIMEO_NONE),
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
        loop {
            match net::sendmsg(
                &self.fd,
                iov,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL,
            ) {
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
    /// without waiting, poll only if nothing is queued yet.
    fn recv_next(
        &self,
        wait: &Deadline,
        mut op: impl FnMut(RecvFlags) -> Result<usize, Errno>,
    ) -> Result<usize, TransportError> {
        loop {
            match self.recv_now(&mut op) {
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

/// The negotiated limits of one session, seen from one side.
///
/// Payload limits count payload bytes only (the 32-byte header excluded);
/// for a batch they cover directory, padding and items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest payload this side may send (refused locally above it).
    pub max_send_payload: u32,
    /// Largest item count this side may send.
    pub max_send_items: u32,
    /// Largest payload this side accepts.
    pub max_recv_payload: u32,
    /// Largest item count this side accepts.
    pub max_recv_items: u32,
    /// Agreed packet size; must exceed 32.
    pub packet_size: u32,
}

impl Limits {
    /// The client's view of an accepted HELLO_ACK: it sends requests and
    /// receives responses.
    pub fn for_client(ack: &HelloAck) -> Limits {
        Limits {
            max_send_payload: ack.agreed_max_request_payload_bytes,
            max_send_items: ack.agreed_max_request_batch_items,
            max_recv_payload: ack.agreed_max_response_payload_bytes,
            max_recv_items: ack.agreed_max_response_batch_items,
            packet_size: ack.agreed_packet_size,
        }
    }

    /// The server's view of the HELLO_ACK it sent: it receives requests and
    /// sends responses.
    pub fn for_server(ack: &HelloAck) -> Limits {
        Limits {
            max_send_payload: ack.agreed_max_response_payload_bytes,
            max_send_items: ack.agreed_max_response_batch_items,
            max_recv_payload: ack.agreed_max_request_payload_bytes,
            max_recv_items: ack.agreed_max_request_batch_items,
            packet_size: ack.agreed_packet_size,
        }
    }
}

/// The message ids of requests sent and not yet answered (PROTOCOL.md §6.5).
///
/// A small unordered set kept in a `Vec`: the number of requests in flight
/// is small, so a linear scan beats hashing, and once the vector has grown
/// to the working depth nothing is allocated again.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    ids: Vec<u64>,
}

impl InFlight {
    /// An empty set.
    pub fn new() -> InFlight {
        InFlight::default()
    }

    /// An empty set with room for `n` ids before it allocates.
    pub fn with_capacity(n: usize) -> InFlight {
        InFlight {
            ids: Vec::with_capacity(n),
        }
    }

    /// Records `id` as in flight; refuses an id that already is.
    pub fn insert(&mut self, id: u64) -> Result<(), TransportError> {
        if self.contains(id) {
            return Err(TransportError::DuplicateInFlight { id });
        }
        self.ids.push(id);
        Ok(())
    }

    /// Removes `id` because its response arrived; an id that is not in
    /// flight is the peer's protocol error.
    pub fn complete(&mut self, id: u64) -> Result<(), TransportError> {
        match self.ids.iter().position(|&x| x == id) {
            Some(i) => {
                self.ids.swap_remove(i);
                Ok(())
            }
            None => Err(TransportError::UnknownResponseId { id }),
        }
    }

    /// True when `id` is in flight.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    /// Number of ids in flight.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Fails every request at once (the session broke): empties the set and
    /// yields the ids that were in flight.
    pub fn fail_all(&mut self) -> std::vec::Drain<'_, u64> {
        self.ids.drain(..)
    }
}

/// When the first packet of a message is awaited, and how long the rest of
/// a chunked message may take.
#[derive(Clone, Copy)]
enum FirstPacket {
    /// Wait up to the timeout (`None`: forever) for the whole message.
    Wait(Option<Duration>),
    /// Do not wait for the first packet; then up to the timeout for the rest.
    Try(Option<Duration>),
    /// Wait up to `first` for the first packet, then up to `rest` (from its
    /// arrival) for the remaining chunks.
    Split {
        first: Option<Duration>,
        rest: Option<Duration>,
    },
}

/// A UDS session: a connection, its negotiated [`Limits`] and a reusable
/// receive buffer.
///
/// `send` and `recv` implement chunking and every receive rule of
/// PROTOCOL.md §4 and §6.6; `send_request` / `recv_response` add the
/// client's in-flight id tracking. Any receive error other than
/// [`TransportError::Timeout`] (nothing arrived) leaves the session out of
/// step: drop it.
#[derive(Debug)]
pub struct UdsChannel {
    conn: UdsConn,
    limits: Limits,
    buf: Vec<u8>,
    /// Payload length of the last message received into `buf`.
    last_len: usize,
    in_flight: InFlight,
}

impl UdsChannel {
    /// A session over `conn` with the limits agreed in the handshake.
    /// Fails when `limits.packet_size` is 32 or less.
    pub fn new(conn: UdsConn, limits: Limits) -> Result<UdsChannel, TransportError> {
        if limits.packet_size as usize <= HEADER_LEN {
            return Err(TransportError::BadPacketSize {
                size: limits.packet_size,
            });
        }
        Ok(UdsChannel {
            conn,
            limits,
            buf: Vec::new(),
            last_len: 0,
            in_flight: InFlight::with_capacity(16),
        })
    }

    /// The connection.
    pub fn conn(&self) -> &UdsConn {
        &self.conn
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Requests sent with [`UdsChannel::send_request`] and not yet answered.
    pub fn in_flight(&self) -> &InFlight {
        &self.in_flight
    }

    /// Gives up the connection.
    pub fn into_conn(self) -> UdsConn {
        self.conn
    }

    /// Sends one message, chunked when `32 + payload.len()` exceeds the
    /// packet size.
    ///
    /// Refused locally, before any byte is written, when
    /// `header.payload_len != payload.len()`
    /// ([`TransportError::PayloadLenMismatch`]), when the payload exceeds
    /// `max_send_payload` ([`TransportError::RequestTooLarge`]) or when
    /// `header.item_count` exceeds `max_send_items`
    /// ([`TransportError::TooManyItems`]).
    ///
    /// Chunking (PROTOCOL.md §4): with `P` the packet size and `B = P − 32`,
    /// the first packet is the header and the first `B` payload bytes; each
    /// continuation is a chunk header and the next `min(B, rest)` bytes.
    /// Each packet is one `sendmsg` gathering the header and a slice of the
    /// caller's payload: the payload is never copied in user space. A
    /// failure after the first packet leaves a partial message on the wire;
    /// drop the session.
    pub fn send(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        send_message(&self.conn, self.limits.packet_size, header, payload)
    }

    /// Receives one message and returns its header and payload (borrowed
    /// from the channel's buffer until the next receive).
    ///
    /// `timeout` bounds the whole message; `None` waits forever.
    /// [`TransportError::Timeout`] means nothing arrived and the session is
    /// still usable; every other error, including
    /// [`TransportError::StalledMessage`] (timeout inside a chunked
    /// message), ends it.
    ///
    /// Rules, in order (PROTOCOL.md §4, §6.6): the first packet has at
    /// least 32 bytes and its header decodes; `payload_len` and
    /// `item_count` are within the receive limits; the packet is no longer
    /// than the packet size and, stricter than the reference peers, no
    /// longer than `32 + payload_len` (a peer that pads a packet is
    /// rejected). Each continuation packet: at least 32 bytes; the chunk
    /// header decodes; same message id; `chunk_index` is the next index;
    /// `chunk_count` is what the length implies; `total_message_len` is
    /// `32 + payload_len`; `chunk_payload_len` is the packet length minus
    /// 32; no overrun; no larger than the packet size. Finally, when BATCH
    /// is set the batch directory must validate (for any `item_count`).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<(Header, &[u8]), TransportError> {
        let header = recv_message(
            &self.conn,
            &self.limits,
            &mut self.buf,
            FirstPacket::Wait(timeout),
        )?
        .ok_or(TransportError::Timeout)?;
        self.last_len = header.payload_len as usize;
        Ok((header, self.last_payload()))
    }

    /// Like [`UdsChannel::recv`], but `first_timeout` bounds only the wait
    /// for the first packet; a chunked message then has up to
    /// `rest_timeout` (from that packet's arrival) for its remaining chunks.
    /// A receiver that waits in short slices uses this so that a slow
    /// multi-packet message is not cut off by the slice.
    pub fn recv_split(
        &mut self,
        first_timeout: Option<Duration>,
        rest_timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = recv_message(
            &self.conn,
            &self.limits,
            &mut self.buf,
            FirstPacket::Split {
                first: first_timeout,
                rest: rest_timeout,
            },
        )?
        .ok_or(TransportError::Timeout)?;
        self.last_len = header.payload_len as usize;
        Ok((header, self.last_payload()))
    }

    /// Like [`UdsChannel::recv`] without waiting for the first packet:
    /// `Ok(None)` when none is queued. Once a message has started, its
    /// remaining chunks are awaited for up to `rest_timeout` (`None`:
    /// forever).
    pub fn try_recv(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        match recv_message(
            &self.conn,
            &self.limits,
            &mut self.buf,
            FirstPacket::Try(rest_timeout),
        )? {
            Some(header) => {
                self.last_len = header.payload_len as usize;
                Ok(Some((header, self.last_payload())))
            }
            None => Ok(None),
        }
    }

    /// Sends a request and records its message id as in flight.
    ///
    /// Refused locally when the id is already in flight
    /// ([`TransportError::DuplicateInFlight`]) or for any reason
    /// [`UdsChannel::send`] refuses. A send failure fails every request in
    /// flight (the set is emptied).
    pub fn send_request(&mut self, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
        check_send(&self.limits, header, payload)?;
        self.in_flight.insert(header.message_id)?;
        let sent = send_message(&self.conn, self.limits.packet_size, header, payload);
        if sent.is_err() {
            self.in_flight.fail_all();
        }
        sent
    }

    /// Receives a response and matches it to a request in flight.
    ///
    /// A message that is not a RESPONSE
    /// ([`TransportError::UnexpectedKind`]) or whose id is not in flight
    /// ([`TransportError::UnknownResponseId`]) is a protocol error. Every
    /// error except [`TransportError::Timeout`] (nothing arrived) fails all
    /// requests in flight.
    pub fn recv_response(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .response_message(FirstPacket::Wait(timeout))?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// [`UdsChannel::recv_response`] with the timeouts of
    /// [`UdsChannel::recv_split`].
    pub fn recv_response_split(
        &mut self,
        first_timeout: Option<Duration>,
        rest_timeout: Option<Duration>,
    ) -> Result<(Header, &[u8]), TransportError> {
        let header = self
            .response_message(FirstPacket::Split {
                first: first_timeout,
                rest: rest_timeout,
            })?
            .ok_or(TransportError::Timeout)?;
        Ok((header, self.last_payload()))
    }

    /// Like [`UdsChannel::recv_response`] without waiting for the first
    /// packet: `Ok(None)` when no response is queued. Once a message has
    /// started, its remaining chunks are awaited for up to `rest_timeout`.
    /// Receivers poll with this for a short while before they block.
    pub fn try_recv_response(
        &mut self,
        rest_timeout: Option<Duration>,
    ) -> Result<Option<(Header, &[u8])>, TransportError> {
        match self.response_message(FirstPacket::Try(rest_timeout))? {
            Some(header) => Ok(Some((header, self.last_payload()))),
            None => Ok(None),
        }
    }

    fn response_message(&mut self, first: FirstPacket) -> Result<Option<Header>, TransportError> {
        let header = match recv_message(&self.conn, &self.limits, &mut self.buf, first) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            // Nothing arrived: the session and its requests are intact.
            Err(TransportError::Timeout) => return Err(TransportError::Timeout),
            Err(e) => {
                self.in_flight.fail_all();
                return Err(e);
            }
        };
        let matched = if header.kind != Kind::Response {
            Err(TransportError::UnexpectedKind {
                expected: Kind::Response,
                found: header.kind,
            })
        } else {
            self.in_flight.complete(header.message_id)
        };
        if let Err(e) = matched {
            self.in_flight.fail_all();
            return Err(e);
        }
        self.last_len = header.payload_len as usize;
        Ok(Some(header))
    }
}

impl UdsChannel {
    /// Payload of the last message received (empty before the first), for
    /// callers that cannot keep the borrow [`UdsChannel::recv`] returns.
    pub fn last_payload(&self) -> &[u8] {
        self.buf
            .get(HEADER_LEN..HEADER_LEN + self.last_len)
            .unwrap_or(&[])
    }
}

/// The local refusals of a send, checked before any byte is written.
fn check_send(limits: &Limits, header: &Header, payload: &[u8]) -> Result<(), TransportError> {
    if header.payload_len as usize != payload.len() {
        return Err(TransportError::PayloadLenMismatch {
            header: header.payload_len,
            actual: payload.len(),
        });
    }
    if header.payload_len > limits.max_send_payload {
        return Err(TransportError::RequestTooLarge {
            len: header.payload_len,
            limit: limits.max_send_payload,
        });
    }
    // total_message_len (32 + payload_len) must fit its u32 field.
    let max_total = u32::MAX - HEADER_LEN as u32;
    if header.payload_len > max_total {
        return Err(TransportError::RequestTooLarge {
            len: header.payload_len,
            limit: max_total,
        });
    }
    if header.item_count > limits.max_send_items {
        return Err(TransportError::TooManyItems {
            count: header.item_count,
            limit: limits.max_send_items,
        });
    }
    Ok(())
}

/// Sends a checked message, chunked per PROTOCOL.md §4.
fn send_message(
    conn: &UdsConn,
    packet_size: u32,
    header: &Header,
    payload: &[u8],
) -> Result<(), TransportError> {
    let hdr = header.encode();
    let room = packet_size as usize - HEADER_LEN;
    if payload.len() <= room {
        return conn.send_iov(&[IoSlice::new(&hdr), IoSlice::new(payload)]);
    }
    let (first, mut rest) = payload.split_at(room);
    // payload_len ≤ u32::MAX − 32 and room ≥ 1, so both fit a u32.
    let chunk_count = 1 + div_ceil(rest.len(), room) as u32;
    let total_message_len = header.payload_len + HEADER_LEN as u32;
    conn.send_iov(&[IoSlice::new(&hdr), IoSlice::new(first)])?;
    let mut chunk_index = 1;
    while !rest.is_empty() {
        let (part, tail) = rest.split_at(room.min(rest.len()));
        let chunk = ChunkHeader {
            message_id: header.message_id,
            total_message_len,
            chunk_index,
            chunk_count,
            chunk_payload_len: part.len() as u32,
        }
        .encode();
        conn.send_iov(&[IoSlice::new(&chunk), IoSlice::new(part)])?;
        rest = tail;
        chunk_index += 1;
    }
    Ok(())
}

/// Receives one message into `buf` (header at 0, payload after it) and
/// returns its header; `Ok(None)` only for [`FirstPacket::Try`] when no
/// packet is queued.
fn recv_message(
    conn: &UdsConn,
    limits: &Limits,
    buf: &mut Vec<u8>,
    first: FirstPacket,
) -> Result<Option<Header>, TransportError> {
    let packet = limits.packet_size as usize;
    let first_cap = packet.min(HEADER_LEN.saturating_add(limits.max_recv_payload as usize));
    buf.clear();
    buf.reserve(first_cap);

    let (n, wait) = match first {
        FirstPacket::Wait(timeout) => {
            let wait = Deadline::new(timeout);
            let n = conn.recv_first(wait, |flags| recv_spare(&conn.fd, buf, flags))?;
            (n, Some(wait))
        }
        FirstPacket::Split { first, .. } => {
            let n = conn.recv_first(Deadline::new(first), |flags| {
                recv_spare(&conn.fd, buf, flags)
            })?;
            (n, None)
        }
        FirstPacket::Try(_) => match conn.recv_now(|flags| recv_spare(&conn.fd, buf, flags)) {
            Ok(n) => (n, None),
            Err(TransportError::Timeout) => return Ok(None),
            Err(e) => return Err(e),
        },
    };

    if n < HEADER_LEN {
        return Err(TransportError::ShortPacket { len: n });
    }
    let header = Header::decode(&buf[..HEADER_LEN])?;
    if header.payload_len > limits.max_recv_payload {
        return Err(TransportError::IncomingTooLarge {
            len: header.payload_len,
            limit: limits.max_recv_payload,
        });
    }
    if header.item_count > limits.max_recv_items {
        return Err(TransportError::IncomingTooManyItems {
            count: header.item_count,
            limit: limits.max_recv_items,
        });
    }
    let total = HEADER_LEN + header.payload_len as usize;
    if n > total {
        return Err(TransportError::OversizePacket {
            len: n,
            limit: total,
        });
    }
    if n > packet {
        return Err(TransportError::OversizePacket {
            len: n,
            limit: packet,
        });
    }
    // Here n ≤ first_cap ≤ spare capacity: the packet fitted, buf.len() == n.

    if n < total {
        // The rest of the message: within the same deadline when waiting,
        // within `rest` from now after a non-blocking start.
        let wait = match (wait, first) {
            (Some(wait), _) => wait,
            (None, FirstPacket::Try(rest) | FirstPacket::Split { rest, .. }) => Deadline::new(rest),
            (None, FirstPacket::Wait(timeout)) => Deadline::new(timeout),
        };
        recv_chunks(conn, &header, total, packet, buf, &wait)?;
    }

    if header.is_batch() {
        BatchView::new(&buf[HEADER_LEN..total], header.item_count)
            .map_err(TransportError::BadBatch)?;
    }
    Ok(Some(header))
}

/// Receives the continuation chunks of a message whose first packet is in
/// `buf`, until `buf` holds `total` bytes.
fn recv_chunks(
    conn: &UdsConn,
    header: &Header,
    total: usize,
    packet: usize,
    buf: &mut Vec<u8>,
    wait: &Deadline,
) -> Result<(), TransportError> {
    let room = packet - HEADER_LEN;
    let first_part = buf.len() - HEADER_LEN;
    let expected = 1 + div_ceil(header.payload_len as usize - first_part, room) as u64;
    buf.reserve_exact(total - buf.len());

    let mut index: u64 = 1;
    while buf.len() < total {
        if index >= expected {
            return Err(TransportError::ChunkIncomplete {
                count: expected,
                received: buf.len(),
                total,
            });
        }
        let pos = buf.len();
        let remaining = total - pos;
        // The chunk header lands on the last 32 bytes received so far and
        // its data right after them, where it belongs: save those bytes,
        // receive, take the chunk header out, put them back.
        let hdr_at = pos - CHUNK_HEADER_LEN;
        let mut saved = [0u8; CHUNK_HEADER_LEN];
        saved.copy_from_slice(&buf[hdr_at..pos]);
        buf.truncate(hdr_at);
        let m = match conn.recv_next(wait, |flags| recv_spare(&conn.fd, buf, flags)) {
            Ok(m) => m,
            Err(TransportError::Timeout) => {
                return Err(TransportError::StalledMessage {
                    received: pos,
                    total,
                })
            }
            Err(e) => return Err(e),
        };
        if m < CHUNK_HEADER_LEN {
            return Err(TransportError::ShortPacket { len: m });
        }
        // m ≥ 32 and the spare capacity was ≥ 32 + remaining ≥ 32, so
        // buf.len() ≥ pos.
        let mut raw = [0u8; CHUNK_HEADER_LEN];
        raw.copy_from_slice(&buf[hdr_at..pos]);
        buf[hdr_at..pos].copy_from_slice(&saved);

        let chunk = ChunkHeader::decode(&raw)?;
        if chunk.message_id != header.message_id {
            return Err(TransportError::ChunkMessageIdMismatch {
                expected: header.message_id,
                found: chunk.message_id,
            });
        }
        if u64::from(chunk.chunk_index) != index {
            return Err(TransportError::ChunkIndexMismatch {
                expected: index,
                found: chunk.chunk_index,
            });
        }
        if u64::from(chunk.chunk_count) != expected {
            return Err(TransportError::ChunkCountMismatch {
                expected,
                found: chunk.chunk_count,
            });
        }
        if chunk.total_message_len as usize != total {
            return Err(TransportError::ChunkTotalMismatch {
                expected: total as u64,
                found: chunk.total_message_len,
            });
        }
        let data = m - CHUNK_HEADER_LEN;
        if chunk.chunk_payload_len as usize != data {
            return Err(TransportError::ChunkLengthMismatch {
                declared: chunk.chunk_payload_len,
                actual: data,
            });
        }
        if data > remaining {
            return Err(TransportError::ChunkOverrun {
                len: data,
                remaining,
            });
        }
        if m > packet {
            return Err(TransportError::OversizePacket {
                len: m,
                limit: packet,
            });
        }
        debug_assert_eq!(buf.len(), pos + data);
        index += 1;
    }
    Ok(())
}

/// `ceil(n / d)` for `d > 0` (`usize::div_ceil` is newer than the MSRV).
#[inline]
fn div_ceil(n: usize, d: usize) -> usize {
    n / d + usize::from(n % d != 0)
}
