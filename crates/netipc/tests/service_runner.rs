//! A managed server served from a thread the caller owns:
//! `ManagedServer::bind` + `ServerRunner::run`, and shutdown in every state
//! of the runner (running, never run, dropped, run after shutdown).

mod support;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, ManagedServer, ServerConfig, ServerRunner};
use support::*;

/// Hang guard of every step below: far beyond anything a loaded machine
/// needs, only there so that a broken shutdown fails instead of hanging.
const HANG: Duration = Duration::from_secs(60);

fn bind(dir: &std::path::Path, service: &str) -> (ManagedServer, ServerRunner) {
    ManagedServer::bind(
        ep(dir, service),
        ServerConfig::new(TOKEN),
        increment::handler(|v| Ok(v.wrapping_add(1))),
    )
    .expect("bind server")
}

/// Runs `f` on a helper thread and returns its result, failing the test if
/// it does not return within [`HANG`].
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|e| panic!("{what} did not return: {e}"))
}

/// Runs `runner` on a thread this test owns.
fn run_on_own_thread(runner: ServerRunner) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("plugin-owned".into())
        .spawn(move || runner.run())
        .unwrap()
}

/// Waits (with the hang guard) for the runner's thread to end.
fn join(thread: JoinHandle<()>) {
    assert!(
        wait_until(HANG, || thread.is_finished()),
        "run did not return after shutdown"
    );
    thread.join().expect("run did not panic");
}

fn ready_client(dir: &std::path::Path, service: &str) -> IncrementClient {
    let mut client = IncrementClient::new(ep(dir, service), ClientConfig::new(TOKEN));
    assert!(
        wait_until(HANG, || {
            client.refresh();
            client.ready()
        }),
        "client never got ready: {:?}",
        client.state()
    );
    client
}

#[test]
fn runner_is_send() {
    fn send<T: Send>() {}
    send::<ServerRunner>();
}

#[test]
fn bound_server_is_served_by_run_on_a_caller_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (server, runner) = bind(dir.path(), "own");
    let socket = server.socket_path().to_path_buf();
    assert!(socket.exists(), "bind returns with the socket bound");

    // Nothing accepts before `run`: the handshake cannot complete.
    let mut early = IncrementClient::new(
        ep(dir.path(), "own"),
        ClientConfig::new(TOKEN).with_handshake_timeout(Duration::from_millis(200)),
    );
    early.refresh();
    assert!(!early.ready(), "{:?}", early.state());
    assert_eq!(server.stats().sessions_served, 0);

    let thread = run_on_own_thread(runner);
    let mut client = ready_client(dir.path(), "own");
    for v in 0..20 {
        assert_eq!(client.call(v).unwrap(), v + 1);
    }
    assert_eq!(client.call_batch(&[1, 2, 3]).unwrap(), vec![2, 3, 4]);
    assert!(
        !thread.is_finished(),
        "run returned while its server was serving"
    );
    let stats = server.stats();
    assert!(stats.requests >= 21, "{stats:?}");
    assert!(stats.sessions_served >= 1, "{stats:?}");

    // Shutdown from another thread makes `run` return; it waits for it, so
    // the socket is gone when it returns.
    returns("shutdown", move || server.shutdown());
    assert!(!socket.exists(), "shutdown returned before run cleaned up");
    join(thread);
    assert!(client.call(1).is_err(), "the server still answers");
}

#[test]
fn dropping_the_server_while_run_runs_makes_run_return() {
    let dir = tempfile::tempdir().unwrap();
    let (server, runner) = bind(dir.path(), "dropped");
    let thread = run_on_own_thread(runner);
    // A session stays open across the drop.
    let mut client = ready_client(dir.path(), "dropped");
    assert_eq!(client.call(41).unwrap(), 42);
    returns("drop", move || drop(server));
    join(thread);
    assert!(client.call(1).is_err(), "the session outlived the server");
    assert!(shm_files(dir.path()).is_empty());
}

#[test]
fn dropping_an_unrun_runner_then_shutting_down_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (server, runner) = bind(dir.path(), "unrun");
    let socket = server.socket_path().to_path_buf();
    drop(runner);
    assert!(!socket.exists(), "the runner's listener removes the socket");
    returns("shutdown", move || server.shutdown());
}

#[test]
fn shutting_down_before_run_is_not_a_deadlock_and_run_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, runner) = bind(dir.path(), "late");
    let socket = server.socket_path().to_path_buf();
    // This thread holds the runner and has not run it: shutdown does not
    // wait for it.
    returns("shutdown", move || server.shutdown());
    returns("run after shutdown", move || runner.run());
    assert!(!socket.exists(), "run removes the socket on its way out");
}

#[test]
fn a_runner_whose_server_is_gone_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, runner) = bind(dir.path(), "gone");
    drop(server);
    let thread = run_on_own_thread(runner);
    join(thread);
    let mut client = IncrementClient::new(ep(dir.path(), "gone"), ClientConfig::new(TOKEN));
    client.refresh();
    assert!(!client.ready(), "{:?}", client.state());
}
