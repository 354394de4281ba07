//! Shared memory in broken and hostile environments: a full file system, a
//! peer scribbling sequence numbers, a peer that vanished, and leftover
//! region files whose recorded pid belongs to someone else now.
//!
//! Some tests re-run this test binary as a child process (to lower a
//! resource limit, or inside a private mount namespace); the child runs only
//! the named test, selected by an environment variable.

mod service_common;
mod shm_common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netipc::codec::increment as inc;
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig as L2Config, ManagedServer, ServerConfig};
use netipc::transport::handshake::ClientProposal;
use netipc::transport::session::ClientSession;
use netipc::transport::shm::{
    process_generation, stale_check, sweep_stale, RegionLayout, ShmError, ShmRegion, StaleVerdict,
};
use netipc::transport::wait::Waiter;
use netipc::transport::SessionConfig;
use netipc::wire::{Header, Method, Profiles};
use rustix::fd::{AsFd, OwnedFd};
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use service_common::{ep, shm_files, wait_until, TOKEN};
use shm_common::*;

/// Environment variable naming the test a child process runs.
const CHILD: &str = "NETIPC_SHM_RELIABILITY_CHILD";

/// Generous bound for anything that should happen promptly.
const PATIENCE: Duration = Duration::from_secs(20);

fn in_child(test: &str) -> bool {
    std::env::var(CHILD).map_or(false, |v| v == test)
}

/// Runs `test` of this binary in a child process, started through
/// `wrapper` (a command that ends by executing its arguments).
fn run_child(test: &str, wrapper: &[&str]) -> ExitStatus {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = match wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    // The child's output goes through pipes, not whatever this process's
    // stdout is: under a lowered RLIMIT_FSIZE a child writing to an
    // inherited regular file would exceed the limit itself. It is shown
    // from here instead.
    let out = cmd
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("start child test process");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    out.status
}

fn region_name(id: u64) -> String {
    format!("svc-{id:016x}.ipcshm")
}

fn request(value: u64, id: u64) -> (Header, [u8; 8]) {
    (
        Header::request(Method::Increment, 8, id),
        inc::encode(value),
    )
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap()
}

// ---------------------------------------------------------------------------
// Row 1: the backing store is allocated for real.
// ---------------------------------------------------------------------------

/// Under an `RLIMIT_FSIZE` smaller than the region (a file we cannot grow),
/// creating the region fails with the allocation error and leaves no file.
#[test]
fn allocation_failure_is_typed_and_leaves_no_file() {
    const NAME: &str = "allocation_failure_is_typed_and_leaves_no_file";
    if in_child(NAME) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(region_name(1));
        let size = RegionLayout::for_payload_limits(1024, 65_536)
            .unwrap()
            .region_size();
        match ShmRegion::create(&path, 1024, 65_536) {
            Err(ShmError::Allocate {
                path: p,
                size: s,
                source,
            }) => {
                assert_eq!(p, path);
                assert_eq!(s, size);
                assert_eq!(
                    source.raw_os_error(),
                    Some(rustix::io::Errno::FBIG.raw_os_error())
                );
            }
            other => panic!("expected an allocation error, got {other:?}"),
        }
        assert!(!path.exists(), "the failed region file was left behind");
        // A region within the limit is created normally.
        let small = ShmRegion::create(&path, 16, 16).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 192);
        drop(small);
        return;
    }
    // 8 blocks (4 or 8 KiB, depending on the shell) is far below the 66 752
    // bytes of the region. SIGXFSZ is ignored so that exceeding the limit is
    // an error, not death.
    let script = "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\"";
    let status = run_child(NAME, &["sh", "-c", script]);
    assert!(status.success(), "child: {status}");
}

fn have_root_and_unshare() -> bool {
    rustix::process::geteuid().is_root()
        && Command::new("unshare")
            .args(["-m", "--propagation", "private", "true"])
            .status()
            .map_or(false, |s| s.success())
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd).args(args).status().unwrap();
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

/// Fills the file system of `dir` until writes fail.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = [0x55u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    // Smaller pieces take whatever is left.
    while f.write_all(&chunk[..64]).is_ok() {}
}

/// The run directory is a full 256 KiB tmpfs (mounted in a private mount
/// namespace). The server must not die of SIGBUS: the region cannot be
/// allocated, so the handshake falls back to the socket, and the client
/// works over UDS. No region file is left behind.
#[test]
fn full_tmpfs_server_survives_and_client_falls_back_to_uds() {
    const NAME: &str = "full_tmpfs_server_survives_and_client_falls_back_to_uds";
    if in_child(NAME) {
        let holder = tempfile::tempdir().unwrap();
        let run_dir = holder.path().join("run");
        std::fs::create_dir(&run_dir).unwrap();
        let mnt = run_dir.to_str().unwrap();
        run(
            "mount",
            &["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt],
        );
        fill(&run_dir);

        // The region itself: a typed error, no file.
        let direct = run_dir.join("direct-0000000000000001.ipcshm");
        match ShmRegion::create(&direct, 1024, 65_536) {
            Err(ShmError::Allocate { source, .. }) => assert_eq!(
                source.raw_os_error(),
                Some(rustix::io::Errno::NOSPC.raw_os_error())
            ),
            other => panic!("expected an allocation error, got {other:?}"),
        }
        assert!(!direct.exists());

        // A managed server offering both transports, preferring SHM.
        let both = Profiles::BASELINE | Profiles::SHM_HYBRID;
        let config = ServerConfig::new(TOKEN).with_profiles(both, Profiles::SHM_HYBRID);
        let srv = ManagedServer::start(
            ep(&run_dir, "full"),
            config,
            increment::handler(|v| Ok(v + 1)),
        )
        .unwrap();

        // Level 1: the session the handshake settles on is UDS.
        let l1 = SessionConfig::new(ClientProposal {
            supported: both,
            preferred: Profiles::SHM_HYBRID,
            auth_token: TOKEN,
            ..ClientProposal::default()
        });
        let mut session = ClientSession::connect(&ep(&run_dir, "full"), &l1).unwrap();
        assert!(!session.is_shm());
        assert_eq!(session.profile(), Profiles::BASELINE);
        let (h, p) = request(41, 1);
        session.call(&h, &p).unwrap();
        assert_eq!(inc::decode(session.payload()).unwrap(), 42);
        drop(session);

        // Level 2: the typed client works too.
        let l2 = L2Config::new(TOKEN).with_profiles(both, Profiles::SHM_HYBRID);
        let mut client = IncrementClient::new(ep(&run_dir, "full"), l2);
        client.refresh();
        assert!(client.ready(), "{:?}", client.status());
        assert_eq!(client.call(1).unwrap(), 2);
        assert_eq!(client.status().profile, Some(Profiles::BASELINE));

        assert!(shm_files(&run_dir).is_empty(), "{:?}", shm_files(&run_dir));
        drop(client);
        srv.shutdown();
        assert!(shm_files(&run_dir).is_empty());
        run("umount", &[mnt]);
        return;
    }
    if !have_root_and_unshare() {
        println!("skipped: needs root and unshare(1) to mount a private tmpfs");
        return;
    }
    let status = run_child(NAME, &["unshare", "-m", "--propagation", "private"]);
    assert!(status.success(), "child: {status}");
}

// ---------------------------------------------------------------------------
// Row 2: sequence numbers, and a peer that left while messages keep coming.
// ---------------------------------------------------------------------------

/// After one honest call, the client writes `req_seq = u64::MAX` and keeps
/// its socket open. The worker must end the session (freeing its slot)
/// instead of answering the same slot forever.
#[test]
fn scribbled_req_seq_ends_the_session_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(TOKEN).with_profiles(Profiles::SHM_HYBRID, Profiles::SHM_HYBRID);
    let srv = ManagedServer::start(
        ep(dir.path(), "scribble"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let l1 = SessionConfig::new(ClientProposal {
        supported: Profiles::SHM_HYBRID,
        preferred: Profiles::SHM_HYBRID,
        auth_token: TOKEN,
        ..ClientProposal::default()
    });
    let mut session = ClientSession::connect(&ep(dir.path(), "scribble"), &l1).unwrap();
    assert!(session.is_shm());
    let (h, p) = request(7, 1);
    session.call(&h, &p).unwrap();
    assert_eq!(inc::decode(session.payload()).unwrap(), 8);
    assert_eq!(srv.stats().requests, 1);

    let path = ep(dir.path(), "scribble").region_path(session.negotiated().session_id);
    RawPeer::open(&path).set_u64(OFF_REQ_SEQ, u64::MAX);
    assert!(
        // The slot is freed before the worker drops its region: wait for
        // both.
        wait_until(PATIENCE, || srv.stats().active_sessions == 0
            && !path.exists()),
        "the worker still holds the session: {:?}",
        srv.stats()
    );
    // Nothing was answered after the scribble, and the region is gone.
    assert_eq!(srv.stats().requests, 1);
    assert!(!path.exists());
    drop(session);
}

/// The client side of the session's socket is closed, but a writer keeps
/// publishing well-formed requests through the region. The receiver must
/// still notice the hang-up (on its timer) and stop.
#[test]
fn peer_hang_up_is_noticed_while_messages_keep_arriving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(region_name(1));
    let mut server = ShmRegion::create(&path, 64, 64).unwrap();
    let mut writer = ShmRegion::attach(&path).unwrap();
    let (control, peer_socket) = seqpacket_pair();
    let mut peer_socket = Some(peer_socket);

    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let pinger = std::thread::spawn(move || {
        let mut waiter = Waiter::default();
        let mut buf = Vec::new();
        let mut id = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            id += 1;
            let h = outer_header(KIND_REQUEST, 1, 4, id);
            writer.send(&h, b"ping").unwrap();
            loop {
                match writer.recv(&mut buf, Some(Duration::from_millis(20)), &mut waiter) {
                    Ok(_) => break,
                    Err(ShmError::Timeout { .. }) if !stop2.load(Ordering::Relaxed) => {}
                    Err(_) => return id,
                }
            }
        }
        id
    });

    let mut waiter = Waiter::default();
    let mut buf = Vec::new();
    let mut served = 0u64;
    let mut served_after_hang_up = 0u64;
    let deadline = Instant::now() + PATIENCE;
    let outcome = loop {
        assert!(Instant::now() < deadline, "hang-up never noticed");
        match server.recv_watching(
            &mut buf,
            Some(Duration::from_secs(1)),
            &mut waiter,
            control.as_fd(),
        ) {
            Ok(n) => {
                let (kind, _, id) = parse_header(&buf[..n]);
                assert_eq!(kind, KIND_REQUEST);
                served += 1;
                if peer_socket.is_none() {
                    served_after_hang_up += 1;
                }
                // The session's client leaves after some honest traffic;
                // the writer does not.
                if served == 100 {
                    peer_socket = None;
                }
                let h = outer_header(KIND_RESPONSE, 1, 4, id);
                server.send(&h, b"pong").unwrap();
            }
            Err(e) => break e,
        }
    };
    stop.store(true, Ordering::Relaxed);
    assert!(matches!(outcome, ShmError::PeerGone), "{outcome:?}");
    assert!(served >= 100, "served {served}");
    drop(server);
    let published = pinger.join().unwrap();
    assert!(published >= served);
    println!("served {served_after_hang_up} requests after the hang-up before noticing it");
}

// ---------------------------------------------------------------------------
// Row 6: a vanished session is noticed during the wait, not after it.
// ---------------------------------------------------------------------------

fn vanished_peer_is_noticed(drop_region: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(region_name(2));
    let mut server = ShmRegion::create(&path, 64, 64).unwrap();
    let client = ShmRegion::attach(&path).unwrap();
    let (control, peer_socket) = seqpacket_pair();
    let leaver = std::thread::spawn(move || {
        // Let the server start waiting (not needed for correctness: the
        // verdict is the same if the hang-up comes first).
        std::thread::sleep(Duration::from_millis(30));
        drop(peer_socket);
        if drop_region {
            drop(client);
            None
        } else {
            Some(client)
        }
    });
    let mut waiter = Waiter::default();
    let mut buf = Vec::new();
    // A wait much longer than the test may take: only noticing the hang-up
    // ends it in time.
    let long = Duration::from_secs(120);
    let t0 = Instant::now();
    let r = server.recv_watching(&mut buf, Some(long), &mut waiter, control.as_fd());
    assert!(matches!(r, Err(ShmError::PeerGone)), "{r:?}");
    assert!(t0.elapsed() < long);
    drop(leaver.join().unwrap());
}

#[test]
fn vanished_peer_that_closed_its_region_is_noticed_during_a_long_wait() {
    vanished_peer_is_noticed(true);
}

#[test]
fn killed_peer_is_noticed_during_a_long_wait() {
    // The region stays mapped (as if the process had been SIGKILLed
    // mid-way): no farewell nudge, only the socket tells.
    vanished_peer_is_noticed(false);
}

#[test]
fn a_live_peer_is_not_mistaken_for_a_vanished_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(region_name(3));
    let mut server = ShmRegion::create(&path, 64, 64).unwrap();
    let mut client = ShmRegion::attach(&path).unwrap();
    let (control, _peer_socket) = seqpacket_pair();
    let mut waiter = Waiter::default();
    let mut buf = Vec::new();
    // Time passes with the peer present: a plain timeout.
    let r = server.recv_watching(
        &mut buf,
        Some(Duration::from_millis(150)),
        &mut waiter,
        control.as_fd(),
    );
    assert!(matches!(r, Err(ShmError::Timeout { .. })), "{r:?}");
    client
        .send(&outer_header(KIND_REQUEST, 1, 0, 1), b"")
        .unwrap();
    let n = server
        .recv_watching(&mut buf, Some(PATIENCE), &mut waiter, control.as_fd())
        .unwrap();
    assert_eq!(n, 32);
}

// ---------------------------------------------------------------------------
// Row 8: stale regions are judged by pid AND generation.
// ---------------------------------------------------------------------------

fn own_generation() -> u32 {
    process_generation(std::process::id() as i32).expect("/proc is mounted")
}

/// A leftover file recording *our* pid (a container restarted with its run
/// directory kept: the new server got the old one's pid) but another
/// generation is stale: swept, and replaced by `create`.
#[test]
fn leftover_region_with_our_pid_but_another_generation_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let theirs = Crafted {
        owner_pid: std::process::id() as i32,
        owner_generation: own_generation() ^ 0x0100_0000,
        ..Crafted::default()
    };
    let ours = Crafted {
        owner_generation: own_generation(),
        ..theirs
    };
    let p = theirs.write(&d.join(region_name(1)));
    assert_eq!(stale_check(&p), StaleVerdict::Removed);
    assert!(!p.exists());

    let swept = theirs.write(&d.join(region_name(2)));
    let live = ours.write(&d.join(region_name(3)));
    assert_eq!(sweep_stale(&ep(d, "svc")).unwrap(), 1);
    assert!(!swept.exists());
    assert!(live.exists());
    assert_eq!(stale_check(&live), StaleVerdict::Live);

    let again = theirs.write(&d.join(region_name(4)));
    let region = ShmRegion::create(&again, 16, 16).unwrap();
    // The new file records our pid and our generation.
    let raw = RawPeer::open(&again);
    assert_eq!(raw.u32_at(8), std::process::id());
    assert_eq!(raw.u32_at(12), own_generation());
    assert_eq!(stale_check(&again), StaleVerdict::Live);
    drop(region);
}

/// Entries that cannot be regions are removed (liveness decides, not what
/// the entry is): symlinks (never followed), FIFOs (never opened, so never
/// blocked on), empty directories, short files, bad magic.
#[test]
fn entries_that_are_not_regions_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = Crafted {
        owner_generation: own_generation(),
        ..Crafted::default()
    }
    .write(&d.join("target"));
    let link = d.join(region_name(1));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = d.join(region_name(2));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let sub = d.join(region_name(3));
    std::fs::create_dir(&sub).unwrap();
    let short = Crafted {
        file_size: 63,
        ..Crafted::default()
    }
    .write(&d.join(region_name(4)));
    let garbage = Crafted {
        magic: 0x1234_5678,
        ..Crafted::default()
    }
    .write(&d.join(region_name(5)));

    assert_eq!(stale_check(&link), StaleVerdict::Removed);
    assert!(link.symlink_metadata().is_err());
    assert!(target.exists(), "the symlink's target must not be touched");
    assert_eq!(sweep_stale(&ep(d, "svc")).unwrap(), 4);
    for p in [&fifo, &sub, &short, &garbage] {
        assert!(p.symlink_metadata().is_err(), "{} left", p.display());
    }
    // A non-empty directory cannot be removed: kept.
    let full = d.join(region_name(6));
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    assert_eq!(stale_check(&full), StaleVerdict::Kept);
}

/// Out of descriptors, a region cannot be examined: it is kept, and removed
/// once descriptors are available again.
#[test]
fn descriptor_exhaustion_keeps_the_file() {
    const NAME: &str = "descriptor_exhaustion_keeps_the_file";
    if !in_child(NAME) {
        let status = run_child(NAME, &[]);
        assert!(status.success(), "child: {status}");
        return;
    }
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        pid
    };
    let p = Crafted {
        owner_pid: dead,
        ..Crafted::default()
    }
    .write(&dir.path().join(region_name(1)));
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(64),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hoard.push(f),
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(rustix::io::Errno::MFILE.raw_os_error())
                );
                break;
            }
        }
    }
    assert_eq!(stale_check(&p), StaleVerdict::Kept);
    assert!(p.exists());
    drop(hoard);
    assert_eq!(stale_check(&p), StaleVerdict::Removed);
    assert!(!p.exists());
}

// ---------------------------------------------------------------------------
// §19.6 and attach checks.
// ---------------------------------------------------------------------------

/// With the typed defaults (1 024-byte requests, 65 536-byte responses) the
/// region is 66 752 bytes, not the 1 MiB request area of older peers, and
/// the file is allocated in full.
#[test]
fn request_area_follows_the_request_limit() {
    let l = RegionLayout::for_payload_limits(1024, 65_536).unwrap();
    assert_eq!(l.request_capacity, 1088);
    assert_eq!(l.response_offset, 1152);
    assert_eq!(l.response_capacity, 65_600);
    assert_eq!(l.region_size(), 66_752);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(region_name(1));
    let region = ShmRegion::create(&path, 1024, 65_536).unwrap();
    let st = rustix::fs::stat(&path).unwrap();
    assert_eq!(st.st_size, 66_752);
    // Allocated, not sparse.
    assert!(st.st_blocks * 512 >= 66_752, "{} blocks", st.st_blocks);
    drop(region);
}

/// The client checks the areas against the negotiated limits.
#[test]
fn attach_checks_the_negotiated_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(region_name(1));
    let _server = ShmRegion::create(&path, 100, 200).unwrap();
    let client = ShmRegion::attach(&path).unwrap();
    client.check_limits(100, 200).unwrap();
    client.check_limits(160, 224).unwrap();
    for (req, resp) in [(161, 200), (100, 225), (u32::MAX, 0)] {
        match client.check_limits(req, resp) {
            Err(ShmError::BadSize { reason, .. }) => {
                assert_eq!(reason, netipc::transport::shm::BadSizeReason::AreaTooSmall)
            }
            other => panic!("({req}, {resp}): {other:?}"),
        }
    }
}
