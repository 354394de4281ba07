//! The per-session shared-memory region handle: create, attach, publish,
//! consume.
//!
//! # One publication per direction
//!
//! The client writes requests into the request area and bumps `req_seq`; the
//! server writes responses into the response area and bumps `resp_seq`. A
//! side publishes its next message only after it has consumed the peer's
//! previous one, so each area holds at most one message and needs no ring.
//!
//! The file layout is in `layout.rs`, file names in `path.rs`, stale-file
//! handling in `stale.rs` and the errors in `error.rs`; their public items
//! are re-exported here. See `docs/shm.md` for the full protocol
//! description.

use rustix::fd::{AsFd, OwnedFd};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::io_err;
use super::futex::{self, WaitOutcome};
use super::layout::{
    owner_generation, Area, OFF_HEADER_LEN, OFF_MAGIC, OFF_OWNER_GENERATION, OFF_OWNER_PID,
    OFF_REQUEST_CAPACITY, OFF_REQUEST_OFFSET, OFF_REQ_SEQ, OFF_RESPONSE_CAPACITY,
    OFF_RESPONSE_OFFSET, OFF_RESP_SEQ, OFF_VERSION,
};
use super::mapping::Mapping;
use super::path::check_path_len;
use crate::bytes::{get_u16, get_u32};
use crate::deadline::Deadline;
use crate::transport::wait::Waiter;

pub use super::error::{BadSizeReason, NotReadyReason, ShmError};
pub use super::layout::{
    RegionLayout, MESSAGE_HEADER_LEN, SHM_ALIGN, SHM_HEADER_LEN, SHM_MAGIC, SHM_VERSION,
};
pub use super::path::{region_path, MAX_PATH_LEN, REGION_SUFFIX};
pub use super::stale::{stale_check, sweep_stale, StaleVerdict};

/// Which side of the session a region handle plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmRole {
    /// Creates the region, publishes responses, consumes requests, unlinks
    /// the file on drop.
    Server,
    /// Attaches to the region, publishes requests, consumes responses, never
    /// unlinks.
    Client,
}

/// One session's shared-memory region, from the point of view of one side.
///
/// Owns the file descriptor and the mapping. [`ShmRegion::send`] publishes in
/// the side's own area, [`ShmRegion::recv`] consumes from the peer's. Dropping
/// a server handle unlinks the file; a client handle never does.
///
/// `ShmRegion` is `Send` (it may be moved to a worker thread) but not `Sync`:
/// publishing and consuming take `&mut self`, matching the protocol's single
/// publisher and single consumer per direction.
#[derive(Debug)]
pub struct ShmRegion {
    map: Mapping,
    _fd: OwnedFd,
    path: PathBuf,
    role: ShmRole,
    layout: RegionLayout,
    own: Area,
    peer: Area,
    /// Messages we have published (mirrors our seq word).
    published: u64,
    /// Peer messages we have consumed.
    consumed: u64,
}

/// Removes the file a failed `create` made, unless disarmed.
struct UnlinkGuard<'a>(Option<&'a Path>);

impl Drop for UnlinkGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn open_exclusive(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
}

impl ShmRegion {
    /// Creates the region file at `path` (server side) sized for the given
    /// payload limits (each area holds a 32-byte header plus that payload,
    /// rounded up to 64 bytes).
    ///
    /// Steps: `open(O_RDWR|O_CREAT|O_EXCL, 0600)` then `fchmod(0600)` (so the
    /// mode does not depend on the umask); if the file exists, the stale check
    /// runs ([`stale_check`]): a live owner gives [`ShmError::AddressInUse`],
    /// a stale file is removed and the exclusive create retried once. Then
    /// `ftruncate`, shared mapping, header, release fence. The areas are not
    /// written: a file freshly extended by `ftruncate` already reads as zeros,
    /// and leaving the pages untouched avoids committing memory for them.
    ///
    /// If anything fails after the file was created, it is removed again.
    pub fn create(
        path: impl AsRef<Path>,
        max_request_payload: u32,
        max_response_payload: u32,
    ) -> Result<Self, ShmError> {
        let path = path.as_ref();
        check_path_len(path)?;
        let layout = RegionLayout::for_payload_limits(max_request_payload, max_response_payload)?;
        let size = usize::try_from(layout.region_size()).map_err(|_| ShmError::LimitsTooLarge {
            max_request_payload,
            max_response_payload,
        })?;

        let fd = match open_exclusive(path) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => match stale_check(path) {
                StaleVerdict::Live | StaleVerdict::Kept => {
                    return Err(ShmError::AddressInUse {
                        path: path.to_owned(),
                    })
                }
                StaleVerdict::Absent | StaleVerdict::Removed => match open_exclusive(path) {
                    Ok(fd) => fd,
                    Err(Errno::EXIST) => {
                        return Err(ShmError::AddressInUse {
                            path: path.to_owned(),
                        })
                    }
                    Err(e) => return Err(io_err("create", path, e)),
                },
            },
            Err(e) => return Err(io_err("create", path, e)),
        };
        let mut guard = UnlinkGuard(Some(path));

        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(|e| io_err("fchmod", path, e))?;
        rustix::fs::ftruncate(&fd, layout.region_size())
            .map_err(|e| io_err("ftruncate", path, e))?;
        let map = Mapping::map(fd.as_fd(), size).map_err(|e| io_err("mmap", path, e))?;

        let mut header = [0u8; 32];
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        header[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&SHM_MAGIC.to_ne_bytes());
        header[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&SHM_VERSION.to_ne_bytes());
        header[OFF_HEADER_LEN..OFF_HEADER_LEN + 2].copy_from_slice(&SHM_HEADER_LEN.to_ne_bytes());
        header[OFF_OWNER_PID..OFF_OWNER_PID + 4].copy_from_slice(&pid.to_ne_bytes());
        header[OFF_OWNER_GENERATION..OFF_OWNER_GENERATION + 4]
            .copy_from_slice(&owner_generation().to_ne_bytes());
        for (off, v) in [
            (OFF_REQUEST_OFFSET, layout.request_offset),
            (OFF_REQUEST_CAPACITY, layout.request_capacity),
            (OFF_RESPONSE_OFFSET, layout.response_offset),
            (OFF_RESPONSE_CAPACITY, layout.response_capacity),
        ] {
            header[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        }
        map.copy_in(0, &header);
        fence(Ordering::Release);

        guard.0 = None;
        Ok(ShmRegion {
            map,
            _fd: fd,
            path: path.to_owned(),
            role: ShmRole::Server,
            own: Area::response(&layout),
            peer: Area::request(&layout),
            layout,
            published: 0,
            consumed: 0,
        })
    }

    /// Attaches to an existing region (client side), following PROTOCOL §7.5:
    /// open read-write, check the size, map the whole file, then check magic,
    /// version, header length, and the layout (in that order, each with its
    /// own error). The local counters start from the current sequence numbers.
    pub fn attach(path: impl AsRef<Path>) -> Result<Self, ShmError> {
        let path = path.as_ref();
        check_path_len(path)?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err("fstat", path, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(ShmError::NotRegularFile {
                path: path.to_owned(),
            });
        }
        let file_size = u64::try_from(st.st_size).unwrap_or(0);
        if file_size < u64::from(SHM_HEADER_LEN) {
            return Err(ShmError::NotReady {
                path: path.to_owned(),
                reason: NotReadyReason::FileTooSmall { size: file_size },
            });
        }
        let map_len = usize::try_from(file_size).map_err(|_| {
            io_err(
                "mmap",
                path,
                io::Error::new(io::ErrorKind::InvalidData, "file too large to map"),
            )
        })?;
        let map = Mapping::map(fd.as_fd(), map_len).map_err(|e| io_err("mmap", path, e))?;
        fence(Ordering::Acquire);

        let header: [u8; 32] = map.read_array(0);
        let magic = get_u32(&header, OFF_MAGIC);
        if magic != SHM_MAGIC {
            return Err(ShmError::BadMagic {
                path: path.to_owned(),
                found: magic,
            });
        }
        let version = get_u16(&header, OFF_VERSION);
        if version != SHM_VERSION {
            return Err(ShmError::BadVersion {
                path: path.to_owned(),
                found: version,
            });
        }
        let header_len = get_u16(&header, OFF_HEADER_LEN);
        if header_len != SHM_HEADER_LEN {
            return Err(ShmError::BadHeaderLen {
                path: path.to_owned(),
                found: header_len,
            });
        }
        let layout = RegionLayout::from_header(&header);
        layout.validate(path, file_size)?;

        let published = map.atomic_u64(OFF_REQ_SEQ).load(Ordering::Acquire);
        let consumed = map.atomic_u64(OFF_RESP_SEQ).load(Ordering::Acquire);
        Ok(ShmRegion {
            map,
            _fd: fd,
            path: path.to_owned(),
            role: ShmRole::Client,
            own: Area::request(&layout),
            peer: Area::response(&layout),
            layout,
            published,
            consumed,
        })
    }

    /// Publishes one message, `header` followed by `payload`, in our own area
    /// (PROTOCOL §7.6): both parts are copied straight into the mapping, then
    /// the length is stored (release), the sequence number incremented
    /// (release; the publication point), the signal word incremented and one
    /// waiter woken with `FUTEX_WAKE` — on every publish, because a peer may be
    /// asleep on the signal word.
    ///
    /// The caller is responsible for the header's contents (its `payload_len`
    /// should equal `payload.len()`), and must not publish again before the
    /// peer answered: each area holds one message.
    ///
    /// Fails with [`ShmError::MessageTooLarge`] (nothing written) if the
    /// message does not fit. An [`ShmError::Io`] from the wake-up means the
    /// message *was* published but a sleeping peer may not have been woken.
    pub fn send(&mut self, header: &[u8; 32], payload: &[u8]) -> Result<(), ShmError> {
        let area = self.own;
        let len = MESSAGE_HEADER_LEN.saturating_add(payload.len());
        if len > area.capacity as usize {
            return Err(ShmError::MessageTooLarge {
                len,
                capacity: area.capacity,
            });
        }
        self.map.copy_in(area.offset, header);
        self.map.copy_in(area.offset + MESSAGE_HEADER_LEN, payload);
        // Lossless: len ≤ capacity, a u32.
        self.map
            .atomic_u32(area.len)
            .store(len as u32, Ordering::Release);
        self.map
            .atomic_u64(area.seq)
            .fetch_add(1, Ordering::Release);
        let signal = self.map.atomic_u32(area.signal);
        signal.fetch_add(1, Ordering::Release);
        self.published = self.published.wrapping_add(1);
        futex::wake(signal, 1).map_err(|e| io_err("futex wake", &self.path, e))?;
        Ok(())
    }

    /// Waits for the peer's next message and copies it into `buf` (PROTOCOL
    /// §7.7), returning its length (header included; `buf.len()` equals it).
    ///
    /// First polls the peer's sequence number as `waiter` decides, then
    /// sleeps on the peer's signal word. `timeout` (`None` = forever) counts
    /// from the end of the polling phase. On [`ShmError::Timeout`] nothing is
    /// consumed, so callers may wait in slices and check other conditions in
    /// between.
    ///
    /// Once a publication is seen, the length is read once and must satisfy
    /// `32 ≤ len ≤ capacity` of the peer's area ([`ShmError::Corrupt`] for 0
    /// or beyond the capacity, [`ShmError::ShortMessage`] below 32); the slot
    /// is consumed in all these cases. Exactly `len` bytes are copied; `buf`'s
    /// allocation is reused when large enough. The message itself (outer
    /// header) is not decoded here.
    pub fn recv(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
    ) -> Result<usize, ShmError> {
        let area = self.peer;
        let expected = self.consumed.wrapping_add(1);
        let seq = self.map.atomic_u64(area.seq);
        let ready = || seq.load(Ordering::Acquire) >= expected;

        if waiter.spin(|| ready().then_some(())).is_none() {
            let signal = self.map.atomic_u32(area.signal);
            // A timeout too large to represent means "forever".
            let deadline = Deadline::new(timeout);
            let result = loop {
                // Read the signal word before re-checking seq: a publication
                // after this load changes the word, so FUTEX_WAIT returns at
                // once instead of missing the wake-up.
                let observed = signal.load(Ordering::Acquire);
                if ready() {
                    break Ok(());
                }
                let remaining = deadline.remaining();
                if let (Some(timeout), Some(left)) = (deadline.timeout(), remaining) {
                    if left.is_zero() {
                        break Err(ShmError::Timeout { timeout });
                    }
                }
                match futex::wait(signal, observed, remaining) {
                    // On TimedOut the loop re-checks seq once more and then
                    // reports the timeout through the deadline check.
                    Ok(
                        WaitOutcome::Woken
                        | WaitOutcome::ValueChanged
                        | WaitOutcome::Interrupted
                        | WaitOutcome::TimedOut,
                    ) => {}
                    Err(e) => break Err(io_err("futex wait", &self.path, e)),
                }
            };
            waiter.finish_wait();
            result?;
        }

        self.consumed = expected;
        // Read the length exactly once; everything below uses this local.
        let len = self.map.atomic_u32(area.len).load(Ordering::Acquire);
        if len == 0 || len > area.capacity {
            return Err(ShmError::Corrupt {
                len,
                capacity: area.capacity,
            });
        }
        if (len as usize) < MESSAGE_HEADER_LEN {
            return Err(ShmError::ShortMessage { len });
        }
        // In bounds: len ≤ capacity, and the area was validated to lie inside
        // the mapping (attach) or was laid out by us (create).
        self.map.copy_out(area.offset, len as usize, buf);
        Ok(len as usize)
    }

    /// Capacity of the request area (client → server), header included.
    pub fn request_capacity(&self) -> u32 {
        self.layout.request_capacity
    }

    /// Capacity of the response area (server → client), header included.
    pub fn response_capacity(&self) -> u32 {
        self.layout.response_capacity
    }

    /// Largest payload this side can send (own area capacity minus the
    /// 32-byte header).
    pub fn max_send_payload(&self) -> u32 {
        self.own.capacity - MESSAGE_HEADER_LEN as u32
    }

    /// Messages published through this side's sequence number: counted from
    /// the value found at attach for a client, from 0 for a server.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Peer messages consumed (including ones rejected as corrupt), on the
    /// same basis as [`ShmRegion::published`].
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The region's layout.
    pub fn layout(&self) -> RegionLayout {
        self.layout
    }

    /// The region file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which side this handle plays.
    pub fn role(&self) -> ShmRole {
        self.role
    }
}

impl Drop for ShmRegion {
    /// The server removes the file (a client that still has it mapped keeps
    /// its mapping); the mapping and the descriptor are released by the
    /// fields' own drops. The client never unlinks.
    fn drop(&mut self) {
        if self.role == ShmRole::Server {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_handles_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<ShmRegion>();
    }
}
