//! The fixed 16-item cgroups data set shared by the snapshot servers and
//! `lookup-bench`.

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::codec::CodecError;

/// Items in the benchmark snapshot.
pub const ITEMS: u32 = 16;

/// Offset of the `generation` field in a snapshot response payload.
const GENERATION_OFFSET: usize = 16;

/// One benchmark cgroup: hash 1000 + i, options 0, enabled i mod 2, name
/// `cgroup-<i>`, path `/sys/fs/cgroup/bench/cg-<i>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchCgroup {
    /// Identity hash.
    pub hash: u32,
    /// Option bits (always 0).
    pub options: u32,
    /// 1 for odd i, 0 for even i.
    pub enabled: u32,
    /// `cgroup-<i>`.
    pub name: String,
    /// `/sys/fs/cgroup/bench/cg-<i>`.
    pub path: String,
}

/// The 16 benchmark cgroups in order.
pub fn items() -> Vec<BenchCgroup> {
    (0..ITEMS)
        .map(|i| BenchCgroup {
            hash: 1000 + i,
            options: 0,
            enabled: i % 2,
            name: format!("cgroup-{i}"),
            path: format!("/sys/fs/cgroup/bench/cg-{i}"),
        })
        .collect()
}

/// The snapshot response payload with `systemd_enabled` 1 and generation 0;
/// [`write_response`] patches the generation of each reply.
pub fn template() -> Result<Vec<u8>, CodecError> {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 1, 0, ITEMS as usize);
    for it in items() {
        b.push(CgroupItem {
            hash: it.hash,
            options: it.options,
            enabled: it.enabled,
            name: it.name.as_bytes(),
            path: it.path.as_bytes(),
        })?;
    }
    b.finish()?;
    Ok(buf)
}

/// Appends the snapshot reply for `generation` to `out`.
#[inline]
pub fn write_response(template: &[u8], generation: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(template);
    out[start + GENERATION_OFFSET..start + GENERATION_OFFSET + 8]
        .copy_from_slice(&generation.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::codec::cgroups::SnapshotView;

    #[test]
    fn payload_is_1301_bytes_and_decodes() {
        let t = template().unwrap();
        assert_eq!(t.len(), 1301);
        let mut out = vec![0xAA];
        write_response(&t, 7, &mut out);
        let view = SnapshotView::decode(&out[1..]).unwrap();
        assert_eq!(view.item_count(), 16);
        assert_eq!(view.systemd_enabled(), 1);
        assert_eq!(view.generation(), 7);
        for (i, item) in view.iter().enumerate() {
            assert_eq!(item.hash(), 1000 + i as u32);
            assert_eq!(item.options(), 0);
            assert_eq!(item.enabled(), i as u32 % 2);
            assert_eq!(item.name(), format!("cgroup-{i}").as_bytes());
            assert_eq!(
                item.path(),
                format!("/sys/fs/cgroup/bench/cg-{i}").as_bytes()
            );
        }
    }
}
