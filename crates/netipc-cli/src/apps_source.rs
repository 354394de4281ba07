//! Data source of the apps lookup provider: "what are these pids".
//!
//! For each pid, [`AppsSource::lookup_pid`] reads `/proc/PID/{stat,status,
//! cgroup}` with a [`ProcReader`] and answers:
//!
//! * [`PidInfo::Unknown`] when the process does not exist, exits while being
//!   read, or any of the three files is unreadable or malformed (see
//!   [`crate::procfs`] for the exact rules) — the protocol's pid status
//!   UNKNOWN;
//! * otherwise [`PidInfo::Known`] with ppid, effective uid, start time in
//!   clock ticks (field 22 of `stat`, sent as is, no conversion), comm
//!   (1–15 bytes) and the process's cgroup.
//!
//! # Which cgroup
//!
//! One line of `/proc/PID/cgroup` is chosen, in this order: the cgroup v2
//! `0::` line, else the v1 lines of `cpuacct`, `blkio`, `memory`, then
//! `name=systemd` (the order of [`HierarchyKind::ALL`]). The first line
//! present whose hierarchy is mounted is used; when no present line has a
//! mounted hierarchy, the first present line is used anyway (and ends up
//! UNKNOWN_PERMANENT below).
//!
//! Its path (as the kernel wrote it, relative to the hierarchy root or to
//! the reader's cgroup namespace) decides the cgroup status:
//!
//! | path | cgroup status | cgroup path sent |
//! |---|---|---|
//! | no usable line at all | UNKNOWN_RETRY_LATER | empty |
//! | `/` or `/init.scope` | HOST_ROOT | empty |
//! | hierarchy not mounted | UNKNOWN_PERMANENT | the path from the file |
//! | otherwise | as the cgroups source answers for key mount point + path ([`crate::cgroups_source`]): KNOWN with name, orchestrator and labels; UNKNOWN_RETRY_LATER; UNKNOWN_PERMANENT | the key |
//!
//! Mount points are joined with the path as is: this is right when the
//! mount shows the whole hierarchy (hosts) or the process's own cgroup
//! namespace (containers); a mount of a sub-tree without a cgroup namespace
//! yields keys that do not exist, hence UNKNOWN_PERMANENT.
//!
//! The cgroup of a live process cannot be removed, so the moment before
//! `/proc/PID/cgroup` is read serves as the cgroups source's `asked_at`: a
//! scan started after it that does not find the path proves the cgroup is
//! gone.
//!
//! # Generation
//!
//! [`AppsSource::generation`] is the generation of the cgroups index used by
//! the latest lookup: UNKNOWN_PERMANENT and HOST_ROOT answers stay valid
//! while it does not go back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::cgroup_meta::CgroupMeta;
use crate::cgroups_source::{key_base, CgroupIndex, CgroupLookup, CgroupsSource, HierarchyKind};
use crate::procfs::{ProcError, ProcReader};

/// Default proc root.
pub const DEFAULT_PROC_ROOT: &str = "/proc";

/// The cgroup of a known process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidCgroup<'a> {
    /// The cgroup exists; its key and metadata.
    Known {
        /// The cgroup key (absolute directory path).
        path: &'a [u8],
        /// Name, orchestrator and labels.
        meta: &'a CgroupMeta,
    },
    /// Not known yet; `path` may be empty when the process lists no usable
    /// cgroup.
    UnknownRetryLater {
        /// The key, or empty.
        path: &'a [u8],
    },
    /// Will not be known (gone, or its hierarchy is not mounted here).
    UnknownPermanent {
        /// The key, or the path from `/proc/PID/cgroup` when the hierarchy
        /// is not mounted; never empty.
        path: &'a [u8],
    },
    /// The process is in the root cgroup (`/` or `/init.scope`).
    HostRoot,
}

/// Everything known about a live process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo<'a> {
    /// Parent pid.
    pub ppid: u32,
    /// Effective uid.
    pub uid: u32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
    /// comm, 1 to 15 bytes.
    pub comm: &'a [u8],
    /// Its cgroup.
    pub cgroup: PidCgroup<'a>,
}

/// The answer for one pid.
#[derive(Debug)]
pub enum PidInfo<'a> {
    /// The process exists.
    Known(ProcessInfo<'a>),
    /// It does not, or it could not be read; why.
    Unknown(ProcError),
}

impl<'a> PidInfo<'a> {
    /// The process facts, if known.
    pub fn known(&self) -> Option<&ProcessInfo<'a>> {
        match self {
            Self::Known(info) => Some(info),
            Self::Unknown(_) => None,
        }
    }
}

/// The apps lookup data source: a proc reader with its buffers, the
/// cgroups source it asks about cgroup paths, and that source's index as of
/// the latest lookup. One per thread; the cgroups source is shared.
#[derive(Debug)]
pub struct AppsSource {
    proc: ProcReader,
    cgroups: Arc<CgroupsSource>,
    index: Arc<CgroupIndex>,
    key: Vec<u8>,
}

impl AppsSource {
    /// A source reading processes under `proc_root` (normally
    /// [`DEFAULT_PROC_ROOT`]) and cgroups from `cgroups`.
    pub fn new(proc_root: impl Into<PathBuf>, cgroups: Arc<CgroupsSource>) -> Self {
        let index = cgroups.current();
        Self {
            proc: ProcReader::new(proc_root),
            cgroups,
            index,
            key: Vec::with_capacity(256),
        }
    }

    /// The cgroups source.
    pub fn cgroups(&self) -> &Arc<CgroupsSource> {
        &self.cgroups
    }

    /// Generation of the cgroups index used by the latest lookup.
    pub fn generation(&self) -> u64 {
        self.index.generation()
    }

    /// Looks process `pid` up, following the rules of the
    /// [module documentation](self). Never panics; every failure is
    /// [`PidInfo::Unknown`].
    pub fn lookup_pid(&mut self, pid: u32) -> PidInfo<'_> {
        let current = self.cgroups.current();
        if !Arc::ptr_eq(&current, &self.index) {
            self.index = current;
        }
        let roots = self.cgroups.roots();
        let asked_at = Instant::now();
        let facts = match self.proc.read(pid) {
            Ok(facts) => facts,
            Err(e) => return PidInfo::Unknown(e),
        };

        let present = || {
            HierarchyKind::ALL
                .iter()
                .filter_map(|&k| Some((k, facts.cgroups.get(k)?)))
        };
        let chosen = present()
            .find(|(k, _)| roots.get(*k).is_some())
            .or_else(|| present().next());

        let cgroup = match chosen {
            None => PidCgroup::UnknownRetryLater { path: b"" },
            Some((_, b"/" | b"/init.scope")) => PidCgroup::HostRoot,
            Some((kind, path)) => match roots.get(kind) {
                None => PidCgroup::UnknownPermanent { path },
                Some(mount) => {
                    self.key.clear();
                    self.key.extend_from_slice(key_base(mount));
                    self.key.extend_from_slice(path);
                    let key = self.key.as_slice();
                    match self.cgroups.lookup(&mut self.index, key, asked_at) {
                        CgroupLookup::Known(meta) => PidCgroup::Known { path: key, meta },
                        CgroupLookup::UnknownRetryLater => {
                            PidCgroup::UnknownRetryLater { path: key }
                        }
                        CgroupLookup::UnknownPermanent => PidCgroup::UnknownPermanent { path: key },
                    }
                }
            },
        };
        PidInfo::Known(ProcessInfo {
            ppid: facts.ppid,
            uid: facts.uid,
            starttime: facts.starttime,
            comm: facts.comm,
            cgroup,
        })
    }
}
