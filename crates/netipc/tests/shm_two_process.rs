//! Round trips between two real processes over a shared-memory region.
//!
//! The test process creates the region and acts as the server; it re-executes
//! its own binary to run `child_client` as the client (see `spawn_child`).
//! `child_client` does nothing unless the environment variable is set.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use netipc::transport::shm::{ShmError, ShmRegion, ShmRole};
use netipc::transport::wait::{WaitConfig, WaitStats, Waiter};
use support::*;

const CHILD_ENV: &str = "NETIPC_SHM_CHILD";
const CODE: u16 = 77;

/// A scenario: the sequence of request payload sizes, how the client waits,
/// and whether it pauses before each request.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// One round trip per size in `SIZES`.
    Sizes,
    /// 10 000 round trips of varying small sizes.
    Many,
    /// 2 000 round trips where both sides never poll (always futex).
    NoSpin,
    /// A few round trips with the client pausing so the server sleeps and
    /// times out in 100 ms slices.
    Sleepy,
    /// Throughput measurement (ignored test).
    Rate,
}

const SIZES: [usize; 9] = [0, 1, 100, 4096, 65_536, 1 << 20, (4 << 20) - 1, 4 << 20, 7];
const MANY: usize = 10_000;
const RATE_ROUNDS: usize = 200_000;

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Sizes => "sizes",
            Scenario::Many => "many",
            Scenario::NoSpin => "nospin",
            Scenario::Sleepy => "sleepy",
            Scenario::Rate => "rate",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sizes" => Scenario::Sizes,
            "many" => Scenario::Many,
            "nospin" => Scenario::NoSpin,
            "sleepy" => Scenario::Sleepy,
            "rate" => Scenario::Rate,
            other => panic!("unknown scenario {other:?}"),
        }
    }

    fn rounds(self) -> usize {
        match self {
            Scenario::Sizes => SIZES.len(),
            Scenario::Many => MANY,
            Scenario::NoSpin => 2_000,
            Scenario::Sleepy => 3,
            Scenario::Rate => RATE_ROUNDS,
        }
    }

    fn size(self, round: usize) -> usize {
        match self {
            Scenario::Sizes => SIZES[round],
            Scenario::Many | Scenario::NoSpin => (round * 7919) % 700,
            Scenario::Sleepy => 10 + round,
            Scenario::Rate => 8,
        }
    }

    fn max_payload(self) -> u32 {
        match self {
            Scenario::Sizes => 4 << 20,
            _ => 1024,
        }
    }

    fn wait_config(self) -> WaitConfig {
        match self {
            Scenario::NoSpin => WaitConfig::cpu_first(),
            Scenario::Rate => match std::env::var("NETIPC_SHM_RATE_WAIT").as_deref() {
                Ok("reference") => WaitConfig::reference(),
                Ok("latency") => WaitConfig::latency_first(),
                Ok("nospin") => WaitConfig::cpu_first(),
                _ => WaitConfig::default(),
            },
            _ => WaitConfig::default(),
        }
    }
}

/// Kills the child if the test fails before waiting for it.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_child(scenario: Scenario, path: &Path) -> ChildGuard {
    let child = test_command("child_client")
        .env(
            CHILD_ENV,
            format!("{}\n{}", scenario.name(), path.to_str().unwrap()),
        )
        // The child's test-harness chatter is noise; panics go to stderr.
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(Some(child))
}

/// Server side: answer `rounds` requests, verifying each, then check that the
/// child exited successfully. Returns the elapsed time of the exchange and
/// the server's wait statistics.
fn serve(scenario: Scenario) -> (Duration, WaitStats) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(format!("t-{:016x}.ipcshm", 1));
    let max = scenario.max_payload();
    let mut region = ShmRegion::create(&path, max, max).unwrap();
    assert_eq!(region.role(), ShmRole::Server);
    let mut guard = spawn_child(scenario, &path);
    let mut waiter = Waiter::new(scenario.wait_config());
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut timeouts = 0u32;
    let mut started = None;

    for round in 0..scenario.rounds() {
        // Wait in 100 ms slices, checking that the child is still alive.
        let len = loop {
            match region.recv(&mut buf, Some(Duration::from_millis(100)), &mut waiter) {
                Ok(n) => break n,
                Err(ShmError::Timeout { .. }) => {
                    timeouts += 1;
                    let child = guard.0.as_mut().unwrap();
                    if let Some(status) = child.try_wait().unwrap() {
                        panic!("child exited early in round {round}: {status}");
                    }
                    assert!(Instant::now() < deadline, "round {round} never arrived");
                }
                Err(e) => panic!("server recv in round {round}: {e}"),
            }
        };
        started.get_or_insert_with(Instant::now);
        let size = scenario.size(round);
        assert_eq!(len, 32 + size, "round {round}");
        assert_eq!(buf.len(), len);
        let (kind, payload_len, id) = parse_header(&buf);
        assert_eq!(kind, KIND_REQUEST);
        assert_eq!(payload_len as usize, size);
        assert_eq!(id, round as u64 + 1);
        let expected = pattern(round as u64, size);
        assert!(
            buf[32..] == expected[..],
            "request payload of round {round}"
        );
        let answer = transform(&buf[32..]);
        let header = outer_header(KIND_RESPONSE, CODE, answer.len() as u32, id);
        region.send(&header, &answer).unwrap();
    }
    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();

    let mut child = guard.0.take().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
    if matches!(scenario, Scenario::Sleepy) {
        assert!(timeouts > 0, "the server never had to wait in slices");
    }
    // The server removes the file when dropped.
    drop(region);
    assert!(!path.exists());
    (elapsed, waiter.stats())
}

/// Client side, run in the child process.
#[test]
#[ignore = "child process entry, run by the two-process tests"]
fn child_client() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (scenario, path) = spec.split_once('\n').unwrap();
    let scenario = Scenario::parse(scenario);
    let mut region = ShmRegion::attach(path).unwrap();
    assert_eq!(region.role(), ShmRole::Client);
    let mut waiter = Waiter::new(scenario.wait_config());
    let mut buf = Vec::new();
    for round in 0..scenario.rounds() {
        if matches!(scenario, Scenario::Sleepy) {
            std::thread::sleep(Duration::from_millis(250));
        }
        let size = scenario.size(round);
        let payload = pattern(round as u64, size);
        let id = round as u64 + 1;
        let header = outer_header(KIND_REQUEST, CODE, size as u32, id);
        region.send(&header, &payload).unwrap();
        let len = region
            .recv(&mut buf, Some(Duration::from_secs(30)), &mut waiter)
            .unwrap_or_else(|e| panic!("client recv in round {round}: {e}"));
        assert_eq!(len, 32 + size);
        let (kind, payload_len, rid) = parse_header(&buf);
        assert_eq!(kind, KIND_RESPONSE);
        assert_eq!(payload_len as usize, size);
        assert_eq!(rid, id);
        assert!(
            buf[32..] == transform(&payload)[..],
            "response of round {round}"
        );
    }
    // The client never removes the file.
    drop(region);
    assert!(Path::new(path).exists());
}

#[test]
fn two_processes_message_sizes_up_to_4_mib() {
    serve(Scenario::Sizes);
}

#[test]
fn two_processes_ten_thousand_round_trips() {
    serve(Scenario::Many);
}

#[test]
fn two_processes_without_polling() {
    serve(Scenario::NoSpin);
}

#[test]
fn two_processes_server_waits_in_slices() {
    serve(Scenario::Sleepy);
}

/// Prints the round-trip rate (8-byte payloads, content verified); run with
/// `cargo test --release --test shm_two_process -- --ignored --nocapture`.
/// `NETIPC_SHM_RATE_WAIT=reference|latency|nospin` selects another wait
/// configuration than the default for both sides.
#[test]
#[ignore = "throughput measurement"]
fn two_processes_round_trip_rate() {
    let (elapsed, stats) = serve(Scenario::Rate);
    let rate = RATE_ROUNDS as f64 / elapsed.as_secs_f64();
    println!("{RATE_ROUNDS} round trips in {elapsed:?}: {rate:.0} round trips/s");
    println!("server waits: {stats:?}");
}
