//! Bounded calls (PROTOCOL-LOOKUP §19.8): one deadline per logical call,
//! Timeout never retried, and a connection attempt bounded by the
//! handshake timeout even when the provider's backlog is full.

mod bounds_common;

use std::time::{Duration, Instant};

use bounds_common::*;
use netipc::service::increment::IncrementClient;
use netipc::service::{CallError, ClientState, ConnectFailure};
use netipc::transport::{
    connect_timeout, AbortHandle, ClientSession, EndpointError, Listener, ListenerConfig,
    SessionConfig,
};

const DEADLINE: Duration = Duration::from_millis(400);

#[test]
fn a_stuck_call_times_out_at_its_deadline_and_is_not_retried() {
    for plane in PLANES {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::new();
        let _srv = gated_provider(dir.path(), plane, &gate, |_| true);
        let mut client = ready_client(dir.path(), plane.client().with_call_timeout(DEADLINE));
        assert_eq!(client.call_timeout(), DEADLINE);

        let start = Instant::now();
        let got = client.call(1);
        let took = start.elapsed();
        assert!(matches!(got, Err(CallError::Timeout)), "{plane:?}: {got:?}");
        assert!(took >= DEADLINE, "{plane:?}: returned after {took:?}");
        // Not retried: a retry would have reached the handler again.
        assert_eq!(gate.entered(), 1, "{plane:?}");
        assert_eq!(client.state(), ClientState::Broken, "{plane:?}");
        let status = client.status();
        assert_eq!((status.calls, status.failures), (1, 1));
        assert!(matches!(
            status.last_error,
            Some(netipc::service::ClientError::Call(CallError::Timeout))
        ));

        // The next refresh reconnects and calls work again.
        gate.open();
        assert!(client.refresh());
        assert_eq!(client.call(5).unwrap(), 6, "{plane:?}");
        assert_eq!(client.status().reconnects, 1);
    }
}

#[test]
fn one_deadline_covers_every_sub_call_and_the_earlier_deadline_wins() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new();
    // Only the value 2 is held.
    let _srv = gated_provider(dir.path(), Plane::Uds, &gate, |v| v == 2);
    // The agent's 5 s call timeout is the context default.
    let mut client = ready_client(dir.path(), Plane::Uds.client());
    assert_eq!(client.call_timeout(), Duration::from_secs(5));

    let start = Instant::now();
    let got = client.call_with_timeout(DEADLINE, |c| {
        let one = c.call(1)?;
        // A longer deadline nested inside does not extend the outer one.
        c.call_with_timeout(Duration::from_secs(3600), |c| c.call(one))
    });
    let took = start.elapsed();
    assert!(matches!(got, Err(CallError::Timeout)), "{got:?}");
    assert!(took >= DEADLINE, "returned after {took:?}");
    assert!(took < Duration::from_secs(3600), "returned after {took:?}");
    assert_eq!(gate.entered(), 2);

    gate.open();
    client.refresh();
    // Zero means the context's default.
    assert_eq!(
        client
            .call_with_timeout(Duration::ZERO, |c| c.call(7))
            .unwrap(),
        8
    );
    client.set_call_timeout(Duration::ZERO);
    assert_eq!(client.call_timeout(), Duration::from_secs(30));
}

/// A listener that never accepts, with its backlog filled by connections
/// that completed in the kernel: a further connect() waits for room.
fn full_backlog(dir: &std::path::Path) -> (Listener, Vec<netipc::transport::UdsConn>) {
    let endpoint = ep(dir, "increment");
    let listener = Listener::bind(&endpoint, &ListenerConfig::default().with_backlog(1)).unwrap();
    let mut held = Vec::new();
    loop {
        match connect_timeout(&endpoint, Duration::from_millis(20)) {
            Ok(conn) => held.push(conn),
            Err(EndpointError::Timeout { .. }) => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(held.len() < 64, "the backlog never filled");
    }
    (listener, held)
}

#[test]
fn connect_is_bounded_by_the_handshake_timeout_when_the_backlog_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let (_listener, _held) = full_backlog(dir.path());
    let timeout = Duration::from_millis(300);

    // Level 1.
    let start = Instant::now();
    let got = ClientSession::connect(
        &ep(dir.path(), "increment"),
        &SessionConfig::default().with_handshake_timeout(timeout),
    );
    let took = start.elapsed();
    assert_eq!(got.unwrap_err().kind(), ConnectFailure::TimedOut);
    assert!(took >= timeout && took < timeout + PROMPT, "{took:?}");

    // Level 2: refresh gives up after the handshake timeout.
    let mut client = IncrementClient::new(
        ep(dir.path(), "increment"),
        Plane::Uds.client().with_handshake_timeout(timeout),
    );
    let start = Instant::now();
    client.refresh();
    let took = start.elapsed();
    assert!(!client.ready());
    assert_eq!(
        client.status().connect_failure(),
        Some(ConnectFailure::TimedOut)
    );
    assert!(took >= timeout && took < timeout + PROMPT, "{took:?}");
}

#[test]
fn a_connect_waiting_for_backlog_room_is_abortable() {
    let dir = tempfile::tempdir().unwrap();
    let (_listener, _held) = full_backlog(dir.path());
    let abort = AbortHandle::new();
    let remote = abort.clone();
    let dir_path = dir.path().to_path_buf();
    let connector = std::thread::spawn(move || {
        let config = SessionConfig::default().with_handshake_timeout(Duration::from_secs(3600));
        let got = ClientSession::connect_bounded(
            &ep(&dir_path, "increment"),
            &config,
            None,
            Some(&remote),
        );
        (got.map(|_| ()).unwrap_err().kind(), Instant::now())
    });
    // Whether the abort lands before or during the connect, the attempt
    // ends with Aborted; the pause only makes "during" likely.
    std::thread::sleep(Duration::from_millis(50));
    let aborted_at = Instant::now();
    abort.abort();
    let (failure, returned_at) = connector.join().unwrap();
    assert_eq!(failure, ConnectFailure::Aborted);
    assert!(returned_at.saturating_duration_since(aborted_at) < PROMPT);
}
