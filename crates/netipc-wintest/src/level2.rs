//! Level 2 and Level 3 on Windows: the typed clients, the managed server
//! and the cgroups cache over the named pipe and over SHM_HYBRID, exactly
//! as a plugin uses them (`netipc::service`, `netipc::cache`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use netipc::cache::{name_hash, CgroupsCache};
use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder};
use netipc::service::increment::{self, IncrementClient};
use netipc::service::string_reverse::{self, StringReverseClient};
use netipc::service::{
    cgroups, CallError, ClientConfig, ClientState, ConnectFailure, Endpoint, Handler,
    ManagedServer, ServerConfig,
};
use netipc::wire::Profiles;

use crate::harness::Test;
use crate::support::{endpoint, AuthToken, LONG, TOKEN};

pub const TESTS: &[Test] = &[
    ("l2_default_profiles", l2_default_profiles),
    ("l2_increment_pipe_and_shm", l2_increment_pipe_and_shm),
    (
        "l2_overflow_recovery_pipe_and_shm",
        l2_overflow_recovery_pipe_and_shm,
    ),
    ("l2_cache_pipe_and_shm", l2_cache_pipe_and_shm),
    ("l2_reconnect_after_restart", l2_reconnect_after_restart),
    ("l2_not_found_and_auth_failed", l2_not_found_and_auth_failed),
    ("l2_server_busywait_offer", l2_server_busywait_offer),
    ("l2_abort_and_peer", l2_abort_and_peer),
];

/// The two data planes every Level 2 test runs over: the pipe only, and
/// the defaults (which select SHM_HYBRID).
pub const PLANES: [(&str, Profiles); 2] = [("pipe", Profiles(0x01)), ("shm", Profiles(0x02))];

/// A fresh endpoint.
pub fn l2_endpoint() -> Endpoint {
    let (run, svc) = endpoint();
    Endpoint::new(run, &svc).expect("a valid endpoint")
}

/// Client settings for a plane: the defaults, or the pipe only.
pub fn client_config(plane: Profiles) -> ClientConfig {
    let c = ClientConfig::new(TOKEN).with_response_timeout(LONG);
    if plane == Profiles(0x01) {
        c.uds_only()
    } else {
        c
    }
}

/// Server settings for a plane: the defaults, or the pipe only.
pub fn server_config(plane: Profiles) -> ServerConfig {
    let c = ServerConfig::new(TOKEN);
    if plane == Profiles(0x01) {
        c.uds_only()
    } else {
        c
    }
}

/// The cgroup names of the test snapshot.
pub fn cgroup_name(i: usize) -> String {
    format!("system.slice/unit-{i}.service")
}

/// A snapshot provider of `n` cgroups whose generation counts the calls.
pub fn cgroups_handler(n: usize) -> impl Handler {
    let generation = AtomicU64::new(0);
    cgroups::handler(move |buf| {
        let generation = generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut snapshot = SnapshotBuilder::new(buf, 1, generation, n);
        for i in 0..n {
            let name = cgroup_name(i);
            let path = format!("C:/cgroup/{name}");
            snapshot.push(CgroupItem {
                hash: name_hash(name.as_bytes()),
                options: i as u32,
                enabled: (i % 2) as u32,
                name: name.as_bytes(),
                path: path.as_bytes(),
            })?;
        }
        snapshot.finish()?;
        Ok(())
    })
}

/// Checks a cache holding the snapshot of [`cgroups_handler`]`(n)`.
pub fn check_cache(cache: &CgroupsCache, n: usize) {
    assert_eq!(cache.len(), n, "cached cgroups");
    assert_eq!(cache.systemd_enabled(), 1);
    for i in (0..n).step_by(7) {
        let name = cgroup_name(i);
        let cg = cache
            .lookup(name_hash(name.as_bytes()), name.as_bytes())
            .unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(cg.path, format!("C:/cgroup/{name}").as_bytes());
        assert_eq!(cg.options, i as u32);
        assert_eq!(cg.enabled, (i % 2) as u32);
    }
    let missing = "system.slice/absent.service";
    assert!(cache
        .lookup(name_hash(missing.as_bytes()), missing.as_bytes())
        .is_none());
}

/// The Level 2 defaults on Windows offer the pipe and SHM_HYBRID and
/// prefer SHM_HYBRID: 0x04 is SHM_BUSYWAIT there.
fn l2_default_profiles() {
    let client = ClientConfig::new(TOKEN);
    assert_eq!(client.session.proposal.supported, Profiles(0x03));
    assert_eq!(client.session.proposal.preferred, Profiles(0x02));
    let server = ServerConfig::new(TOKEN);
    assert_eq!(server.session.policy.supported, Profiles(0x03));
    assert_eq!(server.session.policy.preferred, Profiles(0x02));
}

fn l2_increment_pipe_and_shm() {
    for (name, plane) in PLANES {
        let ep = l2_endpoint();
        let server = ManagedServer::start(
            ep.clone(),
            server_config(plane),
            increment::handler(|v| Ok(v.wrapping_add(1))),
        )
        .expect("start the server");
        let mut client = IncrementClient::new(ep, client_config(plane).with_batch_items(64));
        assert!(client.refresh(), "{name}: refresh");
        assert!(client.ready());
        assert_eq!(client.call(41).unwrap(), 42, "{name}");
        let values: Vec<u64> = (0..64).collect();
        let want: Vec<u64> = values.iter().map(|v| v + 1).collect();
        assert_eq!(client.call_batch(&values).unwrap(), want, "{name}");
        for v in 0..200u64 {
            assert_eq!(client.call(v).unwrap(), v + 1);
        }
        let status = client.status();
        assert_eq!(status.profile, Some(plane), "{name}: selected profile");
        assert_eq!(status.connects, 1, "{name}");
        assert_eq!(status.calls, 202, "{name}");
        drop(client);
        let stats = server.stats();
        assert_eq!(stats.sessions_served, 1, "{name}");
        assert_eq!(stats.requests, 202, "{name}");
        server.shutdown();
    }
}

/// A response far above the 64 KiB announced first: the server answers
/// LIMIT_EXCEEDED, the client reconnects with the learned size, and the
/// caller sees one successful call (chunked on the pipe: 300 KB > 64 KiB).
/// Both sides are configured for 512 KiB requests (the default request
/// ceiling is 1024 bytes).
fn l2_overflow_recovery_pipe_and_shm() {
    const REQUESTS: u32 = 512 << 10;
    for (name, plane) in PLANES {
        let ep = l2_endpoint();
        let server = ManagedServer::start(
            ep.clone(),
            server_config(plane).with_request_payload(REQUESTS),
            string_reverse::handler(|s| Ok(s.chars().rev().collect())),
        )
        .expect("start the server");
        let mut client =
            StringReverseClient::new(ep, client_config(plane).with_request_payload(REQUESTS));
        assert!(client.refresh(), "{name}: refresh");
        assert_eq!(client.call("abc").unwrap(), "cba");
        let long: String = (0..300_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let want: String = long.chars().rev().collect();
        assert_eq!(client.call(&long).unwrap(), want, "{name}");
        let status = client.status();
        assert!(status.overflow_recoveries >= 1, "{name}: {status:?}");
        assert_eq!(status.profile, Some(plane), "{name}");
        // The learned sizes stick: the next call needs no recovery.
        let recoveries = status.overflow_recoveries;
        assert_eq!(client.call(&long).unwrap(), want, "{name}");
        assert_eq!(client.status().overflow_recoveries, recoveries, "{name}");
        drop(client);
        server.shutdown();
    }
}

fn l2_cache_pipe_and_shm() {
    for (name, plane) in PLANES {
        let ep = l2_endpoint();
        let server = ManagedServer::start(ep.clone(), server_config(plane), cgroups_handler(3000))
            .expect("start the server");
        let mut cache = CgroupsCache::new(ep, client_config(plane));
        assert!(!cache.ready());
        cache.refresh().expect("first refresh");
        assert!(cache.ready());
        check_cache(&cache, 3000);
        let first = cache.generation();
        cache.refresh().expect("second refresh");
        assert_eq!(cache.generation(), first + 1, "{name}");
        check_cache(&cache, 3000);
        let status = cache.status();
        assert_eq!(status.successes, 2, "{name}");
        assert_eq!(status.client_state, ClientState::Ready);
        assert_eq!(cache.client().status().profile, Some(plane), "{name}");
        drop(cache);
        server.shutdown();
    }
}

/// A provider that stops and comes back: the client reports it gone, the
/// cache keeps its snapshot, and both recover on the next refresh.
fn l2_reconnect_after_restart() {
    for (name, plane) in PLANES {
        let ep = l2_endpoint();
        let start = || {
            ManagedServer::start(ep.clone(), server_config(plane), cgroups_handler(10))
                .expect("start the server")
        };
        let server = start();
        let mut cache = CgroupsCache::new(ep.clone(), client_config(plane));
        cache.refresh().expect("refresh");
        check_cache(&cache, 10);
        server.shutdown();

        assert!(
            cache.refresh().is_err(),
            "{name}: refresh without a provider"
        );
        check_cache(&cache, 10);
        assert_eq!(
            cache.status().last_error.and_then(|e| e.connect_failure()),
            Some(ConnectFailure::NotFound),
            "{name}"
        );

        let server = start();
        cache.refresh().expect("refresh after the restart");
        check_cache(&cache, 10);
        assert_eq!(cache.client().state(), ClientState::Ready, "{name}");
        assert!(server.stats().sessions_served >= 1, "{name}");
        drop(cache);
        server.shutdown();
    }
}

fn l2_not_found_and_auth_failed() {
    let ep = l2_endpoint();
    let mut client = IncrementClient::new(ep.clone(), client_config(Profiles(0x02)));
    client.refresh();
    assert_eq!(client.state(), ClientState::NotFound);
    assert_eq!(
        client.status().connect_failure(),
        Some(ConnectFailure::NotFound)
    );
    let server = ManagedServer::start(
        ep.clone(),
        ServerConfig::new(AuthToken::new(TOKEN.get() ^ 1)),
        increment::handler(|v| Ok(v + 1)),
    )
    .expect("start the server");
    client.refresh();
    assert_eq!(client.state(), ClientState::AuthFailed);
    assert!(client.call(1).is_err());
    server.shutdown();
    assert!(run_dir_untouched(ep.run_dir()));
}

/// Nothing is created in the run directory on Windows: it is only hashed.
fn run_dir_untouched(run_dir: &Path) -> bool {
    !run_dir.exists()
}

/// A server that offers SHM_BUSYWAIT too (0x07) still gets SHM_HYBRID from
/// a default client: BUSYWAIT is chosen only when both ask for it.
fn l2_server_busywait_offer() {
    let ep = l2_endpoint();
    let server = ManagedServer::start(
        ep.clone(),
        ServerConfig::new(TOKEN).with_profiles(Profiles(0x07), Profiles(0)),
        increment::handler(|v| Ok(v + 1)),
    )
    .expect("start the server");
    let mut client = IncrementClient::new(ep.clone(), client_config(Profiles(0x02)));
    assert!(client.refresh());
    assert_eq!(client.call(1).unwrap(), 2);
    assert_eq!(client.status().profile, Some(Profiles(0x02)));
    drop(client);

    let busy = ClientConfig::new(TOKEN)
        .with_response_timeout(LONG)
        .with_profiles(Profiles(0x05), Profiles(0x04));
    let mut client = IncrementClient::new(ep, busy);
    assert!(client.refresh());
    assert_eq!(client.call(1).unwrap(), 2);
    assert_eq!(client.status().profile, Some(Profiles(0x04)));
    drop(client);
    server.shutdown();
}

/// The abort handle of a client context stops a call blocked on a slow
/// provider within its slice and fails calls until cleared, over the pipe
/// and shared memory; the session records the server's process id.
fn l2_abort_and_peer() {
    for (name, plane) in PLANES {
        let ep = l2_endpoint();
        // The handler holds a request for 7 until released (or 20 s): a
        // call that returns before the release was ended by the abort.
        let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = release.clone();
        let server = ManagedServer::start(
            ep.clone(),
            server_config(plane),
            increment::handler(move |v| {
                let start = std::time::Instant::now();
                while v == 7
                    && !held.load(Ordering::SeqCst)
                    && start.elapsed() < std::time::Duration::from_secs(20)
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(v + 1)
            }),
        )
        .expect("start the server");
        let mut client = IncrementClient::new(ep, client_config(plane));
        assert!(client.refresh(), "{name}");
        assert_eq!(client.call(1).unwrap(), 2);
        assert_eq!(
            client.status().peer.map(|p| p.pid),
            Some(std::process::id()),
            "{name}: the server's pid"
        );
        let abort = client.abort_handle();
        let aborter = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            abort.abort();
        });
        assert!(
            matches!(client.call(7), Err(CallError::Aborted)),
            "{name}: a blocked call is aborted"
        );
        release.store(true, Ordering::SeqCst);
        aborter.join().unwrap();
        assert!(matches!(client.call(1), Err(CallError::Aborted)), "{name}");
        client.abort_handle().clear();
        client.refresh();
        assert_eq!(
            client.call(1).unwrap(),
            2,
            "{name}: works again after clear"
        );
        drop(client);
        server.shutdown();
    }
}
