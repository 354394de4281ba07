//! Two processes: server and client as separate runs of this executable.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use netipc::cache::CgroupsCache;
use netipc::transport::windows::ClientSession;
use netipc::transport::{SessionError, TransportError};
use netipc::wire::{Header, Method};

use crate::harness::Test;
use crate::level2::{check_cache, client_config, PLANES};
use crate::session_server::*;
use crate::support::*;

pub const TESTS: &[Test] = &[
    ("process_client_and_server", process_client_and_server),
    (
        "process_killed_client_noticed",
        process_killed_client_noticed,
    ),
    (
        "process_killed_server_noticed",
        process_killed_server_noticed,
    ),
    ("process_shm_both_profiles", process_shm_both_profiles),
    (
        "process_shm_killed_client_noticed",
        process_shm_killed_client_noticed,
    ),
    (
        "process_shm_killed_server_noticed",
        process_shm_killed_server_noticed,
    ),
    ("process_level2_cache", process_level2_cache),
];

/// A child process of this executable and the reader of its stdout.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(role: &str, run: &Path, svc: &str, extra: &[&str]) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("child")
            .arg(role)
            .arg(run)
            .arg(svc)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the peer process");
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, out }
    }

    /// The next line the child prints (panics at EOF).
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("read the child's output");
        assert!(!s.is_empty(), "the child exited early");
        s.trim().to_owned()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn process_client_and_server() {
    let (run, svc) = endpoint();
    let mut server = Peer::spawn("server", &run, &svc, &[]);
    assert_eq!(server.line(), "ready");
    let mut chan = client(&run, &svc, &proposal(4096));
    for id in 1..=200 {
        call(
            &mut chan,
            id,
            (id as usize * 37) % 4000,
            4 + (id as usize * 11) % 4000,
        );
    }
    drop(chan);
    assert_eq!(server.line(), "done 200");
    assert!(server.child.wait().unwrap().success());

    // And the other way round: a client process against a server here.
    let (run, svc) = endpoint();
    let srv = TestServer::start(&run, &svc, policy(4096));
    let mut peer = Peer::spawn("client", &run, &svc, &["50"]);
    assert_eq!(peer.line(), "ready");
    assert!(srv.handshake().is_ok());
    drop(peer.child.stdin.take());
    assert!(peer.child.wait().unwrap().success());
    assert!(matches!(srv.ended(), TransportError::PeerClosed));
}

/// A client process killed in the middle of a session: the server's session
/// ends with PeerClosed at once, not at shutdown.
fn process_killed_client_noticed() {
    let (run, svc) = endpoint();
    let srv = TestServer::start(&run, &svc, policy(4096));
    let mut peer = Peer::spawn("client", &run, &svc, &["3"]);
    assert_eq!(peer.line(), "ready");
    assert!(srv.handshake().is_ok());
    peer.child.kill().unwrap();
    assert!(matches!(srv.ended(), TransportError::PeerClosed));
}

/// A server process killed while a request waits: the client's receive ends
/// with PeerClosed instead of waiting for its deadline.
fn process_killed_server_noticed() {
    let (run, svc) = endpoint();
    let mut server = Peer::spawn("server", &run, &svc, &[]);
    assert_eq!(server.line(), "ready");
    let mut chan = client(&run, &svc, &proposal(4096));
    call(&mut chan, 1, 10, 10);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let payload = request_payload(10, 10);
    let h = Header::request(Method::Increment, payload.len() as u32, 2);
    let r = chan.send_request(&h, &payload).and_then(|()| {
        chan.recv_response(Some(Duration::from_secs(60)))
            .map(|_| ())
    });
    assert!(matches!(r, Err(TransportError::PeerClosed)), "got {r:?}");
}

/// A client process on shared memory (HYBRID, then BUSYWAIT) against a
/// server here, and a server process against a client here.
fn process_shm_both_profiles() {
    for supported in [3u32, 5] {
        let (run, svc) = endpoint();
        let srv = SessionServer::start(&run, &svc, shm_policy(supported, 0, 4096));
        let mut peer = Peer::spawn("shm-client", &run, &svc, &[&supported.to_string(), "300"]);
        assert_eq!(peer.line(), "ready shm");
        let (ack, shm) = srv.accepted();
        assert!(shm);
        assert_eq!(ack.selected_profile.bits(), supported & !1);
        drop(peer.child.stdin.take());
        assert!(peer.child.wait().unwrap().success());
        assert!(matches!(srv.ended(), SessionError::PeerClosed));

        let (run, svc) = endpoint();
        let mut server = Peer::spawn("shm-server", &run, &svc, &[&supported.to_string()]);
        assert_eq!(server.line(), "ready");
        let cfg = shm_client_config(supported, 0, 4096);
        let mut s = ClientSession::connect(&ep(&run, &svc), &cfg).unwrap();
        assert!(s.is_shm());
        for id in 1..=300 {
            session_call(
                &mut s,
                id,
                (id as usize * 13) % 4000,
                4 + (id as usize * 7) % 4000,
            );
        }
        drop(s);
        assert_eq!(server.line(), "ended peer closed the session");
    }
}

/// A killed SHM client never sets its closed flag; the server notices
/// through the pipe between its receive slices.
fn process_shm_killed_client_noticed() {
    for supported in [3u32, 5] {
        let (run, svc) = endpoint();
        let srv = SessionServer::start(&run, &svc, shm_policy(supported, 0, 4096));
        let mut peer = Peer::spawn("shm-client", &run, &svc, &[&supported.to_string(), "3"]);
        assert_eq!(peer.line(), "ready shm");
        assert!(srv.accepted().1);
        peer.child.kill().unwrap();
        assert!(matches!(srv.ended(), SessionError::PeerClosed));
    }
}

/// A killed SHM server: the client waiting for a response notices through
/// the pipe, long before its response deadline.
fn process_shm_killed_server_noticed() {
    for supported in [3u32, 5] {
        let (run, svc) = endpoint();
        let mut server = Peer::spawn("shm-server", &run, &svc, &[&supported.to_string()]);
        assert_eq!(server.line(), "ready");
        let mut cfg = shm_client_config(supported, 0, 4096);
        cfg.response_timeout = Duration::from_secs(60);
        let mut s = ClientSession::connect(&ep(&run, &svc), &cfg).unwrap();
        session_call(&mut s, 1, 10, 10);
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let payload = request_payload(10, 10);
        let h = Header::request(Method::Increment, payload.len() as u32, 2);
        let r = s.call(&h, &payload).map(|_| ());
        assert!(matches!(r, Err(SessionError::PeerClosed)), "got {r:?}");
    }
}

/// Level 2 across processes: a managed cgroups server in a child process
/// and a cache here, over the pipe and over SHM_HYBRID. The server process
/// is killed (the cache keeps its snapshot and reports the provider gone)
/// and a new one started (the cache reconnects).
fn process_level2_cache() {
    for (name, plane) in PLANES {
        let (run, svc) = endpoint();
        let spawn = || {
            let mut p = Peer::spawn("l2-server", &run, &svc, &[&plane.bits().to_string(), "500"]);
            assert_eq!(p.line(), "ready", "{name}");
            p
        };
        let mut server = spawn();
        let mut cache = CgroupsCache::new(ep(&run, &svc), client_config(plane));
        cache.refresh().expect("refresh");
        check_cache(&cache, 500);
        assert_eq!(cache.client().status().profile, Some(plane), "{name}");

        server.child.kill().unwrap();
        server.child.wait().unwrap();
        assert!(cache.refresh().is_err(), "{name}: refresh after the kill");
        check_cache(&cache, 500);

        let mut server = spawn();
        cache.refresh().expect("refresh after the restart");
        check_cache(&cache, 500);
        assert_eq!(cache.client().status().profile, Some(plane), "{name}");
        drop(cache);
        drop(server.child.stdin.take());
        // One session, or two when the first answer overflowed the limit
        // the new server announced before it learned the snapshot's size.
        let served = server.line();
        assert!(
            served == "served 1" || served == "served 2",
            "{name}: {served}"
        );
        assert!(server.child.wait().unwrap().success());
    }
}
