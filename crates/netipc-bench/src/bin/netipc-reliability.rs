//! `netipc-reliability`: the roles of `bench/reliability.sh`, a bounded
//! stress run of the managed server against good, short-lived, idle,
//! frozen and stopped peers (see `docs/reliability.md`).
//!
//! ```text
//! netipc-reliability serve   <run_dir>
//! netipc-reliability load    <run_dir> <secs> <threads>
//! netipc-reliability churn   <run_dir> <secs> <per_sec>
//! netipc-reliability flood   <run_dir> <secs> <connections>
//! netipc-reliability good    <run_dir> <secs>
//! netipc-reliability frozen  <run_dir> <secs>
//! netipc-reliability stopped <run_dir> <clients>
//! ```
//!
//! Every role prints one line of `key=value` figures on stdout.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use netipc::auth::AuthToken;
use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder, SnapshotRequest};
use netipc::service::cgroups::{self, CgroupsSnapshotClient};
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, Endpoint, ManagedServer, ServerConfig};
use netipc::transport::{connect, ClientProposal, ClientSession, SessionConfig, UdsConn};
use netipc::wire::{Header, Method, Profiles};

const TOKEN: AuthToken = AuthToken::new(0x7e11_ab1e);
/// The INCREMENT endpoint.
const INC: &str = "rel-inc";
/// The CGROUPS_SNAPSHOT endpoint.
const SNAP: &str = "rel-snap";
/// Cgroups in the snapshot (the size of the original frozen-reader report).
const CGROUPS: usize = 5002;
/// Generation the snapshot announces; a client checks it.
const GENERATION: u64 = 7;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i).map(String::as_str).unwrap_or_else(|| {
            eprintln!("netipc-reliability: missing argument {i}; see the source header for usage");
            std::process::exit(2)
        })
    };
    let num = |i: usize| -> u64 {
        arg(i).parse().unwrap_or_else(|_| {
            eprintln!("netipc-reliability: argument {i} is not a number");
            std::process::exit(2)
        })
    };
    let dir = PathBuf::from(arg(1));
    match arg(0) {
        "serve" => serve(&dir),
        "load" => load(&dir, secs(num(2)), num(3)),
        "churn" => churn(&dir, secs(num(2)), num(3)),
        "flood" => flood(&dir, secs(num(2)), num(3) as usize),
        "good" => good(&dir, secs(num(2))),
        "frozen" => frozen(&dir, secs(num(2))),
        "stopped" => stopped(&dir, num(2)),
        other => {
            eprintln!("netipc-reliability: unknown role {other}");
            std::process::exit(2)
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ep(dir: &Path, service: &str) -> Endpoint {
    Endpoint::new(dir, service).expect("endpoint")
}

fn snapshot_payload() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 1, GENERATION, CGROUPS);
    for i in 0..CGROUPS {
        let name = format!("system.slice/unit-{i}.service");
        let path = format!("/sys/fs/cgroup/system.slice/unit-{i}.service");
        b.push(CgroupItem {
            hash: i as u32,
            options: 0,
            enabled: 1,
            name: name.as_bytes(),
            path: path.as_bytes(),
        })
        .expect("snapshot item");
    }
    b.finish().expect("snapshot");
    buf
}

/// Runs both endpoints until SIGTERM or SIGINT, then reports how long the
/// shutdown took.
fn serve(dir: &Path) {
    let (mut wake, notify) = UnixStream::pair().expect("socketpair");
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::low_level::pipe::register(sig, notify.try_clone().expect("dup"))
            .expect("signal handler");
    }
    let inc = ManagedServer::start(
        ep(dir, INC),
        ServerConfig::new(TOKEN).with_max_sessions(128),
        increment::handler(|v| Ok(v.wrapping_add(1))),
    )
    .expect("start the INCREMENT server");
    let payload = Arc::new(snapshot_payload());
    let snap = ManagedServer::start(
        ep(dir, SNAP),
        ServerConfig::new(TOKEN)
            .with_max_sessions(32)
            .with_response_payload((payload.len() as u32).next_power_of_two()),
        cgroups::handler(move |out| {
            out.extend_from_slice(&payload);
            Ok(())
        }),
    )
    .expect("start the snapshot server");
    println!("READY");
    let mut byte = [0u8; 1];
    let _ = wake.read(&mut byte);
    let started = Instant::now();
    let (a, b) = (inc.stats(), snap.stats());
    inc.shutdown();
    snap.shutdown();
    println!(
        "SERVE shutdown_ms={:.1} inc_served={} inc_refused={} inc_requests={} snap_served={} snap_refused={} snap_requests={}",
        started.elapsed().as_secs_f64() * 1e3,
        a.sessions_served,
        a.sessions_refused,
        a.requests,
        b.sessions_served,
        b.sessions_refused,
        b.requests
    );
}

#[derive(Default)]
struct Tally {
    made: AtomicU64,
    ok: AtomicU64,
    lost: AtomicU64,
    mismatched: AtomicU64,
    refused: AtomicU64,
}

impl Tally {
    fn add(&self, field: &AtomicU64) {
        field.fetch_add(1, Ordering::Relaxed);
    }
    fn line(&self, role: &str) -> String {
        let g = |f: &AtomicU64| f.load(Ordering::Relaxed);
        format!(
            "{role} made={} ok={} lost={} mismatched={} refused={}",
            g(&self.made),
            g(&self.ok),
            g(&self.lost),
            g(&self.mismatched),
            g(&self.refused)
        )
    }
}

fn config(profiles: Profiles) -> ClientConfig {
    ClientConfig::new(TOKEN)
        .with_profiles(profiles, profiles)
        .with_batch_items(32)
        .with_handshake_timeout(secs(5))
        .with_response_timeout(secs(10))
}

/// One call of a load thread; `Ok(true)` when the answer is right.
type Call = Box<dyn FnMut(u64) -> Result<bool, String>>;

fn load_call(dir: &Path, kind: u64, shm: bool) -> (Call, Box<dyn FnMut() -> bool>) {
    let profiles = if shm {
        Profiles::SHM_HYBRID
    } else {
        Profiles::BASELINE
    };
    match kind {
        0 | 1 => {
            let c = Arc::new(std::sync::Mutex::new(IncrementClient::new(
                ep(dir, INC),
                config(profiles),
            )));
            let c2 = c.clone();
            let batch = kind == 1;
            let mut values = Vec::new();
            let mut answers = Vec::new();
            (
                Box::new(move |i| {
                    let mut c = c.lock().unwrap();
                    if batch {
                        values.clear();
                        values.extend((0..32).map(|k| (i << 8) + k));
                        answers.clear();
                        c.call_batch_into(&values, &mut answers)
                            .map_err(|e| e.to_string())?;
                        Ok(answers.len() == 32
                            && values.iter().zip(&answers).all(|(v, a)| *a == v + 1))
                    } else {
                        Ok(c.call(i).map_err(|e| e.to_string())? == i + 1)
                    }
                }),
                Box::new(move || {
                    let mut c = c2.lock().unwrap();
                    c.refresh();
                    c.ready()
                }),
            )
        }
        _ => {
            let c = Arc::new(std::sync::Mutex::new(CgroupsSnapshotClient::new(
                ep(dir, SNAP),
                config(profiles),
            )));
            let c2 = c.clone();
            (
                Box::new(move |_| {
                    let mut c = c.lock().unwrap();
                    let view = c.call_snapshot().map_err(|e| e.to_string())?;
                    Ok(view.item_count() == CGROUPS && view.generation() == GENERATION)
                }),
                Box::new(move || {
                    let mut c = c2.lock().unwrap();
                    c.refresh();
                    c.ready()
                }),
            )
        }
    }
}

/// `threads` clients for `duration`: thread t runs kind t mod 3 (single
/// INCREMENT, 32-item INCREMENT batches, snapshots of 5 002 cgroups) over
/// UDS or shared memory (alternating).
fn load(dir: &Path, duration: Duration, threads: u64) {
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dir = dir.to_path_buf();
            let tally = tally.clone();
            std::thread::spawn(move || {
                let (mut call, mut refresh) = load_call(&dir, t % 3, (t / 3) % 2 == 1);
                let mut i = t << 32;
                while Instant::now() < deadline {
                    if !refresh() {
                        tally.add(&tally.refused);
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    i += 1;
                    tally.add(&tally.made);
                    match call(i) {
                        Ok(true) => tally.add(&tally.ok),
                        Ok(false) => tally.add(&tally.mismatched),
                        Err(e) => {
                            if tally.lost.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("load: thread {t}: {e}");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    println!("{}", tally.line("LOAD"));
}

/// Short-lived shared-memory sessions, `per_sec` a second: connect, one
/// call, close.
fn churn(dir: &Path, duration: Duration, per_sec: u64) {
    let tally = Tally::default();
    let started = Instant::now();
    let period = Duration::from_secs(1) / per_sec.max(1) as u32;
    let mut n = 0u64;
    while started.elapsed() < duration {
        let due = started + period * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        n += 1;
        let mut c = IncrementClient::new(ep(dir, INC), config(Profiles::SHM_HYBRID));
        if !c.refresh() || !c.ready() {
            tally.add(&tally.refused);
            continue;
        }
        tally.add(&tally.made);
        match c.call(n) {
            Ok(v) if v == n + 1 => tally.add(&tally.ok),
            Ok(_) => tally.add(&tally.mismatched),
            Err(_) => tally.add(&tally.lost),
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!("{} rate_per_sec={rate:.0}", tally.line("CHURN"));
}

/// Keeps `connections` connections that never say HELLO open to the
/// INCREMENT endpoint, reopening those the server closes.
fn flood(dir: &Path, duration: Duration, connections: usize) {
    let endpoint = ep(dir, INC);
    let started = Instant::now();
    let mut open: Vec<UdsConn> = Vec::with_capacity(connections);
    let mut opened = 0u64;
    let mut failed = 0u64;
    while started.elapsed() < duration {
        open.retain(|c| !c.is_hung_up());
        while open.len() < connections && started.elapsed() < duration {
            match connect(&endpoint) {
                Ok(c) => {
                    opened += 1;
                    open.push(c);
                }
                Err(_) => {
                    failed += 1;
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "FLOOD opened={opened} connect_failures={failed} held_at_end={}",
        open.len()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A well-behaved client: 200 calls a second on one UDS session, and a
/// fresh connection with one call every 250 ms; latencies in ms.
fn good(dir: &Path, duration: Duration) {
    let started = Instant::now();
    let mut session = IncrementClient::new(ep(dir, INC), config(Profiles::BASELINE));
    let mut lat = Vec::new();
    let mut fresh = Vec::new();
    let (mut failed, mut fresh_failed) = (0u64, 0u64);
    let mut next_fresh = started;
    let mut n = 0u64;
    while started.elapsed() < duration {
        let due = started + Duration::from_millis(5) * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        n += 1;
        let t = Instant::now();
        session.refresh();
        match session.call(n) {
            Ok(v) if v == n + 1 => lat.push(t.elapsed()),
            _ => failed += 1,
        }
        if Instant::now() >= next_fresh {
            next_fresh += Duration::from_millis(250);
            let t = Instant::now();
            let mut c = IncrementClient::new(ep(dir, INC), config(Profiles::BASELINE));
            c.refresh();
            match c.call(n) {
                Ok(v) if v == n + 1 => fresh.push(t.elapsed()),
                _ => fresh_failed += 1,
            }
        }
    }
    lat.sort();
    fresh.sort();
    println!(
        "GOOD calls={} failed={failed} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} fresh={} fresh_failed={fresh_failed} fresh_p99_ms={:.3} fresh_max_ms={:.3}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        fresh.len(),
        percentile(&fresh, 0.99),
        percentile(&fresh, 1.0),
    );
}

/// Asks for the 5 002-cgroup snapshot over UDS and never reads the answer.
fn frozen(dir: &Path, duration: Duration) {
    let l1 = SessionConfig::new(ClientProposal {
        supported: Profiles::BASELINE,
        preferred: Profiles::BASELINE,
        auth_token: TOKEN,
        ..ClientProposal::default()
    });
    let mut request = Vec::new();
    SnapshotRequest.encode_into(&mut request);
    let mut sessions = 0;
    let started = Instant::now();
    // A new one whenever the server gives up on the previous one.
    let mut held: Vec<ClientSession> = Vec::new();
    while started.elapsed() < duration {
        if let Ok(mut s) = ClientSession::connect(&ep(dir, SNAP), &l1) {
            let h = Header::request(Method::CgroupsSnapshot, request.len() as u32, 1);
            if s.send_request(&h, &request).is_ok() {
                sessions += 1;
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    println!("FROZEN sessions={sessions}");
}

/// Runs `clients` clients (connect, one call; 2 s handshake and call
/// deadlines) against a provider that is stopped, and one more client with
/// a 60 s deadline whose call is aborted from this thread after 1 s;
/// reports how many came back within 15 s and how long the aborted call
/// took to return after `abort()`.
fn stopped(dir: &Path, clients: u64) {
    let (tx, rx) = mpsc::channel();
    for i in 0..clients {
        let dir = dir.to_path_buf();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let mut c = IncrementClient::new(
                ep(&dir, INC),
                ClientConfig::new(TOKEN)
                    .with_handshake_timeout(secs(2))
                    .with_call_timeout(secs(2)),
            );
            c.refresh();
            let ok = c.ready() && c.call(i).is_ok();
            let _ = tx.send((ok, t.elapsed()));
        });
    }
    drop(tx);
    let (abort_tx, abort_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let mut c = IncrementClient::new(
                ep(&dir, INC),
                ClientConfig::new(TOKEN)
                    .with_handshake_timeout(secs(60))
                    .with_call_timeout(secs(60)),
            );
            let _ = abort_tx.send(c.abort_handle());
            c.refresh();
            let result = if c.ready() {
                c.call(1).map(|_| ()).map_err(|e| e.to_string())
            } else {
                Err(format!("{:?}", c.status().last_connect_error))
            };
            let _ = done_tx.send((Instant::now(), result));
        });
    }
    let abort = abort_rx.recv().expect("abort handle");
    std::thread::sleep(secs(1));
    let aborted_at = Instant::now();
    abort.abort();
    let abort_ms = match done_rx.recv_timeout(secs(15)) {
        Ok((t, _)) => format!(
            "{:.0}",
            t.saturating_duration_since(aborted_at).as_secs_f64() * 1e3
        ),
        Err(_) => "stuck".to_string(),
    };
    let deadline = Instant::now() + secs(15);
    let mut returned = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(r) => returned.push(r),
            Err(_) => break,
        }
    }
    let max = returned.iter().map(|r| r.1).max().unwrap_or_default();
    println!(
        "STOPPED clients={clients} returned={} succeeded={} stuck={} max_return_ms={:.0} abort_return_ms={abort_ms}",
        returned.len(),
        returned.iter().filter(|r| r.0).count(),
        clients as usize - returned.len(),
        max.as_secs_f64() * 1e3
    );
    // Stuck threads must not keep the process alive.
    std::process::exit(0);
}
