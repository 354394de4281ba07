//! One connected named-pipe instance in message mode: whole packets in and
//! out, with deadlines (PROTOCOL-WINDOWS.md §3.4, §3.7).
//!
//! Handles are opened for overlapped I/O (not visible to the peer), so every
//! read and write has a deadline and is cancelled when it passes; nothing
//! polls. Each direction has its own event, guarded by a mutex, so one
//! thread may read while another writes.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_BROKEN_PIPE, ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::Pipes::{GetNamedPipeServerProcessId, PeekNamedPipe};

use super::sys::{io_event, last_error, os_error, overlapped, Io};
use crate::deadline::Deadline;
use crate::transport::error::TransportError;
use crate::transport::handshake::HandshakeConn;

/// Default bound on one packet write: a peer that has not read for this
/// long while our packet waits for room in its buffer is considered stuck.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server waits for a rejected client to read its HELLO_ACK and
/// hang up before it closes the pipe anyway.
pub const REJECT_LINGER: Duration = Duration::from_secs(1);

/// Encoded "no send timeout" in [`PipeConn`]'s atomic.
const NO_TIMEOUT: u64 = u64::MAX;

/// Which end of the pipe a [`PipeConn`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeSide {
    /// The end a listener accepted.
    Server,
    /// The end a client opened.
    Client,
}

/// A connected message-mode named pipe that moves whole packets.
///
/// `send_packet` is one `WriteFile`, `recv_packet` one `ReadFile`; a
/// message larger than the receive buffer is an error
/// ([`TransportError::OversizePacket`]), never a silent truncation. The
/// three "peer gone" codes (`ERROR_BROKEN_PIPE`, `ERROR_NO_DATA`,
/// `ERROR_PIPE_NOT_CONNECTED`) and a zero-byte read are
/// [`TransportError::PeerClosed`].
///
/// Dropping the connection closes the handle. A server end is never
/// disconnected with `DisconnectNamedPipe` (which discards unread data):
/// every instance serves one session and is closed, so the client can still
/// read what was written before the close.
#[derive(Debug)]
pub struct PipeConn {
    handle: OwnedHandle,
    read_event: Mutex<OwnedHandle>,
    write_event: Mutex<OwnedHandle>,
    /// Send timeout in microseconds, [`NO_TIMEOUT`] for none.
    send_timeout_us: AtomicU64,
    side: PipeSide,
}

/// Locks a mutex whose data (an event handle) cannot be left inconsistent
/// by a panic, so a poisoned lock is simply taken over.
fn lock(m: &Mutex<OwnedHandle>) -> MutexGuard<'_, OwnedHandle> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Maps a Win32 error of a pipe operation: the three disconnect codes are
/// [`TransportError::PeerClosed`], anything else an I/O error of `op`.
pub(super) fn pipe_error(op: &'static str, code: u32) -> TransportError {
    match code {
        ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED => TransportError::PeerClosed,
        _ => TransportError::Io {
            op,
            source: os_error(code),
        },
    }
}

impl PipeConn {
    /// Wraps a connected pipe handle opened with `FILE_FLAG_OVERLAPPED`
    /// and in message read mode.
    pub(super) fn from_handle(handle: OwnedHandle, side: PipeSide) -> std::io::Result<PipeConn> {
        Ok(PipeConn {
            handle,
            read_event: Mutex::new(io_event()?),
            write_event: Mutex::new(io_event()?),
            send_timeout_us: AtomicU64::new(DEFAULT_SEND_TIMEOUT.as_micros() as u64),
            side,
        })
    }

    fn raw(&self) -> HANDLE {
        self.handle.as_raw_handle() as HANDLE
    }

    /// Which end this is.
    pub fn side(&self) -> PipeSide {
        self.side
    }

    /// Bounds every later packet write: a write that cannot complete in
    /// time (the peer stopped reading and its buffer is full) fails with
    /// [`TransportError::Timeout`] and is cancelled. `None` blocks.
    /// Default: [`DEFAULT_SEND_TIMEOUT`].
    ///
    /// A write that timed out may have left a chunked message half sent;
    /// the session must then be dropped.
    pub fn set_send_timeout(&self, timeout: Option<Duration>) {
        let enc = timeout.map_or(NO_TIMEOUT, |t| {
            u64::try_from(t.as_micros()).unwrap_or(NO_TIMEOUT - 1)
        });
        self.send_timeout_us.store(enc, Ordering::Relaxed);
    }

    fn send_deadline(&self) -> Deadline {
        match self.send_timeout_us.load(Ordering::Relaxed) {
            NO_TIMEOUT => Deadline::new(None),
            us => Deadline::new(Some(Duration::from_micros(us))),
        }
    }

    /// Writes one packet (one message of the pipe) with one `WriteFile`.
    pub fn send_packet(&self, packet: &[u8]) -> Result<(), TransportError> {
        let len = u32::try_from(packet.len()).map_err(|_| TransportError::OversizePacket {
            len: packet.len(),
            limit: u32::MAX as usize,
        })?;
        let deadline = self.send_deadline();
        let event = lock(&self.write_event);
        let h = self.raw();
        let ev = event.as_raw_handle() as HANDLE;
        // SAFETY: one overlapped WriteFile on our overlapped handle with the
        // OVERLAPPED `overlapped` provides; `packet` is borrowed for the whole
        // call, which does not return before the write completed or was
        // cancelled; the write event is locked, so no other operation uses it.
        let io = unsafe {
            overlapped(h, ev, &deadline, |ov| {
                WriteFile(h, packet.as_ptr(), len, std::ptr::null_mut(), ov)
            })
        };
        match io {
            Io::Done(n) if n == len => Ok(()),
            Io::Done(n) => Err(TransportError::Io {
                op: "WriteFile",
                source: std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    format!("short write of a pipe message: {n} of {len} bytes"),
                ),
            }),
            Io::TimedOut => Err(TransportError::Timeout),
            Io::Failed { code, .. } => Err(pipe_error("WriteFile", code)),
        }
    }

    /// Writes one packet made of `parts` concatenated (a pipe message has no
    /// scatter/gather, so the parts are copied into one buffer first).
    pub fn send_parts(&self, parts: &[&[u8]]) -> Result<(), TransportError> {
        self.send_packet(&parts.concat())
    }

    /// Reads one packet into `buf` and returns its length, waiting up to
    /// `timeout` (`None`: forever; `Some(ZERO)`: only what is already
    /// there). A packet larger than `buf` is
    /// [`TransportError::OversizePacket`]; its rest stays unread and the
    /// session is out of step.
    pub fn recv_packet(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, TransportError> {
        let cap = buf.len().min(u32::MAX as usize);
        // SAFETY: `buf` is valid for writes of `cap` bytes for the whole call.
        unsafe { self.read_raw(buf.as_mut_ptr(), cap, &Deadline::new(timeout)) }
    }

    /// Reads one packet of at most `max` bytes appended to `buf` (after its
    /// current length); returns the packet's length. `buf` grows by it.
    pub(super) fn recv_append(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        deadline: &Deadline,
    ) -> Result<usize, TransportError> {
        let max = max.min(u32::MAX as usize);
        buf.reserve(max);
        let len = buf.len();
        // SAFETY: `reserve` made room for `max` bytes after `len`; the
        // pointer stays valid because `buf` is not touched during the read.
        let n = unsafe { self.read_raw(buf.as_mut_ptr().add(len), max, deadline)? };
        // SAFETY: the read initialised `n ≤ max` bytes right after `len`,
        // within the reserved capacity.
        unsafe { buf.set_len(len + n) };
        Ok(n)
    }

    /// One overlapped `ReadFile` of at most `cap` bytes into `ptr`.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `cap` bytes until this returns.
    unsafe fn read_raw(
        &self,
        ptr: *mut u8,
        cap: usize,
        deadline: &Deadline,
    ) -> Result<usize, TransportError> {
        let event = lock(&self.read_event);
        let h = self.raw();
        let ev = event.as_raw_handle() as HANDLE;
        // SAFETY: one overlapped ReadFile on our overlapped handle into a
        // buffer the caller guarantees for `cap` bytes until we return, and
        // `overlapped` returns only after the read completed or was
        // cancelled; the read event is locked.
        let io = unsafe {
            overlapped(h, ev, deadline, |ov| {
                ReadFile(h, ptr, cap as u32, std::ptr::null_mut(), ov)
            })
        };
        match io {
            Io::Done(0) => Err(TransportError::PeerClosed),
            Io::Done(n) => Ok(n as usize),
            Io::TimedOut => Err(TransportError::Timeout),
            Io::Failed {
                code: ERROR_MORE_DATA,
                bytes,
            } => Err(TransportError::OversizePacket {
                len: bytes as usize + self.left_in_message().unwrap_or(0),
                limit: cap,
            }),
            Io::Failed { code, .. } => Err(pipe_error("ReadFile", code)),
        }
    }

    /// `PeekNamedPipe`: (bytes available, bytes left in a partly read
    /// message). The peer being gone is [`TransportError::PeerClosed`].
    fn peek(&self) -> Result<(u32, u32), TransportError> {
        let (mut avail, mut left) = (0u32, 0u32);
        // SAFETY: a zero-length peek with no buffer is allowed; the out
        // pointers are valid locals.
        let ok = unsafe {
            PeekNamedPipe(
                self.raw(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut avail,
                &mut left,
            )
        };
        if ok == 0 {
            return Err(pipe_error("PeekNamedPipe", last_error()));
        }
        Ok((avail, left))
    }

    fn left_in_message(&self) -> Option<usize> {
        self.peek().ok().map(|(_, left)| left as usize)
    }

    /// Bytes waiting to be read (0 = nothing), without consuming them.
    pub fn pending(&self) -> Result<usize, TransportError> {
        self.peek().map(|(avail, _)| avail as usize)
    }

    /// Process id of the pipe's server (0 if Windows cannot tell).
    pub fn server_process_id(&self) -> u32 {
        let mut pid = 0u32;
        // SAFETY: the handle is our open pipe handle; `pid` is a valid,
        // writable u32 for the duration of the call.
        let ok = unsafe { GetNamedPipeServerProcessId(self.raw(), &mut pid) };
        if ok == 0 {
            0
        } else {
            pid
        }
    }

    /// True when the peer has closed its end (or was killed: the system
    /// closes a dead process's handles), checked without waiting and without
    /// consuming data. Messages may still be queued when this is true.
    pub fn is_peer_gone(&self) -> bool {
        matches!(self.peek(), Err(TransportError::PeerClosed))
    }

    /// Waits up to `timeout` for the peer to hang up, discarding anything
    /// it sends meanwhile. A server calls this after a rejection HELLO_ACK,
    /// so the client has read the ACK before the pipe goes away
    /// (`FlushFileBuffers` would wait without a bound). Returns true when
    /// the peer hung up in time.
    pub fn linger(&self, timeout: Duration) -> bool {
        let deadline = Deadline::new(Some(timeout));
        let mut scratch = [0u8; 256];
        while !deadline.expired() {
            // SAFETY: `scratch` is valid for its length until we return.
            let r = unsafe { self.read_raw(scratch.as_mut_ptr(), scratch.len(), &deadline) };
            match r {
                Ok(_) | Err(TransportError::OversizePacket { .. }) => continue,
                Err(TransportError::PeerClosed) => return true,
                Err(_) => return false,
            }
        }
        false
    }
}

impl HandshakeConn for PipeConn {
    fn send_handshake_packet(&self, parts: &[&[u8]]) -> Result<(), TransportError> {
        self.send_parts(parts)
    }

    fn recv_handshake_packet(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        self.recv_packet(buf, Some(timeout))
    }

    fn auto_packet_size(&self) -> u32 {
        super::DEFAULT_PACKET_SIZE
    }
}
