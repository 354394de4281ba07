//! Level 3: the cgroups snapshot cache.
//!
//! [`CgroupsCache`] keeps an owned copy of the last snapshot fetched through
//! a Level 2 [`CgroupsSnapshotClient`](crate::service::cgroups::CgroupsSnapshotClient)
//! and answers `lookup(hash, name)` from memory in O(1) without allocating.
//! [`CgroupsTable`] is the owned, indexed snapshot on its own.

#![forbid(unsafe_code)]

mod cgroups;

pub use cgroups::{CacheStatus, Cgroup, CgroupsCache, CgroupsTable, Iter};

/// The identity hash the agent's cgroups collector gives a cgroup name:
/// 32-bit FNV-1a (offset basis `0x811c9dc5`, prime `16777619`; xor, then
/// multiply).
///
/// The protocol treats the hash as opaque, but providers and consumers of
/// the cgroups snapshot agree on this one so a consumer can look a name up.
pub fn name_hash(name: &[u8]) -> u32 {
    name.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}
