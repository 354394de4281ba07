//! A page-file-backed section and its mapped view, with bounds-checked
//! accessors; the named events of HYBRID.
//!
//! This is the only place of the Windows port that touches mapped memory.
//! As on Linux (`transport::shm`), no Rust reference to a byte range of the
//! view is ever created, because the peer process may write any byte at any
//! moment: synchronisation words are accessed as atomics, and message bytes
//! are moved with `ptr::copy_nonoverlapping` between the view and memory we
//! own, after which the caller validates the copy (never the view).
//!
//! Unlike a Linux file, a section cannot shrink under a live view, so every
//! byte of the view stays readable for the view's lifetime.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32};

use windows_sys::Win32::Foundation::{
    SetLastError, ERROR_ALREADY_EXISTS, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::SYNCHRONIZE;
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, VirtualQuery,
    FILE_MAP_ALL_ACCESS, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, OpenEventW, SetEvent, WaitForSingleObject, EVENT_MODIFY_STATE,
};

use super::super::sys::{last_error, owned, wide};
use super::error::ShmError;

/// A mapped view of a whole section, and the section's handle. Drop unmaps
/// the view, then closes the handle.
#[derive(Debug)]
pub(super) struct Section {
    ptr: NonNull<u8>,
    len: usize,
    _mapping: OwnedHandle,
}

// SAFETY: `Section` exclusively owns its view (nothing else unmaps it or
// keeps the pointer) and the view is process-wide memory, not tied to a
// thread. Every access goes through atomics or raw copies that already
// tolerate a concurrent writer (the peer process), so moving or sharing the
// owner across threads adds no race that is not already handled.
unsafe impl Send for Section {}

impl Section {
    /// Creates the named section of `size` bytes (page-file backed,
    /// committed) and maps all of it. An existing object of that name is
    /// [`ShmError::AlreadyExists`] and is left alone.
    pub(super) fn create(name: &str, size: u32) -> Result<Section, ShmError> {
        let wname = wide(name);
        // SAFETY: SetLastError only writes thread-local state; it clears
        // the code so ERROR_ALREADY_EXISTS below is this call's. The name
        // is NUL-terminated and outlives the call; null security attributes
        // select the default descriptor; the handle is checked and owned
        // exactly once.
        let mapping = unsafe {
            SetLastError(0);
            owned(CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE,
                0,
                size,
                wname.as_ptr(),
            ))
        };
        let mapping =
            mapping.ok_or_else(|| ShmError::os("CreateFileMappingW", name, last_error()))?;
        if last_error() == ERROR_ALREADY_EXISTS {
            return Err(ShmError::AlreadyExists {
                object: "section",
                name: name.to_owned(),
            });
        }
        Section::map(mapping, name)
    }

    /// Opens the named section and maps all of it.
    pub(super) fn open(name: &str) -> Result<Section, ShmError> {
        let wname = wide(name);
        // SAFETY: the name is NUL-terminated and outlives the call; the
        // handle is checked and owned exactly once.
        let mapping = unsafe { owned(OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wname.as_ptr())) };
        let mapping =
            mapping.ok_or_else(|| ShmError::os("OpenFileMappingW", name, last_error()))?;
        Section::map(mapping, name)
    }

    /// Maps the whole section read-write; the view's length is what
    /// `VirtualQuery` reports for it (the section size rounded up to pages).
    fn map(mapping: OwnedHandle, name: &str) -> Result<Section, ShmError> {
        let h = mapping.as_raw_handle() as HANDLE;
        // SAFETY: `h` is our section handle; offset 0 and size 0 map the
        // whole section at an address of the system's choosing, so no
        // existing memory is affected.
        let view = unsafe { MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, 0) };
        let ptr = NonNull::new(view.Value.cast::<u8>())
            .ok_or_else(|| ShmError::os("MapViewOfFile", name, last_error()))?;
        let mut info = MEMORY_BASIC_INFORMATION {
            BaseAddress: std::ptr::null_mut(),
            AllocationBase: std::ptr::null_mut(),
            AllocationProtect: 0,
            PartitionId: 0,
            RegionSize: 0,
            State: 0,
            Protect: 0,
            Type: 0,
        };
        // SAFETY: `ptr` is the base of our live view and `info` a valid
        // out-buffer of the size passed.
        let got = unsafe {
            VirtualQuery(
                ptr.as_ptr().cast(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        let section = Section {
            ptr,
            len: info.RegionSize,
            _mapping: mapping,
        };
        if got == 0 {
            return Err(ShmError::os("VirtualQuery", name, last_error()));
        }
        Ok(section)
    }

    /// Bytes mapped.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Panics unless `off..off + size` lies inside the view and `off` is a
    /// multiple of `align`. Offsets come from validated layouts and fixed
    /// header offsets, so a failure is a bug here, never a reaction to peer
    /// data.
    fn check(&self, off: usize, size: usize, align: usize) {
        let end = off.checked_add(size);
        assert!(
            matches!(end, Some(end) if end <= self.len),
            "view access {off}+{size} out of bounds (len {})",
            self.len
        );
        assert!(
            (self.ptr.as_ptr() as usize + off) % align == 0,
            "view access at {off} not {align}-aligned"
        );
    }

    /// The `u32` at `off` as an atomic.
    pub(super) fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, std::mem::align_of::<AtomicU32>());
        // SAFETY: `check` proved the 4 bytes lie inside the live view and
        // are aligned for AtomicU32; the reference is tied to `&self`, so
        // the view outlives it; the bytes are only ever accessed atomically
        // here, which is what concurrent writes by the peer require.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// The `i32` at `off` as an atomic.
    pub(super) fn i32_at(&self, off: usize) -> &AtomicI32 {
        self.check(off, 4, std::mem::align_of::<AtomicI32>());
        // SAFETY: as in `u32_at`, for AtomicI32.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicI32>() }
    }

    /// The `i64` at `off` as an atomic.
    pub(super) fn i64_at(&self, off: usize) -> &AtomicI64 {
        self.check(off, 8, std::mem::align_of::<AtomicI64>());
        // SAFETY: as in `u32_at`, for AtomicI64 (8-aligned, checked).
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicI64>() }
    }

    /// Zeroes `len` bytes at `off` (a fresh region, before anyone else can
    /// know its layout).
    pub(super) fn zero(&self, off: usize, len: usize) {
        self.check(off, len, 1);
        // SAFETY: the range was checked to lie inside the live, writable
        // view; no Rust reference into the view exists.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(off), 0, len) };
    }

    /// Copies `src` into the view at `off`.
    pub(super) fn copy_in(&self, off: usize, src: &[u8]) {
        self.check(off, src.len(), 1);
        // SAFETY: the destination lies inside the live, writable view; `src`
        // is our own memory and cannot overlap the view. The peer reads these
        // bytes only after the SeqCst length and sequence stores that follow.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(off), src.len())
        };
    }

    /// Replaces `dst`'s contents with the `len` bytes at `off`.
    pub(super) fn copy_out(&self, off: usize, len: usize, dst: &mut Vec<u8>) {
        self.check(off, len, 1);
        dst.clear();
        dst.reserve(len);
        // SAFETY: the source lies inside the live view; `reserve` gave `dst`
        // room for `len` bytes of our own heap, which cannot overlap the
        // view. A concurrent peer write yields a mix of old and new bytes,
        // all valid `u8`, which the caller validates. All `len` bytes are
        // initialised after the copy, so `set_len` is sound.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), dst.as_mut_ptr(), len);
            dst.set_len(len);
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the base of a view mapped by `map` and not yet
        // unmapped; no reference into it survives `self`. The section handle
        // is closed afterwards by `OwnedHandle`'s drop.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
    }
}

/// A named auto-reset event (HYBRID's `req_event` / `resp_event`).
#[derive(Debug)]
pub(super) struct Event {
    handle: OwnedHandle,
}

impl Event {
    /// Creates the event (auto-reset, not signalled); an existing one is
    /// [`ShmError::AlreadyExists`].
    pub(super) fn create(name: &str) -> Result<Event, ShmError> {
        let wname = wide(name);
        // SAFETY: as in `Section::create`: the error code is cleared first,
        // the name outlives the call, the handle is owned exactly once.
        let handle = unsafe {
            SetLastError(0);
            owned(CreateEventW(std::ptr::null(), 0, 0, wname.as_ptr()))
        };
        let handle = handle.ok_or_else(|| ShmError::os("CreateEventW", name, last_error()))?;
        if last_error() == ERROR_ALREADY_EXISTS {
            return Err(ShmError::AlreadyExists {
                object: "event",
                name: name.to_owned(),
            });
        }
        Ok(Event { handle })
    }

    /// Opens the event for signalling and waiting.
    pub(super) fn open(name: &str) -> Result<Event, ShmError> {
        let wname = wide(name);
        // SAFETY: the name outlives the call; the handle is owned once.
        let handle = unsafe {
            owned(OpenEventW(
                EVENT_MODIFY_STATE | SYNCHRONIZE,
                0,
                wname.as_ptr(),
            ))
        };
        let handle = handle.ok_or_else(|| ShmError::os("OpenEventW", name, last_error()))?;
        Ok(Event { handle })
    }

    /// Signals the event (wakes one waiter, or the next wait).
    pub(super) fn set(&self) {
        // SAFETY: our valid event handle. A failure can only mean the handle
        // is bad, which ownership rules out; the waiter's timeout slices
        // would recover a lost wake-up anyway.
        unsafe { SetEvent(self.handle.as_raw_handle() as HANDLE) };
    }

    /// Waits up to `ms` milliseconds; true when signalled.
    pub(super) fn wait(&self, ms: u32) -> bool {
        // SAFETY: our valid event handle.
        unsafe { WaitForSingleObject(self.handle.as_raw_handle() as HANDLE, ms) == 0 }
    }
}
