//! A shared file mapping with bounds-checked accessors.
//!
//! This is the only place of the crate that touches mapped memory. Everything
//! else goes through the safe methods below, which check every offset and
//! length against the mapping before doing anything.
//!
//! # Why racy access is acceptable here
//!
//! The mapped bytes are shared with another process that we do not trust. It
//! may write to any byte at any moment, so no Rust reference to a byte range
//! of the mapping (`&[u8]`, `&mut [u8]`) is ever created: the compiler would
//! be entitled to assume those bytes do not change. Instead:
//!
//! * synchronisation words are accessed as `AtomicU32` / `AtomicU64`, which
//!   are designed for memory that changes under our feet;
//! * message bytes are moved with `ptr::copy_nonoverlapping` between the
//!   mapping and memory we own. If the peer scribbles during the copy we get
//!   a mix of old and new bytes; every bit pattern is a valid `u8`, the copy
//!   stays inside the bounds checked beforehand, and the caller validates the
//!   copy (never the mapping) afterwards. Garbage in yields a typed error, not
//!   undefined reads outside the mapping.
//!
//! One hazard cannot be excluded by any check: if another process shrinks the
//! file with `ftruncate`, touching a page beyond the new end raises `SIGBUS`.
//! Only processes that can write the file (mode 0600, so the same user or
//! root) can do that.

use rustix::fd::BorrowedFd;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use rustix::mm::{MapFlags, ProtFlags};

/// An owned `MAP_SHARED` mapping of a whole file (or its first bytes).
///
/// Drop unmaps it.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `Mapping` exclusively owns its mapping (nothing else unmaps it or
// keeps the pointer), and the mapped memory is process-wide, not tied to the
// thread that created it. All accesses go through atomics or raw copies that
// already tolerate concurrent writers (another process), so moving the owner to
// another thread cannot introduce a data race that was not already handled.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `fd` shared and read-write. `len` must be
    /// non-zero.
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map zero bytes",
            ));
        }
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        // SAFETY: we ask the kernel for a fresh mapping at an address of its
        // choosing (null hint, no MAP_FIXED), so no existing memory is
        // replaced and no Rust reference can alias the new range.
        let raw =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0) }?;
        let ptr = NonNull::new(raw.cast::<u8>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::Other, "mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    /// Panics unless `off..off + size` lies inside the mapping and `off` is a
    /// multiple of `align`. Callers derive offsets from validated layouts, so
    /// a failure here is a bug in this crate, never a reaction to peer data.
    #[inline]
    fn check(&self, off: usize, size: usize, align: usize) {
        let end = off.checked_add(size);
        assert!(
            matches!(end, Some(end) if end <= self.len),
            "mapping access {off}+{size} out of bounds (len {})",
            self.len
        );
        assert!(
            (self.ptr.as_ptr() as usize + off) % align == 0,
            "mapping access at {off} not {align}-aligned"
        );
    }

    /// The `u32` at byte offset `off` as an atomic.
    ///
    /// # Panics
    /// If `off` is out of bounds or not 4-aligned.
    #[inline]
    pub(crate) fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, std::mem::align_of::<AtomicU32>());
        // SAFETY: `check` proved that the 4 bytes at `off` lie inside the live
        // mapping (mapped readable and writable) and are
        // suitably aligned for `AtomicU32`. The mapping outlives the returned
        // reference (tied to `&self`). Concurrent modification by other
        // processes is exactly what an atomic permits, and this crate never
        // creates non-atomic references to these bytes. `AtomicU32` has the
        // size and bit validity of `u32`, so the cast reference is valid.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// The `u64` at byte offset `off` as an atomic.
    ///
    /// # Panics
    /// If `off` is out of bounds or not 8-aligned.
    #[inline]
    pub(crate) fn atomic_u64(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, std::mem::align_of::<AtomicU64>());
        // SAFETY: as in `atomic_u32`: in bounds, aligned for `AtomicU64`, alive
        // for the lifetime of `&self`, and only ever accessed atomically.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// Copies `src` into the mapping at byte offset `off`.
    ///
    /// # Panics
    /// If the destination range is out of bounds.
    #[inline]
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) {
        self.check(off, src.len(), 1);
        // SAFETY: the destination range `off..off + src.len()` was checked to
        // lie inside the live, writable mapping; `src` is ordinary memory we
        // borrow and cannot overlap the mapping (no Rust reference into the
        // mapping is ever created). The bytes may be read concurrently by the
        // peer, which synchronises through the release stores that follow.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(off), src.len());
        }
    }

    /// Replaces the contents of `dst` with the `len` bytes at byte offset
    /// `off` of the mapping, reusing `dst`'s allocation when it is big enough.
    ///
    /// # Panics
    /// If the source range is out of bounds.
    #[inline]
    pub(crate) fn copy_out(&self, off: usize, len: usize, dst: &mut Vec<u8>) {
        self.check(off, len, 1);
        dst.clear();
        dst.reserve(len);
        // SAFETY: the source range was checked to lie inside the live mapping;
        // `reserve` guarantees `dst` has room for `len` bytes, and `dst` is our
        // own heap memory, so the ranges cannot overlap. The peer may write the
        // source concurrently: we then copy a mix of old and new bytes, any of
        // which is a valid `u8`, and the caller validates the copy. After the
        // copy all `len` bytes of `dst` are initialised, so `set_len` is sound.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), dst.as_mut_ptr(), len);
            dst.set_len(len);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping created by `map` and owned
        // exclusively by `self`; every reference handed out borrows `self`, so
        // none can outlive this call. A failure cannot be handled in drop and
        // would only leak address space.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;
    use std::io::Write;
    use std::sync::atomic::Ordering;

    fn file(len: usize) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![0u8; len]).unwrap();
        f
    }

    #[test]
    fn round_trip_through_the_mapping() {
        let f = file(4096);
        let m = Mapping::map(f.as_fd(), 4096).unwrap();
        m.copy_in(100, b"hello");
        let mut v = Vec::with_capacity(2);
        m.copy_out(100, 5, &mut v);
        assert_eq!(v, b"hello");
        m.copy_out(0, 0, &mut v);
        assert!(v.is_empty());
        m.atomic_u64(32).store(7, Ordering::Release);
        m.copy_out(32, 8, &mut v);
        assert_eq!(v, 7u64.to_ne_bytes());
        m.atomic_u32(4092).store(9, Ordering::Release);
        m.copy_out(4092, 4, &mut v);
        assert_eq!(v, 9u32.to_ne_bytes());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_copy_out_panics() {
        let f = file(64);
        let m = Mapping::map(f.as_fd(), 64).unwrap();
        let mut v = Vec::new();
        m.copy_out(60, 5, &mut v);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn overflowing_offset_panics() {
        let f = file(64);
        let m = Mapping::map(f.as_fd(), 64).unwrap();
        m.copy_in(usize::MAX, b"x");
    }

    #[test]
    #[should_panic(expected = "aligned")]
    fn misaligned_atomic_panics() {
        let f = file(64);
        let m = Mapping::map(f.as_fd(), 64).unwrap();
        let _ = m.atomic_u64(4);
    }

    #[test]
    fn zero_length_map_is_refused() {
        let f = file(64);
        assert!(Mapping::map(f.as_fd(), 0).is_err());
    }
}
