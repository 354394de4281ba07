//! The client's checks of the provider: its identity (`SO_PEERCRED`)
//! before the auth token is sent, and the response cap with receive
//! buffers that grow only as data arrives.

mod bounds_common;

use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::Duration;

use bounds_common::*;
use netipc::service::increment::IncrementClient;
use netipc::service::{ConnectFailure, ManagedServer};
use netipc::transport::{
    server_handshake, ClientSession, ConnectError, Listener, ListenerConfig, ServerPolicy,
    SessionConfig, SessionError, TransportError, DEFAULT_RESPONSE_CAP,
};
use netipc::wire::{ChunkHeader, Header, Method, Profiles, Status};

const NOBODY: u32 = 65534;

/// Runs a listener owned by uid `NOBODY` (the thread drops root before it
/// binds, so the socket's credentials are nobody's) that accepts two
/// connections and reports, for each, whether any packet arrived before
/// the client closed it.
fn foreign_listener(dir: &std::path::Path) -> Option<mpsc::Receiver<Vec<bool>>> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: changing to another uid needs root");
        return None;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let endpoint = ep(dir, "increment");
    let (ready_tx, ready_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // This thread only: the raw setuid system call changes the calling
        // thread's credentials.
        rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(NOBODY)).unwrap();
        let listener = Listener::bind(
            &endpoint,
            &ListenerConfig::default().with_socket_mode(0o666),
        )
        .unwrap();
        ready_tx.send(()).unwrap();
        let mut got_data = Vec::new();
        for _ in 0..2 {
            let conn = listener.accept(None).unwrap().unwrap();
            let mut buf = [0u8; 256];
            // Until the client closes: EOF is PeerClosed.
            let data = match conn.recv_packet(&mut buf, Some(Duration::from_secs(60))) {
                Ok(_) => true,
                Err(TransportError::PeerClosed) => false,
                Err(e) => panic!("{e}"),
            };
            got_data.push(data);
        }
        tx.send(got_data).unwrap();
    });
    ready_rx.recv().unwrap();
    Some(rx)
}

#[test]
fn a_provider_of_another_user_is_refused_before_the_token_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let rx = match foreign_listener(dir.path()) {
        Some(rx) => rx,
        None => return,
    };
    // Default: refused, typed, nothing sent.
    let mut client = IncrementClient::new(ep(dir.path(), "increment"), Plane::Uds.client());
    client.refresh();
    assert!(!client.ready());
    let status = client.status();
    assert_eq!(
        status.connect_failure(),
        Some(ConnectFailure::PeerNotTrusted)
    );
    match status.last_connect_error.as_deref() {
        Some(ConnectError::PeerNotTrusted { peer, our_uid }) => {
            assert_eq!(peer.uid, NOBODY);
            assert_eq!(peer.pid, std::process::id());
            assert_eq!(*our_uid, 0);
        }
        other => panic!("{other:?}"),
    }
    drop(client);

    // Check turned off: the HELLO (with the token) goes out.
    let config = SessionConfig::default()
        .with_trusted_peer_check(false)
        .with_handshake_timeout(Duration::from_millis(200));
    let got = ClientSession::connect(&ep(dir.path(), "increment"), &config);
    // The raw listener hangs up after the HELLO instead of answering.
    let kind = got.map(|_| ()).unwrap_err().kind();
    assert!(
        matches!(kind, ConnectFailure::PeerClosed | ConnectFailure::TimedOut),
        "{kind:?}"
    );

    assert_eq!(rx.recv().unwrap(), vec![false, true]);
}

#[test]
fn status_reports_the_providers_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new();
    gate.open();
    let _srv: ManagedServer = gated_provider(dir.path(), Plane::Uds, &gate, |_| false);
    let client = ready_client(dir.path(), Plane::Uds.client());
    let peer = client.status().peer.expect("peer credentials");
    assert_eq!(peer.pid, std::process::id());
    assert_eq!(peer.uid, rustix::process::geteuid().as_raw());
    assert_eq!(peer.gid, rustix::process::getegid().as_raw());
}

/// A raw provider that accepts one client, announces a response limit of
/// 4 GiB − 1 in its HELLO_ACK (packet size 4096), reads one request and
/// answers with a header announcing `announced` payload bytes followed by
/// `chunks` continuation chunks, then hangs up.
fn hostile_provider(
    dir: &std::path::Path,
    announced: u32,
    chunks: u32,
) -> std::thread::JoinHandle<()> {
    let listener = Listener::bind(&ep(dir, "increment"), &ListenerConfig::default()).unwrap();
    std::thread::spawn(move || {
        let conn = listener.accept(None).unwrap().unwrap();
        let policy = ServerPolicy {
            max_response_payload: u32::MAX,
            packet_size: 4096,
            auth_token: TOKEN,
            ..ServerPolicy::default()
        };
        server_handshake(&conn, &policy, 1, Duration::from_secs(60), |_| {
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
        let mut buf = vec![0u8; 8192];
        let n = conn
            .recv_packet(&mut buf, Some(Duration::from_secs(60)))
            .unwrap();
        let request = Header::decode(&buf[..n]).unwrap();
        let header = Header::response_to(&request, Status::Ok, announced);
        let room = 4096 - 32;
        let filler = vec![0x5a; room];
        conn.send_packet(&[&header.encode(), &filler]).unwrap();
        let total = 32 + u64::from(announced);
        let rest = u64::from(announced) - room as u64;
        let count = 1 + (rest + room as u64 - 1) / room as u64;
        for i in 1..=chunks {
            let chunk = ChunkHeader {
                message_id: request.message_id,
                total_message_len: total as u32,
                chunk_index: i,
                chunk_count: count as u32,
                chunk_payload_len: room as u32,
            };
            conn.send_packet(&[&chunk.encode(), &filler]).unwrap();
        }
        // Dropping the connection hangs up.
    })
}

/// Level 1 settings of a UDS-only client with the test token.
fn uds_session_config() -> SessionConfig {
    SessionConfig::default().with_proposal(netipc::transport::ClientProposal {
        auth_token: TOKEN,
        supported: Profiles::BASELINE,
        ..Default::default()
    })
}

fn request() -> (Header, [u8; 8]) {
    (Header::request(Method::Increment, 8, 1), 1u64.to_le_bytes())
}

#[test]
fn the_response_cap_holds_whatever_the_provider_announces() {
    let dir = tempfile::tempdir().unwrap();
    // 3 GiB announced: over the 64 MiB cap, refused on the first packet.
    let provider = hostile_provider(dir.path(), 3 << 30, 0);
    let config = uds_session_config();
    let mut session = ClientSession::connect(&ep(dir.path(), "increment"), &config).unwrap();
    assert_eq!(
        session.negotiated().agreed_max_response_payload_bytes,
        u32::MAX
    );
    assert_eq!(session.limits().max_recv_payload, DEFAULT_RESPONSE_CAP);
    let (h, p) = request();
    match session.call(&h, &p) {
        Err(SessionError::Transport(TransportError::IncomingTooLarge { len, limit })) => {
            assert_eq!((len, limit), (3 << 30, DEFAULT_RESPONSE_CAP));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        session.recv_capacity() <= 8192,
        "{}",
        session.recv_capacity()
    );
    provider.join().unwrap();
}

#[test]
fn receive_buffers_grow_with_the_chunks_that_arrive_not_with_the_announced_size() {
    let dir = tempfile::tempdir().unwrap();
    // 60 MiB announced (under the cap), then 10 chunks and a hang-up.
    let provider = hostile_provider(dir.path(), 60 << 20, 10);
    let config = uds_session_config();
    let mut session = ClientSession::connect(&ep(dir.path(), "increment"), &config).unwrap();
    let (h, p) = request();
    let got = session.call(&h, &p);
    assert!(matches!(got, Err(SessionError::PeerClosed)), "{got:?}");
    // 11 packets of 4 KiB arrived; the buffer grew by doubling past them.
    let cap = session.recv_capacity();
    assert!((11 * 4064..=256 << 10).contains(&cap), "capacity {cap}");
    provider.join().unwrap();
}

#[test]
fn a_shared_memory_provider_over_the_cap_is_used_over_uds() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new();
    gate.open();
    let _srv = ManagedServer::start(
        ep(dir.path(), "increment"),
        Plane::Shm.server().with_response_payload(1 << 20),
        netipc::service::increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let mut client = IncrementClient::new(
        ep(dir.path(), "increment"),
        Plane::Shm.client().with_response_cap(64 << 10),
    );
    client.refresh();
    assert!(client.ready(), "{:?}", client.status());
    let status = client.status();
    assert_eq!(status.profile, Some(Profiles::BASELINE));
    assert_eq!(status.limits.unwrap().max_response_payload, 64 << 10);
    assert_eq!(client.call(1).unwrap(), 2);
    drop(gate);
}
