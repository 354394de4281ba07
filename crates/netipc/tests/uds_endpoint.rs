//! Service names, socket paths, binding with stale-socket recovery, socket
//! file modes, connecting and accepting.

#[macro_use]
mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::*;
use netipc::transport::endpoint::MAX_SOCKET_PATH;
use netipc::transport::{
    connect, connect_timeout, Endpoint, EndpointError, InUseReason, Listener, ListenerConfig,
};
use rustix::net::{self, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

fn ep(dir: impl AsRef<Path>, name: &str) -> Endpoint {
    Endpoint::new(dir, name).unwrap()
}

fn bind(dir: &Path, name: &str) -> Listener {
    Listener::bind(&ep(dir, name), &ListenerConfig::default()).unwrap()
}

/// Binds and listens at `path` with raw calls, returning the socket.
fn raw_listener(path: &Path, ty: SocketType, backlog: i32) -> std::os::fd::OwnedFd {
    let fd = net::socket_with(AddressFamily::UNIX, ty, SocketFlags::CLOEXEC, None).unwrap();
    net::bind(&fd, &SocketAddrUnix::new(path).unwrap()).unwrap();
    net::listen(&fd, backlog).unwrap();
    fd
}

fn inode(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).unwrap().ino()
}

// ------------------------------------------------------------------- names

#[test]
fn valid_service_names() {
    for name in ["cgroups-snapshot", "a", "A.b_c-9", "...", ".hidden", "x..y"] {
        Endpoint::check_service_name(name).unwrap();
        assert_eq!(ep("/run/x", name).service(), name);
    }
}

#[test]
fn invalid_service_names_are_rejected_with_the_name_in_the_message() {
    for name in [
        "",
        ".",
        "..",
        "a/b",
        "/abs",
        "../up",
        "a b",
        "tab\t",
        "é",
        "nul\0",
        "semi;colon",
        "star*",
    ] {
        let err = Endpoint::check_service_name(name).unwrap_err();
        assert!(
            matches!(err, EndpointError::InvalidServiceName { .. }),
            "{name:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("{name:?}")), "{msg}");
        // Building an endpoint applies the rule.
        assert!(Endpoint::new("/run/x", name).is_err());
    }
    let msg = Endpoint::check_service_name("..").unwrap_err().to_string();
    assert!(msg.contains("\"..\""), "{msg}");
}

#[test]
fn socket_path_layout_and_length_limit() {
    let e = ep("/run/netdata", "cgroups-snapshot");
    assert_eq!(
        e.socket_path(),
        Path::new("/run/netdata/cgroups-snapshot.sock")
    );
    assert_eq!(e.run_dir(), Path::new("/run/netdata"));
    assert_eq!(e.to_string(), "/run/netdata/cgroups-snapshot.sock");
    // Exactly 107 bytes fits; 108 does not.
    let dir = format!("/{}", "d".repeat(MAX_SOCKET_PATH - 1 - 1 - 1 - 5));
    let ok = ep(&dir, "s");
    assert_eq!(ok.socket_path().as_os_str().len(), 107);
    let err = Endpoint::new(&dir, "st").unwrap_err();
    match &err {
        EndpointError::PathTooLong { path, len, max } => {
            assert_eq!((*len, *max), (108, 107));
            assert!(path.ends_with("st.sock"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("st.sock"), "{err}");
}

#[test]
fn region_paths_are_named_after_the_endpoint() {
    let e = ep("/run/x", "cgroups-snapshot");
    let p = e.region_path(0xab);
    assert_eq!(
        p,
        Path::new("/run/x/cgroups-snapshot-00000000000000ab.ipcshm")
    );
    assert_eq!(e.region_session_id(p.file_name().unwrap()), Some(0xab));
    let max = ep("/r", "s").region_path(u64::MAX);
    assert_eq!(max, Path::new("/r/s-ffffffffffffffff.ipcshm"));
    let ab = ep("/r", "a-b");
    assert_eq!(
        ab.region_session_id("a-b-00000000deadbeef.ipcshm".as_ref()),
        Some(0xdead_beef)
    );
    assert_eq!(
        ep("/r", "a").region_session_id("a-b-00000000deadbeef.ipcshm".as_ref()),
        None
    );
    for other in [
        "cgroups-snapshot.sock",
        "cgroups-snapshot-000000000000001.ipcshm",
        "cgroups-snapshot-00000000000000012.ipcshm",
        "cgroups-snapshot00000000000000ab.ipcshm",
        "cgroups-snapshot-00000000000000AB.ipcshm",
        "cgroups-snapshot-ab.ipcshm",
        "other-00000000000000ab.ipcshm",
        "cgroups-snapshot-00000000000000ab.ipcshm.tmp",
    ] {
        assert_eq!(e.region_session_id(other.as_ref()), None, "{other}");
    }
}

// ------------------------------------------------------- bind and connect

#[test]
fn bind_connect_accept_and_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let listener = bind(dir.path(), "svc");
    assert_eq!(listener.path(), dir.path().join("svc.sock"));
    let client = connect(&ep(dir.path(), "svc")).unwrap();
    let server = listener
        .accept(Some(Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    client.send_packet(&[b"ping"]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        server
            .recv_packet(&mut buf, Some(Duration::from_secs(5)))
            .unwrap(),
        4
    );
    server.send_packet(&[b"pong"]).unwrap();
    assert_eq!(
        client
            .recv_packet(&mut buf, Some(Duration::from_secs(5)))
            .unwrap(),
        4
    );
    // Accepted connections are blocking and close-on-exec.
    let flags = rustix::fs::fcntl_getfl(&server).unwrap();
    assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK));
    let fdflags = rustix::io::fcntl_getfd(&server).unwrap();
    assert!(fdflags.contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn accept_times_out_with_none() {
    let dir = tempfile::tempdir().unwrap();
    let listener = bind(dir.path(), "svc");
    let t = Duration::from_millis(100);
    assert!(assert_within(t, || listener.accept(Some(t)))
        .unwrap()
        .is_none());
    assert!(listener.accept(Some(Duration::ZERO)).unwrap().is_none());
}

#[test]
fn socket_file_mode_is_0600_by_default_and_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let l = bind(dir.path(), "a");
    let meta = std::fs::symlink_metadata(l.path()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    let cfg = ListenerConfig::default()
        .with_socket_mode(0o666)
        .with_backlog(4);
    let l = Listener::bind(&ep(dir.path(), "b"), &cfg).unwrap();
    let mode = std::fs::symlink_metadata(l.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o666);
    assert_eq!(ListenerConfig::default().backlog, 16);
}

#[test]
fn drop_removes_the_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let l = bind(dir.path(), "svc");
    let path = l.path().to_owned();
    assert!(path.exists());
    drop(l);
    assert!(std::fs::symlink_metadata(&path).is_err());
    // And the name can be bound again.
    bind(dir.path(), "svc");
}

#[test]
fn drop_never_removes_a_successors_socket() {
    let dir = tempfile::tempdir().unwrap();
    let l = bind(dir.path(), "svc");
    let path = l.path().to_owned();
    // Someone removed our file and a successor bound the path.
    std::fs::remove_file(&path).unwrap();
    let successor = raw_listener(&path, SocketType::SEQPACKET, 4);
    let successor_inode = inode(&path);
    drop(l);
    assert_eq!(
        inode(&path),
        successor_inode,
        "the successor's socket was removed"
    );
    drop(successor);
}

#[test]
fn the_run_dir_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there");
    let err = Listener::bind(&ep(&missing, "svc"), &ListenerConfig::default()).unwrap_err();
    assert_err!(err, EndpointError::Io { op: "bind", .. });
    assert!(!missing.exists());
}

#[test]
fn connect_to_a_missing_endpoint_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = connect(&ep(dir.path(), "nobody")).unwrap_err();
    assert_err!(err, EndpointError::NotFound { .. });
    assert!(err.to_string().contains("nobody.sock"), "{err}");
    let err = connect(&ep(dir.path().join("missing-dir"), "nobody")).unwrap_err();
    assert_err!(err, EndpointError::NotFound { .. });
    assert!(matches!(
        Endpoint::new(dir.path(), "../x"),
        Err(EndpointError::InvalidServiceName { .. })
    ));
}

#[test]
fn connect_to_a_stale_socket_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    drop(raw_listener(&path, SocketType::SEQPACKET, 4));
    let err = connect(&ep(dir.path(), "svc")).unwrap_err();
    assert_err!(err, EndpointError::NotFound { .. });
}

#[test]
fn connect_timeout_gives_up_on_a_full_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let l = Listener::bind(
        &ep(dir.path(), "svc"),
        &ListenerConfig::default().with_backlog(0),
    )
    .unwrap();
    // Fill the backlog (nobody accepts).
    let mut held = Vec::new();
    let t = Duration::from_millis(100);
    let err = loop {
        match connect_timeout(&ep(dir.path(), "svc"), t) {
            Ok(c) => held.push(c),
            Err(e) => break e,
        }
        assert!(held.len() < 64, "backlog never filled");
    };
    assert_err!(err, EndpointError::Timeout { .. });
    // Accepting makes room again; the connection then works normally.
    assert!(l.accept(Some(t)).unwrap().is_some());
    let c = connect_timeout(&ep(dir.path(), "svc"), Duration::from_secs(5)).unwrap();
    c.send_packet(&[b"x"]).unwrap();
}

// ------------------------------------------------------------- stale files

#[test]
fn a_stale_socket_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    // A listener that died without unlinking (bound and listened with raw
    // calls, then closed): the file stays, nobody listens.
    drop(raw_listener(&path, SocketType::SEQPACKET, 4));
    assert!(path.exists());
    // Keep the stale inode alive under another name so that a new socket
    // cannot reuse its number.
    let keep = dir.path().join("stale-link");
    std::fs::hard_link(&path, &keep).unwrap();
    let stale_inode = inode(&path);
    let l = bind(dir.path(), "svc");
    assert_ne!(inode(&path), stale_inode);
    assert_eq!(
        std::fs::symlink_metadata(&keep).unwrap().nlink(),
        1,
        "stale file was not unlinked"
    );
    let c = connect(&ep(dir.path(), "svc")).unwrap();
    assert!(l.accept(Some(Duration::from_secs(5))).unwrap().is_some());
    drop(c);
}

#[test]
fn a_forgotten_listener_whose_socket_is_still_open_is_live() {
    // `mem::forget` skips Drop (no unlink) but leaks the open socket, so the
    // listener is still alive: its path must not be taken over. (A crashed
    // process is modelled by `a_stale_socket_is_recovered`.)
    let dir = tempfile::tempdir().unwrap();
    let l = bind(dir.path(), "svc");
    let path = l.path().to_owned();
    std::mem::forget(l);
    let before = inode(&path);
    let err = Listener::bind(&ep(dir.path(), "svc"), &ListenerConfig::default()).unwrap_err();
    assert_err!(
        err,
        EndpointError::AddressInUse {
            reason: InUseReason::LiveListener,
            ..
        }
    );
    assert_eq!(inode(&path), before);
}

#[test]
fn a_live_listener_gives_address_in_use_and_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let first = bind(dir.path(), "svc");
    let before = inode(first.path());
    let err = Listener::bind(&ep(dir.path(), "svc"), &ListenerConfig::default()).unwrap_err();
    assert_err!(
        err,
        EndpointError::AddressInUse {
            reason: InUseReason::LiveListener,
            ..
        }
    );
    assert!(err.to_string().contains("svc.sock"), "{err}");
    assert_eq!(inode(first.path()), before);
    // The first listener sees the probe as a connection that closes before
    // saying anything, and still works.
    let probe = first.accept(Some(Duration::from_secs(5))).unwrap().unwrap();
    let mut buf = [0u8; 8];
    assert!(probe
        .recv_packet(&mut buf, Some(Duration::from_secs(5)))
        .is_err());
    let c = connect(&ep(dir.path(), "svc")).unwrap();
    assert!(first
        .accept(Some(Duration::from_secs(5)))
        .unwrap()
        .is_some());
    drop(c);
}

/// Binds over whatever is at `{dir}/svc.sock` and checks that the old entry
/// was replaced by a working listener.
fn binds_over(dir: &Path) -> Listener {
    let l = bind(dir, "svc");
    let meta = std::fs::symlink_metadata(dir.join("svc.sock")).unwrap();
    assert!(meta.file_type().is_socket());
    let c = connect(&ep(dir, "svc")).unwrap();
    assert!(l.accept(Some(Duration::from_secs(5))).unwrap().is_some());
    drop(c);
    l
}

#[test]
fn a_regular_file_nobody_answers_is_replaced() {
    // Liveness only: a foreign file at the path answers no probe, so it is
    // stale whoever made it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    std::fs::write(&path, b"not a socket").unwrap();
    binds_over(dir.path());
}

#[test]
fn a_symlink_is_removed_and_its_target_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, b"x").unwrap();
    let path = dir.path().join("svc.sock");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    binds_over(dir.path());
    assert_eq!(std::fs::read(&target).unwrap(), b"x", "never followed");
}

#[test]
fn a_socket_of_another_user_nobody_listens_on_is_replaced() {
    // A stale socket we may not connect to (mode 0): the probe fails with
    // EACCES for a non-root user, ECONNREFUSED for root; either way it is
    // removed, whatever the run directory's permissions.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    drop(raw_listener(&path, SocketType::SEQPACKET, 4));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    binds_over(dir.path());
}

#[test]
fn a_probe_failing_with_another_errno_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    // A live listener whose backlog is full: the non-blocking probe gets
    // EAGAIN, which proves nothing about staleness.
    let live = raw_listener(&path, SocketType::SEQPACKET, 0);
    let mut pending = Vec::new();
    loop {
        let fd = net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .unwrap();
        match net::connect(&fd, &SocketAddrUnix::new(path.as_path()).unwrap()) {
            Ok(()) => pending.push(fd),
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(pending.len() < 64);
    }
    let before = inode(&path);
    let err = Listener::bind(&ep(dir.path(), "svc"), &ListenerConfig::default()).unwrap_err();
    match &err {
        EndpointError::AddressInUse {
            reason: InUseReason::ProbeFailed(e),
            ..
        } => assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::AGAIN.raw_os_error())
        ),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("leaving it in place"), "{err}");
    assert_eq!(inode(&path), before);
    drop(live);
}

#[test]
fn a_stream_socket_at_the_path_is_replaced() {
    // A stream listener does not answer a SEQPACKET probe (EPROTOTYPE): no
    // provider of this protocol lives there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.sock");
    let other = raw_listener(&path, SocketType::STREAM, 4);
    let before = inode(&path);
    let _new = binds_over(dir.path());
    assert_ne!(inode(&path), before);
    drop(other);
}
