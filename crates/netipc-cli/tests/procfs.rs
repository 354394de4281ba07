//! `/proc` parsing: the parsers on hand-made input, malformed and oversized
//! files through the apps source, and this machine's real `/proc`.

mod fake_proc;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fake_proc::{stat_line, status_text, FakeHost};
use netipc_cli::apps_source::{AppsSource, PidCgroup, PidInfo};
use netipc_cli::cgroupfs::{ScanError, DEFAULT_MOUNTINFO};
use netipc_cli::cgroups_source::{CgroupRoots, CgroupsSource, HierarchyKind};
use netipc_cli::procfs::{
    parse_cgroup, parse_stat, parse_status_euid, truncate_comm, ProcError, StatFields, FILE_LIMIT,
};

#[test]
fn stat_parsing() {
    let ok = |comm: &'static [u8], ppid, starttime| {
        Some(StatFields {
            comm,
            ppid,
            starttime,
        })
    };
    assert_eq!(
        parse_stat(stat_line(7, "bash", "1", 42).as_bytes()),
        ok(b"bash", 1, 42)
    );
    assert_eq!(
        parse_stat(stat_line(7, "a) (b c", "9", 1 << 40).as_bytes()),
        ok(b"a) (b c", 9, 1 << 40)
    );
    assert_eq!(
        parse_stat(stat_line(7, "x)\n(y", "2", 5).as_bytes()),
        ok(b"x)\n(y", 2, 5)
    );
    assert_eq!(
        parse_stat(stat_line(7, "", "2", 5).as_bytes()),
        ok(b"", 2, 5)
    );
    for bad in [
        String::new(),
        "7 (x) S 1 2 3\n".to_string(),
        "7 (x S 1 2 3\n".to_string(),
        "7 x) S (1\n".to_string(),
        stat_line(7, "x", "abc", 1),
        stat_line(7, "x", "-1", 1),
        stat_line(7, "x", "+1", 1),
        stat_line(7, "x", "4294967296", 1),
        stat_line(7, "x", "1", 1).replace(" 1 0 1 3133440", " 1 0 1x 3133440"),
        stat_line(7, "x", "1", 1).replace(" 1 0 1 3133440", " 1 0 99999999999999999999 3133440"),
    ] {
        assert_eq!(parse_stat(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn status_parsing() {
    assert_eq!(
        parse_status_euid(status_text("x", 1000, 33).as_bytes()),
        Some(33)
    );
    assert_eq!(parse_status_euid(b"Uid:\t5\t6\n"), Some(6));
    for bad in [
        &b""[..],
        b"Name:\tx\n",
        b"Uid:\t5\n",
        b"Uid:\t5\tx\t1\t1\n",
        b"Uid:\t1\t2",
        b"Uid:\t1\t4294967296\n",
    ] {
        assert_eq!(
            parse_status_euid(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn cgroup_file_parsing() {
    let text = b"12:pids:/p\n4:cpu,cpuacct:/a:b\n3:memory:/m\n7:blkio:/b\n1:name=systemd:/s\n0::/u\n0::/second\n";
    let lines = parse_cgroup(text);
    let get = |k| {
        lines
            .get(k)
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    assert_eq!(get(HierarchyKind::Cpuacct).as_deref(), Some("/a:b"));
    assert_eq!(get(HierarchyKind::Memory).as_deref(), Some("/m"));
    assert_eq!(get(HierarchyKind::Blkio).as_deref(), Some("/b"));
    assert_eq!(get(HierarchyKind::NameSystemd).as_deref(), Some("/s"));
    assert_eq!(get(HierarchyKind::Unified).as_deref(), Some("/u"));

    let combined = parse_cgroup(b"5:blkio,memory:/both");
    assert_eq!(combined.get(HierarchyKind::Blkio), Some(&b"/both"[..]));
    assert_eq!(combined.get(HierarchyKind::Memory), Some(&b"/both"[..]));
    for junk in [
        &b""[..],
        b"garbage\n",
        b"x:cpuacct:/a\n",
        b"4:cpuacct:relative\n",
        b"4::/v1-without-controllers\n",
        b"0:cpuacct\n",
        b"4:cpuacct:/a\0b\n",
    ] {
        assert!(
            parse_cgroup(junk).is_empty(),
            "{}",
            String::from_utf8_lossy(junk)
        );
    }
}

#[test]
fn comm_truncation() {
    assert_eq!(truncate_comm(b"short"), b"short");
    assert_eq!(truncate_comm(b"exactly15bytes!"), b"exactly15bytes!");
    assert_eq!(
        truncate_comm(b"a-much-longer-command-name"),
        b"a-much-longer-c"
    );
    let e = "\u{e9}".repeat(9); // 18 bytes of two-byte characters
    assert_eq!(truncate_comm(e.as_bytes()), "\u{e9}".repeat(7).as_bytes());
    assert_eq!(truncate_comm(&[0xff; 20]), &[0xff; 15]);
}

#[test]
fn malformed_and_oversized_files_are_unknown() {
    let host = FakeHost::new();
    let status = status_text("x", 0, 0);
    let huge_comm = "c".repeat(FILE_LIMIT);
    let huge_cgroup = format!("0::/{}\n", "d".repeat(FILE_LIMIT));
    let cases: [(&str, String, String, &str); 6] = [
        (
            "stat",
            stat_line(1, &huge_comm, "1", 1),
            huge_cgroup.clone(),
            "huge stat",
        ),
        (
            "cgroup",
            stat_line(2, "x", "1", 1),
            huge_cgroup,
            "huge cgroup",
        ),
        (
            "stat",
            stat_line(3, "", "1", 1),
            "0::/\n".into(),
            "empty comm",
        ),
        (
            "stat",
            stat_line(4, "a\0b", "1", 1),
            "0::/\n".into(),
            "NUL in comm",
        ),
        (
            "stat",
            stat_line(5, "x", "99999999999", 1),
            "0::/\n".into(),
            "ppid overflow",
        ),
        (
            "stat",
            "\u{0}\u{ff}binary".into(),
            "0::/\n".into(),
            "binary stat",
        ),
    ];
    for (pid, (_, stat, cgroup, _)) in (1..).zip(&cases) {
        host.process(pid, Some(stat), Some(&status), Some(cgroup));
    }
    // A status file longer than the limit is fine: its Uid line comes early.
    let long_status = format!(
        "{}Groups:\t{}\n",
        status_text("y", 1, 2),
        "1 ".repeat(FILE_LIMIT)
    );
    host.process(
        7,
        Some(&stat_line(7, "y", "1", 1)),
        Some(&long_status),
        Some("0::/\n"),
    );

    let source = Arc::new(CgroupsSource::new(CgroupRoots::new(), Duration::ZERO));
    let mut apps = AppsSource::new(host.root("proc"), source);
    for (pid, (file, _, _, what)) in (1..).zip(&cases) {
        match apps.lookup_pid(pid) {
            PidInfo::Unknown(ProcError::Malformed { file: f, .. }) => {
                assert_eq!(f, *file, "{what}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let info = *apps.lookup_pid(7).known().expect("long status");
    assert_eq!((info.uid, info.cgroup), (2, PidCgroup::HostRoot));
    // A directory where a file should be is an I/O error, still unknown.
    fs::create_dir_all(host.root("proc").join("8").join("stat")).unwrap();
    assert!(matches!(
        apps.lookup_pid(8),
        PidInfo::Unknown(ProcError::Io { file: "stat", .. })
    ));
}

/// The chosen `/proc/self/cgroup` line by the documented rule, written out
/// independently of the library: (kind, path).
fn expected_line(roots: &CgroupRoots, text: &str) -> Option<(HierarchyKind, String)> {
    let mut found: Vec<(HierarchyKind, String)> = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let kinds: Vec<HierarchyKind> = if id == "0" && ctl.is_empty() {
            vec![HierarchyKind::Unified]
        } else {
            ctl.split(',')
                .filter_map(|c| match c {
                    "cpuacct" => Some(HierarchyKind::Cpuacct),
                    "blkio" => Some(HierarchyKind::Blkio),
                    "memory" => Some(HierarchyKind::Memory),
                    "name=systemd" => Some(HierarchyKind::NameSystemd),
                    _ => None,
                })
                .collect()
        };
        found.extend(kinds.into_iter().map(|k| (k, path.to_string())));
    }
    let mut order = vec![
        HierarchyKind::Cpuacct,
        HierarchyKind::Blkio,
        HierarchyKind::Memory,
    ];
    if roots.has_v1_controllers() {
        order.push(HierarchyKind::Unified);
    } else {
        order.insert(0, HierarchyKind::Unified);
    }
    order.push(HierarchyKind::NameSystemd);
    let present: Vec<_> = order
        .iter()
        .filter_map(|k| found.iter().find(|(f, _)| f == k).cloned())
        .collect();
    present
        .iter()
        .find(|(k, _)| roots.get(*k).is_some())
        .or(present.first())
        .cloned()
}

#[test]
fn real_proc_own_process_and_children() {
    let roots = match CgroupRoots::discover(Path::new(DEFAULT_MOUNTINFO)) {
        Ok(roots) => roots,
        Err(ScanError::NoCgroupFs { .. }) => CgroupRoots::new(),
        Err(e) => panic!("{e}"),
    };
    let source = Arc::new(CgroupsSource::new(roots.clone(), Duration::ZERO));
    let mut apps = AppsSource::new("/proc", source);
    let me = std::process::id();
    let comm = fs::read_to_string("/proc/self/comm").unwrap();
    let cgroup_text = fs::read_to_string("/proc/self/cgroup").unwrap();

    let looked_up = apps.lookup_pid(me);
    let info = *looked_up.known().expect("our own pid is known");
    assert_eq!(info.ppid, std::os::unix::process::parent_id());
    assert_eq!(info.uid, rustix::process::geteuid().as_raw());
    assert_eq!(info.comm, comm.trim_end_matches('\n').as_bytes());
    assert!(info.starttime > 0);
    match (info.cgroup, expected_line(&roots, &cgroup_text)) {
        (PidCgroup::UnknownRetryLater { path: b"" }, None)
        | (PidCgroup::HostRoot, Some((_, _))) => {
            let path = expected_line(&roots, &cgroup_text)
                .map(|(_, p)| p)
                .unwrap_or_default();
            assert!(
                path.is_empty() || path == "/" || path == "/init.scope",
                "{path}"
            );
        }
        (PidCgroup::Known { path, meta }, Some((kind, line))) => {
            let mut key = format!("{}", roots.get(kind).unwrap().display()).into_bytes();
            key.extend_from_slice(line.as_bytes());
            assert_eq!(path, key.as_slice());
            assert_eq!(meta.name, &line.as_bytes()[1..]);
            assert!(Path::new(std::str::from_utf8(path).unwrap()).is_dir());
        }
        (PidCgroup::UnknownPermanent { path }, Some((kind, line))) => match roots.get(kind) {
            None => assert_eq!(path, line.as_bytes()),
            Some(mount) => assert!(!mount.join(&line[1..]).is_dir(), "{line} exists"),
        },
        (got, want) => panic!("cgroup {got:?}, line {want:?}\n{cgroup_text}"),
    }
    let (my_ppid, my_start) = (info.ppid, info.starttime);
    let parent_start = apps.lookup_pid(my_ppid).known().map(|p| p.starttime);
    if let Some(parent_start) = parent_start {
        assert!(parent_start <= my_start);
    }
    assert_eq!(
        apps.lookup_pid(me).known().map(|i| i.starttime),
        Some(my_start)
    );

    // A live child: known, with us as parent and a later start.
    let mut child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let child_info = apps
        .lookup_pid(child.id())
        .known()
        .map(|c| (c.ppid, c.starttime, c.comm.to_vec()));
    child.kill().unwrap();
    child.wait().unwrap();
    let (child_ppid, child_start, child_comm) = child_info.expect("live child is known");
    assert_eq!((child_ppid, child_comm.as_slice()), (me, &b"sleep"[..]));
    assert!(child_start >= my_start);
    // The same child once reaped, pid 0 and a pid above the kernel's limit.
    for pid in [child.id(), 0, u32::MAX] {
        assert!(
            matches!(
                apps.lookup_pid(pid),
                PidInfo::Unknown(ProcError::Gone { .. })
            ),
            "pid {pid}"
        );
    }
}
