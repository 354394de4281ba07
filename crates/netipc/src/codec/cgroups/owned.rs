//! [`Snapshot`] and [`SnapshotItem`]: owned copies of a CGROUPS_SNAPSHOT
//! response, encoded through [`SnapshotBuilder`](super::SnapshotBuilder).

use super::{CgroupItem, SnapshotBuilder};
use crate::codec::CodecError;

/// An owned CGROUPS_SNAPSHOT response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The provider's `systemd_enabled` value.
    pub systemd_enabled: u32,
    /// The provider's snapshot generation.
    pub generation: u64,
    /// The items, in directory order.
    pub items: Vec<SnapshotItem>,
}

/// An owned item of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotItem {
    /// The producer's identity hash of the name.
    pub hash: u32,
    /// Option bits.
    pub options: u32,
    /// Enabled value.
    pub enabled: u32,
    /// The cgroup name, without NUL.
    pub name: Vec<u8>,
    /// The cgroup path, without NUL.
    pub path: Vec<u8>,
}

impl SnapshotItem {
    /// The item with its strings borrowed.
    pub fn as_item(&self) -> CgroupItem<'_> {
        CgroupItem {
            hash: self.hash,
            options: self.options,
            enabled: self.enabled,
            name: &self.name,
            path: &self.path,
        }
    }
}

impl Snapshot {
    /// Appends the response payload to `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// As for [`SnapshotBuilder::push`]; `buf` is then left unchanged.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<usize, CodecError> {
        let mut builder =
            SnapshotBuilder::new(buf, self.systemd_enabled, self.generation, self.items.len());
        for item in &self.items {
            builder.push_item(item)?;
        }
        builder.finish()
    }

    /// Encodes the response payload into a new vector.
    ///
    /// # Errors
    ///
    /// As for [`SnapshotBuilder::push`].
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf)?;
        Ok(buf)
    }
}
