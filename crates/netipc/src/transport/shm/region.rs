//! The per-session shared-memory region handle: create and attach (this
//! file), publish and consume (`transfer.rs`).
//!
//! # One publication per direction
//!
//! The client writes requests into the request area and bumps `req_seq`; the
//! server writes responses into the response area and bumps `resp_seq`. A
//! side publishes its next message only after it has consumed the peer's
//! previous one, so each area holds at most one message and needs no ring.
//!
//! The file layout is in `layout.rs`, file names in `path.rs`, stale-file
//! handling in `stale.rs` and `owner.rs`, the control-socket watch in
//! `watch.rs` and the errors in `error.rs`; their public items are
//! re-exported here. See `docs/shm.md` for the full protocol description.

use rustix::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::time::Instant;

use rustix::fs::{FallocateFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::io_err;
use super::futex;
use super::layout::{
    pread_header, Area, OFF_HEADER_LEN, OFF_MAGIC, OFF_OWNER_GENERATION, OFF_OWNER_PID,
    OFF_REQUEST_CAPACITY, OFF_REQUEST_OFFSET, OFF_REQ_SEQ, OFF_RESPONSE_CAPACITY,
    OFF_RESPONSE_OFFSET, OFF_RESP_SEQ, OFF_VERSION,
};
use super::mapping::Mapping;
use super::owner::own_generation;
use super::path::check_path_len;
use crate::bytes::{get_u16, get_u32};

pub use super::error::{BadSizeReason, NotReadyReason, ShmError};
pub use super::layout::{
    RegionLayout, MESSAGE_HEADER_LEN, SHM_ALIGN, SHM_HEADER_LEN, SHM_MAGIC, SHM_VERSION,
};
pub use super::owner::process_generation;
pub use super::path::{MAX_PATH_LEN, REGION_SUFFIX};
pub use super::stale::{stale_check, sweep_stale, StaleVerdict};
pub use super::watch::PEER_CHECK_INTERVAL;

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
/// the side's own area, [`ShmRegion::recv`] and [`ShmRegion::recv_watching`]
/// consume from the peer's. Dropping a server handle unlinks the file; a
/// client handle never does. Dropping either nudges the peer's wait (see
/// [`ShmRegion::recv_watching`]).
///
/// `ShmRegion` is `Send` (it may be moved to a worker thread) but not `Sync`:
/// publishing and consuming take `&mut self`, matching the protocol's single
/// publisher and single consumer per direction.
#[derive(Debug)]
pub struct ShmRegion {
    pub(super) map: Mapping,
    _fd: OwnedFd,
    pub(super) path: PathBuf,
    role: ShmRole,
    layout: RegionLayout,
    pub(super) own: Area,
    pub(super) peer: Area,
    /// Messages we have published (mirrors our seq word).
    pub(super) published: u64,
    /// Peer messages we have consumed.
    pub(super) consumed: u64,
    /// When [`ShmRegion::recv_watching`] next looks at the control socket
    /// even if messages keep arriving.
    pub(super) next_peer_check: Instant,
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

/// `fallocate(fd, 0, 0, size)`, retried on `EINTR` only.
fn allocate(fd: &OwnedFd, size: u64) -> Result<(), Errno> {
    loop {
        match rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, size) {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

impl ShmRegion {
    /// Creates the region file at `path` (server side) sized for the given
    /// payload limits (each area holds a 32-byte header plus that payload,
    /// rounded up to 64 bytes; see [`RegionLayout::for_payload_limits`]).
    ///
    /// Steps: `open(O_RDWR|O_CREAT|O_EXCL, 0600)` then `fchmod(0600)` (so the
    /// mode does not depend on the umask); if the file exists, the stale check
    /// runs ([`stale_check`]): a live owner gives [`ShmError::AddressInUse`],
    /// a stale file is removed and the exclusive create retried once. Then
    /// the whole file is allocated with `fallocate(fd, 0, 0, size)` (retried
    /// on `EINTR` only), mapped shared, the header written, release fence.
    ///
    /// Allocation failure (a full file system, a quota, `RLIMIT_FSIZE`, a
    /// file system without `fallocate`) is [`ShmError::Allocate`]. There is
    /// deliberately no fallback to a sparse file: on a full tmpfs, touching
    /// an unbacked page of the mapping would kill both processes with
    /// `SIGBUS`. The caller (the handshake) then offers the socket transport
    /// instead.
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
        allocate(&fd, layout.region_size()).map_err(|e| ShmError::Allocate {
            path: path.to_owned(),
            size: layout.region_size(),
            source: e.into(),
        })?;
        let map = Mapping::map(fd.as_fd(), size).map_err(|e| io_err("mmap", path, e))?;

        let mut header = [0u8; 32];
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        header[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&SHM_MAGIC.to_ne_bytes());
        header[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&SHM_VERSION.to_ne_bytes());
        header[OFF_HEADER_LEN..OFF_HEADER_LEN + 2].copy_from_slice(&SHM_HEADER_LEN.to_ne_bytes());
        header[OFF_OWNER_PID..OFF_OWNER_PID + 4].copy_from_slice(&pid.to_ne_bytes());
        header[OFF_OWNER_GENERATION..OFF_OWNER_GENERATION + 4]
            .copy_from_slice(&own_generation().to_ne_bytes());
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
            next_peer_check: Instant::now(),
        })
    }

    /// Attaches to an existing region (client side), following PROTOCOL §7.5
    /// but without touching the file through a mapping before its size is
    /// known to cover the layout: open read-write, `fstat`, read the header
    /// with `pread`, check magic, version, header length and the layout
    /// against the file size (in that order, each with its own error), and
    /// only then map exactly the region's size. The local counters start
    /// from the current sequence numbers.
    ///
    /// Callers that know the negotiated payload limits should also call
    /// [`ShmRegion::check_limits`].
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
        let too_small = ShmError::NotReady {
            path: path.to_owned(),
            reason: NotReadyReason::FileTooSmall { size: file_size },
        };
        if file_size < u64::from(SHM_HEADER_LEN) {
            return Err(too_small);
        }
        let header = match pread_header(fd.as_fd()).map_err(|e| io_err("read", path, e))? {
            Some(h) => h,
            None => return Err(too_small),
        };
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
        let mut fields = [0u8; 32];
        fields.copy_from_slice(&header[..32]);
        let layout = RegionLayout::from_header(&fields);
        layout.validate(path, file_size)?;
        // Only fails on 32-bit targets, for a region beyond the address space.
        let map_len = usize::try_from(layout.region_size()).map_err(|_| ShmError::BadSize {
            path: path.to_owned(),
            reason: BadSizeReason::Overflow,
            layout,
            file_size,
        })?;
        let map = Mapping::map(fd.as_fd(), map_len).map_err(|e| io_err("mmap", path, e))?;
        fence(Ordering::Acquire);

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
            next_peer_check: Instant::now(),
        })
    }

    /// Checks that the areas hold the negotiated payload limits: request
    /// area ≥ 32 + `max_request_payload`, response area ≥ 32 +
    /// `max_response_payload`. Otherwise [`ShmError::BadSize`] with
    /// [`BadSizeReason::AreaTooSmall`].
    pub fn check_limits(
        &self,
        max_request_payload: u32,
        max_response_payload: u32,
    ) -> Result<(), ShmError> {
        let needs = |payload: u32| MESSAGE_HEADER_LEN as u64 + u64::from(payload);
        if u64::from(self.layout.request_capacity) < needs(max_request_payload)
            || u64::from(self.layout.response_capacity) < needs(max_response_payload)
        {
            return Err(ShmError::BadSize {
                path: self.path.clone(),
                reason: BadSizeReason::AreaTooSmall,
                layout: self.layout,
                file_size: self.layout.region_size(),
            });
        }
        Ok(())
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
    /// Nudges the peer: our signal word is incremented and one waiter woken
    /// without a publication, so a peer waiting in
    /// [`ShmRegion::recv_watching`] looks at the control socket at once
    /// instead of at its next timed check (other peers just wait again).
    /// Then the server removes the file (a client that still has it mapped
    /// keeps its mapping); the mapping and the descriptor are released by the
    /// fields' own drops. The client never unlinks.
    fn drop(&mut self) {
        let signal = self.map.atomic_u32(self.own.signal);
        signal.fetch_add(1, Ordering::Release);
        let _ = futex::wake(signal, 1);
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
