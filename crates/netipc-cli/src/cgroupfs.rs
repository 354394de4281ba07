//! Scanner for the cgroup filesystem, feeding a live cgroups snapshot.
//!
//! The snapshot lists one item per cgroup: its name, a 32-bit hash of the
//! name, option bits, an "enabled" flag and the directory path. Consumers
//! look items up by `(hash, name)`.
//!
//! # Which hierarchy is walked
//!
//! The cgroup mounts are read from `/proc/self/mountinfo` (the path can be
//! changed, see [`ScanSource`]), and one hierarchy is chosen by
//! [`select_hierarchy`]:
//!
//! 1. If any cgroup v1 hierarchy with at least one controller is mounted, the
//!    layout is v1 and the walked hierarchy is the one carrying `cpuacct`
//!    alone; failing that, one carrying `cpuacct` together with other
//!    controllers (usually `cpu,cpuacct`); failing that, the first v1
//!    hierarchy with a controller. This mirrors the agent's own cgroups
//!    collector, which reads CPU accounting from the `cpuacct` hierarchy on
//!    v1 systems.
//! 2. Otherwise, if a `cgroup2` filesystem is mounted, it is walked (layout
//!    v2).
//! 3. Otherwise, if only named v1 hierarchies without controllers exist (for
//!    example just `name=systemd`), the first of them is walked (layout v1).
//! 4. Otherwise there is no cgroup filesystem and scanning fails with
//!    [`ScanError::NoCgroupFs`].
//!
//! When several mounts qualify equally, the first in mountinfo order wins.
//! Mounts are re-read on every scan, so a filesystem mounted after start-up
//! is picked up.
//!
//! `systemd_enabled` is 1 when a systemd hierarchy is present: on v1, a
//! `name=systemd` mount; on v2 (and whenever the root is given explicitly
//! instead of discovered), a `system.slice` or `init.scope` directory directly
//! under the root.
//!
//! # Names and paths
//!
//! Every directory below the root, at any depth, is one cgroup. Its name is
//! its path relative to the root without a leading slash
//! (`system.slice/docker-abc.scope`); the root cgroup itself is named `/`.
//! Names and paths are raw bytes: spaces, non-ASCII and even non-UTF-8 names
//! are kept exactly as the kernel reports them. Items are sorted by name,
//! bytewise.
//!
//! Symbolic links are never followed. A directory that cannot be listed —
//! removed while the walk was running, not readable, or with a path too long
//! to open — is left out of the result together with everything below it,
//! and counted in [`ScanResult::skipped`].
//!
//! # Options and enabled
//!
//! See [`item_options`] and [`item_enabled`].

use std::ffi::OsStr;
use std::fs::{self, ReadDir};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use netipc::codec::cgroups::SnapshotItem;

/// Where the mount table is read from by default.
pub const DEFAULT_MOUNTINFO: &str = "/proc/self/mountinfo";

/// Name given to the root cgroup of the walked hierarchy.
pub const ROOT_NAME: &[u8] = b"/";

/// Option bit: the cgroup is a systemd service directly under `system.slice`.
pub const OPTION_SYSTEM_SLICE_SERVICE: u32 = 0x2;

/// Option bit: the cgroup belongs to a cgroup v2 (unified) hierarchy.
pub const OPTION_IS_UNIFIED: u32 = 0x4;

/// Substrings that mark a cgroup as a container or virtual machine.
const CONTAINER_MARKERS: [&[u8]; 7] = [
    b"docker",
    b"libpod",
    b"lxc",
    b"kubepods",
    b"machine.slice/",
    b"crio",
    b"containerd",
];

/// cgroup v1 controller names, used to tell controller hierarchies from
/// named ones (`name=systemd`) in the super options of a mount.
const V1_CONTROLLERS: [&str; 15] = [
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// 32-bit FNV-1a hash of a cgroup name.
///
/// Offset basis `0x811c9dc5`, prime `16777619`: for every byte the state is
/// XORed with the byte, then multiplied (wrapping). This is the agent's
/// string hash, so consumers can look items up with the hash they compute
/// themselves. It is the library's [`netipc::cache::name_hash`], so the
/// provider and every consumer share one implementation.
///
/// ```
/// use netipc_cli::cgroupfs::name_hash;
///
/// assert_eq!(name_hash(b""), 0x811c_9dc5);
/// assert_eq!(name_hash(b"a"), 0xe40c_292c);
/// ```
pub use netipc::cache::name_hash;

/// cgroup layout of the walked hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A cgroup v1 hierarchy (filesystem type `cgroup`).
    V1,
    /// The cgroup v2 unified hierarchy (filesystem type `cgroup2`).
    V2,
}

/// One cgroup-related line of a mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where the filesystem is mounted, with octal escapes (`\040`) decoded.
    pub mount_point: PathBuf,
    /// Filesystem type: `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Per-superblock options (the last field), split on commas.
    pub super_options: Vec<String>,
}

impl Mount {
    /// Whether `option` is one of the super options (exact match).
    pub fn has_option(&self, option: &str) -> bool {
        self.super_options.iter().any(|o| o == option)
    }

    /// The v1 controllers named in the super options, in option order.
    pub fn controllers(&self) -> impl Iterator<Item = &str> {
        self.super_options
            .iter()
            .map(String::as_str)
            .filter(|o| V1_CONTROLLERS.contains(o))
    }
}

/// Decodes the `\ooo` octal escapes the kernel uses in mountinfo fields.
/// A backslash not followed by three octal digits is kept literally.
fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let d = &field[i + 1..i + 4];
            if d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// Parses one mountinfo line; `None` for malformed lines.
fn parse_mountinfo_line(line: &[u8]) -> Option<(Vec<u8>, &[u8], &[u8])> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    // mount id, parent id, major:minor, root, mount point, mount options
    let mount_point = fields.nth(4)?;
    fields.next()?;
    // optional fields up to the lone "-" separator
    fields.find(|f| *f == b"-")?;
    let fstype = fields.next()?;
    let _source = fields.next()?;
    let super_options = fields.next().unwrap_or(b"");
    Some((unescape_octal(mount_point), fstype, super_options))
}

/// Extracts the `cgroup` and `cgroup2` mounts from mountinfo text, in file
/// order.
///
/// Each line has the mount point as its fifth field and, after a lone `-`
/// separator, the filesystem type, the source and the super options. Lines
/// that do not have that shape, and mounts of other filesystem types, are
/// ignored.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    text.split(|&b| b == b'\n')
        .filter_map(parse_mountinfo_line)
        .filter(|(_, fstype, _)| *fstype == b"cgroup" || *fstype == b"cgroup2")
        .map(|(mount_point, fstype, super_options)| Mount {
            mount_point: PathBuf::from(OsStr::from_bytes(&mount_point)),
            fstype: String::from_utf8_lossy(fstype).into_owned(),
            super_options: super_options
                .split(|&b| b == b',')
                .filter(|o| !o.is_empty())
                .map(|o| String::from_utf8_lossy(o).into_owned())
                .collect(),
        })
        .collect()
}

/// The hierarchy chosen for walking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Directory where the hierarchy is mounted; the root cgroup.
    pub root: PathBuf,
    /// Layout of that hierarchy.
    pub layout: Layout,
    /// Whether a v1 `name=systemd` hierarchy is mounted.
    pub systemd_mount: bool,
}

/// Chooses the hierarchy to walk from a list of cgroup mounts, following the
/// rule in the [module documentation](self). `None` when there is no cgroup
/// mount at all.
pub fn select_hierarchy(mounts: &[Mount]) -> Option<Hierarchy> {
    let v1 = || mounts.iter().filter(|m| m.fstype == "cgroup");
    let systemd_mount = v1().any(|m| m.has_option("name=systemd"));
    let is_cpuacct_only = |m: &&Mount| m.controllers().eq(["cpuacct"]);
    let has_cpuacct = |m: &&Mount| m.controllers().any(|c| c == "cpuacct");
    let has_controller = |m: &&Mount| m.controllers().next().is_some();

    let (mount, layout) = if let Some(m) = v1()
        .find(is_cpuacct_only)
        .or_else(|| v1().find(has_cpuacct))
        .or_else(|| v1().find(has_controller))
    {
        (m, Layout::V1)
    } else if let Some(m) = mounts.iter().find(|m| m.fstype == "cgroup2") {
        (m, Layout::V2)
    } else {
        (v1().next()?, Layout::V1)
    };
    Some(Hierarchy {
        root: mount.mount_point.clone(),
        layout,
        systemd_mount,
    })
}

/// Reads a mountinfo file and chooses the hierarchy to walk.
///
/// # Errors
///
/// [`ScanError::Mountinfo`] if the file cannot be read,
/// [`ScanError::NoCgroupFs`] if it lists no cgroup filesystem.
pub fn discover(mountinfo: &Path) -> Result<Hierarchy, ScanError> {
    let text = fs::read(mountinfo).map_err(|source| ScanError::Mountinfo {
        path: mountinfo.to_path_buf(),
        source,
    })?;
    select_hierarchy(&parse_mountinfo(&text)).ok_or_else(|| ScanError::NoCgroupFs {
        mountinfo: mountinfo.to_path_buf(),
    })
}

/// Whether `name` is `system.slice/<x>.service` with a non-empty `<x>` and
/// no further path components.
fn is_system_service(name: &[u8]) -> bool {
    name.strip_prefix(b"system.slice/")
        .and_then(|rest| rest.strip_suffix(b".service"))
        .is_some_and(|unit| !unit.is_empty() && !unit.contains(&b'/'))
}

/// Whether `needle` occurs anywhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Option bits of a cgroup.
///
/// * [`OPTION_SYSTEM_SLICE_SERVICE`] (`0x2`) when the name is
///   `system.slice/<x>.service` — a direct child of `system.slice` whose last
///   component ends in `.service` and has a non-empty unit name;
/// * [`OPTION_IS_UNIFIED`] (`0x4`) for every cgroup of a v2 hierarchy,
///   including the root.
///
/// No other bits are set.
pub fn item_options(name: &[u8], layout: Layout) -> u32 {
    let mut options = 0;
    if is_system_service(name) {
        options |= OPTION_SYSTEM_SLICE_SERVICE;
    }
    if layout == Layout::V2 {
        options |= OPTION_IS_UNIFIED;
    }
    options
}

/// Whether the agent would chart this cgroup by default: 1 or 0.
///
/// The first matching rule decides:
///
/// 1. the root (`/`) → 0;
/// 2. the last path component ends in `.slice` (a grouping node such as
///    `system.slice` or `user.slice/user-1000.slice`) → 0;
/// 3. the last path component is `init.scope` → 0;
/// 4. the name contains `docker`, `libpod`, `lxc`, `kubepods`,
///    `machine.slice/`, `crio` or `containerd` (containers and VMs) → 1;
/// 5. the name is `system.slice/<x>.service` (a system service) → 1;
/// 6. the name starts with `user.slice/` (user sessions and user services)
///    → 1;
/// 7. anything else → 0.
///
/// The container test is a plain substring match, so for example
/// `system.slice/docker.socket` is enabled too.
pub fn item_enabled(name: &[u8]) -> u32 {
    if name == ROOT_NAME {
        return 0;
    }
    let last = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    if last.ends_with(b".slice") || last == b"init.scope" {
        return 0;
    }
    let charted = CONTAINER_MARKERS.iter().any(|m| contains(name, m))
        || is_system_service(name)
        || name.starts_with(b"user.slice/");
    u32::from(charted)
}

/// One cgroup of a scan result, as the snapshot codec holds it
/// ([`SnapshotItem`]): `hash` is [`name_hash`] of `name`, `options` the bits
/// of [`item_options`], `enabled` 1 if charted by default (see
/// [`item_enabled`]); `name` is the path relative to the root without a
/// leading slash (`/` for the root), `path` the absolute directory.
fn scanned(name: Vec<u8>, path: Vec<u8>, layout: Layout) -> SnapshotItem {
    SnapshotItem {
        hash: name_hash(&name),
        options: item_options(&name, layout),
        enabled: item_enabled(&name),
        name,
        path,
    }
}

/// The outcome of one successful scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    /// 1 if a systemd hierarchy is present, else 0 (see the
    /// [module documentation](self)).
    pub systemd_enabled: u32,
    /// 1 after the first successful scan; increased by 1 by every later scan
    /// whose set of cgroup names (or walked root or layout) differs from the
    /// previous successful scan, unchanged otherwise.
    pub generation: u64,
    /// All cgroups, sorted bytewise by name; the root is named `/`.
    pub items: Vec<SnapshotItem>,
    /// Directories that could not be listed and were left out, with their
    /// subtrees.
    pub skipped: usize,
    /// The walked root directory.
    pub root: PathBuf,
    /// Layout of the walked hierarchy.
    pub layout: Layout,
}

impl ScanResult {
    /// The item named `name`, found by binary search.
    pub fn find(&self, name: &[u8]) -> Option<&SnapshotItem> {
        self.items
            .binary_search_by(|item| item.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.items[i])
    }
}

/// Where a [`Scanner`] finds the hierarchy to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanSource {
    /// Discover it from this mountinfo file on every scan (see
    /// [`select_hierarchy`]).
    Mountinfo(PathBuf),
    /// Walk this directory as a hierarchy of the given layout.
    /// `systemd_enabled` is then decided by looking for `system.slice` or
    /// `init.scope` under it, whatever the layout.
    Root {
        /// Root cgroup directory.
        root: PathBuf,
        /// Layout to report.
        layout: Layout,
    },
}

impl Default for ScanSource {
    /// [`ScanSource::Mountinfo`] of [`DEFAULT_MOUNTINFO`].
    fn default() -> Self {
        Self::Mountinfo(PathBuf::from(DEFAULT_MOUNTINFO))
    }
}

/// Why a scan failed. Messages are single lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The mountinfo file could not be read.
    #[error("cannot read mount table {}: {source}", path.display())]
    Mountinfo {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The mountinfo file lists no `cgroup` or `cgroup2` filesystem.
    #[error("no cgroup filesystem found in {}", mountinfo.display())]
    NoCgroupFs {
        /// The file that was searched.
        mountinfo: PathBuf,
    },
    /// The root cgroup directory could not be listed.
    #[error("cannot list cgroup root {}: {source}", root.display())]
    RootUnreadable {
        /// The directory.
        root: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Walks the cgroup hierarchy and keeps the latest result.
///
/// ```no_run
/// use netipc_cli::cgroupfs::Scanner;
///
/// let mut scanner = Scanner::new(Default::default());
/// let result = scanner.scan()?;
/// println!("{} cgroups, generation {}", result.items.len(), result.generation);
/// # Ok::<(), netipc_cli::cgroupfs::ScanError>(())
/// ```
#[derive(Debug)]
pub struct Scanner {
    source: ScanSource,
    last: Option<ScanResult>,
    scratch: Vec<u8>,
}

impl Scanner {
    /// A scanner reading from `source`. Nothing is read until [`scan`](Self::scan).
    pub fn new(source: ScanSource) -> Self {
        Self {
            source,
            last: None,
            scratch: Vec::new(),
        }
    }

    /// A scanner discovering the hierarchy from the given mountinfo file.
    pub fn from_mountinfo(path: impl Into<PathBuf>) -> Self {
        Self::new(ScanSource::Mountinfo(path.into()))
    }

    /// A scanner walking `root` directly as a hierarchy of `layout`.
    pub fn with_root(root: impl Into<PathBuf>, layout: Layout) -> Self {
        Self::new(ScanSource::Root {
            root: root.into(),
            layout,
        })
    }

    /// Where this scanner looks.
    pub fn source(&self) -> &ScanSource {
        &self.source
    }

    /// The result of the latest successful scan, if any.
    pub fn last(&self) -> Option<&ScanResult> {
        self.last.as_ref()
    }

    /// Walks the hierarchy once and returns the new result.
    ///
    /// On failure the previous result (and its generation) is kept.
    ///
    /// # Errors
    ///
    /// See [`ScanError`]: the mount table cannot be read or lists no cgroup
    /// filesystem, or the root directory cannot be listed. Unreadable
    /// directories below the root are not errors; they are counted in
    /// [`ScanResult::skipped`].
    pub fn scan(&mut self) -> Result<&ScanResult, ScanError> {
        let (root, layout, systemd) = match &self.source {
            ScanSource::Mountinfo(path) => {
                let h = discover(path)?;
                let systemd = match h.layout {
                    Layout::V1 => h.systemd_mount,
                    Layout::V2 => has_systemd_dirs(&h.root),
                };
                (h.root, h.layout, systemd)
            }
            ScanSource::Root { root, layout } => (root.clone(), *layout, has_systemd_dirs(root)),
        };

        let capacity = self.last.as_ref().map_or(64, |r| r.items.len() + 16);
        let mut items = Vec::with_capacity(capacity);
        let skipped = walk(&root, layout, &mut items, &mut self.scratch)?;
        items.sort_unstable_by(|a, b| a.name.cmp(&b.name));

        let generation = match &self.last {
            None => 1,
            Some(prev)
                if prev.root == root
                    && prev.layout == layout
                    && same_names(&prev.items, &items) =>
            {
                prev.generation
            }
            Some(prev) => prev.generation + 1,
        };
        Ok(self.last.insert(ScanResult {
            systemd_enabled: u32::from(systemd),
            generation,
            items,
            skipped,
            root,
            layout,
        }))
    }
}

/// Both lists sorted by name: are the name sets equal?
fn same_names(a: &[SnapshotItem], b: &[SnapshotItem]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.name == y.name)
}

/// A `system.slice` or `init.scope` directory (not a symlink) under `root`.
fn has_systemd_dirs(root: &Path) -> bool {
    ["system.slice", "init.scope"]
        .iter()
        .any(|d| fs::symlink_metadata(root.join(d)).is_ok_and(|m| m.is_dir()))
}

/// Walks the tree under `root` into `items` (unsorted). Returns the number of
/// skipped directories.
fn walk(
    root: &Path,
    layout: Layout,
    items: &mut Vec<SnapshotItem>,
    scratch: &mut Vec<u8>,
) -> Result<usize, ScanError> {
    let unreadable = |source| ScanError::RootUnreadable {
        root: root.to_path_buf(),
        source,
    };
    let root_bytes = root.as_os_str().as_bytes();
    // Child paths are `base + "/" + name`; a root of "/" has an empty base.
    let base_len = root_bytes.len() - root_bytes.iter().rev().take_while(|&&b| b == b'/').count();
    let base = &root_bytes[..base_len];

    let listing = fs::read_dir(root).map_err(unreadable)?;
    let root_path = if base.is_empty() { ROOT_NAME } else { base };
    items.push(scanned(ROOT_NAME.to_vec(), root_path.to_vec(), layout));
    scratch.clear();
    scratch.extend_from_slice(base);
    list_children(listing, scratch, base_len, layout, items).map_err(unreadable)?;

    Ok(drain_queue(items, 1, base_len, layout, scratch))
}

/// Appends an item for every subdirectory in `listing`. `parent` is the
/// parent's path (empty for a root of `/`).
fn list_children(
    listing: ReadDir,
    parent: &[u8],
    base_len: usize,
    layout: Layout,
    items: &mut Vec<SnapshotItem>,
) -> io::Result<()> {
    for entry in listing {
        let entry = entry?;
        // d_type from the directory entry; falls back to lstat, never
        // follows symlinks. An entry that vanished before lstat is ignored.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let file_name = entry.file_name();
        let file_name = file_name.as_bytes();
        let mut path = Vec::with_capacity(parent.len() + 1 + file_name.len());
        path.extend_from_slice(parent);
        path.push(b'/');
        path.extend_from_slice(file_name);
        let name = path[base_len + 1..].to_vec();
        items.push(scanned(name, path, layout));
    }
    Ok(())
}

/// Lists the directories queued in `items[from..]` breadth-first; found
/// subdirectories are appended to `items` and listed in turn. A directory
/// that cannot be listed is removed along with anything found inside it.
/// Returns how many were removed that way.
fn drain_queue(
    items: &mut Vec<SnapshotItem>,
    from: usize,
    base_len: usize,
    layout: Layout,
    scratch: &mut Vec<u8>,
) -> usize {
    let mut skipped = 0;
    for next in from.. {
        let Some(dir) = items.get(next) else { break };
        scratch.clear();
        scratch.extend_from_slice(&dir.path);
        let found_before = items.len();
        let listed = fs::read_dir(Path::new(OsStr::from_bytes(scratch)))
            .and_then(|listing| list_children(listing, scratch, base_len, layout, items));
        if listed.is_err() {
            items.truncate(found_before);
            // An empty path marks the item for removal; real paths are
            // never empty.
            items[next].path.clear();
            skipped += 1;
        }
    }
    if skipped > 0 {
        items.retain(|item| !item.path.is_empty());
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward FNV-1a 32 for cross-checking [`name_hash`].
    fn reference_hash(bytes: &[u8]) -> u32 {
        let mut h: u32 = 2_166_136_261; // 0x811c9dc5
        for &b in bytes {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    #[test]
    fn name_hash_vectors() {
        let cases: [(&[u8], u32); 7] = [
            (b"", 0x811c_9dc5),
            (b"a", 0xe40c_292c),
            (b"foobar", 0xbf9c_f968),
            (b"/", 0x2a0c_975e),
            (b"user.slice", 0xe721_c04e),
            (b"system.slice/ssh.service", 0xd05e_7ab0),
            (b"system.slice/docker-abc.scope", 0x44f7_e892),
        ];
        for (name, expected) in cases {
            assert_eq!(
                name_hash(name),
                expected,
                "{:?}",
                String::from_utf8_lossy(name)
            );
            assert_eq!(reference_hash(name), expected);
        }
        let odd = "caf\u{e9} \u{1f600}/\u{00ff}".as_bytes();
        assert_eq!(name_hash(odd), reference_hash(odd));
    }

    #[test]
    fn options_and_enabled_table() {
        // (name, v1 options, enabled)
        let table: &[(&[u8], u32, u32)] = &[
            (b"/", 0, 0),
            (b"init.scope", 0, 0),
            (b"system.slice", 0, 0),
            (b"user.slice", 0, 0),
            (b"machine.slice", 0, 0),
            (b"system.slice/ssh.service", 2, 1),
            (b"system.slice/docker.service", 2, 1),
            (b"system.slice/.service", 0, 0),
            (b"system.slice/ssh.service/child", 0, 0),
            (b"system.slice/ssh.socket", 0, 0),
            (b"system.slice/system-getty.slice", 0, 0),
            (b"system.slice/system-getty.slice/getty@tty1.service", 0, 0),
            (b"system.slice/docker-0123abcd.scope", 0, 1),
            (b"system.slice/docker.socket", 0, 1),
            (b"docker/0123abcd", 0, 1),
            (b"machine.slice/libpod-0123.scope", 0, 1),
            (b"machine.slice/machine-qemu\\x2d1\\x2dvm.scope", 0, 1),
            (b"lxc.payload.c1", 0, 1),
            (b"kubepods.slice", 0, 0),
            (b"kubepods.slice/kubepods-burstable.slice", 0, 0),
            (b"kubepods/burstable/pod12/0123abcd", 0, 1),
            (b"system.slice/crio-0123.scope", 0, 1),
            (b"system.slice/containerd.service", 2, 1),
            (b"user.slice/user-1000.slice", 0, 0),
            (b"user.slice/user-1000.slice/session-2.scope", 0, 1),
            (b"user.slice/user-1000.slice/user@1000.service", 0, 1),
            (
                b"user.slice/user-1000.slice/user@1000.service/init.scope",
                0,
                0,
            ),
            (
                b"user.slice/user-1000.slice/user@1000.service/app.slice",
                0,
                0,
            ),
            (
                b"user.slice/user-1000.slice/user@1000.service/app.slice/x.service",
                0,
                1,
            ),
            (b"some/other/group", 0, 0),
            (b"my service.service", 0, 0),
        ];
        for &(name, options, enabled) in table {
            let shown = String::from_utf8_lossy(name);
            assert_eq!(item_options(name, Layout::V1), options, "options {shown}");
            assert_eq!(
                item_options(name, Layout::V2),
                options | OPTION_IS_UNIFIED,
                "v2 options {shown}"
            );
            assert_eq!(item_enabled(name), enabled, "enabled {shown}");
        }
    }

    #[test]
    fn octal_unescape() {
        assert_eq!(unescape_octal(br"/a\040b"), b"/a b");
        assert_eq!(unescape_octal(br"\011\012\134"), b"\t\n\\");
        assert_eq!(unescape_octal(br"\303\251"), "\u{e9}".as_bytes());
        assert_eq!(unescape_octal(br"a\04"), br"a\04");
        assert_eq!(unescape_octal(br"a\048"), br"a\048");
        assert_eq!(unescape_octal(br"\777"), br"\777");
        assert_eq!(unescape_octal(b"\\"), b"\\");
    }

    #[test]
    fn mountinfo_parsing() {
        let text = b"\
22 1 0:21 / /proc rw,nosuid - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 master:3 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /tmp/with\\040space rw,relatime - cgroup2 cgroup2 rw,nsdelegate
garbage line
42 31 0:39 / /x rw - cgroup2
";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3, "{mounts:?}");
        assert_eq!(
            mounts[0].mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(mounts[0].fstype, "cgroup");
        assert_eq!(
            mounts[0].controllers().collect::<Vec<_>>(),
            ["cpu", "cpuacct"]
        );
        assert!(mounts[1].has_option("name=systemd"));
        assert_eq!(mounts[1].controllers().count(), 0);
        assert_eq!(mounts[2].mount_point, Path::new("/tmp/with space"));
        assert_eq!(mounts[2].fstype, "cgroup2");
        assert_eq!(mounts[2].super_options, ["rw", "nsdelegate"]);
    }

    fn mount(point: &str, fstype: &str, options: &str) -> Mount {
        Mount {
            mount_point: PathBuf::from(point),
            fstype: fstype.to_string(),
            super_options: options.split(',').map(str::to_string).collect(),
        }
    }

    #[test]
    fn hierarchy_selection() {
        let v2 = mount("/sys/fs/cgroup", "cgroup2", "rw,nsdelegate");
        let unified = mount("/sys/fs/cgroup/unified", "cgroup2", "rw");
        let systemd = mount("/sys/fs/cgroup/systemd", "cgroup", "rw,xattr,name=systemd");
        let cpu = mount("/sys/fs/cgroup/cpu", "cgroup", "rw,cpu");
        let cpuacct = mount("/sys/fs/cgroup/cpuacct", "cgroup", "rw,cpuacct");
        let combined = mount("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct");
        let memory = mount("/sys/fs/cgroup/memory", "cgroup", "rw,memory");

        let pick = |mounts: &[&Mount]| {
            let owned: Vec<Mount> = mounts.iter().map(|m| (*m).clone()).collect();
            select_hierarchy(&owned).map(|h| (h.root, h.layout, h.systemd_mount))
        };
        let p = PathBuf::from;

        assert_eq!(pick(&[&v2]), Some((p("/sys/fs/cgroup"), Layout::V2, false)));
        assert_eq!(
            pick(&[&memory, &cpu, &systemd, &cpuacct, &unified]),
            Some((p("/sys/fs/cgroup/cpuacct"), Layout::V1, true))
        );
        assert_eq!(
            pick(&[&memory, &combined, &unified]),
            Some((p("/sys/fs/cgroup/cpu,cpuacct"), Layout::V1, false))
        );
        assert_eq!(
            pick(&[&unified, &systemd, &memory, &cpu]),
            Some((p("/sys/fs/cgroup/memory"), Layout::V1, true))
        );
        assert_eq!(
            pick(&[&systemd, &unified]),
            Some((p("/sys/fs/cgroup/unified"), Layout::V2, true))
        );
        assert_eq!(
            pick(&[&systemd]),
            Some((p("/sys/fs/cgroup/systemd"), Layout::V1, true))
        );
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn vanished_queued_directory_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("kept/inner")).unwrap();
        fs::create_dir(root.join("gone")).unwrap();

        let mut items = Vec::new();
        let mut scratch = Vec::new();
        let base_len = root.as_os_str().len();
        let layout = Layout::V2;
        let listing = fs::read_dir(root).unwrap();
        items.push(scanned(
            ROOT_NAME.to_vec(),
            root.as_os_str().as_bytes().to_vec(),
            layout,
        ));
        scratch.extend_from_slice(root.as_os_str().as_bytes());
        list_children(listing, &scratch, base_len, layout, &mut items).unwrap();
        assert_eq!(items.len(), 3);

        // The directory disappears after its parent was listed.
        fs::remove_dir(root.join("gone")).unwrap();
        let skipped = drain_queue(&mut items, 1, base_len, layout, &mut scratch);

        assert_eq!(skipped, 1);
        let mut names: Vec<_> = items.iter().map(|i| i.name.clone()).collect();
        names.sort();
        assert_eq!(
            names,
            [b"/".to_vec(), b"kept".to_vec(), b"kept/inner".to_vec()]
        );
    }

    #[test]
    fn root_of_slash_builds_clean_paths() {
        let mut items = Vec::new();
        // Only the path arithmetic is checked, on a listing of a temp dir
        // pretending to be "/".
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        list_children(
            fs::read_dir(dir.path()).unwrap(),
            b"",
            0,
            Layout::V1,
            &mut items,
        )
        .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].name, b"a");
        assert_eq!(items[0].path, b"/a");
    }
}
