//! One cgroup with named, borrowed fields: what [`SnapshotBuilder::push`]
//! takes, what [`SnapshotView`] items and the cache's lookups give back.
//!
//! [`SnapshotBuilder::push`]: super::SnapshotBuilder::push
//! [`SnapshotView`]: super::SnapshotView

use std::borrow::Cow;

/// One cgroup of a snapshot, its strings borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CgroupItem<'a> {
    /// The producer's identity hash of `name` (opaque to the protocol;
    /// [`name_hash`](crate::cache::name_hash) by convention).
    pub hash: u32,
    /// Producer-defined option bits.
    pub options: u32,
    /// Whether the producer collects this cgroup (non-zero = yes).
    pub enabled: u32,
    /// The cgroup's name (raw bytes, no NUL).
    pub name: &'a [u8],
    /// The cgroup's directory (raw bytes, no NUL).
    pub path: &'a [u8],
}

impl CgroupItem<'_> {
    /// The name as text, with invalid UTF-8 replaced.
    pub fn name_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.name)
    }

    /// The path as text, with invalid UTF-8 replaced.
    pub fn path_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.path)
    }
}
