//! Cross-thread abort (PROTOCOL-LOOKUP §19.8): a blocked call returns
//! Aborted, the abort sticks until cleared, the L3 cache keeps its
//! snapshot; and the must-show case of a SIGSTOPped provider process.

mod bounds_common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bounds_common::*;
use netipc::cache::CgroupsCache;
use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder};
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{cgroups, CallError, ClientError, ClientState, ManagedServer};

#[test]
fn abort_interrupts_a_blocked_call_and_sticks_until_cleared() {
    for plane in PLANES {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate::new();
        let _srv = gated_provider(dir.path(), plane, &gate, |_| true);
        let mut client = ready_client(dir.path(), plane.client());
        let abort = client.abort_handle();
        let caller = std::thread::spawn(move || {
            let got = client.call(1);
            (got, Instant::now(), client)
        });
        // The call is inside the provider: the client waits for the answer.
        gate.wait_entered(1);
        let aborted_at = Instant::now();
        abort.abort();
        let (got, returned_at, mut client) = caller.join().unwrap();
        assert!(matches!(got, Err(CallError::Aborted)), "{plane:?}: {got:?}");
        // Socket waits are woken by the abort, shared-memory waits notice it
        // within their 50 ms slice; the bound here is generous, the 100 ms
        // bound is asserted by the event-driven case below.
        let took = returned_at.saturating_duration_since(aborted_at);
        assert!(took < PROMPT, "{plane:?}: {took:?}");
        assert_eq!(client.state(), ClientState::Broken);

        // Sticky: calls fail at once without reaching the provider, and
        // refresh does not reconnect.
        assert!(matches!(client.call(2), Err(CallError::Aborted)));
        assert!(!client.refresh());
        assert_eq!(client.state(), ClientState::Broken);
        assert!(client.status().aborted);
        assert_eq!(gate.entered(), 1);

        abort.clear();
        gate.open();
        assert!(client.refresh());
        assert_eq!(client.call(2).unwrap(), 3, "{plane:?}");
        assert!(!client.status().aborted);
    }
}

#[test]
fn an_aborted_context_fails_calls_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = IncrementClient::new(ep(dir.path(), "increment"), Plane::Uds.client());
    client.abort_handle().abort();
    // Not connected, but Aborted wins over NotReady: no I/O either way.
    assert!(matches!(client.call(1), Err(CallError::Aborted)));
    client.abort_handle().clear();
    assert!(matches!(client.call(1), Err(CallError::NotReady(_))));
}

/// A cgroups provider with `items` items whose handler holds every call
/// after the first at `gate`.
fn gated_cgroups(dir: &std::path::Path, gate: &std::sync::Arc<Gate>) -> ManagedServer {
    let gate = gate.clone();
    ManagedServer::start(
        ep(dir, "cgroups-snapshot"),
        Plane::Uds.server(),
        cgroups::handler(move |buf| {
            gate.pass(gate.entered() > 0);
            let mut b = SnapshotBuilder::new(buf, 1, 7, 3);
            for i in 0..3u32 {
                let name = format!("cg-{i}");
                b.push(CgroupItem {
                    hash: i,
                    options: 0,
                    enabled: 1,
                    name: name.as_bytes(),
                    path: name.as_bytes(),
                })?;
            }
            b.finish()?;
            Ok(())
        }),
    )
    .unwrap()
}

#[test]
fn the_cache_keeps_its_snapshot_when_a_refresh_times_out_or_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new();
    let _srv = gated_cgroups(dir.path(), &gate);
    let mut cache = CgroupsCache::new(ep(dir.path(), "cgroups-snapshot"), Plane::Uds.client());
    cache.refresh().unwrap();
    assert_eq!(cache.len(), 3);

    // Timeout: the refresh is held past its deadline.
    let deadline = Duration::from_millis(300);
    let start = Instant::now();
    let got = cache.refresh_with_timeout(deadline);
    assert!(start.elapsed() >= deadline);
    assert!(
        matches!(got, Err(ClientError::Call(CallError::Timeout))),
        "{got:?}"
    );
    assert_eq!((cache.len(), cache.generation()), (3, 7));
    assert!(cache.ready());

    // Abort: a blocked refresh returns, the snapshot stays.
    let abort = cache.abort_handle();
    let refresher = std::thread::spawn(move || {
        let got = cache.refresh();
        (got, cache)
    });
    gate.wait_entered(3);
    abort.abort();
    let (got, mut cache) = refresher.join().unwrap();
    assert!(
        matches!(got, Err(ClientError::Call(CallError::Aborted))),
        "{got:?}"
    );
    assert_eq!(cache.len(), 3);
    // Sticky, without I/O.
    assert!(matches!(
        cache.refresh(),
        Err(ClientError::Call(CallError::Aborted))
    ));
    assert_eq!(gate.entered(), 3);
    let status = cache.status();
    assert_eq!((status.successes, status.failures), (1, 3));

    abort.clear();
    gate.open();
    cache.refresh().unwrap();
    assert_eq!(cache.len(), 3);
}

// ---- The must-show case: a provider process stopped with SIGSTOP ----

const PROVIDER_ROLE: &str = "stopped-provider";

/// Child side: serve INCREMENT until killed.
#[test]
fn child_provider() {
    let (role, dir, service) = match child_args() {
        Some(args) => args,
        None => return,
    };
    assert_eq!(role, PROVIDER_ROLE);
    let _srv = ManagedServer::start(
        ep(&dir, &service),
        Plane::Uds.server(),
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    loop {
        std::thread::park();
    }
}

/// Continues (so that it can die) and kills the child however the test
/// ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// State letter (`R`, `S`, `T`, …) in a `/proc/…/stat` file.
fn stat_state(path: impl AsRef<std::path::Path>) -> Option<char> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The state follows the parenthesised command name.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// State letter of a thread of this process.
fn thread_state(tid: i32) -> Option<char> {
    stat_state(format!("/proc/self/task/{tid}/stat"))
}

/// True when every thread of process `pid` is stopped (state `T`).
fn all_stopped(pid: u32) -> bool {
    let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(tasks) => tasks,
        Err(_) => return false,
    };
    tasks
        .filter_map(|t| t.ok())
        .all(|t| stat_state(t.path().join("stat")) == Some('T'))
}

/// The abort path of a socket wait is event-driven: `abort()` writes the
/// eventfd the blocked `poll` watches. So the 100 ms bound of the
/// requirement is asserted, once, from the moment the calling thread is
/// seen asleep in that wait to the moment the call returned.
#[test]
fn a_call_blocked_on_a_stopped_provider_is_aborted_within_100ms_and_times_out_at_its_deadline() {
    if child_args().is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_child("child_provider", PROVIDER_ROLE, dir.path(), "increment");
    let child = ChildGuard(child);
    let handshake = Duration::from_secs(20);
    let config = || Plane::Uds.client().with_handshake_timeout(handshake);
    let mut blocked = IncrementClient::new(ep(dir.path(), "increment"), config());
    let mut timed = IncrementClient::new(ep(dir.path(), "increment"), config());
    assert!(
        wait_until(Duration::from_secs(60), || {
            blocked.refresh();
            timed.refresh();
            blocked.ready() && timed.ready()
        }),
        "the provider never came up"
    );
    assert_eq!(blocked.call(1).unwrap(), 2);
    assert_eq!(timed.call(1).unwrap(), 2);

    let pid = rustix::process::Pid::from_child(&child.0);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    // kill() returns before the stop takes effect: wait until every thread
    // of the provider is stopped.
    assert!(
        wait_until(Duration::from_secs(60), || all_stopped(child.0.id())),
        "the provider did not stop"
    );

    // Abort: a thread blocked in a call to the stopped provider.
    let abort = blocked.abort_handle();
    let (tid_tx, tid_rx) = mpsc::channel();
    let caller = std::thread::spawn(move || {
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        let got = blocked.call(2);
        (got, Instant::now())
    });
    let tid = tid_rx.recv().unwrap();
    let blocked_seen = wait_until(Duration::from_secs(60), || {
        matches!(thread_state(tid), Some('S') | None)
    });
    if thread_state(tid).is_none() {
        let (got, _) = caller.join().unwrap();
        panic!("the call to the stopped provider returned: {got:?}");
    }
    assert!(blocked_seen, "the calling thread never blocked");
    let aborted_at = Instant::now();
    abort.abort();
    let (got, returned_at) = caller.join().unwrap();
    assert!(matches!(got, Err(CallError::Aborted)), "{got:?}");
    let took = returned_at.saturating_duration_since(aborted_at);
    assert!(took < Duration::from_millis(100), "abort took {took:?}");

    // Timeout: a call to the stopped provider ends at its deadline. A retry
    // would reconnect, and the stopped provider would hold that for the
    // 20 s handshake timeout.
    let deadline = Duration::from_secs(1);
    let start = Instant::now();
    let got = timed.call_with_timeout(deadline, |c| c.call(3));
    let took = start.elapsed();
    assert!(matches!(got, Err(CallError::Timeout)), "{got:?}");
    assert!(took >= deadline, "timed out after {took:?}");
    assert!(took < deadline + Duration::from_secs(10), "{took:?}");
    assert_eq!(timed.state(), ClientState::Broken);
    drop(child);
}
