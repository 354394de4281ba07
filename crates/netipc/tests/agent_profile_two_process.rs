//! The agent's everyday configuration end to end between two processes:
//! profiles 0x07 offered and supported, 0x04 (SHM_FUTEX) preferred — the
//! library's defaults — select SHM_FUTEX and calls work over shared memory,
//! with the server in a child process and with the client in one.
//!
//! The test binary re-runs itself as the child (`child_entry`), which does
//! nothing unless the child environment variables are set.

mod service_common;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, ManagedServer, ServerConfig};
use netipc::wire::Profiles;
use service_common::*;

const SERVICE: &str = "agent-profile";
/// File whose appearance tells a child server to stop.
const STOP_FILE: &str = "stop";
/// Generous for a loaded machine; nothing waits this long when all is well.
const LONG: Duration = Duration::from_secs(60);

/// Defaults are the agent's habits: 0x07 offered, 0x04 preferred.
fn check_defaults(client: &ClientConfig, server: &ServerConfig) {
    let agent = Profiles(0x07);
    assert_eq!(client.session.proposal.supported, agent);
    assert_eq!(client.session.proposal.preferred, Profiles::SHM_FUTEX);
    assert_eq!(server.session.policy.supported, agent);
    assert_eq!(server.session.policy.preferred, Profiles::SHM_FUTEX);
}

/// Connects with the default client configuration, checks that SHM_FUTEX
/// was selected and that the session runs over a shared-memory region,
/// and makes calls and a batch call.
fn run_client(dir: &Path) {
    let mut client = IncrementClient::new(ep(dir, SERVICE), ClientConfig::new(TOKEN));
    assert!(
        wait_until(LONG, || {
            client.refresh();
            client.ready()
        }),
        "never connected: {:?}",
        client.status()
    );
    let status = client.status();
    assert_eq!(status.profile, Some(Profiles::SHM_FUTEX), "{status:?}");
    assert_eq!(shm_files(dir).len(), 1, "one session region");
    for v in 0..1000u64 {
        assert_eq!(client.call(v).unwrap(), v + 1);
    }
    let values: Vec<u64> = (0..40).collect();
    let answers: Vec<u64> = (1..=40).collect();
    assert_eq!(client.call_batch(&values).unwrap(), answers);
    let status = client.status();
    assert_eq!(status.profile, Some(Profiles::SHM_FUTEX));
    assert_eq!(status.failures, 0, "{status:?}");
}

fn start_server(dir: &Path) -> ManagedServer {
    ManagedServer::start(
        ep(dir, SERVICE),
        ServerConfig::new(TOKEN),
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap()
}

/// Waits for a child to exit (killing it after [`LONG`]) and asserts it
/// succeeded.
fn expect_success(mut child: Child) {
    let mut exit = None;
    let finished = wait_until(LONG, || {
        exit = child.try_wait().unwrap();
        exit.is_some()
    });
    if !finished {
        kill9(&mut child);
        panic!("child did not finish");
    }
    let exit = exit.unwrap();
    assert!(exit.success(), "child failed: {exit}");
}

/// The child's side: `server` serves until the stop file appears, `client`
/// runs [`run_client`].
#[test]
fn child_entry() {
    let Some((role, dir, _service)) = child_args() else {
        return;
    };
    match role.as_str() {
        "server" => {
            let server = start_server(&dir);
            assert!(
                wait_until(LONG, || dir.join(STOP_FILE).exists()),
                "never told to stop"
            );
            assert!(server.stats().sessions_served >= 1);
            assert!(server.stats().requests >= 1001);
            server.shutdown();
        }
        "client" => run_client(&dir),
        other => panic!("unknown role {other:?}"),
    }
}

#[test]
fn defaults_select_shm_futex_with_the_server_in_a_child() {
    check_defaults(&ClientConfig::new(TOKEN), &ServerConfig::new(TOKEN));
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_child("child_entry", "server", dir.path(), SERVICE);
    // Stop the child however this ends.
    struct Stop<'a>(&'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = std::fs::write(self.0.join(STOP_FILE), b"");
        }
    }
    let stop = Stop(dir.path());
    run_client(dir.path());
    drop(stop);
    expect_success(child);
}

#[test]
fn defaults_select_shm_futex_with_the_client_in_a_child() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let child = spawn_child("child_entry", "client", dir.path(), SERVICE);
    expect_success(child);
    let stats = server.stats();
    // One session, plus one more if the batch grew the batch limit.
    assert!(stats.sessions_served >= 1, "{stats:?}");
    assert_eq!(stats.requests, 1001, "{stats:?}");
    server.shutdown();
    assert!(shm_files(dir.path()).is_empty());
}
