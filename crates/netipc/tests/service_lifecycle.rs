//! Level 2 lifecycle and retry behaviour: a client that outlives and
//! outwaits its provider, auth and profile rejections, and the
//! at-least-once retry.

mod service_common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::string_reverse::StringReverseClient;
use netipc::service::{
    CallError, ClientConfig, ClientState, ConnectFailure, HandlerError, ManagedServer, ServerConfig,
};
use netipc::wire::{Profiles, Status};
use service_common::*;

fn start_increment(dir: &std::path::Path, service: &str) -> ManagedServer {
    ManagedServer::start(
        ep(dir, service),
        ServerConfig::new(TOKEN),
        increment::handler(|v| Ok(v.wrapping_add(1))),
    )
    .expect("start server")
}

/// Starts a provider in another process and waits until it serves.
fn provider_process(dir: &std::path::Path, service: &str, role: &str) -> std::process::Child {
    let ready = dir.join(format!("{service}.ready"));
    let _ = std::fs::remove_file(&ready);
    let child = spawn_child("child_process_entry", role, dir, service);
    assert!(
        wait_until(Duration::from_secs(10), || ready.exists()),
        "provider {role} did not start"
    );
    child
}

/// Entry point of the child processes of these tests (does nothing in a
/// normal run).
#[test]
fn child_process_entry() {
    let Some((role, dir, service)) = child_args() else {
        return;
    };
    match role.as_str() {
        "increment-provider" => {
            let _server = start_increment(&dir, &service);
            std::fs::write(dir.join(format!("{service}.ready")), b"").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "increment-provider-with-shm-client" => {
            let _server = start_increment(&dir, &service);
            let mut client = IncrementClient::new(ep(&dir, &service), ClientConfig::new(TOKEN));
            client.refresh();
            assert_eq!(client.call(1).unwrap(), 2);
            std::fs::write(dir.join(format!("{service}.ready")), b"").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn client_outlives_its_provider() {
    let dir = tempfile::tempdir().unwrap();
    let service = "lifecycle";

    // Created before the provider exists: no error, no I/O.
    let mut client = IncrementClient::new(ep(dir.path(), service), ClientConfig::new(TOKEN));
    assert_eq!(client.state(), ClientState::Disconnected);
    assert!(!client.ready());
    assert!(client.refresh(), "Disconnected -> NotFound is a change");
    assert_eq!(client.state(), ClientState::NotFound);
    assert!(!client.refresh(), "still not found: no change");
    assert!(matches!(
        client.call(1),
        Err(CallError::NotReady(ClientState::NotFound))
    ));

    // The provider appears (in another process).
    let mut provider = provider_process(dir.path(), service, "increment-provider");
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::Ready);
    assert_eq!(client.call(41).unwrap(), 42);
    assert_eq!(client.status().connects, 1);

    // The provider is killed: the next call fails, and the client reports
    // it cannot reach the provider (the stale socket refuses connections).
    kill9(&mut provider);
    let err = client.call(1).unwrap_err();
    assert!(
        matches!(err, CallError::Reconnect(_) | CallError::Session(_)),
        "{err}"
    );
    assert!(matches!(
        client.state(),
        ClientState::NotFound | ClientState::Broken
    ));
    assert!(!client.ready());

    // The provider restarts (recovering its stale socket); refresh recovers.
    let mut provider = provider_process(dir.path(), service, "increment-provider");
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::Ready);
    assert_eq!(client.call(9).unwrap(), 10);
    let status = client.status();
    assert!(status.failures >= 2, "{status:?}");
    kill9(&mut provider);
}

#[test]
fn wrong_token_sticks_as_auth_failed() {
    let dir = tempfile::tempdir().unwrap();
    let _server = start_increment(dir.path(), "auth");
    let mut client = IncrementClient::new(ep(dir.path(), "auth"), ClientConfig::new(WRONG_TOKEN));
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::AuthFailed);
    assert!(!client.refresh(), "AuthFailed sticks");
    assert_eq!(client.state(), ClientState::AuthFailed);
    let status = client.status();
    assert_eq!(status.connect_failure(), Some(ConnectFailure::AuthFailed));
    assert_eq!(
        status.last_error.unwrap().connect_failure(),
        Some(ConnectFailure::AuthFailed)
    );
    client.close();
    assert_eq!(client.state(), ClientState::Disconnected);
}

#[test]
fn no_common_profile_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(TOKEN);
    config = config.with_profiles(Profiles::SHM_HYBRID, Profiles::SHM_HYBRID);
    let _server = ManagedServer::start(
        ep(dir.path(), "profiles"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let mut client = IncrementClient::new(
        ep(dir.path(), "profiles"),
        ClientConfig::new(TOKEN).uds_only(),
    );
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::Incompatible);
    assert!(!client.refresh(), "Incompatible sticks");
}

#[test]
fn not_ready_call_does_no_io() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_increment(dir.path(), "noio");
    let mut client = IncrementClient::new(ep(dir.path(), "noio"), ClientConfig::new(TOKEN));
    // Never refreshed: the provider is there, but the client must not talk.
    assert!(matches!(
        client.call(5),
        Err(CallError::NotReady(ClientState::Disconnected))
    ));
    assert_eq!(server.stats().sessions_served, 0);
    assert_eq!(server.stats().requests, 0);
    let status = client.status();
    assert_eq!((status.calls, status.failures, status.connects), (0, 1, 0));
}

#[test]
fn retry_success_first_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_increment(dir.path(), "ok");
    let mut client = IncrementClient::new(ep(dir.path(), "ok"), ClientConfig::new(TOKEN));
    client.refresh();
    for v in 0..100u64 {
        assert_eq!(client.call(v).unwrap(), v + 1);
    }
    let status = client.status();
    assert_eq!(
        (status.calls, status.failures, status.reconnects),
        (100, 0, 0)
    );
    assert_eq!(server.stats().requests, 100);
}

/// A handler that fails (by panicking or by returning an error) for the
/// first `failures` calls.
fn flaky_server(dir: &std::path::Path, service: &str, failures: u32, panic: bool) -> ManagedServer {
    let left = Arc::new(AtomicU32::new(failures));
    ManagedServer::start(
        ep(dir, service),
        ServerConfig::new(TOKEN),
        increment::handler(move |v| {
            let fail = left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            match (fail, panic) {
                (false, _) => Ok(v + 1),
                (true, true) => panic!("test handler panics on purpose"),
                (true, false) => Err(HandlerError::new("test handler fails on purpose")),
            }
        }),
    )
    .unwrap()
}

#[test]
fn retry_one_failure_then_success() {
    let dir = tempfile::tempdir().unwrap();
    let _server = flaky_server(dir.path(), "flaky", 1, true);
    let mut client = IncrementClient::new(ep(dir.path(), "flaky"), ClientConfig::new(TOKEN));
    client.refresh();
    // The first attempt hits the panicking handler (INTERNAL_ERROR, session
    // closed); the client reconnects and the retry succeeds.
    assert_eq!(client.call(7).unwrap(), 8);
    let status = client.status();
    assert_eq!(status.state, ClientState::Ready);
    assert_eq!(
        (status.calls, status.failures, status.reconnects),
        (1, 0, 1)
    );
}

#[test]
fn retry_failure_twice_breaks_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = flaky_server(dir.path(), "broken", u32::MAX, false);
    let mut client = IncrementClient::new(ep(dir.path(), "broken"), ClientConfig::new(TOKEN));
    client.refresh();
    let err = client.call(7).unwrap_err();
    assert!(
        matches!(err, CallError::Status(Status::InternalError)),
        "{err}"
    );
    assert_eq!(client.state(), ClientState::Broken);
    assert_eq!(server.stats().requests, 2, "one attempt and one retry");
    // Broken reconnects on refresh.
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::Ready);
    assert_eq!(client.status().reconnects, 2);
}

#[test]
fn unsupported_method_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_increment(dir.path(), "unsupported");
    let mut client =
        StringReverseClient::new(ep(dir.path(), "unsupported"), ClientConfig::new(TOKEN));
    client.refresh();
    let err = client.call("abc").unwrap_err();
    assert!(
        matches!(err, CallError::Status(Status::Unsupported)),
        "{err}"
    );
    // UNSUPPORTED does not end the server's session: the server answered
    // twice (attempt and retry) and serves other clients normally.
    assert_eq!(server.stats().requests, 2);
    let mut good = IncrementClient::new(ep(dir.path(), "unsupported"), ClientConfig::new(TOKEN));
    good.refresh();
    assert_eq!(good.call(1).unwrap(), 2);
}

/// A server SIGKILLed with a session open leaves its socket and its
/// shared-memory file behind; the next server on the endpoint removes both.
/// A live server's files are never touched.
#[test]
fn files_of_a_sigkilled_server_are_cleaned_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let service = "stale";
    let socket = dir.path().join(format!("{service}.sock"));
    let mut provider = provider_process(dir.path(), service, "increment-provider-with-shm-client");
    let shm_before = shm_files(dir.path());
    assert_eq!(
        shm_before.len(),
        1,
        "the child's SHM session has a region file"
    );

    // While the provider lives, a second server must not touch its files.
    let second = ManagedServer::start(
        ep(dir.path(), service),
        ServerConfig::new(TOKEN),
        increment::handler(|v| Ok(v + 1)),
    );
    assert!(second.is_err(), "a live provider's address is in use");
    assert!(socket.exists());
    assert_eq!(shm_files(dir.path()), shm_before);

    kill9(&mut provider);
    assert!(
        socket.exists() && shm_files(dir.path()) == shm_before,
        "SIGKILL left the files"
    );

    let server = start_increment(dir.path(), service);
    assert!(
        shm_files(dir.path()).is_empty(),
        "stale region swept at start"
    );
    let mut client =
        IncrementClient::new(ep(dir.path(), service), ClientConfig::new(TOKEN).uds_only());
    client.refresh();
    assert_eq!(client.call(1).unwrap(), 2, "the stale socket was replaced");
    server.shutdown();
    assert!(!socket.exists());
}

/// The handshake selects shared memory but the region cannot be attached:
/// the client closes that session, drops shared memory from its proposals
/// for good, and reconnects on the UDS baseline.
#[test]
fn shm_attach_failure_falls_back_to_uds_for_good() {
    use netipc::transport::{
        server_handshake, Limits, Listener, ListenerConfig, ServerPolicy, UdsChannel,
    };
    use netipc::wire::{Header, Profiles, Status};

    let dir = tempfile::tempdir().unwrap();
    let listener = Listener::bind(&ep(dir.path(), "fallback"), &ListenerConfig::default()).unwrap();
    let policy = ServerPolicy {
        supported: Profiles::BASELINE | Profiles::SHM_HYBRID,
        preferred: Profiles::SHM_HYBRID,
        auth_token: TOKEN,
        ..ServerPolicy::default()
    };
    let server = std::thread::spawn(move || {
        let wait = Some(Duration::from_secs(10));
        // First session: shared memory is selected, but no region is ever
        // created. The socket stays open, so the client really has to give
        // up on the attach.
        let first = listener.accept(wait).unwrap().unwrap();
        let ack = server_handshake(&first, &policy, 1, Duration::from_secs(5), |_| {
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
        assert_eq!(ack.selected_profile, Profiles::SHM_HYBRID);
        // Second session: the client now offers the baseline only.
        let second = listener.accept(wait).unwrap().unwrap();
        let ack = server_handshake(&second, &policy, 2, Duration::from_secs(5), |_| {
            Ok::<(), std::io::Error>(())
        })
        .unwrap();
        assert_eq!(ack.intersection_profiles, Profiles::BASELINE);
        assert_eq!(ack.selected_profile, Profiles::BASELINE);
        let mut chan = UdsChannel::new(second, Limits::for_server(&ack)).unwrap();
        let (request, payload) = chan.recv(wait).unwrap();
        let value = u64::from_ne_bytes(payload.try_into().unwrap());
        let reply = Header::response_to(&request, Status::Ok, 8);
        chan.send(&reply, &(value + 1).to_ne_bytes()).unwrap();
        drop(first);
    });

    let mut config = ClientConfig::new(TOKEN);
    config = config.with_shm_attach_timeout(Duration::from_millis(200));
    let mut client = IncrementClient::new(ep(dir.path(), "fallback"), config);
    assert!(client.refresh());
    assert_eq!(client.state(), ClientState::Ready);
    assert_eq!(client.status().profile, Some(Profiles::BASELINE));
    assert_eq!(client.call(41).unwrap(), 42);
    server.join().unwrap();
}
