//! A cgroups snapshot seen from C: walked by position, looked up by hash and
//! name.

use std::sync::Arc;

use crate::adapter::client::{Item, Table};
use crate::args;
use crate::result::*;

/// A cgroups snapshot (opaque, read-only).
///
/// Two ways to get one, with different lifetimes:
///
/// * `netipc_client_call_snapshot()` lends the client's last snapshot:
///   valid until the next call, close or free of that client; never
///   released by the caller.
/// * `netipc_cache_acquire()` gives a reference to the cache's current
///   snapshot: valid until `netipc_cgroups_release()`, whatever the cache
///   does meanwhile (a refresh installs a new snapshot and leaves this one
///   alone).
///
/// Reading one snapshot from several threads at once is safe. Names and
/// paths are borrowed from the snapshot and are not NUL-terminated.
#[derive(Debug)]
pub struct netipc_cgroups {
    pub(crate) table: Arc<Table>,
    /// Whether the caller holds a reference it must release.
    pub(crate) owned: bool,
}

/// Reads a snapshot handle; NULL gives `fallback`.
unsafe fn read<T>(snapshot: *const netipc_cgroups, fallback: T, f: impl FnOnce(&Table) -> T) -> T {
    // SAFETY: NULL or a live snapshot handle per the contract.
    match unsafe { snapshot.as_ref() } {
        Some(s) => guard_value(fallback, || f(&s.table)),
        None => fallback,
    }
}

/// Number of cgroups in the snapshot (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_count(snapshot: *const netipc_cgroups) -> usize {
    // SAFETY: forwarded contract.
    unsafe { read(snapshot, 0, Table::len) }
}

/// The snapshot's generation, which the provider moves when the set of
/// cgroups changes (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_generation(snapshot: *const netipc_cgroups) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(snapshot, 0, Table::generation) }
}

/// The snapshot's `systemd_enabled` field (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_systemd_enabled(snapshot: *const netipc_cgroups) -> u32 {
    // SAFETY: forwarded contract.
    unsafe { read(snapshot, 0, Table::systemd_enabled) }
}

/// Writes an item's fields through the optional out-pointers.
unsafe fn put_item(
    item: &Item<'_>,
    options: *mut u32,
    enabled: *mut u32,
    path: *mut *const u8,
    path_len: *mut usize,
) {
    // SAFETY: each pointer is NULL or writable per the contract.
    unsafe {
        args::put_opt(options, item.options);
        args::put_opt(enabled, item.enabled);
        args::put_opt(path, item.path.as_ptr());
        args::put_opt(path_len, item.path.len());
    }
}

/// The cgroup at position `index` (0 ≤ index < count, in the provider's
/// order). Each out-pointer may be NULL when that field is not wanted.
/// `*name` / `*path` point into the snapshot (see `netipc_cgroups` for how
/// long), with their lengths in `*name_len` / `*path_len`.
///
/// Returns `NETIPC_ERR_INVALID_ARGUMENT` for a NULL snapshot or an index
/// past the end.
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_item(
    snapshot: *const netipc_cgroups,
    index: usize,
    hash: *mut u32,
    options: *mut u32,
    enabled: *mut u32,
    name: *mut *const u8,
    name_len: *mut usize,
    path: *mut *const u8,
    path_len: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live snapshot handle per the contract.
        let snapshot = unsafe { args::handle(snapshot, "snapshot") }?;
        let item = snapshot.table.item(index).ok_or_else(|| {
            Failure::invalid(format!(
                "index {index} is past the end of a snapshot of {} cgroups",
                snapshot.table.len()
            ))
        })?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe {
            args::put_opt(hash, item.hash);
            args::put_opt(name, item.name.as_ptr());
            args::put_opt(name_len, item.name.len());
            put_item(&item, options, enabled, path, path_len);
        }
        Ok(())
    })
}

/// Looks a cgroup up by the provider's `hash` and its exact name
/// (`name_len` bytes at `name`, compared byte for byte). O(1), no
/// allocation. On success fills the optional out-pointers (each may be
/// NULL); `*path` points into the snapshot. Returns `NETIPC_ERR_NOT_FOUND`
/// when no cgroup matches.
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_lookup(
    snapshot: *const netipc_cgroups,
    hash: u32,
    name: *const u8,
    name_len: usize,
    options: *mut u32,
    enabled: *mut u32,
    path: *mut *const u8,
    path_len: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live handle and `name_len` readable bytes per the
        // contract.
        let (snapshot, name) = unsafe {
            (
                args::handle(snapshot, "snapshot")?,
                args::bytes(name, name_len, "name")?,
            )
        };
        let item = snapshot
            .table
            .lookup(hash, name)
            .ok_or_else(|| not_found(hash, name))?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe { put_item(&item, options, enabled, path, path_len) };
        Ok(())
    })
}

pub(crate) fn not_found(hash: u32, name: &[u8]) -> Failure {
    Failure::new(
        NETIPC_ERR_NOT_FOUND,
        format!(
            "no cgroup with hash {hash:#010x} named {:?}",
            String::from_utf8_lossy(name)
        ),
    )
}

/// Releases a snapshot reference from `netipc_cache_acquire()`. NULL is
/// ignored. A snapshot lent by `netipc_client_call_snapshot()` is not
/// released (the call returns `NETIPC_ERR_INVALID_ARGUMENT` and the
/// snapshot stays valid).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_release(snapshot: *const netipc_cgroups) -> netipc_result {
    guard(|| {
        // SAFETY: NULL or a live snapshot handle per the contract.
        let Some(s) = (unsafe { snapshot.as_ref() }) else {
            return Ok(());
        };
        if !s.owned {
            return Err(Failure::invalid(
                "this snapshot is lent by its client and is not released",
            ));
        }
        // SAFETY: an owned handle comes from Box::into_raw in
        // netipc_cache_acquire() and is released once per the contract.
        unsafe { args::free_box(snapshot.cast_mut()) };
        Ok(())
    })
}
