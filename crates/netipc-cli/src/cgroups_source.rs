//! Data source of the cgroups lookup provider: "what do you know about these
//! cgroup paths".
//!
//! # Keys
//!
//! A key is the absolute path of a cgroup directory as the apps collector
//! forms it: the mount point of the hierarchy followed by the path the
//! kernel reports in `/proc/PID/cgroup`, for example
//! `/sys/fs/cgroup/system.slice/ssh.service`; the root cgroup of a hierarchy
//! is the mount point itself. These are exactly the `path` bytes the
//! [`crate::cgroupfs`] scanner produces (mount point without trailing
//! slashes, then `/` and the name).
//!
//! # Answers
//!
//! The source never resolves, normalises, opens or walks a requested path.
//! It answers from an in-memory [`CgroupIndex`] built by walking its own
//! roots with the snapshot scanner, and compares keys as raw bytes:
//!
//! 1. a key in the index → [`CgroupLookup::Known`] with the cgroup's name
//!    (the snapshot's name: relative path, `/` for the root), orchestrator
//!    and labels (see [`crate::cgroup_meta`]);
//! 2. a key that is not a well-formed path below one of the roots — not
//!    starting with a root's mount point, an empty, `.` or `..` component, a
//!    trailing or doubled `/`, a NUL byte — → [`CgroupLookup::UnknownPermanent`]
//!    at once, no filesystem access;
//! 3. any other key is below a root but was not there when the index was
//!    built. If a scan of every root *started after the key was asked for*
//!    (`asked_at`) and did not find it, the cgroup does not exist →
//!    `UnknownPermanent`. Otherwise the source rescans its roots, at most
//!    once per `min_rescan` (see [`CgroupsSource::new`]), and answers from
//!    the fresh index; when a rescan is not allowed yet, or it failed, the
//!    answer is [`CgroupLookup::UnknownRetryLater`].
//!
//! A client therefore sees a new cgroup either at once or after a retry, and
//! a cgroup that does not exist as permanently unknown no later than
//! `min_rescan` after asking.
//!
//! # Generation
//!
//! 0 until the first successful [`refresh`](CgroupsSource::refresh); 1 after
//! it; +1 on every later refresh whose set of keys differs from the previous
//! one. A restart of the provider starts again at 1.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::cgroup_meta::CgroupMeta;
use crate::cgroupfs::{parse_mountinfo, Layout, Mount, ScanError, Scanner};

/// Default for the shortest time between two rescans triggered by lookups.
pub const DEFAULT_MIN_RESCAN: Duration = Duration::from_secs(1);

/// A cgroup hierarchy a process's cgroup path can refer to, in the order
/// [`crate::procfs`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HierarchyKind {
    /// The cgroup v2 hierarchy (`0::` lines).
    Unified,
    /// The v1 hierarchy carrying `cpuacct`.
    Cpuacct,
    /// The v1 hierarchy carrying `blkio`.
    Blkio,
    /// The v1 hierarchy carrying `memory`.
    Memory,
    /// The named v1 hierarchy `name=systemd`.
    NameSystemd,
}

impl HierarchyKind {
    /// All kinds, in declaration order.
    pub const ALL: [HierarchyKind; 5] = [
        Self::Unified,
        Self::Cpuacct,
        Self::Blkio,
        Self::Memory,
        Self::NameSystemd,
    ];

    /// Position in [`HierarchyKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether this is a v1 hierarchy with a resource controller.
    pub fn is_v1_controller(self) -> bool {
        matches!(self, Self::Cpuacct | Self::Blkio | Self::Memory)
    }

    fn layout(self) -> Layout {
        match self {
            Self::Unified => Layout::V2,
            _ => Layout::V1,
        }
    }
}

/// Where each hierarchy is mounted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupRoots {
    mounts: [Option<PathBuf>; 5],
}

impl CgroupRoots {
    /// No hierarchy at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same roots with `kind` mounted at `path` (replacing any earlier
    /// mount of that kind).
    pub fn with(mut self, kind: HierarchyKind, path: impl Into<PathBuf>) -> Self {
        self.mounts[kind.index()] = Some(path.into());
        self
    }

    /// The roots found in a list of mounts: for each kind the first mount
    /// in list order that carries it (a `cgroup2` mount for
    /// [`HierarchyKind::Unified`]; a `cgroup` mount whose super options name
    /// the controller, or `name=systemd`, for the others).
    pub fn from_mounts(mounts: &[Mount]) -> Self {
        let mut roots = Self::new();
        for kind in HierarchyKind::ALL {
            let option = match kind {
                HierarchyKind::Unified => "",
                HierarchyKind::Cpuacct => "cpuacct",
                HierarchyKind::Blkio => "blkio",
                HierarchyKind::Memory => "memory",
                HierarchyKind::NameSystemd => "name=systemd",
            };
            let found = mounts.iter().find(|m| match kind {
                HierarchyKind::Unified => m.fstype == "cgroup2",
                _ => m.fstype == "cgroup" && m.has_option(option),
            });
            if let Some(m) = found {
                roots = roots.with(kind, m.mount_point.clone());
            }
        }
        roots
    }

    /// Reads a mountinfo file (normally `/proc/self/mountinfo`) and returns
    /// [`from_mounts`](Self::from_mounts) of it.
    ///
    /// # Errors
    ///
    /// [`ScanError::Mountinfo`] if the file cannot be read,
    /// [`ScanError::NoCgroupFs`] if none of the five hierarchies is mounted.
    pub fn discover(mountinfo: &Path) -> Result<Self, ScanError> {
        let text = fs::read(mountinfo).map_err(|source| ScanError::Mountinfo {
            path: mountinfo.to_path_buf(),
            source,
        })?;
        let roots = Self::from_mounts(&parse_mountinfo(&text));
        if roots.mounts.iter().all(Option::is_none) {
            return Err(ScanError::NoCgroupFs {
                mountinfo: mountinfo.to_path_buf(),
            });
        }
        Ok(roots)
    }

    /// Mount point of `kind`, if mounted.
    pub fn get(&self, kind: HierarchyKind) -> Option<&Path> {
        self.mounts[kind.index()].as_deref()
    }

    /// Whether a v1 hierarchy with a resource controller (`cpuacct`,
    /// `blkio` or `memory`) is mounted: a v1 or hybrid host.
    pub fn has_v1_controllers(&self) -> bool {
        HierarchyKind::ALL
            .iter()
            .any(|k| k.is_v1_controller() && self.get(*k).is_some())
    }

    /// Distinct mount points with the layout to scan them as, in kind
    /// order.
    fn distinct(&self) -> Vec<(PathBuf, Layout)> {
        let mut out: Vec<(PathBuf, Layout)> = Vec::new();
        for kind in HierarchyKind::ALL {
            if let Some(p) = self.get(kind) {
                if !out.iter().any(|(q, _)| q == p) {
                    out.push((p.to_path_buf(), kind.layout()));
                }
            }
        }
        out
    }
}

/// The mount point as it starts every key below it: without trailing
/// slashes, so `/` becomes empty (the scanner's rule).
pub(crate) fn key_base(root: &Path) -> &[u8] {
    let bytes = root.as_os_str().as_bytes();
    let trailing = bytes.iter().rev().take_while(|&&b| b == b'/').count();
    &bytes[..bytes.len() - trailing]
}

/// Whether `key` is the root `base` itself or a clean path below it.
fn is_below(key: &[u8], base: &[u8]) -> bool {
    if key.contains(&0) {
        return false;
    }
    if key == base || (base.is_empty() && key == b"/") {
        return true;
    }
    let Some(rest) = key.strip_prefix(base).and_then(|r| r.strip_prefix(b"/")) else {
        return false;
    };
    rest.split(|&b| b == b'/')
        .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// The cgroups known at one point in time. Immutable; shared through an
/// `Arc` by every lookup that started while it was current.
#[derive(Debug)]
pub struct CgroupIndex {
    entries: Arc<HashMap<Vec<u8>, CgroupMeta>>,
    bases: Vec<Vec<u8>>,
    generation: u64,
    /// When the scan that built it started; `None` for the empty index
    /// before the first refresh.
    scanned_at: Option<Instant>,
    /// Every root was scanned successfully.
    complete: bool,
}

impl CgroupIndex {
    /// The metadata of the cgroup whose key is `key`, if indexed.
    pub fn get(&self, key: &[u8]) -> Option<&CgroupMeta> {
        self.entries.get(key)
    }

    /// Generation of this index (see the [module documentation](self)).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of indexed cgroups (over all roots).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every indexed key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.keys().map(Vec::as_slice)
    }

    /// Whether `key` is a well-formed path at or below one of the roots.
    pub fn is_below_a_root(&self, key: &[u8]) -> bool {
        self.bases.iter().any(|b| is_below(key, b))
    }

    /// Whether a miss in this index proves the key does not exist: every
    /// root was scanned, by a scan that started at or after `asked_at`.
    fn proves_absence(&self, asked_at: Instant) -> bool {
        self.complete && self.scanned_at.is_some_and(|t| t >= asked_at)
    }
}

/// The answer for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLookup<'a> {
    /// The cgroup exists; its metadata.
    Known(&'a CgroupMeta),
    /// Not known yet; ask again later.
    UnknownRetryLater,
    /// Not a cgroup of this host's hierarchies, or it does not exist.
    UnknownPermanent,
}

/// State of the scans, behind the refresh lock.
#[derive(Debug)]
struct Refresher {
    scanners: Vec<Scanner>,
    generations: Vec<u64>,
    last_attempt: Option<Instant>,
}

/// The cgroups lookup data source: its roots, the current [`CgroupIndex`]
/// and the rescan policy. Shareable between threads (`&self` everywhere).
#[derive(Debug)]
pub struct CgroupsSource {
    roots: CgroupRoots,
    bases: Vec<Vec<u8>>,
    current: RwLock<Arc<CgroupIndex>>,
    refresher: Mutex<Refresher>,
    min_rescan: Duration,
}

impl CgroupsSource {
    /// A source over `roots` with an empty index (generation 0): call
    /// [`refresh`](Self::refresh) to fill it. Lookups that miss rescan the
    /// roots at most once per `min_rescan` ([`DEFAULT_MIN_RESCAN`] is a
    /// sensible value; `Duration::ZERO` rescans on every miss that needs
    /// it).
    pub fn new(roots: CgroupRoots, min_rescan: Duration) -> Self {
        let distinct = roots.distinct();
        let bases: Vec<Vec<u8>> = distinct.iter().map(|(p, _)| key_base(p).to_vec()).collect();
        let scanners: Vec<Scanner> = distinct
            .into_iter()
            .map(|(p, layout)| Scanner::with_root(p, layout))
            .collect();
        let empty = CgroupIndex {
            entries: Arc::new(HashMap::new()),
            bases: bases.clone(),
            generation: 0,
            scanned_at: None,
            complete: false,
        };
        Self {
            roots,
            bases,
            current: RwLock::new(Arc::new(empty)),
            refresher: Mutex::new(Refresher {
                generations: vec![0; scanners.len()],
                scanners,
                last_attempt: None,
            }),
            min_rescan,
        }
    }

    /// The roots this source scans.
    pub fn roots(&self) -> &CgroupRoots {
        &self.roots
    }

    /// The current index.
    pub fn current(&self) -> Arc<CgroupIndex> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Rescans every root now and publishes the new index.
    ///
    /// # Errors
    ///
    /// The first root that could not be listed. The other roots are still
    /// scanned and published; a failed root keeps the cgroups of its last
    /// successful scan.
    pub fn refresh(&self) -> Result<Arc<CgroupIndex>, ScanError> {
        let mut refresher = self
            .refresher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.rescan(&mut refresher)
    }

    fn rescan(&self, r: &mut Refresher) -> Result<Arc<CgroupIndex>, ScanError> {
        let started = Instant::now();
        r.last_attempt = Some(started);
        let mut first_error = None;
        for scanner in &mut r.scanners {
            if let Err(e) = scanner.scan() {
                first_error.get_or_insert(e);
            }
        }
        let generations: Vec<u64> = r
            .scanners
            .iter()
            .map(|s| s.last().map_or(0, |l| l.generation))
            .collect();
        let previous = self.current();
        let any_scanned = generations.iter().any(|&g| g > 0);
        let generation = if !any_scanned {
            0
        } else if generations == r.generations && previous.generation > 0 {
            previous.generation
        } else {
            previous.generation + 1
        };
        let entries = if generation == previous.generation && any_scanned {
            Arc::clone(&previous.entries)
        } else {
            Arc::new(Self::build(&r.scanners))
        };
        r.generations = generations;
        let index = Arc::new(CgroupIndex {
            entries,
            bases: self.bases.clone(),
            generation,
            scanned_at: Some(started),
            complete: first_error.is_none(),
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&index);
        match first_error {
            Some(e) => Err(e),
            None => Ok(index),
        }
    }

    fn build(scanners: &[Scanner]) -> HashMap<Vec<u8>, CgroupMeta> {
        let total = scanners
            .iter()
            .filter_map(Scanner::last)
            .map(|l| l.items.len())
            .sum();
        let mut entries = HashMap::with_capacity(total);
        for result in scanners.iter().filter_map(Scanner::last) {
            for item in &result.items {
                entries.insert(item.path.clone(), CgroupMeta::from_name(item.name.clone()));
            }
        }
        entries
    }

    /// Answers one key, following the rules of the
    /// [module documentation](self).
    ///
    /// `index` is the caller's copy of the current index; it is replaced by
    /// a newer one when the source has (or makes) one, so a caller answering
    /// a batch keeps using the freshest index and reports its generation.
    /// `asked_at` is when the key was known to the asker to exist, at the
    /// latest: the arrival time of the request.
    pub fn lookup<'i>(
        &self,
        index: &'i mut Arc<CgroupIndex>,
        key: &[u8],
        asked_at: Instant,
    ) -> CgroupLookup<'i> {
        if index.get(key).is_none() {
            if !index.is_below_a_root(key) {
                return CgroupLookup::UnknownPermanent;
            }
            self.after_miss(index, key, asked_at);
        }
        match index.get(key) {
            Some(meta) => CgroupLookup::Known(meta),
            None if index.proves_absence(asked_at) => CgroupLookup::UnknownPermanent,
            None => CgroupLookup::UnknownRetryLater,
        }
    }

    /// A well-formed key missed in `index`: switch to a newer published
    /// index, or rescan if allowed, unless `index` already settles it.
    fn after_miss(&self, index: &mut Arc<CgroupIndex>, key: &[u8], asked_at: Instant) {
        if index.proves_absence(asked_at) {
            return;
        }
        let mut r = self
            .refresher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let published = self.current();
        if !Arc::ptr_eq(&published, index) {
            *index = published;
            if index.get(key).is_some() || index.proves_absence(asked_at) {
                return;
            }
        }
        let allowed = r
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.min_rescan);
        if allowed {
            // A failed rescan still publishes what it could; the answer
            // then stays "retry later" (the index is not complete).
            *index = match self.rescan(&mut r) {
                Ok(fresh) => fresh,
                Err(_) => self.current(),
            };
        }
    }
}
