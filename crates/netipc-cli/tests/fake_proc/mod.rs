//! A fake `/proc` and fake cgroup mounts in a temporary directory, shared by
//! the procfs and apps source tests.

#![allow(dead_code)] // each test file uses a different part

use std::fs;
use std::path::{Path, PathBuf};

use netipc_cli::cgroups_source::{CgroupRoots, HierarchyKind};
use tempfile::TempDir;

/// A 64-hex container id.
pub const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub fn stat_line(pid: u32, comm: &str, ppid: &str, start: u64) -> String {
    format!("{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 {start} 3133440 413 18446744073709551615 0 0\n")
}

pub fn status_text(comm: &str, ruid: u32, euid: u32) -> String {
    format!("Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t{ruid}\t{euid}\t{euid}\t{euid}\nGid:\t0\t0\t0\t0\n")
}

pub struct FakeHost {
    dir: TempDir,
}

impl FakeHost {
    /// An empty host in a fresh temporary directory; memory-backed when
    /// `/dev/shm` exists, as a disk makes creating and removing tens of
    /// thousands of files slow.
    pub fn new() -> Self {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            TempDir::new()
        };
        let host = FakeHost {
            dir: dir.or_else(|_| TempDir::new()).unwrap(),
        };
        for sub in ["unified", "cpu,cpuacct", "memory", "systemd", "proc"] {
            fs::create_dir_all(host.root(sub)).unwrap();
        }
        host
    }

    pub fn root(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    pub fn cgroup(&self, sub: &str, rel: &str) {
        fs::create_dir_all(self.root(sub).join(rel)).unwrap();
    }

    /// Writes process `pid`; `None` leaves a file out.
    pub fn process(
        &self,
        pid: u32,
        stat: Option<&str>,
        status: Option<&str>,
        cgroup: Option<&str>,
    ) {
        let dir = self.root("proc").join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in [("stat", stat), ("status", status), ("cgroup", cgroup)] {
            if let Some(text) = text {
                fs::write(dir.join(name), text).unwrap();
            }
        }
    }

    /// A hybrid host: unified, cpuacct, memory and name=systemd mounted,
    /// blkio not.
    pub fn roots(&self) -> CgroupRoots {
        CgroupRoots::new()
            .with(HierarchyKind::Unified, self.root("unified"))
            .with(HierarchyKind::Cpuacct, self.root("cpu,cpuacct"))
            .with(HierarchyKind::Memory, self.root("memory"))
            .with(HierarchyKind::NameSystemd, self.root("systemd"))
    }
}
