//! Windows shared memory: layout, create/attach checks, both profiles in
//! process and over sessions, profile selection, fallbacks, disconnects.

use std::path::Path;
use std::time::Duration;

use netipc::transport::handshake::{negotiate, server_handshake, ServerPolicy};
use netipc::transport::windows::shm::{Layout, ShmError, ShmRegion};
use netipc::transport::windows::{
    ClientSession, PipeListener, PipeListenerConfig, ShmNames, DEFAULT_PREFERRED, DEFAULT_PROFILES,
    SHM_BUSYWAIT, SHM_HYBRID,
};
use netipc::transport::{ConnectError, HandshakeError, SessionConfig, SessionError};
use netipc::wire::{Header, HelloAck, Method, Profiles, Status};

use crate::harness::Test;
use crate::session_server::*;
use crate::support::*;

pub const TESTS: &[Test] = &[
    ("shm_layout_examples", shm_layout_examples),
    ("shm_create_attach_checks", shm_create_attach_checks),
    (
        "shm_failed_attach_leaves_no_close_flag",
        shm_failed_attach_leaves_no_close_flag,
    ),
    ("shm_region_hybrid", shm_region_hybrid),
    ("shm_region_busywait", shm_region_busywait),
    ("shm_hybrid_no_lost_wakeups", shm_hybrid_no_lost_wakeups),
    (
        "shm_busywait_no_lost_messages",
        shm_busywait_no_lost_messages,
    ),
    ("shm_region_peer_closed", shm_region_peer_closed),
    ("shm_region_hostile_lengths", shm_region_hostile_lengths),
    (
        "shm_default_profiles_never_busywait",
        shm_default_profiles_never_busywait,
    ),
    ("shm_session_hybrid", shm_session_hybrid),
    ("shm_session_busywait", shm_session_busywait),
    (
        "shm_session_pipe_when_preferred",
        shm_session_pipe_when_preferred,
    ),
    (
        "shm_session_falls_back_when_region_exists",
        shm_session_falls_back_when_region_exists,
    ),
    (
        "shm_attach_gives_up_when_server_closes",
        shm_attach_gives_up_when_server_closes,
    ),
    ("shm_attach_deadline", shm_attach_deadline),
    (
        "shm_session_rejection_reported",
        shm_session_rejection_reported,
    ),
    (
        "shm_session_client_close_noticed",
        shm_session_client_close_noticed,
    ),
];

fn names(profile: u32) -> ShmNames {
    let (run, svc) = endpoint();
    ShmNames::new(&run, &svc, TOKEN.get(), profile, 1).unwrap()
}

fn shm_layout_examples() {
    let l = Layout::for_capacities(100, 1000).unwrap();
    assert_eq!((l.request_capacity, l.response_capacity), (128, 1024));
    assert_eq!((l.response_offset, l.size()), (256, Some(1280)));
    let l = Layout::for_capacities(1024 + 32, 1024 + 32).unwrap();
    assert_eq!(
        (l.request_capacity, l.response_offset, l.size()),
        (1088, 1216, Some(2304))
    );
    let l = Layout::for_capacities((1 << 20) + 32, 65_536 + 32).unwrap();
    assert_eq!(l.request_capacity, 1_048_640);
    assert_eq!(l.response_offset, 1_048_768);
    assert_eq!(l.response_capacity, 65_600);
    assert_eq!(l.size(), Some(1_114_368));
    assert!(matches!(
        Layout::for_capacities(u32::MAX - 10, 64),
        Err(ShmError::TooLarge { .. })
    ));
    assert!(Layout::for_capacities(u32::MAX / 2, u32::MAX / 2).is_err());
}

fn shm_create_attach_checks() {
    let n = names(2);
    let server = ShmRegion::create(&n, SHM_HYBRID, 100, 1000).unwrap();
    // Never reuse an existing object.
    assert!(matches!(
        ShmRegion::create(&n, SHM_HYBRID, 100, 1000),
        Err(ShmError::AlreadyExists { .. })
    ));
    assert!(matches!(
        ShmRegion::create(&n, Profiles(0x08), 100, 1000),
        Err(ShmError::InvalidProfile(8))
    ));
    // Attaching as another profile than the region's is refused.
    assert!(matches!(
        ShmRegion::attach(&n, SHM_BUSYWAIT),
        Err(ShmError::BadProfile {
            found: 2,
            expected: 4
        })
    ));
    let client = ShmRegion::attach(&n, SHM_HYBRID).unwrap();
    assert_eq!(client.layout(), server.layout());
    assert_eq!(client.layout().response_offset, 256);
    // A missing region.
    assert!(matches!(
        ShmRegion::attach(&names(2), SHM_HYBRID),
        Err(ShmError::Os { .. })
    ));
    // A BUSYWAIT region has no events; a HYBRID attach finds its mapping's
    // profile field wrong first.
    let b = names(4);
    let _bw = ShmRegion::create(&b, SHM_BUSYWAIT, 64, 64).unwrap();
    assert!(ShmRegion::attach(&b, SHM_BUSYWAIT).is_ok());
}

/// A client may find the section before the server has made the events;
/// that failed attach (retried by the session) must not mark the client
/// closed in the server's header.
fn shm_failed_attach_leaves_no_close_flag() {
    let n = names(2);
    let mut server = ShmRegion::create(&n, SHM_HYBRID, 64, 64).unwrap();
    let early = ShmNames {
        req_event: format!("{}-not-yet", n.req_event),
        ..n.clone()
    };
    assert!(matches!(
        ShmRegion::attach(&early, SHM_HYBRID),
        Err(ShmError::Os { .. })
    ));
    assert!(!server.peer_closed());
    let mut client = ShmRegion::attach(&n, SHM_HYBRID).unwrap();
    client.send(&[3; 16], &[]).unwrap();
    let mut buf = Vec::new();
    server.recv(&mut buf, 64, Some(LONG)).unwrap();
    server.send(&[4; 16], &[]).unwrap();
    client.recv(&mut buf, 64, Some(LONG)).unwrap();
    assert_eq!(buf, [4; 16]);
}

/// Server and client regions in one process, answering in a thread.
fn round_trips(profile: Profiles, count: u64, shape: fn(u64) -> Duration) {
    let n = names(profile.bits());
    let mut server = ShmRegion::create(&n, profile, 4096, 70_000).unwrap();
    let mut client = ShmRegion::attach(&n, profile).unwrap();
    let responder = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for i in 0..count {
            server.recv(&mut buf, 4096, Some(LONG)).expect("request");
            assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), i);
            let pause = shape(i);
            if !pause.is_zero() {
                // Load shaping, not synchronisation: makes the client give
                // up spinning and sleep on its event.
                std::thread::sleep(pause);
            }
            let body: Vec<u8> = (0..(i as usize % 70_000).max(1)).map(pat).collect();
            server
                .send(&(i + 1).to_le_bytes(), &body)
                .expect("response");
        }
        server
    });
    let mut buf = Vec::new();
    for i in 0..count {
        client.send(&i.to_le_bytes(), &[0u8; 24]).unwrap();
        client.recv(&mut buf, 70_008, Some(LONG)).expect("response");
        assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), i + 1);
        assert_eq!(buf.len() - 8, (i as usize % 70_000).max(1));
    }
    drop(responder.join().unwrap());
}

fn shm_region_hybrid() {
    round_trips(SHM_HYBRID, 2000, |_| Duration::ZERO);
}

fn shm_region_busywait() {
    round_trips(SHM_BUSYWAIT, 2000, |_| Duration::ZERO);
}

/// Every 7th response comes after the client has gone to sleep on its
/// event: a lost wake-up (flag/sequence pair not ordered) would leave the
/// client asleep until its 20 s deadline and fail the test.
fn shm_hybrid_no_lost_wakeups() {
    round_trips(SHM_HYBRID, 700, |i| {
        if i % 7 == 0 {
            Duration::from_millis(2)
        } else {
            Duration::ZERO
        }
    });
}

fn shm_busywait_no_lost_messages() {
    round_trips(SHM_BUSYWAIT, 200, |i| {
        if i % 7 == 0 {
            Duration::from_millis(2)
        } else {
            Duration::ZERO
        }
    });
}

fn shm_region_peer_closed() {
    for profile in [SHM_HYBRID, SHM_BUSYWAIT] {
        let n = names(profile.bits());
        let server = ShmRegion::create(&n, profile, 64, 64).unwrap();
        let mut client = ShmRegion::attach(&n, profile).unwrap();
        let mut buf = Vec::new();
        // Nothing published: a timeout leaves the region usable.
        assert!(matches!(
            client.recv(&mut buf, 64, Some(Duration::from_millis(20))),
            Err(ShmError::Timeout)
        ));
        // A receiver asleep (or polling) is released by the peer's close.
        let waiter = std::thread::spawn(move || {
            let r = client.recv(&mut buf, 64, Some(LONG));
            (client, r)
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(server);
        let (mut client, r) = waiter.join().unwrap();
        assert!(matches!(r, Err(ShmError::PeerClosed)), "{profile:?}: {r:?}");
        assert!(matches!(
            client.send(&[1; 8], &[]),
            Err(ShmError::PeerClosed)
        ));
    }
    // The other direction, and the local refusals.
    let n = names(2);
    let mut server = ShmRegion::create(&n, SHM_HYBRID, 64, 64).unwrap();
    let mut client = ShmRegion::attach(&n, SHM_HYBRID).unwrap();
    assert!(matches!(
        client.send(&[0; 65], &[]),
        Err(ShmError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        client.send(&[], &[]),
        Err(ShmError::MessageTooLarge { .. })
    ));
    assert!(matches!(server.send(&[1; 8], &[]), Err(ShmError::Busy)));
    client.send(&[1; 8], &[]).unwrap();
    assert!(matches!(client.send(&[1; 8], &[]), Err(ShmError::Busy)));
    drop(client);
    let mut buf = Vec::new();
    // The request published before the close is still delivered.
    server.recv(&mut buf, 64, Some(LONG)).unwrap();
    assert_eq!(buf, [1; 8]);
    assert!(matches!(
        server.recv(&mut buf, 64, Some(LONG)),
        Err(ShmError::PeerClosed)
    ));
}

/// Lengths a peer publishes are checked against the receive limit: a
/// message larger than the receiver accepts is refused, not copied.
fn shm_region_hostile_lengths() {
    let n = names(2);
    let mut server = ShmRegion::create(&n, SHM_HYBRID, 4096, 4096).unwrap();
    let mut client = ShmRegion::attach(&n, SHM_HYBRID).unwrap();
    client.send(&[7; 1000], &[]).unwrap();
    let mut buf = Vec::new();
    assert!(matches!(
        server.recv(&mut buf, 500, Some(LONG)),
        Err(ShmError::BadLength {
            len: 1000,
            max: 500
        })
    ));
}

fn hello(supported: u32, preferred: u32) -> netipc::wire::Hello {
    let mut c = shm_client_config(supported, preferred, 1024).proposal;
    c.packet_size = 65_536;
    c.to_hello(65_536)
}

/// 0x04 is SHM_BUSYWAIT on Windows. The defaults (0x03) cannot select it;
/// 0x07 on both sides without a common preference would.
fn shm_default_profiles_never_busywait() {
    assert_eq!(DEFAULT_PROFILES, Profiles(0x03));
    assert_eq!(DEFAULT_PREFERRED, SHM_HYBRID);
    let server = |s: u32, p: u32| shm_policy(s, p, 1024);
    let sel =
        |h: netipc::wire::Hello, p: ServerPolicy| negotiate(&h, &p, 1).unwrap().selected_profile;
    assert_eq!(sel(hello(0x03, 0), server(0x07, 0)), SHM_HYBRID);
    assert_eq!(sel(hello(0x07, 0), server(0x03, 0)), SHM_HYBRID);
    assert_eq!(sel(hello(0x07, 0x02), server(0x07, 0x02)), SHM_HYBRID);
    assert_eq!(sel(hello(0x07, 0), server(0x07, 0)), SHM_BUSYWAIT);
    assert_eq!(
        SessionConfig::default().proposal.supported,
        Profiles(0),
        "a default client offers the pipe only"
    );
}

fn shm_session(supported: u32, preferred: u32, expect: Profiles) {
    let (run, svc) = endpoint();
    let server = SessionServer::start(&run, &svc, shm_policy(supported, preferred, 70_000));
    let cfg = shm_client_config(supported, preferred, 60_000);
    let mut s = ClientSession::connect(&ep(&run, &svc), &cfg).unwrap();
    let (ack, shm) = server.accepted();
    assert_eq!(ack.selected_profile, expect);
    assert_eq!(s.negotiated().selected_profile, expect);
    assert_eq!(s.is_shm(), expect.has_shm());
    assert_eq!(shm, expect.has_shm());
    let mut id = 0;
    for &(resp, req) in &[
        (0, 4),
        (1, 5),
        (70_000, 60_000),
        (65_504, 100),
        (12, 60_000),
    ] {
        id += 1;
        session_call(&mut s, id, resp, req);
    }
    for _ in 0..500 {
        id += 1;
        session_call(&mut s, id, 64, 64);
    }
    // Over the limit: refused locally, the session stays usable.
    let big = vec![0u8; 60_001];
    let h = Header::request(Method::Increment, big.len() as u32, 9999);
    assert!(matches!(
        s.call(&h, &big),
        Err(SessionError::RequestTooLarge {
            len: 60_001,
            limit: 60_000
        })
    ));
    id += 1;
    session_call(&mut s, id, 64, 64);
    drop(s);
    assert!(matches!(server.ended(), SessionError::PeerClosed));
}

fn shm_session_hybrid() {
    shm_session(0x03, 0, SHM_HYBRID);
}

fn shm_session_busywait() {
    shm_session(0x05, 0, SHM_BUSYWAIT);
}

fn shm_session_pipe_when_preferred() {
    shm_session(0x03, 0x01, Profiles::BASELINE);
}

/// The region name of session 1 is taken (a client of an earlier server
/// instance could hold it): the server never reuses it and serves the
/// session over the pipe instead.
fn shm_session_falls_back_when_region_exists() {
    let (run, svc) = endpoint();
    let taken = ShmNames::new(&run, &svc, TOKEN.get(), 2, 1).unwrap();
    let _squatter = ShmRegion::create(&taken, SHM_HYBRID, 64, 64).unwrap();
    let server = SessionServer::start(&run, &svc, shm_policy(0x03, 0, 1024));
    let mut s = ClientSession::connect(&ep(&run, &svc), &shm_client_config(0x03, 0, 1024)).unwrap();
    assert!(!s.is_shm());
    assert_eq!(server.accepted().0.selected_profile, Profiles::BASELINE);
    session_call(&mut s, 1, 100, 100);
}

/// A server that selects shared memory without creating the region.
fn regionless_server(run: &Path, svc: &str, close_at_once: bool) -> std::thread::JoinHandle<()> {
    let listener = PipeListener::bind(&ep(run, svc), &PipeListenerConfig::default()).unwrap();
    std::thread::spawn(move || {
        let conn = listener.accept(Some(LONG)).unwrap().expect("client");
        server_handshake(
            &conn,
            &shm_policy(0x03, 0, 1024),
            1,
            LONG,
            |_: &HelloAck| Ok::<(), std::convert::Infallible>(()),
        )
        .unwrap();
        if !close_at_once {
            conn.linger(LONG);
        }
    })
}

fn shm_attach_gives_up_when_server_closes() {
    let (run, svc) = endpoint();
    let t = regionless_server(&run, &svc, true);
    let mut cfg = shm_client_config(0x03, 0, 1024);
    cfg.shm_attach_timeout = LONG;
    match ClientSession::connect(&ep(&run, &svc), &cfg) {
        Err(ConnectError::Handshake(HandshakeError::PeerClosed)) => {}
        other => panic!("expected a closed session, got {other:?}"),
    }
    t.join().unwrap();
}

fn shm_attach_deadline() {
    let (run, svc) = endpoint();
    let t = regionless_server(&run, &svc, false);
    let mut cfg = shm_client_config(0x03, 0, 1024);
    cfg.shm_attach_timeout = Duration::from_millis(200);
    match ClientSession::connect(&ep(&run, &svc), &cfg) {
        Err(ConnectError::ShmAttach {
            source: ShmError::Os { .. },
            ..
        }) => {}
        other => panic!("expected an attach failure, got {other:?}"),
    }
    t.join().unwrap();
}

/// The library's server session lingers after a rejection, so the status
/// always reaches the client.
fn shm_session_rejection_reported() {
    let (run, svc) = endpoint();
    let server = SessionServer::start(&run, &svc, shm_policy(0x03, 0, 1024));
    for _ in 0..20 {
        let mut cfg = shm_client_config(0x03, 0, 1024);
        cfg.proposal.auth_token = AuthToken::new(TOKEN.get() + 1);
        match ClientSession::connect(&ep(&run, &svc), &cfg) {
            Err(ConnectError::Handshake(HandshakeError::AuthFailed)) => {}
            other => panic!("expected AuthFailed, got {other:?}"),
        }
        match server.event() {
            SessionEvent::Accepted(Err(e)) => assert_eq!(e.status(), Some(Status::AuthFailed)),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

/// Dropping an SHM client sets its closed flag: the server's session ends
/// with PeerClosed (a killed client, which sets nothing, is in `process`).
fn shm_session_client_close_noticed() {
    let (run, svc) = endpoint();
    let server = SessionServer::start(&run, &svc, shm_policy(0x03, 0, 1024));
    let mut s = ClientSession::connect(&ep(&run, &svc), &shm_client_config(0x03, 0, 1024)).unwrap();
    assert!(server.accepted().1);
    session_call(&mut s, 1, 10, 10);
    drop(s);
    assert!(matches!(server.ended(), SessionError::PeerClosed));
}
