//! Scanner tests against fake cgroup trees built in temporary directories.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use netipc::codec::cgroups::SnapshotItem;
use netipc_cli::cgroupfs::{
    name_hash, Layout, ScanError, ScanResult, Scanner, OPTION_IS_UNIFIED,
    OPTION_SYSTEM_SLICE_SERVICE,
};
use tempfile::TempDir;

/// Creates `rel` (and its parents) under `root`, plus a couple of regular
/// files in it, like a real cgroup directory has.
fn cgroup(root: &Path, rel: impl AsRef<Path>) -> PathBuf {
    let dir = root.join(rel);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("cgroup.procs"), b"").unwrap();
    fs::write(dir.join("cpu.stat"), b"usage_usec 0\n").unwrap();
    dir
}

/// Escapes a path the way the kernel writes it into mountinfo.
fn mountinfo_escape(path: &Path) -> String {
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => out.push_str(&format!("\\{b:03o}")),
            _ => out.push(char::from(b)),
        }
    }
    out
}

/// Writes a mountinfo file with a few unrelated mounts around `lines`.
fn write_mountinfo(dir: &Path, lines: &[String]) -> PathBuf {
    let mut text = String::from(
        "21 26 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n\
         22 26 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n",
    );
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("60 26 0:50 / /run/user/1000 rw,nosuid,nodev,relatime shared:300 - tmpfs tmpfs rw,size=1000k\n");
    let path = dir.join("mountinfo");
    fs::write(&path, text).unwrap();
    path
}

fn v2_line(id: u32, mount_point: &Path) -> String {
    format!(
        "{id} 22 0:{id} / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
        mountinfo_escape(mount_point)
    )
}

fn v1_line(id: u32, mount_point: &Path, super_options: &str) -> String {
    format!(
        "{id} 30 0:{id} / {} rw,nosuid,nodev,noexec,relatime shared:{id} - cgroup cgroup {super_options}",
        mountinfo_escape(mount_point)
    )
}

fn names(result: &ScanResult) -> Vec<&[u8]> {
    result.items.iter().map(|i| i.name.as_slice()).collect()
}

/// An item's directory as a `Path`.
fn path_of(item: &SnapshotItem) -> &Path {
    Path::new(OsStr::from_bytes(&item.path))
}

fn item<'a>(result: &'a ScanResult, name: &str) -> &'a SnapshotItem {
    result
        .find(name.as_bytes())
        .unwrap_or_else(|| panic!("no item {name:?} in {:?}", names_lossy(result)))
}

fn names_lossy(result: &ScanResult) -> Vec<String> {
    result
        .items
        .iter()
        .map(|i| String::from_utf8_lossy(&i.name).into_owned())
        .collect()
}

/// Every item is consistent with its name and with the walked root.
fn check_invariants(result: &ScanResult) {
    let root = result.root.as_os_str().as_bytes();
    for pair in result.items.windows(2) {
        assert!(pair[0].name < pair[1].name, "not sorted or duplicated");
    }
    for it in &result.items {
        assert_eq!(it.hash, name_hash(&it.name));
        if it.name == b"/" {
            assert_eq!(it.path, root);
        } else {
            assert!(!it.name.starts_with(b"/"));
            let mut expected = root.to_vec();
            expected.push(b'/');
            expected.extend_from_slice(&it.name);
            assert_eq!(it.path, expected);
        }
        assert!(path_of(it).is_dir(), "{:?} is not a directory", path_of(it));
        let unified = it.options & OPTION_IS_UNIFIED != 0;
        assert_eq!(unified, result.layout == Layout::V2);
    }
}

fn effective_uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn v2_layout_from_mountinfo() {
    let tmp = TempDir::new().unwrap();
    // A space in the mount point exercises the \040 unescaping.
    let root = tmp.path().join("cg root");
    fs::create_dir(&root).unwrap();
    for rel in [
        "init.scope",
        "system.slice",
        "system.slice/ssh.service",
        "system.slice/docker-0123abcd.scope",
        "system.slice/system-getty.slice/getty@tty1.service",
        "user.slice/user-1000.slice/session-2.scope",
        "machine.slice/libpod-feed.scope/container",
    ] {
        cgroup(&root, rel);
    }
    // Neither a file nor a symlink to a directory is a cgroup.
    fs::write(root.join("cgroup.controllers"), b"cpu memory\n").unwrap();
    symlink(root.join("system.slice"), root.join("link-to-system")).unwrap();
    symlink(&root, root.join("system.slice/loop")).unwrap();

    let mountinfo = write_mountinfo(tmp.path(), &[v2_line(30, &root)]);
    let mut scanner = Scanner::from_mountinfo(&mountinfo);
    let result = scanner.scan().unwrap();

    assert_eq!(result.root, root);
    assert_eq!(result.layout, Layout::V2);
    assert_eq!(result.systemd_enabled, 1);
    assert_eq!(result.generation, 1);
    assert_eq!(result.skipped, 0);
    assert_eq!(
        names_lossy(result),
        [
            "/",
            "init.scope",
            "machine.slice",
            "machine.slice/libpod-feed.scope",
            "machine.slice/libpod-feed.scope/container",
            "system.slice",
            "system.slice/docker-0123abcd.scope",
            "system.slice/ssh.service",
            "system.slice/system-getty.slice",
            "system.slice/system-getty.slice/getty@tty1.service",
            "user.slice",
            "user.slice/user-1000.slice",
            "user.slice/user-1000.slice/session-2.scope",
        ]
    );
    check_invariants(result);

    let ssh = item(result, "system.slice/ssh.service");
    assert_eq!(ssh.options, OPTION_SYSTEM_SLICE_SERVICE | OPTION_IS_UNIFIED);
    assert_eq!(ssh.enabled, 1);
    assert_eq!(ssh.hash, 0xd05e_7ab0);
    assert_eq!(path_of(ssh), root.join("system.slice/ssh.service"));

    let root_item = item(result, "/");
    assert_eq!(
        (root_item.options, root_item.enabled),
        (OPTION_IS_UNIFIED, 0)
    );
    assert_eq!(root_item.hash, 0x2a0c_975e);

    for (name, enabled) in [
        ("init.scope", 0),
        ("system.slice", 0),
        ("system.slice/docker-0123abcd.scope", 1),
        ("system.slice/system-getty.slice/getty@tty1.service", 0),
        ("user.slice/user-1000.slice", 0),
        ("user.slice/user-1000.slice/session-2.scope", 1),
        ("machine.slice/libpod-feed.scope/container", 1),
    ] {
        let it = item(result, name);
        assert_eq!(it.enabled, enabled, "{name}");
        assert_eq!(it.options, OPTION_IS_UNIFIED, "{name}");
    }
}

#[test]
fn v2_without_systemd() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cgroup");
    cgroup(&root, "docker/0123");
    cgroup(&root, "lxc.payload.c1");
    let mountinfo = write_mountinfo(tmp.path(), &[v2_line(30, &root)]);

    let mut scanner = Scanner::from_mountinfo(&mountinfo);
    let result = scanner.scan().unwrap();
    assert_eq!(result.systemd_enabled, 0);
    assert_eq!(
        names_lossy(result),
        ["/", "docker", "docker/0123", "lxc.payload.c1"]
    );
    assert_eq!(item(result, "docker/0123").enabled, 1);
    assert_eq!(item(result, "lxc.payload.c1").enabled, 1);
    check_invariants(result);
}

/// Builds a hybrid v1 host: several controller hierarchies, a named systemd
/// one and a cgroup2 at `unified`.
fn v1_host(tmp: &Path, with_systemd: bool) -> PathBuf {
    let fs_root = tmp.join("sys/fs/cgroup");
    for controller in ["memory", "cpu", "cpuacct", "systemd", "unified"] {
        cgroup(&fs_root, controller);
    }
    // Each hierarchy holds its own tree; only cpuacct's must be reported.
    cgroup(&fs_root, "memory/system.slice/memory-only.service");
    cgroup(&fs_root, "cpu/system.slice/cpu-only.service");
    cgroup(&fs_root, "unified/system.slice/unified-only.service");
    cgroup(&fs_root, "cpuacct/system.slice/ssh.service");
    cgroup(&fs_root, "cpuacct/system.slice/docker-0123.scope");
    cgroup(&fs_root, "cpuacct/user.slice");

    let mut lines = vec![
        format!(
            "30 22 0:26 / {} ro,nosuid,nodev,noexec shared:5 - tmpfs tmpfs ro,mode=755",
            fs_root.display()
        ),
        v1_line(32, &fs_root.join("memory"), "rw,memory"),
        v1_line(33, &fs_root.join("cpu"), "rw,cpu"),
    ];
    if with_systemd {
        lines.push(v1_line(
            34,
            &fs_root.join("systemd"),
            "rw,xattr,name=systemd",
        ));
    }
    lines.push(v1_line(35, &fs_root.join("cpuacct"), "rw,cpuacct"));
    lines.push(v2_line(36, &fs_root.join("unified")));
    write_mountinfo(tmp, &lines)
}

#[test]
fn v1_layout_walks_cpuacct() {
    let tmp = TempDir::new().unwrap();
    let mountinfo = v1_host(tmp.path(), true);
    let mut scanner = Scanner::from_mountinfo(&mountinfo);
    let result = scanner.scan().unwrap();

    assert_eq!(result.layout, Layout::V1);
    assert_eq!(result.root, tmp.path().join("sys/fs/cgroup/cpuacct"));
    assert_eq!(result.systemd_enabled, 1);
    assert_eq!(
        names_lossy(result),
        [
            "/",
            "system.slice",
            "system.slice/docker-0123.scope",
            "system.slice/ssh.service",
            "user.slice",
        ]
    );
    check_invariants(result);
    let ssh = item(result, "system.slice/ssh.service");
    assert_eq!((ssh.options, ssh.enabled), (OPTION_SYSTEM_SLICE_SERVICE, 1));
    let docker = item(result, "system.slice/docker-0123.scope");
    assert_eq!((docker.options, docker.enabled), (0, 1));
    let user = item(result, "user.slice");
    assert_eq!((user.options, user.enabled), (0, 0));
}

#[test]
fn v1_without_systemd_hierarchy() {
    let tmp = TempDir::new().unwrap();
    let mountinfo = v1_host(tmp.path(), false);
    let mut scanner = Scanner::from_mountinfo(&mountinfo);
    let result = scanner.scan().unwrap();
    assert_eq!(result.layout, Layout::V1);
    // system.slice exists under cpuacct, but on v1 only the mount counts.
    assert_eq!(result.systemd_enabled, 0);
    assert_eq!(result.items.len(), 5);
}

#[test]
fn explicit_root_detects_systemd_by_directory() {
    let tmp = TempDir::new().unwrap();
    let plain = tmp.path().join("plain");
    cgroup(&plain, "a");
    let with_init = tmp.path().join("with-init");
    cgroup(&with_init, "init.scope");

    let mut scanner = Scanner::with_root(&plain, Layout::V1);
    let result = scanner.scan().unwrap();
    assert_eq!(result.systemd_enabled, 0);
    assert_eq!(result.layout, Layout::V1);
    assert_eq!(names_lossy(result), ["/", "a"]);

    let mut scanner = Scanner::with_root(&with_init, Layout::V2);
    let result = scanner.scan().unwrap();
    assert_eq!(result.systemd_enabled, 1);
    check_invariants(result);
}

#[test]
fn trailing_slash_in_root_is_ignored() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cg");
    cgroup(&root, "a/b");
    let mut with_slash = root.as_os_str().to_owned();
    with_slash.push("//");

    let mut scanner = Scanner::with_root(PathBuf::from(with_slash), Layout::V2);
    let result = scanner.scan().unwrap();
    assert_eq!(names_lossy(result), ["/", "a", "a/b"]);
    assert_eq!(item(result, "/").path, root.as_os_str().as_bytes());
    assert_eq!(path_of(item(result, "a/b")), root.join("a/b"));
}

#[test]
fn names_with_spaces_unicode_and_raw_bytes() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cg");
    cgroup(&root, "my cgroup");
    cgroup(&root, "café ☕/système ünïcode");
    cgroup(&root, " leading space");
    cgroup(&root, "tab\there");
    let raw = OsStr::from_bytes(b"raw-\xff\xfe");
    cgroup(&root, Path::new("system.slice").join(raw));
    cgroup(&root, "system.slice/my unit.service");

    let mut scanner = Scanner::with_root(&root, Layout::V2);
    let result = scanner.scan().unwrap();
    let expected: Vec<&[u8]> = vec![
        b" leading space",
        b"/",
        "caf\u{e9} \u{2615}".as_bytes(),
        "caf\u{e9} \u{2615}/syst\u{e8}me \u{fc}n\u{ef}code".as_bytes(),
        b"my cgroup",
        b"system.slice",
        b"system.slice/my unit.service",
        b"system.slice/raw-\xff\xfe",
        b"tab\there",
    ];
    assert_eq!(names(result), expected);
    check_invariants(result);

    let unicode = item(result, "café ☕/système ünïcode");
    assert_eq!(path_of(unicode), root.join("café ☕/système ünïcode"));
    let service = item(result, "system.slice/my unit.service");
    assert_eq!(
        service.options,
        OPTION_SYSTEM_SLICE_SERVICE | OPTION_IS_UNIFIED
    );
    assert_eq!(service.enabled, 1);
    let raw_item = result.find(b"system.slice/raw-\xff\xfe").unwrap();
    assert_eq!(path_of(raw_item), root.join("system.slice").join(raw));
    assert_eq!(
        OsStr::from_bytes(&raw_item.name),
        Path::new("system.slice").join(raw).as_os_str()
    );
}

#[test]
fn ten_thousand_cgroups() {
    // On tmpfs when there is one: creating 10,000 directories there is an
    // order of magnitude faster than on a disk.
    let tmp = tempfile::Builder::new()
        .prefix("netipc-test-")
        .tempdir_in("/dev/shm")
        .or_else(|_| TempDir::new())
        .unwrap();
    let root = tmp.path().join("cg");
    for i in 0..100 {
        for j in 0..100 {
            // No regular files here, to keep the test fast.
            fs::create_dir_all(root.join(format!("p{i:03}.slice/c{j:03}.scope"))).unwrap();
        }
    }

    let mut scanner = Scanner::with_root(&root, Layout::V2);
    let started = Instant::now();
    let result = scanner.scan().unwrap();
    let elapsed = started.elapsed();
    eprintln!("scanned {} cgroups in {elapsed:?}", result.items.len());

    assert_eq!(result.items.len(), 1 + 100 + 100 * 100);
    assert_eq!(result.skipped, 0);
    check_invariants(result);
    assert_eq!(result.items[0].name, b"/");
    assert_eq!(result.items[1].name, b"p000.slice");
    assert_eq!(result.items[2].name, b"p000.slice/c000.scope");
    assert_eq!(result.items[101].name, b"p000.slice/c099.scope");
    assert_eq!(result.items[102].name, b"p001.slice");
    assert_eq!(result.items.last().unwrap().name, b"p099.slice/c099.scope");
    for i in 0..100 {
        for j in 0..100 {
            let name = format!("p{i:03}.slice/c{j:03}.scope");
            assert!(result.find(name.as_bytes()).is_some(), "{name}");
        }
    }

    // A second scan of the same tree keeps the generation.
    assert_eq!(scanner.scan().unwrap().generation, 1);
}

#[test]
fn generation_follows_the_name_set() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cg");
    cgroup(&root, "system.slice/a.service");
    cgroup(&root, "system.slice/b.service");

    let mut scanner = Scanner::with_root(&root, Layout::V2);
    assert!(scanner.last().is_none());
    assert_eq!(scanner.scan().unwrap().generation, 1);
    assert_eq!(scanner.scan().unwrap().generation, 1, "unchanged tree");

    // Changing files inside cgroups does not change the name set.
    fs::write(
        root.join("system.slice/a.service/cpu.stat"),
        b"usage_usec 5\n",
    )
    .unwrap();
    assert_eq!(scanner.scan().unwrap().generation, 1);

    fs::remove_dir_all(root.join("system.slice/b.service")).unwrap();
    let result = scanner.scan().unwrap();
    assert_eq!(result.generation, 2, "removed cgroup");
    assert!(result.find(b"system.slice/b.service").is_none());
    assert_eq!(scanner.scan().unwrap().generation, 2);

    cgroup(&root, "system.slice/c.service");
    assert_eq!(scanner.scan().unwrap().generation, 3, "added cgroup");

    // Same number of cgroups, different names.
    fs::rename(
        root.join("system.slice/c.service"),
        root.join("system.slice/d.service"),
    )
    .unwrap();
    assert_eq!(scanner.scan().unwrap().generation, 4, "renamed cgroup");

    // A failed scan keeps the previous result and generation.
    fs::rename(&root, tmp.path().join("moved")).unwrap();
    let err = scanner.scan().unwrap_err();
    assert!(matches!(err, ScanError::RootUnreadable { .. }), "{err}");
    assert_eq!(scanner.last().unwrap().generation, 4);
    fs::rename(tmp.path().join("moved"), &root).unwrap();
    assert_eq!(scanner.scan().unwrap().generation, 4, "same tree back");
    assert_eq!(scanner.last().unwrap().items.len(), 4);
}

#[test]
fn over_long_path_is_skipped() {
    // A directory whose absolute path exceeds PATH_MAX (4096) cannot be
    // opened even by root. The chain is built bottom-up with renames so that
    // no single call uses an over-long path.
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cg");
    cgroup(&root, "ok.service");
    let component = "d".repeat(250);
    let mut chain = tmp.path().join("chain-0");
    fs::create_dir(&chain).unwrap();
    fs::create_dir(chain.join("bottom")).unwrap();
    for level in 1..20 {
        let parent = tmp.path().join(format!("chain-{level}"));
        fs::create_dir(&parent).unwrap();
        fs::rename(&chain, parent.join(&component)).unwrap();
        chain = parent;
    }
    fs::rename(&chain, root.join("deep")).unwrap();

    let mut scanner = Scanner::with_root(&root, Layout::V2);
    let result = scanner.scan().unwrap();
    assert_eq!(result.skipped, 1);
    check_invariants(result);
    // Everything whose path fits is there; the first directory beyond the
    // limit and everything under it is not.
    let longest = result.items.iter().map(|i| i.path.len()).max().unwrap();
    assert!(longest < 4096, "{longest}");
    assert!(result.find(b"ok.service").is_some());
    assert!(result.find(b"deep").is_some());
    let deep_levels = result
        .items
        .iter()
        .filter(|i| i.name.starts_with(b"deep/"))
        .count();
    assert!(deep_levels >= 10, "{deep_levels}");
    assert!(result.items.iter().all(|i| !i.name.ends_with(b"/bottom")));
}

#[test]
fn unreadable_directory_is_skipped() {
    if effective_uid() == 0 {
        // root bypasses directory permissions, so the directory would stay
        // readable; `over_long_path_is_skipped` covers skipping for root.
        eprintln!("skipped: running as root");
        return;
    }
    let tmp = TempDir::new().unwrap();
    let root = tmp.path().join("cg");
    cgroup(&root, "open/child");
    let closed = cgroup(&root, "closed/child");
    let closed = closed.parent().unwrap();
    fs::set_permissions(closed, fs::Permissions::from_mode(0o000)).unwrap();

    let mut scanner = Scanner::with_root(&root, Layout::V2);
    let result = scanner.scan().cloned();
    fs::set_permissions(closed, fs::Permissions::from_mode(0o755)).unwrap();
    let result = result.unwrap();
    assert_eq!(result.skipped, 1);
    assert_eq!(names_lossy(&result), ["/", "open", "open/child"]);
}

#[test]
fn errors_are_typed_and_readable() {
    let tmp = TempDir::new().unwrap();

    let missing = tmp.path().join("no-such-mountinfo");
    let err = Scanner::from_mountinfo(&missing).scan().unwrap_err();
    assert!(matches!(err, ScanError::Mountinfo { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot read mount table "), "{msg}");
    assert!(msg.contains("no-such-mountinfo"), "{msg}");
    assert!(std::error::Error::source(&err).is_some());

    let mountinfo = write_mountinfo(tmp.path(), &[]);
    let err = Scanner::from_mountinfo(&mountinfo).scan().unwrap_err();
    assert!(matches!(err, ScanError::NoCgroupFs { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("no cgroup filesystem found in {}", mountinfo.display())
    );

    let gone = tmp.path().join("gone");
    let mountinfo = write_mountinfo(tmp.path(), &[v2_line(30, &gone)]);
    let err = Scanner::from_mountinfo(&mountinfo).scan().unwrap_err();
    assert!(matches!(err, ScanError::RootUnreadable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot list cgroup root "), "{msg}");
    assert!(msg.contains("No such file or directory"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn this_machine() {
    let mut scanner = Scanner::new(Default::default());
    let result = match scanner.scan() {
        Ok(result) => result,
        Err(err @ (ScanError::NoCgroupFs { .. } | ScanError::Mountinfo { .. })) => {
            eprintln!("skipped: {err}");
            return;
        }
        Err(err) => panic!("{err}"),
    };
    eprintln!(
        "{} cgroups under {} ({:?}), systemd_enabled={}, skipped={}",
        result.items.len(),
        result.root.display(),
        result.layout,
        result.systemd_enabled,
        result.skipped
    );
    let root = result.find(b"/").expect("root cgroup");
    assert_eq!(path_of(root), result.root);
    assert_eq!(result.generation, 1);
    for pair in result.items.windows(2) {
        assert!(pair[0].name < pair[1].name);
    }
}
