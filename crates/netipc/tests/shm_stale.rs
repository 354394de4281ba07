//! Stale region files (PROTOCOL §7.8), file names, and who unlinks what.

mod shm_common;

use std::path::{Path, PathBuf};

use netipc::transport::shm::{stale_check, sweep_stale, ShmError, ShmRegion, StaleVerdict};
use netipc::transport::Endpoint;
use shm_common::*;

fn ep(dir: impl AsRef<Path>, service: &str) -> Endpoint {
    Endpoint::new(dir, service).unwrap()
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> i32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

fn name(id: u64) -> String {
    format!("svc-{id:016x}.ipcshm")
}

fn crafted(dir: &Path, file: &str, c: Crafted) -> PathBuf {
    c.write(&dir.join(file))
}

#[test]
fn region_paths_come_from_the_endpoint() {
    let p = ep("/run/x", "cgroups-snapshot").region_path(0xab);
    assert_eq!(
        p,
        Path::new("/run/x/cgroups-snapshot-00000000000000ab.ipcshm")
    );
    let p = ep("/r", "s").region_path(u64::MAX);
    assert_eq!(p, Path::new("/r/s-ffffffffffffffff.ipcshm"));
}

#[test]
fn region_path_length_limit() {
    // 255 bytes is accepted as far as the length goes (the directory does
    // not exist, so creating fails later, with an I/O error); 256 is not.
    let dir = format!("/{}", "d".repeat(200));
    let fixed = dir.len() + 1 + 1 + 16 + 7;
    let path = |service_len: usize| {
        Path::new(&dir).join(format!(
            "{}-0000000000000001.ipcshm",
            "s".repeat(service_len)
        ))
    };
    let ok = path(255 - fixed);
    assert_eq!(ok.as_os_str().len(), 255);
    assert!(!matches!(
        ShmRegion::create(&ok, 64, 64),
        Err(ShmError::PathTooLong { .. })
    ));
    match ShmRegion::create(path(256 - fixed), 64, 64) {
        Err(ShmError::PathTooLong { len, .. }) => assert_eq!(len, 256),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dead_owner_is_removed_by_stale_check() {
    let dir = tempfile::tempdir().unwrap();
    let p = crafted(
        dir.path(),
        &name(1),
        Crafted {
            owner_pid: dead_pid(),
            ..Crafted::default()
        },
    );
    assert_eq!(stale_check(&p), StaleVerdict::Removed);
    assert!(!p.exists());
    assert_eq!(stale_check(&p), StaleVerdict::Absent);
}

#[test]
fn dead_owner_is_removed_by_sweep_and_others_are_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stale = Crafted {
        owner_pid: dead_pid(),
        ..Crafted::default()
    };
    let s1 = crafted(d, &name(1), stale);
    let s2 = crafted(d, &name(0xdead_beef), stale);
    let live = crafted(d, &name(3), Crafted::default());
    // Stale content under names that do not match the pattern: untouched.
    let untouched: Vec<PathBuf> = [
        "svc-000000000000001.ipcshm",
        "svc-00000000000000012.ipcshm",
        "svc-000000000000000A.ipcshm",
        "svc-000000000000000g.ipcshm",
        "svc-0000000000000001.ipcshm.bak",
        "svc-0000000000000001.ipcshmx",
        "svc0000000000000001.ipcshm",
        "svc.sock",
        "other-0000000000000001.ipcshm",
        "svc-x-0000000000000001.ipcshm",
        "xsvc-0000000000000001.ipcshm",
    ]
    .iter()
    .map(|n| crafted(d, n, stale))
    .collect();
    assert_eq!(sweep_stale(&ep(d, "svc")).unwrap(), 2);
    assert!(!s1.exists());
    assert!(!s2.exists());
    assert!(live.exists());
    for p in &untouched {
        assert!(p.exists(), "{} was touched", p.display());
    }
    // A second sweep finds nothing more.
    assert_eq!(sweep_stale(&ep(d, "svc")).unwrap(), 0);
}

#[test]
fn sweep_of_a_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(sweep_stale(&ep(dir.path().join("missing"), "svc")).is_err());
}

#[test]
fn create_replaces_a_stale_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = crafted(
        dir.path(),
        &name(5),
        Crafted {
            owner_pid: dead_pid(),
            magic: 0x4e53_484d,
            ..Crafted::default()
        },
    );
    let r = ShmRegion::create(&p, 100, 200).unwrap();
    assert_eq!(r.request_capacity(), 192);
    assert_eq!(r.response_capacity(), 256);
    // The file is now ours: our pid, a non-zero generation, our layout.
    let peer = RawPeer::open(&p);
    assert_eq!(peer.u32_at(8), std::process::id());
    assert_ne!(peer.u32_at(12), 0);
    assert_eq!(peer.u32_at(16), 64);
    assert_eq!(peer.u32_at(20), 192);
    assert_eq!(peer.u32_at(24), 256);
    assert_eq!(peer.u32_at(28), 256);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 512);
    assert_eq!(stale_check(&p), StaleVerdict::Live);
}

#[test]
fn create_replaces_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    for (i, c) in [
        // Shorter than the header.
        Crafted {
            file_size: 10,
            ..Crafted::default()
        },
        // Wrong magic.
        Crafted {
            magic: 1,
            ..Crafted::default()
        },
        // Our pid but generation 0.
        Crafted {
            owner_generation: 0,
            ..Crafted::default()
        },
        // pid 0 and a negative pid.
        Crafted {
            owner_pid: 0,
            ..Crafted::default()
        },
        Crafted {
            owner_pid: -5,
            ..Crafted::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let p = crafted(dir.path(), &name(i as u64), c);
        assert!(ShmRegion::create(&p, 16, 16).is_ok(), "case {i}");
    }
}

#[test]
fn stale_check_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let check = |n: &str, c: Crafted| stale_check(&crafted(d, n, c));
    assert_eq!(
        check(
            "a",
            Crafted {
                file_size: 0,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Removed
    );
    assert_eq!(
        check(
            "b",
            Crafted {
                magic: 0,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Removed
    );
    assert_eq!(
        check(
            "c",
            Crafted {
                owner_generation: 0,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Removed
    );
    assert_eq!(
        check(
            "d",
            Crafted {
                owner_pid: i32::MIN,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Removed
    );
    // Version and layout do not matter to the stale check: only magic, pid
    // and generation.
    assert_eq!(
        check(
            "e",
            Crafted {
                version: 9,
                request_capacity: 0,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Live
    );
    // pid 1 exists (kill succeeds as root, EPERM otherwise): live.
    assert_eq!(
        check(
            "f",
            Crafted {
                owner_pid: 1,
                ..Crafted::default()
            }
        ),
        StaleVerdict::Live
    );
    assert_eq!(stale_check(&d.join("missing")), StaleVerdict::Absent);
}

#[test]
fn non_regular_entries_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join(name(1));
    std::fs::create_dir(&sub).unwrap();
    assert_eq!(stale_check(&sub), StaleVerdict::Removed);
    // A symlink (even to a live region) is removed without being followed:
    // its target is left alone.
    let target = crafted(dir.path(), "target", Crafted::default());
    let link = dir.path().join(name(2));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(sweep_stale(&ep(dir.path(), "svc")).unwrap(), 1);
    assert!(link.symlink_metadata().is_err());
    assert!(target.exists());
    // create over such an entry replaces it.
    std::fs::create_dir(&sub).unwrap();
    let region = ShmRegion::create(&sub, 16, 16).unwrap();
    assert!(sub.is_file());
    drop(region);
}

#[test]
fn unreadable_file_is_removed() {
    use std::os::unix::fs::PermissionsExt;
    // Root bypasses file permissions, so the rule cannot be exercised there.
    if rustix::process::geteuid().is_root() {
        println!("skipped: running as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = crafted(dir.path(), &name(1), Crafted::default());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(stale_check(&p), StaleVerdict::Removed);
    assert!(!p.exists());
}

#[test]
fn live_owner_is_kept_and_create_reports_address_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let p = crafted(dir.path(), &name(7), Crafted::default());
    assert_eq!(stale_check(&p), StaleVerdict::Live);
    match ShmRegion::create(&p, 16, 16) {
        Err(ShmError::AddressInUse { path }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    }
    assert_eq!(sweep_stale(&ep(dir.path(), "svc")).unwrap(), 0);
    // The file is untouched.
    let peer = RawPeer::open(&p);
    assert_eq!(peer.u32_at(20), 128);
}

#[test]
fn second_server_on_a_live_region_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name(8));
    let first = ShmRegion::create(&p, 16, 16).unwrap();
    assert!(matches!(
        ShmRegion::create(&p, 16, 16),
        Err(ShmError::AddressInUse { .. })
    ));
    // The refused attempt did not remove the live file.
    assert!(p.exists());
    drop(first);
    assert!(!p.exists());
}

#[test]
fn server_drop_unlinks_and_client_drop_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name(9));
    let server = ShmRegion::create(&p, 16, 16).unwrap();
    let client = ShmRegion::attach(&p).unwrap();
    drop(client);
    assert!(p.exists());
    let client2 = ShmRegion::attach(&p).unwrap();
    drop(server);
    assert!(!p.exists());
    // The client's mapping outlives the file.
    assert_eq!(client2.request_capacity(), 64);
    drop(client2);
}

#[test]
fn create_failure_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name(10));
    assert!(matches!(
        ShmRegion::create(&p, u32::MAX, 1),
        Err(ShmError::LimitsTooLarge { .. })
    ));
    assert!(!p.exists());
    // Missing directory: an I/O error naming the operation.
    let q = dir.path().join("missing").join(name(1));
    match ShmRegion::create(&q, 16, 16) {
        Err(ShmError::Io { op, path, .. }) => {
            assert_eq!(op, "create");
            assert_eq!(path, q);
        }
        other => panic!("{other:?}"),
    }
}
