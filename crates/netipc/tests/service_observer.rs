//! The managed server's session observer: every session accepted, refused
//! (with the handshake error) and ended is reported, in order per session.

mod service_common;

use std::sync::mpsc;
use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, HandshakeError, ManagedServer, ServerConfig, SessionEvent};
use service_common::*;

/// What the test keeps of an event.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Accepted(u64),
    RefusedAuth(u64),
    Ended(u64, u64),
    Other,
}

#[test]
fn sessions_are_reported_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let config = ServerConfig::new(TOKEN).with_session_observer(move |event| {
        let seen = match event {
            SessionEvent::Accepted { session_id, .. } => Seen::Accepted(*session_id),
            SessionEvent::Refused {
                session_id,
                error: HandshakeError::AuthFailed,
            } => Seen::RefusedAuth(*session_id),
            SessionEvent::Ended {
                session_id,
                requests,
            } => Seen::Ended(*session_id, *requests),
            _ => Seen::Other,
        };
        let _ = tx.lock().unwrap().send(seen);
    });
    let server = ManagedServer::start(
        ep(dir.path(), "observed"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("an event");

    let mut bad = IncrementClient::new(ep(dir.path(), "observed"), ClientConfig::new(WRONG_TOKEN));
    bad.refresh();
    assert!(matches!(next(), Seen::RefusedAuth(_)));

    let mut good = IncrementClient::new(ep(dir.path(), "observed"), ClientConfig::new(TOKEN));
    assert!(good.refresh());
    let Seen::Accepted(id) = next() else {
        panic!("expected an accepted session")
    };
    assert_eq!(good.call(1).unwrap(), 2);
    assert_eq!(good.call(2).unwrap(), 3);
    good.close();
    assert_eq!(next(), Seen::Ended(id, 2));
    server.shutdown();
}
