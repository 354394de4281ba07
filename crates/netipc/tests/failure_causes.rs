//! Every reason a client cannot connect reaches `CgroupsCache::refresh()`,
//! `CacheStatus` and `Client::status()` as its own typed cause, never as a
//! generic "not connected".

mod service_common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use netipc::cache::CgroupsCache;
use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::service::{
    cgroups, ClientConfig, ClientError, ClientState, ConnectFailure, ManagedServer, Profiles,
    ServerConfig,
};
use netipc::transport::{Listener, ListenerConfig};
use service_common::*;

const SERVICE: &str = "cgroups-snapshot";

fn snapshot_server(dir: &std::path::Path, config: ServerConfig) -> ManagedServer {
    ManagedServer::start(
        ep(dir, SERVICE),
        config,
        cgroups::handler(|buf| {
            let mut b = SnapshotBuilder::new(buf, 1, 7, 1);
            b.push(CgroupItem {
                hash: 1,
                options: 0,
                enabled: 1,
                name: b"a",
                path: b"/sys/fs/cgroup/a",
            })?;
            b.finish()?;
            Ok(())
        }),
    )
    .expect("start server")
}

/// Refreshes once and checks that the refresh error, the cache status and
/// the client status all carry `want`.
fn assert_cause(cache: &mut CgroupsCache, want: ConnectFailure) {
    let err = cache.refresh().unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
    assert_eq!(err.connect_failure(), Some(want), "{err}");
    assert!(
        !err.to_string().contains("refresh() first"),
        "the real cause is reported: {err}"
    );
    let cache_status = cache.status();
    assert_eq!(
        cache_status
            .last_error
            .as_ref()
            .and_then(ClientError::connect_failure),
        Some(want)
    );
    assert_eq!(cache_status.failures, 1);
    let status = cache.client().status();
    assert_eq!(status.connect_failure(), Some(want));
    assert_eq!(
        status
            .last_error
            .as_ref()
            .and_then(ClientError::connect_failure),
        Some(want)
    );
    assert!(!cache.ready());
}

#[test]
fn wrong_token_is_auth_failed() {
    let dir = tempfile::tempdir().unwrap();
    let _server = snapshot_server(dir.path(), ServerConfig::new(TOKEN));
    let mut cache = CgroupsCache::new(ep(dir.path(), SERVICE), ClientConfig::new(WRONG_TOKEN));
    assert_cause(&mut cache, ConnectFailure::AuthFailed);
    assert_eq!(cache.client().state(), ClientState::AuthFailed);
    // The cause sticks with the state: a second refresh reports it again.
    let err = cache.refresh().unwrap_err();
    assert_eq!(err.connect_failure(), Some(ConnectFailure::AuthFailed));
}

#[test]
fn missing_provider_is_not_found_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cache = CgroupsCache::new(ep(dir.path(), SERVICE), ClientConfig::new(TOKEN));
    assert_cause(&mut cache, ConnectFailure::NotFound);
    assert_eq!(cache.client().state(), ClientState::NotFound);

    let _server = snapshot_server(dir.path(), ServerConfig::new(TOKEN));
    cache.refresh().expect("refresh once the provider is up");
    assert!(cache.ready());
    assert!(cache.status().last_error.is_none());
}

#[test]
fn no_common_profile_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let _server = snapshot_server(dir.path(), ServerConfig::new(TOKEN).uds_only());
    let config = ClientConfig::new(TOKEN).with_profiles(Profiles::SHM_HYBRID, Profiles::SHM_HYBRID);
    let mut cache = CgroupsCache::new(ep(dir.path(), SERVICE), config);
    assert_cause(&mut cache, ConnectFailure::Incompatible);
    assert_eq!(cache.client().state(), ClientState::Incompatible);
}

#[test]
fn silent_provider_is_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    // Listens but never accepts: the connection completes in the backlog
    // and the HELLO_ACK never comes.
    let _listener = Listener::bind(&ep(dir.path(), SERVICE), &ListenerConfig::default()).unwrap();
    let config = ClientConfig::new(TOKEN).with_handshake_timeout(Duration::from_millis(200));
    let mut cache = CgroupsCache::new(ep(dir.path(), SERVICE), config);
    assert_cause(&mut cache, ConnectFailure::TimedOut);
}

/// Environment variable naming the run directory of the unprivileged child.
const DENIED_DIR: &str = "NETIPC_TEST_DENIED_DIR";

/// The client side of the permission test, run as an unprivileged user by
/// [`socket_permission_is_permission_denied`].
#[test]
#[ignore = "the unprivileged child process of socket_permission_is_permission_denied"]
fn permission_denied_child() {
    let dir = std::env::var_os(DENIED_DIR).expect("started by the parent test");
    let mut cache = CgroupsCache::new(ep(dir, SERVICE), ClientConfig::new(TOKEN));
    assert_cause(&mut cache, ConnectFailure::PermissionDenied);
}

#[test]
fn socket_permission_is_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    if !rustix::process::geteuid().is_root() {
        // A mode-000 socket refuses even its owner, unless the owner is root.
        let _server = snapshot_server(dir.path(), ServerConfig::new(TOKEN).with_socket_mode(0));
        let mut cache = CgroupsCache::new(ep(dir.path(), SERVICE), ClientConfig::new(TOKEN));
        assert_cause(&mut cache, ConnectFailure::PermissionDenied);
        return;
    }
    // Root ignores file modes on connect(), so the client runs as nobody
    // against a root-owned 0600 socket in a directory it may enter.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _server = snapshot_server(dir.path(), ServerConfig::new(TOKEN));
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "permission_denied_child",
            "--ignored",
            "--nocapture",
        ])
        .env(DENIED_DIR, dir.path())
        .status();
    match status {
        Ok(s) => assert!(s.success(), "the unprivileged client failed: {s}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Visible in the test output; CI runs this test where setpriv
            // exists (util-linux) or as a non-root user.
            eprintln!(
                "SKIPPED socket_permission_is_permission_denied: running as root without setpriv"
            );
        }
        Err(e) => panic!("cannot run setpriv: {e}"),
    }
}
