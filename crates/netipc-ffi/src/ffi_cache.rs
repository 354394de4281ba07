//! Level 3: the cgroups snapshot cache.
//!
//! Built from a Level 2 snapshot client and an immutable snapshot table
//! behind an `Arc`: a refresh fetches and indexes a new table with only the
//! client locked, then swaps the `Arc` in. Lookups and `acquire` lock just
//! long enough to clone the `Arc`, so they never wait for a refresh's I/O
//! and a table in use is never freed under a reader.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::adapter::client::{Abort, AnyClient, Table};
use crate::adapter::{Endpoint, Kind};
use crate::args;
use crate::ffi_cgroups::{netipc_cgroups, not_found};
use crate::ffi_client::netipc_client_config;
use crate::ffi_client_status::netipc_client_status;
use crate::result::*;

/// A cache of the cgroups snapshot of one CGROUPS_SNAPSHOT endpoint
/// (opaque).
///
/// Thread safety: every function may be called from any thread at any
/// time, including a lookup or `netipc_cache_acquire()` while another
/// thread refreshes; they never wait for the refresh's I/O. Refreshes,
/// `netipc_cache_close()` and `netipc_cache_get_client_status()` wait for
/// a refresh in progress. Only `netipc_cache_free()` needs every other
/// call to have returned.
#[derive(Debug)]
pub struct netipc_cache {
    client: Mutex<AnyClient>,
    /// Outside the lock, so another thread can abort a refresh.
    abort: Abort,
    current: Mutex<Arc<Table>>,
    stats: Mutex<CacheStats>,
}

#[derive(Debug, Clone, Default)]
struct CacheStats {
    populated: bool,
    successes: u64,
    failures: u64,
    last_error: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment, so a panic
    // (caught at the boundary) cannot leave them half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl netipc_cache {
    fn table(&self) -> Arc<Table> {
        lock(&self.current).clone()
    }
}

/// Creates a cache fed by the CGROUPS_SNAPSHOT endpoint
/// `{run_dir}/{service}.sock` (arguments as for `netipc_client_new()`).
/// No I/O happens; the cache is empty until the first successful
/// `netipc_cache_refresh()`. `*cache` receives a handle owned by the
/// caller (free it with `netipc_cache_free()`).
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_new(
    run_dir: *const u8,
    run_dir_len: usize,
    service: *const u8,
    service_len: usize,
    config: *const netipc_client_config,
    cache: *mut *mut netipc_cache,
) -> netipc_result {
    guard(|| {
        args::require(cache, "cache")?;
        // SAFETY: pointers with lengths and a config handle per the contract.
        let (dir, service, config) = unsafe {
            (
                args::bytes(run_dir, run_dir_len, "run_dir")?,
                args::bytes(service, service_len, "service")?,
                args::handle(config, "config")?,
            )
        };
        let endpoint = Endpoint::new(dir, service)?;
        let client = AnyClient::new(Kind::CgroupsSnapshot, &endpoint, config.settings());
        let value = netipc_cache {
            abort: client.abort_handle(),
            client: Mutex::new(client),
            current: Mutex::new(Arc::new(Table::default())),
            stats: Mutex::new(CacheStats::default()),
        };
        // SAFETY: checked non-NULL above.
        unsafe { args::put_box(cache, value, "cache") }
    })
}

/// Connects if needed and fetches a new snapshot; on success it replaces
/// the cached one (references from `netipc_cache_acquire()` keep the old
/// one alive until released). On failure the previous snapshot stays and
/// the error is returned (and kept for the status). Blocks for the
/// exchange, at most the config's call timeout; `netipc_cache_abort()`
/// from another thread ends it early with `NETIPC_ERR_ABORTED`.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_refresh(cache: *const netipc_cache) -> netipc_result {
    guard(|| {
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        let fetched = {
            let mut client = lock(&cache.client);
            client.refresh();
            client.snapshot(Duration::ZERO)
        };
        let mut stats = lock(&cache.stats);
        match fetched {
            Ok(table) => {
                *lock(&cache.current) = Arc::new(table);
                stats.populated = true;
                stats.successes += 1;
                stats.last_error.clear();
                Ok(())
            }
            Err(failure) => {
                stats.failures += 1;
                stats.last_error = failure.message.clone().into_bytes();
                Err(failure)
            }
        }
    })
}

/// True once a refresh has succeeded (the cache holds a snapshot, possibly
/// an old one); false for NULL.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_ready(cache: *const netipc_cache) -> bool {
    guard_value(false, || {
        // SAFETY: NULL or a live cache handle per the contract.
        unsafe { cache.as_ref() }.is_some_and(|c| lock(&c.stats).populated)
    })
}

/// Looks a cgroup up by the provider's `hash` and its exact name, and
/// copies its fields out, so nothing stays borrowed from the cache.
///
/// `*options` / `*enabled` receive the fields (each may be NULL). The path
/// is copied to `path_buf` (room for `path_cap` bytes, not NUL-terminated;
/// may be NULL when `path_cap` is 0) and its length is written to
/// `*path_len` (required). When the path does not fit, nothing is copied,
/// `*path_len` receives the length needed and the call returns
/// `NETIPC_ERR_OVERFLOW`. `NETIPC_ERR_NOT_FOUND` when no cgroup matches
/// (always before the first successful refresh).
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_lookup(
    cache: *const netipc_cache,
    hash: u32,
    name: *const u8,
    name_len: usize,
    options: *mut u32,
    enabled: *mut u32,
    path_buf: *mut u8,
    path_cap: usize,
    path_len: *mut usize,
) -> netipc_result {
    guard(|| {
        args::require(path_len, "path_len")?;
        if path_buf.is_null() && path_cap > 0 {
            return Err(Failure::invalid(
                "path_buf is NULL with a non-zero capacity",
            ));
        }
        // SAFETY: a live handle and `name_len` readable bytes per the
        // contract.
        let (cache, name) = unsafe {
            (
                args::handle(cache, "cache")?,
                args::bytes(name, name_len, "name")?,
            )
        };
        let table = cache.table();
        let item = table
            .lookup(hash, name)
            .ok_or_else(|| not_found(hash, name))?;
        // SAFETY: `path_len` checked non-NULL; the others are optional.
        unsafe {
            args::put(path_len, item.path.len(), "path_len")?;
            if item.path.len() > path_cap {
                return Err(Failure::new(
                    NETIPC_ERR_OVERFLOW,
                    format!(
                        "the path needs {} bytes, the buffer has {path_cap}",
                        item.path.len()
                    ),
                ));
            }
            if !item.path.is_empty() {
                // `path_cap` writable bytes at `path_buf` per the contract.
                path_buf.copy_from_nonoverlapping(item.path.as_ptr(), item.path.len());
            }
            args::put_opt(options, item.options);
            args::put_opt(enabled, item.enabled);
        }
        Ok(())
    })
}

/// Gives a reference to the cache's current snapshot (empty before the
/// first successful refresh), to walk it or look up many names without
/// copying. The snapshot stays valid and unchanged until
/// `netipc_cgroups_release()`, even across refreshes on other threads
/// (which install a new snapshot for later acquires). References are
/// independent of the cache: release each once, before or after
/// `netipc_cache_free()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_acquire(
    cache: *const netipc_cache,
    snapshot: *mut *const netipc_cgroups,
) -> netipc_result {
    guard(|| {
        args::require(snapshot, "snapshot")?;
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        let held = Box::new(netipc_cgroups {
            table: cache.table(),
            owned: true,
        });
        // SAFETY: checked non-NULL above.
        unsafe { args::put(snapshot, Box::into_raw(held).cast_const(), "snapshot") }
    })
}

/// Fills `status` with the state and counters of the cache's Level 2
/// client (state, profile, session id, shared memory in use...).
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_get_client_status(
    cache: *const netipc_cache,
    status: *mut netipc_client_status,
) -> netipc_result {
    guard(|| {
        // SAFETY: live handles per the contract.
        let (cache, status) = unsafe {
            (
                args::handle(cache, "cache")?,
                args::handle_mut(status, "status")?,
            )
        };
        status.data = lock(&cache.client).status();
        Ok(())
    })
}

/// The cache's own counters, each through an optional out-pointer (NULL =
/// not wanted): successful and failed refreshes, and the text of the last
/// refresh error copied to `error_buf` (room for `error_cap` bytes; cut
/// short when longer; its full length in `*error_len`; empty after a
/// success).
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_counters(
    cache: *const netipc_cache,
    successes: *mut u64,
    failures: *mut u64,
    error_buf: *mut u8,
    error_cap: usize,
    error_len: *mut usize,
) -> netipc_result {
    guard(|| {
        if error_buf.is_null() && error_cap > 0 {
            return Err(Failure::invalid(
                "error_buf is NULL with a non-zero capacity",
            ));
        }
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        let stats = lock(&cache.stats).clone();
        let copied = stats.last_error.len().min(error_cap);
        // SAFETY: optional out-pointers; `error_cap` writable bytes at a
        // non-NULL `error_buf` per the contract.
        unsafe {
            args::put_opt(successes, stats.successes);
            args::put_opt(failures, stats.failures);
            args::put_opt(error_len, stats.last_error.len());
            if copied > 0 {
                error_buf.copy_from_nonoverlapping(stats.last_error.as_ptr(), copied);
            }
        }
        Ok(())
    })
}

/// Aborts the cache's refreshes from any thread: one in progress returns
/// `NETIPC_ERR_ABORTED` promptly, later ones fail at once until
/// `netipc_cache_clear_abort()`. The cached snapshot and lookups are not
/// affected. Takes no lock and does not allocate.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_abort(cache: *const netipc_cache) -> netipc_result {
    guard(|| {
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        cache.abort.abort();
        Ok(())
    })
}

/// Ends an abort: refreshes work again.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_clear_abort(cache: *const netipc_cache) -> netipc_result {
    guard(|| {
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        cache.abort.clear();
        Ok(())
    })
}

/// Drops the cached snapshot (acquired references stay valid) and closes
/// the client; `netipc_cache_ready()` is false until the next successful
/// refresh.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_close(cache: *const netipc_cache) -> netipc_result {
    guard(|| {
        // SAFETY: a live cache handle per the contract.
        let cache = unsafe { args::handle(cache, "cache") }?;
        lock(&cache.client).close();
        *lock(&cache.current) = Arc::new(Table::default());
        lock(&cache.stats).populated = false;
        Ok(())
    })
}

/// Closes and frees a cache. NULL is ignored. No other thread may be using
/// it; snapshot references from `netipc_cache_acquire()` stay valid until
/// released.
#[no_mangle]
pub unsafe extern "C" fn netipc_cache_free(cache: *mut netipc_cache) {
    guard_value((), || {
        // SAFETY: NULL or a handle from netipc_cache_new(), not used again.
        unsafe { args::free_box(cache) }
    })
}
