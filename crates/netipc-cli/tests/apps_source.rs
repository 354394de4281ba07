//! The apps lookup source on a fake `/proc` of 10,000 processes over fake v1
//! and v2 cgroup trees.

mod fake_proc;

use std::sync::Arc;
use std::time::Duration;

use fake_proc::{stat_line, status_text, FakeHost, ID};
use netipc_cli::apps_source::{AppsSource, PidCgroup, PidInfo};
use netipc_cli::cgroup_meta::Orchestrator;
use netipc_cli::cgroups_source::{CgroupRoots, CgroupsSource, HierarchyKind};
use netipc_cli::procfs::ProcError;

/// What the fake process with a given index should look like.
#[derive(Debug)]
enum Expect {
    Gone,
    Malformed(&'static str),
    Known {
        ppid: u32,
        uid: u32,
        start: u64,
        comm: Vec<u8>,
        cgroup: Cg,
    },
}

#[derive(Debug)]
enum Cg {
    Known {
        root: &'static str,
        rel: String,
        orchestrator: Orchestrator,
    },
    RetryEmpty,
    Permanent {
        root: &'static str,
        rel: String,
    },
    PermanentRaw(String),
    HostRoot,
}

/// Builds process `i` of the fake host and returns what it should give.
fn make_process(host: &FakeHost, i: u32) -> (u32, Expect) {
    let pid = 100 + i;
    let (ppid, start) = (1 + i % 97, 1000 + u64::from(i) * 3);
    let (ruid, euid) = (1000 + i % 7, i % 3000);
    let known = |comm: &str, cgroup| Expect::Known {
        ppid,
        uid: euid,
        start,
        comm: comm.as_bytes().to_vec(),
        cgroup,
    };
    let write = |comm: &str, cgroup: &str| {
        let stat = stat_line(pid, comm, &ppid.to_string(), start);
        host.process(
            pid,
            Some(&stat),
            Some(&status_text(comm, ruid, euid)),
            Some(cgroup),
        );
    };
    let expect = match i % 16 {
        0 => Expect::Gone,
        1 => {
            let rel = format!("system.slice/svc{}.service", i % 50);
            write("svc", &format!("0::/{rel}\n"));
            known(
                "svc",
                Cg::Known {
                    root: "unified",
                    rel,
                    orchestrator: Orchestrator::SYSTEMD,
                },
            )
        }
        2 => {
            let rel = format!("docker/{}{:02}", &ID[..62], i % 20);
            write("dockerd-child", &format!("12:pids:/{rel}\n4:cpu,cpuacct:/{rel}\n3:memory:/{rel}\n1:name=systemd:/{rel}\n"));
            known(
                "dockerd-child",
                Cg::Known {
                    root: "cpu,cpuacct",
                    rel,
                    orchestrator: Orchestrator::DOCKER,
                },
            )
        }
        3 => {
            write("systemd", "0::/init.scope\n");
            known("systemd", Cg::HostRoot)
        }
        4 => {
            write("kthreadd", "4:cpu,cpuacct:/\n1:name=systemd:/init.scope\n");
            known("kthreadd", Cg::HostRoot)
        }
        5 => {
            let rel = format!(
                "kubepods.slice/kubepods-pod{}.slice/cri-containerd-{ID}.scope",
                i % 5
            );
            write("a) (b c", &format!("0::/{rel}\n"));
            known(
                "a) (b c",
                Cg::Known {
                    root: "unified",
                    rel,
                    orchestrator: Orchestrator::K8S,
                },
            )
        }
        6 => {
            let rel = format!("lxc.payload.c{}", i % 10);
            write("averyveryverylongcomm", &format!("3:memory:/{rel}\n"));
            known(
                "averyveryverylo",
                Cg::Known {
                    root: "memory",
                    rel,
                    orchestrator: Orchestrator::LXC,
                },
            )
        }
        7 if i % 32 == 7 => {
            let rel = format!("gone-{i}.scope");
            write("ghost", &format!("0::/{rel}\n"));
            known(
                "ghost",
                Cg::Permanent {
                    root: "unified",
                    rel,
                },
            )
        }
        7 => {
            let rel = format!("machine.slice/libpod-{ID}.scope/container");
            write("podman", &format!("0::/{rel}\n"));
            known(
                "podman",
                Cg::Known {
                    root: "unified",
                    rel,
                    orchestrator: Orchestrator::PODMAN,
                },
            )
        }
        8 => {
            host.process(
                pid,
                Some(&format!("{pid} (x) S 1 2 3\n")),
                Some(&status_text("x", 0, 0)),
                Some("0::/\n"),
            );
            Expect::Malformed("stat")
        }
        9 => {
            host.process(
                pid,
                Some(&stat_line(pid, "x", "abc", start)),
                Some(&status_text("x", 0, 0)),
                Some("0::/\n"),
            );
            Expect::Malformed("stat")
        }
        10 => {
            host.process(
                pid,
                Some(&stat_line(pid, "x", "1", start)),
                Some("Name:\tx\nGid:\t0\t0\n"),
                Some("0::/\n"),
            );
            Expect::Malformed("status")
        }
        11 => {
            // The process exited between reading stat and status.
            host.process(pid, Some(&stat_line(pid, "x", "1", start)), None, None);
            Expect::Gone
        }
        12 => {
            write("io", &format!("7:blkio:/io{i}\n"));
            known("io", Cg::PermanentRaw(format!("/io{i}")))
        }
        13 => {
            write("odd", "hello\nworld:x\n");
            known("odd", Cg::RetryEmpty)
        }
        14 => {
            let (rel, orchestrator) = match i % 3 {
                0 => (
                    "machine.slice/systemd-nspawn@box.service/payload".to_string(),
                    Orchestrator::NSPAWN,
                ),
                1 => (
                    r"machine.slice/machine-qemu\x2d1\x2dvm.scope/vcpu0".to_string(),
                    Orchestrator::KVM,
                ),
                _ => (
                    format!("system.slice/docker-{ID}.scope"),
                    Orchestrator::DOCKER,
                ),
            };
            write("guest", &format!("0::/{rel}\n"));
            known(
                "guest",
                Cg::Known {
                    root: "unified",
                    rel,
                    orchestrator,
                },
            )
        }
        _ => {
            let rel = format!("user.slice/user-{euid}.slice/session-{}.scope", i % 4);
            write("x)\n(y", &format!("0::/{rel}\n"));
            known(
                "x)\n(y",
                Cg::Known {
                    root: "unified",
                    rel,
                    orchestrator: Orchestrator::SYSTEMD,
                },
            )
        }
    };
    if let Expect::Known {
        cgroup: Cg::Known { root, rel, .. },
        ..
    } = &expect
    {
        host.cgroup(root, rel);
    }
    (pid, expect)
}

fn check(host: &FakeHost, apps: &mut AppsSource, pid: u32, expect: &Expect) {
    let key = |root: &str, rel: &str| format!("{}/{rel}", host.root(root).display()).into_bytes();
    match (apps.lookup_pid(pid), expect) {
        (PidInfo::Unknown(ProcError::Gone { pid: p }), Expect::Gone) => assert_eq!(p, pid),
        (PidInfo::Unknown(ProcError::Malformed { file, .. }), Expect::Malformed(f)) => {
            assert_eq!(file, *f, "pid {pid}")
        }
        (
            PidInfo::Known(info),
            Expect::Known {
                ppid,
                uid,
                start,
                comm,
                cgroup,
            },
        ) => {
            assert_eq!(
                (info.ppid, info.uid, info.starttime, info.comm),
                (*ppid, *uid, *start, comm.as_slice()),
                "pid {pid}"
            );
            match (info.cgroup, cgroup) {
                (
                    PidCgroup::Known { path, meta },
                    Cg::Known {
                        root,
                        rel,
                        orchestrator,
                    },
                ) => {
                    assert_eq!(path, key(root, rel), "pid {pid}");
                    assert_eq!(
                        (meta.name.as_slice(), meta.orchestrator),
                        (rel.as_bytes(), *orchestrator),
                        "pid {pid}"
                    );
                }
                (PidCgroup::UnknownRetryLater { path: b"" }, Cg::RetryEmpty)
                | (PidCgroup::HostRoot, Cg::HostRoot) => {}
                (PidCgroup::UnknownPermanent { path }, Cg::Permanent { root, rel }) => {
                    assert_eq!(path, key(root, rel))
                }
                (PidCgroup::UnknownPermanent { path }, Cg::PermanentRaw(raw)) => {
                    assert_eq!(path, raw.as_bytes())
                }
                (got, want) => panic!("pid {pid}: cgroup {got:?}, expected {want:?}"),
            }
        }
        (got, want) => panic!("pid {pid}: {got:?}, expected {want:?}"),
    }
}

#[test]
fn fake_proc_with_ten_thousand_processes() {
    let host = FakeHost::new();
    let expected: Vec<(u32, Expect)> = (0..10_000).map(|i| make_process(&host, i)).collect();
    let source = Arc::new(CgroupsSource::new(host.roots(), Duration::ZERO));
    source.refresh().unwrap();
    let mut apps = AppsSource::new(host.root("proc"), Arc::clone(&source));
    for (pid, expect) in &expected {
        check(&host, &mut apps, *pid, expect);
    }
    assert_eq!(
        apps.generation(),
        1,
        "the gone cgroups never changed the set"
    );
    // Twice the same answers from reused buffers.
    for (pid, expect) in expected.iter().take(64) {
        check(&host, &mut apps, *pid, expect);
    }
}

#[test]
fn the_unified_line_comes_first_then_the_v1_controllers() {
    let host = FakeHost::new();
    host.cgroup("unified", "a.service");
    host.cgroup("cpuacct", "b.service");
    host.process(
        10,
        Some(&stat_line(10, "p", "1", 9)),
        Some(&status_text("p", 0, 0)),
        Some("4:cpuacct:/b.service\n0::/a.service\n"),
    );
    let v2 = CgroupRoots::new().with(HierarchyKind::Unified, host.root("unified"));
    let hybrid = v2
        .clone()
        .with(HierarchyKind::Cpuacct, host.root("cpuacct"));
    // The `0::` line wins whenever its hierarchy is mounted; without it the
    // v1 controller line is used.
    let v1 = CgroupRoots::new().with(HierarchyKind::Cpuacct, host.root("cpuacct"));
    for (roots, name) in [(v2, "a.service"), (hybrid, "a.service"), (v1, "b.service")] {
        let mut apps = AppsSource::new(
            host.root("proc"),
            Arc::new(CgroupsSource::new(roots, Duration::ZERO)),
        );
        match apps.lookup_pid(10).known().map(|i| i.cgroup) {
            Some(PidCgroup::Known { meta, .. }) => assert_eq!(meta.name, name.as_bytes()),
            other => panic!("{other:?}"),
        }
    }
}
