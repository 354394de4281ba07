//! Lookup consumers: CGROUPS_LOOKUP and APPS_LOOKUP calls and the results
//! they lend, walked item by item.

use crate::adapter::lookup::{AppsAnswers, CgroupsAnswers};
use crate::args;
use crate::ffi_client::{millis, netipc_client, with_client};
use crate::result::*;

/// CGROUPS_LOOKUP item status: the provider knows the cgroup (name,
/// orchestrator and labels are set; the name may be empty).
pub const NETIPC_CGROUP_KNOWN: u32 = 0;
/// CGROUPS_LOOKUP item status: not known yet; ask again later.
pub const NETIPC_CGROUP_UNKNOWN_RETRY_LATER: u32 = 1;
/// CGROUPS_LOOKUP item status: the provider will not know this path.
pub const NETIPC_CGROUP_UNKNOWN_PERMANENT: u32 = 2;
/// CGROUPS_LOOKUP item status: the answer was too large for any response
/// and is not delivered (final).
pub const NETIPC_CGROUP_OVERSIZED_ITEM: u32 = 4;

/// APPS_LOOKUP item status: the process is known.
pub const NETIPC_APP_KNOWN: u32 = 0;
/// APPS_LOOKUP item status: the provider does not know the PID.
pub const NETIPC_APP_UNKNOWN: u32 = 1;
/// APPS_LOOKUP item status: the answer was too large for any response
/// and is not delivered (final).
pub const NETIPC_APP_OVERSIZED_ITEM: u32 = 3;

/// Cgroup status of a known process (APPS_LOOKUP): path (non-empty), name,
/// orchestrator and labels are known. Note: numbered unlike the
/// CGROUPS_LOOKUP statuses.
pub const NETIPC_APP_CGROUP_KNOWN: u32 = 0;
/// Cgroup status of a known process: the cgroup is not known yet (the path
/// may be given or empty).
pub const NETIPC_APP_CGROUP_UNKNOWN_RETRY_LATER: u32 = 1;
/// Cgroup status of a known process: the cgroup (path given) will not be
/// known.
pub const NETIPC_APP_CGROUP_UNKNOWN_PERMANENT: u32 = 2;
/// Cgroup status of a known process: it is in the host's root cgroup
/// (empty path).
pub const NETIPC_APP_CGROUP_HOST_ROOT: u32 = 3;

/// `uid` of a process whose user is not known.
pub const NETIPC_UID_UNSET: u32 = u32::MAX;

/// Orchestrator of a cgroup: unknown (or none).
pub const NETIPC_ORCHESTRATOR_UNKNOWN: u32 = 0;
/// Orchestrator: systemd.
pub const NETIPC_ORCHESTRATOR_SYSTEMD: u32 = 1;
/// Orchestrator: Docker.
pub const NETIPC_ORCHESTRATOR_DOCKER: u32 = 2;
/// Orchestrator: Kubernetes.
pub const NETIPC_ORCHESTRATOR_K8S: u32 = 3;
/// Orchestrator: KVM / libvirt.
pub const NETIPC_ORCHESTRATOR_KVM: u32 = 4;
/// Orchestrator: LXC.
pub const NETIPC_ORCHESTRATOR_LXC: u32 = 5;
/// Orchestrator: Podman.
pub const NETIPC_ORCHESTRATOR_PODMAN: u32 = 6;
/// Orchestrator: systemd-nspawn.
pub const NETIPC_ORCHESTRATOR_NSPAWN: u32 = 7;

/// The result of a CGROUPS_LOOKUP call (opaque, read-only): one item per
/// path asked, in order. Lent by its client: valid until the next call,
/// close or free of that client (as a snapshot from
/// `netipc_client_call_snapshot()` is). Reading one result from several
/// threads at once is safe. Strings point into the result and are not
/// NUL-terminated.
#[derive(Debug)]
pub struct netipc_cgroups_lookup_result {
    answers: CgroupsAnswers,
}

/// The result of an APPS_LOOKUP call (opaque, read-only): one item per PID
/// asked, in order. Lifetime and thread safety as for
/// `netipc_cgroups_lookup_result`.
#[derive(Debug)]
pub struct netipc_apps_lookup_result {
    answers: AppsAnswers,
}

/// CGROUPS_LOOKUP: asks the provider about `count` cgroup paths (path `i`
/// is `path_lens[i]` bytes at `paths[i]`, non-empty, no NUL) as one logical
/// call. The library splits the paths into as many requests as the
/// session's limits need and stitches the answers together; `count` 0
/// still makes one call, which reports the provider's generation. On
/// success `*result` points to one item per path, in order, borrowed from
/// the client: valid until the next call, close or free of this client.
///
/// `timeout_ms` bounds the whole logical call, every request of it
/// together (0: the client's call timeout); when it passes the call
/// returns `NETIPC_ERR_TIMEOUT` and the client needs a refresh. An abort
/// from another thread (`netipc_client_abort()`) makes it return
/// `NETIPC_ERR_ABORTED`.
///
/// Errors (no partial result is ever returned): `NETIPC_ERR_NOT_READY`
/// (no I/O), `NETIPC_ERR_INVALID_ARGUMENT` (a NULL array with `count` > 0,
/// an empty path or one with a NUL, a client of another kind),
/// `NETIPC_ERR_OVERFLOW` (more than 65,536 paths, or a result over the
/// library's ceilings), `NETIPC_ERR_BAD_ITEM_COUNT` (the provider answered
/// another number of items), `NETIPC_ERR_PROTOCOL` (answers that do not
/// echo their keys, a generation that changed between the requests of
/// one call, an undecodable response), and the codes of
/// `netipc_client_call_increment()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_cgroups_lookup(
    client: *const netipc_client,
    paths: *const *const u8,
    path_lens: *const usize,
    count: usize,
    timeout_ms: u32,
    result: *mut *const netipc_cgroups_lookup_result,
) -> netipc_result {
    // SAFETY: forwarded contract: `count` pointers and lengths, each path
    // with that many readable bytes.
    unsafe {
        with_client(client, |inner| {
            args::require(result, "result")?;
            inner.cgroups_lookup = None;
            if count > 0 && (paths.is_null() || path_lens.is_null()) {
                return Err(Failure::invalid("paths or path_lens is NULL"));
            }
            if count > (isize::MAX as usize) / 16 {
                return Err(Failure::invalid("count is too large"));
            }
            let mut keys = Vec::with_capacity(count);
            for i in 0..count {
                keys.push(args::bytes(*paths.add(i), *path_lens.add(i), "path")?);
            }
            let answers = inner.client.cgroups_lookup(&keys, millis(timeout_ms))?;
            let lent = inner
                .cgroups_lookup
                .insert(Box::new(netipc_cgroups_lookup_result { answers }));
            args::put(
                result,
                &**lent as *const netipc_cgroups_lookup_result,
                "result",
            )
        })
    }
}

/// APPS_LOOKUP: asks the provider about the `count` PIDs at `pids` as one
/// logical call (split and stitched as for
/// `netipc_client_call_cgroups_lookup()`; `count` 0 still makes one call).
/// On success `*result` points to one item per PID, in order, borrowed
/// from the client until its next call, close or free. Timeout, abort and
/// errors as for `netipc_client_call_cgroups_lookup()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_client_call_apps_lookup(
    client: *const netipc_client,
    pids: *const u32,
    count: usize,
    timeout_ms: u32,
    result: *mut *const netipc_apps_lookup_result,
) -> netipc_result {
    // SAFETY: forwarded contract: `count` readable PIDs at `pids`.
    unsafe {
        with_client(client, |inner| {
            args::require(result, "result")?;
            inner.apps_lookup = None;
            if count > 0 && pids.is_null() {
                return Err(Failure::invalid("pids is NULL"));
            }
            if count > (isize::MAX as usize) / 4 {
                return Err(Failure::invalid("count is too large"));
            }
            let keys: &[u32] = if count == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(pids, count)
            };
            let answers = inner.client.apps_lookup(keys, millis(timeout_ms))?;
            let lent = inner
                .apps_lookup
                .insert(Box::new(netipc_apps_lookup_result { answers }));
            args::put(
                result,
                &**lent as *const netipc_apps_lookup_result,
                "result",
            )
        })
    }
}

/// Reads a result handle; NULL gives `fallback`.
unsafe fn read<R, T>(result: *const R, fallback: T, f: impl FnOnce(&R) -> T) -> T {
    // SAFETY: NULL or a live result handle per the contract.
    match unsafe { result.as_ref() } {
        Some(r) => guard_value(fallback, || f(r)),
        None => fallback,
    }
}

/// Number of items in a CGROUPS_LOOKUP result (the number of paths asked;
/// 0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_lookup_count(
    result: *const netipc_cgroups_lookup_result,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { read(result, 0, |r| r.answers.len()) }
}

/// The provider's generation in a CGROUPS_LOOKUP result (the same for
/// every item; 0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_lookup_generation(
    result: *const netipc_cgroups_lookup_result,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(result, 0, |r| r.answers.generation()) }
}

/// Item `index` (0 ≤ index < count) of a CGROUPS_LOOKUP result, answering
/// the path asked at that position. Each out-pointer may be NULL when that
/// field is not wanted: `*status` (`NETIPC_CGROUP_*`), `*orchestrator`
/// (`NETIPC_ORCHESTRATOR_*`, 0 unless known), `*path` (the path asked,
/// echoed), `*name` (empty unless known), `*label_count` (read each label
/// with `netipc_cgroups_lookup_label()`). Strings point into the result.
/// Returns `NETIPC_ERR_INVALID_ARGUMENT` for a NULL result or an index past
/// the end.
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_lookup_item(
    result: *const netipc_cgroups_lookup_result,
    index: usize,
    status: *mut u32,
    orchestrator: *mut u32,
    path: *mut *const u8,
    path_len: *mut usize,
    name: *mut *const u8,
    name_len: *mut usize,
    label_count: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live result handle per the contract.
        let result = unsafe { args::handle(result, "result") }?;
        let item = result.answers.item(index)?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe {
            args::put_opt(status, item.status);
            args::put_opt(orchestrator, item.orchestrator);
            args::put_opt(path, item.path.as_ptr());
            args::put_opt(path_len, item.path.len());
            args::put_opt(name, item.name.as_ptr());
            args::put_opt(name_len, item.name.len());
            args::put_opt(label_count, item.label_count);
        }
        Ok(())
    })
}

/// Writes a label through the optional out-pointers.
unsafe fn put_label(
    label: Result<(&[u8], &[u8]), Failure>,
    key: *mut *const u8,
    key_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> Result<(), Failure> {
    let (k, v) = label?;
    // SAFETY: optional out-pointers, writable when non-NULL.
    unsafe {
        args::put_opt(key, k.as_ptr());
        args::put_opt(key_len, k.len());
        args::put_opt(value, v.as_ptr());
        args::put_opt(value_len, v.len());
    }
    Ok(())
}

/// Label `label` (0 ≤ label < the item's label count) of item `index` of a
/// CGROUPS_LOOKUP result: `*key` (never empty) and `*value` (may be
/// empty), pointing into the result; each out-pointer may be NULL.
/// Returns `NETIPC_ERR_INVALID_ARGUMENT` for a NULL result or an index past
/// the end.
#[no_mangle]
pub unsafe extern "C" fn netipc_cgroups_lookup_label(
    result: *const netipc_cgroups_lookup_result,
    index: usize,
    label: usize,
    key: *mut *const u8,
    key_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live result handle per the contract.
        let result = unsafe { args::handle(result, "result") }?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe {
            put_label(
                result.answers.label(index, label),
                key,
                key_len,
                value,
                value_len,
            )
        }
    })
}

/// Number of items in an APPS_LOOKUP result (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_apps_lookup_count(
    result: *const netipc_apps_lookup_result,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { read(result, 0, |r| r.answers.len()) }
}

/// The provider's generation in an APPS_LOOKUP result (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn netipc_apps_lookup_generation(
    result: *const netipc_apps_lookup_result,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { read(result, 0, |r| r.answers.generation()) }
}

/// Item `index` (0 ≤ index < count) of an APPS_LOOKUP result, answering the
/// PID asked at that position. Each out-pointer may be NULL: `*pid` (the
/// PID asked, echoed), `*status` (`NETIPC_APP_*`), and for a known
/// process `*ppid` (0 if unknown), `*uid` (`NETIPC_UID_UNSET` if unknown),
/// `*starttime` (clock ticks since boot, field 22 of `/proc/PID/stat`),
/// `*comm` (1 to 15 bytes), `*cgroup_status` (`NETIPC_APP_CGROUP_*`),
/// `*orchestrator` (`NETIPC_ORCHESTRATOR_*`), `*cgroup_path`,
/// `*cgroup_name` and `*label_count` (labels of the cgroup, read with
/// `netipc_apps_lookup_label()`); fields of an unknown process are zero
/// or empty. Strings point into the result. Returns
/// `NETIPC_ERR_INVALID_ARGUMENT` for a NULL result or an index past the
/// end.
#[no_mangle]
pub unsafe extern "C" fn netipc_apps_lookup_item(
    result: *const netipc_apps_lookup_result,
    index: usize,
    pid: *mut u32,
    status: *mut u32,
    ppid: *mut u32,
    uid: *mut u32,
    starttime: *mut u64,
    comm: *mut *const u8,
    comm_len: *mut usize,
    cgroup_status: *mut u32,
    orchestrator: *mut u32,
    cgroup_path: *mut *const u8,
    cgroup_path_len: *mut usize,
    cgroup_name: *mut *const u8,
    cgroup_name_len: *mut usize,
    label_count: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live result handle per the contract.
        let result = unsafe { args::handle(result, "result") }?;
        let item = result.answers.item(index)?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe {
            args::put_opt(pid, item.pid);
            args::put_opt(status, item.status);
            args::put_opt(ppid, item.ppid);
            args::put_opt(uid, item.uid);
            args::put_opt(starttime, item.starttime);
            args::put_opt(comm, item.comm.as_ptr());
            args::put_opt(comm_len, item.comm.len());
            args::put_opt(cgroup_status, item.cgroup_status);
            args::put_opt(orchestrator, item.orchestrator);
            args::put_opt(cgroup_path, item.cgroup_path.as_ptr());
            args::put_opt(cgroup_path_len, item.cgroup_path.len());
            args::put_opt(cgroup_name, item.cgroup_name.as_ptr());
            args::put_opt(cgroup_name_len, item.cgroup_name.len());
            args::put_opt(label_count, item.label_count);
        }
        Ok(())
    })
}

/// Label `label` of the cgroup of item `index` of an APPS_LOOKUP result;
/// as `netipc_cgroups_lookup_label()`.
#[no_mangle]
pub unsafe extern "C" fn netipc_apps_lookup_label(
    result: *const netipc_apps_lookup_result,
    index: usize,
    label: usize,
    key: *mut *const u8,
    key_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
) -> netipc_result {
    guard(|| {
        // SAFETY: a live result handle per the contract.
        let result = unsafe { args::handle(result, "result") }?;
        // SAFETY: optional out-pointers, writable when non-NULL.
        unsafe {
            put_label(
                result.answers.label(index, label),
                key,
                key_len,
                value,
                value_len,
            )
        }
    })
}
