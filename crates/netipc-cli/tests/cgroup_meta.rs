//! cgroup classification and the cgroups lookup source, on fake v1 and v2
//! trees built in temporary directories, plus this machine's real hierarchy.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netipc_cli::cgroup_meta::{classify, CgroupMeta, Orchestrator, MAX_LABELS};
use netipc_cli::cgroupfs::{parse_mountinfo, ScanError, DEFAULT_MOUNTINFO};
use netipc_cli::cgroups_source::{
    CgroupIndex, CgroupLookup, CgroupRoots, CgroupsSource, HierarchyKind,
};
use tempfile::TempDir;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Labels as (key, UTF-8 value) pairs.
type Labels = Vec<(&'static str, String)>;

fn labels(name: &str) -> (Orchestrator, Labels) {
    let (o, labels) = classify(name.as_bytes());
    let labels = labels
        .into_iter()
        .map(|l| (l.key, String::from_utf8(l.value).unwrap()))
        .collect();
    (o, labels)
}

#[test]
fn every_orchestrator_pattern() {
    use Orchestrator as O;
    let pod = "8a7f0c1e-1111-2222-3333-444455556666";
    let pod_systemd = pod.replace('-', "_");
    let table: Vec<(String, Orchestrator, Labels)> = vec![
        ("/".into(), O::UNKNOWN, vec![]),
        ("some/other/group".into(), O::UNKNOWN, vec![]),
        ("lxc".into(), O::UNKNOWN, vec![]),
        (format!("docker/{}", &ID[..12]), O::UNKNOWN, vec![]),
        ("init.scope".into(), O::SYSTEMD, vec![("unit", "init.scope".into())]),
        ("system.slice".into(), O::SYSTEMD, vec![("unit", "system.slice".into())]),
        ("system.slice/ssh.service".into(), O::SYSTEMD, vec![("unit", "ssh.service".into())]),
        ("system.slice/docker.service".into(), O::SYSTEMD, vec![("unit", "docker.service".into())]),
        ("system.slice/ssh.service/sub".into(), O::SYSTEMD, vec![("unit", "ssh.service".into())]),
        (
            "user.slice/user-1000.slice/session-2.scope".into(),
            O::SYSTEMD,
            vec![("unit", "session-2.scope".into())],
        ),
        ("system.slice/.service".into(), O::SYSTEMD, vec![("unit", "system.slice".into())]),
        (format!("system.slice/docker-{ID}.scope"), O::DOCKER, vec![("container_id", ID.into())]),
        (format!("system.slice/docker-{ID}.scope/init.scope"), O::DOCKER, vec![("container_id", ID.into())]),
        (format!("docker/{ID}"), O::DOCKER, vec![("container_id", ID.into())]),
        (
            format!("kubepods/burstable/pod{pod}/{ID}"),
            O::K8S,
            vec![("qos_class", "burstable".into()), ("pod_uid", pod.into()), ("container_id", ID.into())],
        ),
        (
            format!("kubepods/pod{pod}/{ID}"),
            O::K8S,
            vec![("qos_class", "guaranteed".into()), ("pod_uid", pod.into()), ("container_id", ID.into())],
        ),
        (
            format!(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pod_systemd}.slice/cri-containerd-{ID}.scope"
            ),
            O::K8S,
            vec![("qos_class", "besteffort".into()), ("pod_uid", pod.into()), ("container_id", ID.into())],
        ),
        (
            format!("kubepods.slice/kubepods-pod{pod_systemd}.slice/crio-{ID}.scope"),
            O::K8S,
            vec![("qos_class", "guaranteed".into()), ("pod_uid", pod.into()), ("container_id", ID.into())],
        ),
        (
            format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod_systemd}.slice/docker-{ID}.scope"),
            O::K8S,
            vec![("qos_class", "burstable".into()), ("pod_uid", pod.into()), ("container_id", ID.into())],
        ),
        (
            format!("kubepods.slice/kubepods-pod{pod_systemd}.slice/crio-conmon-{ID}.scope"),
            O::K8S,
            vec![("qos_class", "guaranteed".into()), ("pod_uid", pod.into())],
        ),
        ("kubepods.slice".into(), O::K8S, vec![]),
        ("kubepods.slice/kubepods-burstable.slice".into(), O::K8S, vec![("qos_class", "burstable".into())]),
        (format!("machine.slice/libpod-{ID}.scope"), O::PODMAN, vec![("container_id", ID.into())]),
        (format!("machine.slice/libpod-conmon-{ID}.scope"), O::PODMAN, vec![("container_id", ID.into())]),
        (format!("libpod_parent/libpod-{ID}"), O::PODMAN, vec![("container_id", ID.into())]),
        ("lxc/web".into(), O::LXC, vec![("container_name", "web".into())]),
        ("lxc.payload.web".into(), O::LXC, vec![("container_name", "web".into())]),
        ("lxc.monitor.web".into(), O::LXC, vec![("container_name", "web".into())]),
        (
            r"machine.slice/machine-lxc\x2d42\x2dbox.scope".into(),
            O::LXC,
            vec![("container_name", "lxc-42-box".into())],
        ),
        (
            "machine.slice/systemd-nspawn@web.service".into(),
            O::NSPAWN,
            vec![("machine_name", "web".into())],
        ),
        (
            "machine.slice/systemd-nspawn@web.service/payload/system.slice".into(),
            O::NSPAWN,
            vec![("machine_name", "web".into())],
        ),
        ("machine.slice/machine-web.scope".into(), O::NSPAWN, vec![("machine_name", "web".into())]),
        (
            r"machine.slice/machine-a\x2fb.scope".into(),
            O::NSPAWN,
            vec![("machine_name", r"a\x2fb".into())],
        ),
        (
            r"machine.slice/machine-qemu\x2d1\x2dvm.scope".into(),
            O::KVM,
            vec![("machine_name", "qemu-1-vm".into())],
        ),
        ("machine/qemu-1-vm.libvirt-qemu".into(), O::KVM, vec![("machine_name", "qemu-1-vm".into())]),
    ];
    for (name, orchestrator, expected) in table {
        assert_eq!(labels(&name), (orchestrator, expected.clone()), "{name}");
        // Every label reaches the codec form: none is dropped.
        let meta = CgroupMeta::from_name(name.clone().into_bytes());
        let wire: Vec<(Vec<u8>, Vec<u8>)> = meta.with_wire_labels(|l| {
            l.iter()
                .map(|l| (l.key.to_vec(), l.value.to_vec()))
                .collect()
        });
        let want: Vec<(Vec<u8>, Vec<u8>)> = expected
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone().into_bytes()))
            .collect();
        assert!(want.len() <= MAX_LABELS, "{name}");
        assert_eq!(wire, want, "{name}");
    }
}

#[test]
fn meta_keeps_the_name() {
    let meta = CgroupMeta::from_name(b"lxc/web".to_vec());
    assert_eq!(meta.name, b"lxc/web");
    assert_eq!(meta.orchestrator, Orchestrator::LXC);
    assert_eq!(meta.label("container_name"), Some(&b"web"[..]));
    assert_eq!(meta.label("unit"), None);
    // Non-UTF-8 names classify without panicking.
    let odd = CgroupMeta::from_name(b"system.slice/\xff\xfe.service".to_vec());
    assert_eq!(odd.orchestrator, Orchestrator::SYSTEMD);
}

/// Creates directories `rels` under `root`.
fn tree(root: &Path, rels: &[String]) {
    for rel in rels {
        fs::create_dir_all(root.join(rel)).unwrap();
        fs::write(root.join(rel).join("cgroup.procs"), b"").unwrap();
    }
}

fn key(root: &Path, rel: &str) -> Vec<u8> {
    let mut k = root.as_os_str().as_bytes().to_vec();
    if !rel.is_empty() {
        k.push(b'/');
        k.extend_from_slice(rel.as_bytes());
    }
    k
}

fn ask(
    source: &CgroupsSource,
    index: &mut Arc<CgroupIndex>,
    key: &[u8],
) -> Result<(Vec<u8>, Orchestrator), &'static str> {
    match source.lookup(index, key, Instant::now()) {
        CgroupLookup::Known(meta) => Ok((meta.name.clone(), meta.orchestrator)),
        CgroupLookup::UnknownRetryLater => Err("retry"),
        CgroupLookup::UnknownPermanent => Err("permanent"),
    }
}

fn v2_names() -> Vec<String> {
    vec![
        "init.scope".into(),
        "system.slice/ssh.service".into(),
        format!("system.slice/docker-{ID}.scope"),
        format!("kubepods.slice/kubepods-pod1_2.slice/cri-containerd-{ID}.scope"),
        format!("machine.slice/libpod-{ID}.scope"),
        "lxc.payload.web".into(),
        "machine.slice/systemd-nspawn@box.service".into(),
        r"machine.slice/machine-qemu\x2d1\x2dvm.scope".into(),
        "name with space/x".into(),
    ]
}

#[test]
fn v2_tree_known_and_permanent() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("cg");
    tree(&root, &v2_names());
    let source = CgroupsSource::new(
        CgroupRoots::new().with(HierarchyKind::Unified, &root),
        NEVER,
    );
    assert_eq!(source.current().generation(), 0);
    let mut index = source.refresh().unwrap();
    assert_eq!(index.generation(), 1);

    let expected = [
        Orchestrator::SYSTEMD,
        Orchestrator::SYSTEMD,
        Orchestrator::DOCKER,
        Orchestrator::K8S,
        Orchestrator::PODMAN,
        Orchestrator::LXC,
        Orchestrator::NSPAWN,
        Orchestrator::KVM,
        Orchestrator::UNKNOWN,
    ];
    for (name, o) in v2_names().iter().zip(expected) {
        let k = key(&root, name);
        assert_eq!(
            ask(&source, &mut index, &k),
            Ok((name.as_bytes().to_vec(), o)),
            "{name}"
        );
    }
    // Intermediate directories are cgroups too; the root is named "/".
    assert_eq!(
        ask(&source, &mut index, &key(&root, "system.slice"))
            .unwrap()
            .0,
        b"system.slice"
    );
    assert_eq!(
        ask(&source, &mut index, &key(&root, "")),
        Ok((b"/".to_vec(), Orchestrator::UNKNOWN))
    );
    // Malformed or foreign keys: permanent, without any rescan.
    fs::create_dir(root.join("late")).unwrap();
    let mut bad: Vec<Vec<u8>> = vec![
        b"/".to_vec(),
        b"relative/path".to_vec(),
        b"/elsewhere/late".to_vec(),
        key(&root, "late/"),
        key(&root, "./late"),
        key(&root, "system.slice/../late"),
        key(&root, "system.slice//ssh.service"),
        key(&root, "late\0"),
    ];
    let mut prefix_only = key(&root, "");
    prefix_only.extend_from_slice(b"late"); // "<root>late": shares the prefix only
    bad.push(prefix_only);
    for k in &bad {
        assert_eq!(
            ask(&source, &mut index, k),
            Err("permanent"),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
    assert_eq!(source.current().generation(), 1, "no rescan happened");
}

#[test]
fn misses_rescan_at_most_once_per_interval() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    tree(&root, &["a.service".to_string()]);
    let roots = CgroupRoots::new().with(HierarchyKind::Unified, &root);

    // An interval that never elapses: a cgroup created after the scan is
    // "retry later" until the next explicit refresh.
    let slow = CgroupsSource::new(roots.clone(), NEVER);
    let mut index = slow.refresh().unwrap();
    tree(&root, &["b.service".to_string()]);
    let b = key(&root, "b.service");
    assert_eq!(ask(&slow, &mut index, &b), Err("retry"));
    assert_eq!(
        ask(&slow, &mut index, &key(&root, "never.service")),
        Err("retry")
    );
    // A scan that started after the question proves absence without a rescan.
    let asked_at = Instant::now();
    let fresh = slow.refresh().unwrap();
    assert_eq!(fresh.generation(), 2);
    assert!(matches!(
        slow.lookup(&mut index, &key(&root, "never.service"), asked_at),
        CgroupLookup::UnknownPermanent
    ));
    // The caller's index was replaced by the published one.
    assert_eq!(index.generation(), 2);
    assert_eq!(
        ask(&slow, &mut index, &b),
        Ok((b"b.service".to_vec(), Orchestrator::SYSTEMD))
    );

    // A zero interval rescans on the miss: new cgroups are known at once,
    // missing ones permanent.
    let eager = CgroupsSource::new(roots, Duration::ZERO);
    let mut index = eager.current();
    assert_eq!(
        ask(&eager, &mut index, &key(&root, "a.service")).unwrap().0,
        b"a.service"
    );
    assert_eq!(index.generation(), 1);
    tree(&root, &["c.slice/d.scope".to_string()]);
    assert_eq!(
        ask(&eager, &mut index, &key(&root, "c.slice/d.scope"))
            .unwrap()
            .0,
        b"c.slice/d.scope"
    );
    assert_eq!(index.generation(), 2);
    assert_eq!(
        ask(&eager, &mut index, &key(&root, "gone.scope")),
        Err("permanent")
    );
    assert_eq!(
        index.generation(),
        2,
        "an unchanged rescan keeps the generation"
    );
}

#[test]
fn symlinks_are_never_followed() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("cg");
    let outside = dir.path().join("outside");
    tree(&root, &["real.scope".to_string()]);
    fs::create_dir_all(outside.join("secret")).unwrap();
    symlink(&outside, root.join("link")).unwrap();
    let source = CgroupsSource::new(
        CgroupRoots::new().with(HierarchyKind::Unified, &root),
        Duration::ZERO,
    );
    let mut index = source.current();
    assert_eq!(
        ask(&source, &mut index, &key(&root, "link")),
        Err("permanent")
    );
    assert_eq!(
        ask(&source, &mut index, &key(&root, "link/secret")),
        Err("permanent")
    );
    assert!(index.keys().all(|k| !k.windows(4).any(|w| w == b"link")));
}

#[test]
fn unreadable_root_answers_retry_later() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("missing");
    let source = CgroupsSource::new(
        CgroupRoots::new().with(HierarchyKind::Unified, &root),
        Duration::ZERO,
    );
    assert!(matches!(
        source.refresh(),
        Err(ScanError::RootUnreadable { .. })
    ));
    let mut index = source.current();
    assert_eq!(index.generation(), 0);
    assert_eq!(
        ask(&source, &mut index, &key(&root, "x.scope")),
        Err("retry")
    );
}

#[test]
fn v1_hierarchies_are_indexed_separately() {
    let dir = TempDir::new().unwrap();
    let names = [
        format!("docker/{ID}"),
        "system.slice/cron.service".to_string(),
    ];
    let mut roots = CgroupRoots::new();
    for (kind, sub) in [
        (HierarchyKind::Cpuacct, "cpu,cpuacct"),
        (HierarchyKind::Blkio, "blkio"),
        (HierarchyKind::Memory, "memory"),
        (HierarchyKind::NameSystemd, "systemd"),
    ] {
        tree(&dir.path().join(sub), &names);
        roots = roots.with(kind, dir.path().join(sub));
    }
    assert!(roots.has_v1_controllers());
    let source = CgroupsSource::new(roots, NEVER);
    let mut index = source.refresh().unwrap();
    // 4 roots × (root, docker, docker/ID, system.slice, cron.service)
    assert_eq!(index.len(), 20);
    for sub in ["cpu,cpuacct", "blkio", "memory", "systemd"] {
        let k = key(&dir.path().join(sub), &names[0]);
        assert_eq!(
            ask(&source, &mut index, &k),
            Ok((names[0].as_bytes().to_vec(), Orchestrator::DOCKER))
        );
    }
}

#[test]
fn roots_from_mountinfo() {
    let text = b"\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/blkio,memory rw - cgroup cgroup rw,blkio,memory
35 31 0:32 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
42 31 0:39 / /other/memory rw - cgroup cgroup rw,memory
";
    let roots = CgroupRoots::from_mounts(&parse_mountinfo(text));
    let get = |k| roots.get(k).map(|p| p.to_str().unwrap().to_string());
    assert_eq!(
        get(HierarchyKind::Unified).as_deref(),
        Some("/sys/fs/cgroup/unified")
    );
    assert_eq!(
        get(HierarchyKind::Cpuacct).as_deref(),
        Some("/sys/fs/cgroup/cpu,cpuacct")
    );
    assert_eq!(
        get(HierarchyKind::Blkio).as_deref(),
        Some("/sys/fs/cgroup/blkio,memory")
    );
    assert_eq!(
        get(HierarchyKind::Memory).as_deref(),
        Some("/sys/fs/cgroup/blkio,memory")
    );
    assert_eq!(
        get(HierarchyKind::NameSystemd).as_deref(),
        Some("/sys/fs/cgroup/systemd")
    );
    assert!(roots.has_v1_controllers());

    let v2 = CgroupRoots::from_mounts(&parse_mountinfo(
        b"1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
    ));
    assert!(!v2.has_v1_controllers());

    let dir = TempDir::new().unwrap();
    let file = dir.path().join("mountinfo");
    fs::write(&file, b"22 1 0:21 / /proc rw - proc proc rw\n").unwrap();
    assert!(matches!(
        CgroupRoots::discover(&file),
        Err(ScanError::NoCgroupFs { .. })
    ));
    assert!(matches!(
        CgroupRoots::discover(&dir.path().join("none")),
        Err(ScanError::Mountinfo { .. })
    ));
}

#[test]
fn shared_between_threads() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().to_path_buf();
    let names: Vec<String> = (0..200)
        .map(|i| format!("system.slice/s{i}.service"))
        .collect();
    tree(&root, &names);
    let source = Arc::new(CgroupsSource::new(
        CgroupRoots::new().with(HierarchyKind::Unified, &root),
        Duration::ZERO,
    ));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let source = Arc::clone(&source);
            let (root, names) = (root.clone(), names.clone());
            std::thread::spawn(move || {
                let mut index = source.current();
                for name in &names {
                    let got = ask(&source, &mut index, &key(&root, name));
                    assert_eq!(got, Ok((name.as_bytes().to_vec(), Orchestrator::SYSTEMD)));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(source.current().generation(), 1);
}

/// This machine's hierarchies: every indexed cgroup is known under its own
/// key, each root is named "/", and the key of a real directory never comes
/// back permanent.
#[test]
fn real_cgroup_filesystem() {
    let roots = match CgroupRoots::discover(Path::new(DEFAULT_MOUNTINFO)) {
        Ok(roots) => roots,
        Err(ScanError::NoCgroupFs { .. }) => return, // no cgroups here at all
        Err(e) => panic!("{e}"),
    };
    let source = CgroupsSource::new(roots.clone(), NEVER);
    let mut index = source.refresh().unwrap();
    assert_eq!(index.generation(), 1);
    assert!(!index.is_empty());
    let keys: Vec<Vec<u8>> = index.keys().map(<[u8]>::to_vec).collect();
    for k in &keys {
        let path = Path::new(std::ffi::OsStr::from_bytes(k));
        // A cgroup may vanish after the scan; one that is still there is a
        // real directory, never a link.
        if let Ok(meta) = fs::symlink_metadata(path) {
            assert!(meta.is_dir(), "{}", path.display());
        }
        assert!(matches!(
            source.lookup(&mut index, k, Instant::now()),
            CgroupLookup::Known(_)
        ));
    }
    for kind in HierarchyKind::ALL {
        if let Some(mount) = roots.get(kind) {
            let k = mount.as_os_str().as_bytes();
            match source.lookup(&mut index, k, Instant::now()) {
                CgroupLookup::Known(meta) => assert_eq!(meta.name, b"/"),
                other => panic!("{kind:?} root {}: {other:?}", mount.display()),
            }
        }
    }
}
