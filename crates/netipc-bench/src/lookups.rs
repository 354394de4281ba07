//! The lookup scenarios: CGROUPS_LOOKUP and APPS_LOOKUP calls of 16, 256,
//! 8,192 or 32,768 keys that are all known, all unknown or mixed, at max
//! rate (or a target rate), over UDS or shared memory through the Level 2
//! lookup clients (split/stitch included), and in-process (request encode,
//! handler dispatch, response decode, no transport).
//!
//! ```text
//! netipc-bench {cgroups,apps}-lookup[-shm]-server <run_dir> <service> [duration_sec]
//! netipc-bench {cgroups,apps}-lookup[-shm]-client <run_dir> <service> <duration_sec> <target_rps> <items> <known|unknown|mixed>
//! netipc-bench {cgroups,apps}-lookup-dispatch <duration_sec> <items> <known|unknown|mixed>
//! ```
//!
//! The provider data is synthetic and the same in servers and clients:
//! 32,768 known cgroups `/sys/fs/cgroup/system.slice/bench-NNNNN.service`
//! (SYSTEMD, name and one label) and 40,000 known PIDs 1…40,000 (KNOWN
//! process in a KNOWN cgroup); unknown keys are paths under `/gone` and
//! PIDs from 1,000,000. Mixed calls alternate known and unknown keys.
//! Clients check every item's status; a wrong one counts as an error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{self, Status};
use netipc::codec::lookup::{Label, LookupError, Orchestrator};
use netipc::service::apps_lookup::AppsLookup;
use netipc::service::cgroups_lookup::CgroupsLookup;
use netipc::service::lookup::{LookupClient, LookupConfig};
use netipc::service::{apps_lookup as apps_service, cgroups_lookup as cg_service};
use netipc::service::{ClientConfig, Handler, ServiceKind};
use netipc::wire::Profiles;
// The Windows build (rustc 1.63) cannot take rustc-hash 2; it uses std's
// hasher, which only makes its lookup rows a little slower.
#[cfg(unix)]
use rustc_hash::FxBuildHasher as TableHasher;
#[cfg(not(unix))]
use std::collections::hash_map::RandomState as TableHasher;

use crate::common::{
    endpoint, mono_ns, wait_override, AUTH_TOKEN, CONNECT_ATTEMPTS, CONNECT_INTERVAL,
    LOOKUP_PAYLOAD, UNTHROTTLED_SAMPLES,
};
use crate::measure::{sample_capacity, Outcome, RateLimiter, Samples, Window};

/// Known cgroups of the synthetic provider.
pub const KNOWN_CGROUPS: usize = 32_768;
/// Known PIDs: 1…=KNOWN_PIDS.
pub const KNOWN_PIDS: u32 = 40_000;
/// First unknown PID.
const UNKNOWN_PID_BASE: u32 = 1_000_000;

/// Which keys a call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every key known.
    Known,
    /// No key known.
    Unknown,
    /// Even keys known, odd keys unknown.
    Mixed,
}

impl Mix {
    /// Parses `known`, `unknown` or `mixed`.
    pub fn parse(s: &str) -> Option<Mix> {
        Some(match s {
            "known" => Mix::Known,
            "unknown" => Mix::Unknown,
            "mixed" => Mix::Mixed,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mix::Known => "known",
            Mix::Unknown => "unknown",
            Mix::Mixed => "mixed",
        }
    }

    fn is_known(self, i: usize) -> bool {
        match self {
            Mix::Known => true,
            Mix::Unknown => false,
            Mix::Mixed => i % 2 == 0,
        }
    }
}

/// The two lookup methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// CGROUPS_LOOKUP.
    Cgroups,
    /// APPS_LOOKUP.
    Apps,
}

fn known_path(i: usize) -> String {
    format!(
        "/sys/fs/cgroup/system.slice/bench-{:05}.service",
        i % KNOWN_CGROUPS
    )
}

/// The cgroup paths of a call.
pub fn cgroup_keys(items: usize, mix: Mix) -> Vec<Vec<u8>> {
    (0..items)
        .map(|i| {
            if mix.is_known(i) {
                known_path(i).into_bytes()
            } else {
                format!("/gone/bench-{i:05}.scope").into_bytes()
            }
        })
        .collect()
}

/// The PIDs of a call.
pub fn pid_keys(items: usize, mix: Mix) -> Vec<u32> {
    (0..items)
        .map(|i| {
            if mix.is_known(i) {
                1 + (i as u32 % KNOWN_PIDS)
            } else {
                UNKNOWN_PID_BASE + i as u32
            }
        })
        .collect()
}

/// What the synthetic provider knows about a cgroup: its name and the
/// value of its one label. One hash lookup per key, nothing allocated per
/// call.
type CgroupTable = HashMap<Vec<u8>, (Vec<u8>, Vec<u8>), TableHasher>;

fn cgroup_table() -> CgroupTable {
    (0..KNOWN_CGROUPS)
        .map(|i| {
            let path = known_path(i);
            let name = path.as_bytes()["/sys/fs/cgroup/".len()..].to_vec();
            let unit = name[name.len().min(13)..].to_vec();
            (path.into_bytes(), (name, unit))
        })
        .collect()
}

/// The synthetic CGROUPS_LOOKUP handler.
pub fn cgroups_handler() -> impl Handler {
    let table = cgroup_table();
    cg_service::handler(move |request, reply| {
        for path in request.iter() {
            if reply.is_exceeded() {
                break;
            }
            match table.get(path) {
                Some((name, unit)) => {
                    let labels = [Label::new(b"unit", unit)];
                    reply.add(&cgroups_lookup::Answer::known(
                        Orchestrator::SYSTEMD,
                        name,
                        &labels,
                    ))?
                }
                None => reply.add(&cgroups_lookup::Answer::UNKNOWN_PERMANENT)?,
            };
        }
        reply.set_generation(1);
        Ok(())
    })
}

/// The synthetic APPS_LOOKUP handler.
pub fn apps_handler() -> impl Handler {
    let paths: Arc<Vec<(String, String)>> = Arc::new(
        (0..64)
            .map(|i| {
                let p = known_path(i);
                let name = p["/sys/fs/cgroup/".len()..].to_string();
                (p, name)
            })
            .collect(),
    );
    apps_service::handler(move |request, reply| {
        let mut comm = [0u8; 12];
        for pid in request.iter() {
            if reply.is_exceeded() {
                break;
            }
            if pid == 0 || pid > KNOWN_PIDS {
                reply.add(&apps_lookup::Answer::UNKNOWN)?;
                continue;
            }
            comm[..6].copy_from_slice(b"bench-");
            let mut n = pid % 1_000_000;
            for slot in comm[6..12].iter_mut().rev() {
                *slot = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let (path, name) = &paths[pid as usize % paths.len()];
            reply.add(&apps_lookup::Answer {
                ppid: 1,
                uid: pid % 1_000,
                starttime: u64::from(pid) * 7,
                comm: &comm,
                cgroup_status: CgroupStatus::Known,
                cgroup_path: path.as_bytes(),
                cgroup_name: name.as_bytes(),
                orchestrator: Orchestrator::SYSTEMD,
                ..apps_lookup::Answer::KNOWN
            })?;
        }
        reply.set_generation(1);
        Ok(())
    })
}

/// A client subcommand's method and profiles.
pub fn client_spec(name: &str) -> Option<(Which, Profiles, &'static str)> {
    let uds = Profiles::BASELINE;
    let shm = Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);
    Some(match name {
        "cgroups-lookup-client" => (Which::Cgroups, uds, "cgroups-lookup-uds"),
        "cgroups-lookup-shm-client" => (Which::Cgroups, shm, "cgroups-lookup-shm"),
        "apps-lookup-client" => (Which::Apps, uds, "apps-lookup-uds"),
        "apps-lookup-shm-client" => (Which::Apps, shm, "apps-lookup-shm"),
        _ => return None,
    })
}

/// An in-process subcommand's method.
pub fn dispatch_spec(name: &str) -> Option<Which> {
    match name {
        "cgroups-lookup-dispatch" => Some(Which::Cgroups),
        "apps-lookup-dispatch" => Some(Which::Apps),
        _ => None,
    }
}

/// Parses `<items>` (1…65,536).
pub fn parse_items(s: &str) -> Option<usize> {
    s.parse().ok().filter(|n| (1..=65_536).contains(n))
}

/// Counters of a run.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

fn report(label: &str, tally: &Tally, window: &Window, samples: &mut Samples) -> i32 {
    let (wall, cpu_pct) = window.finish();
    let outcome = Outcome::new(label.to_string(), tally.calls, wall, samples, cpu_pct);
    println!("{}", outcome.csv());
    eprintln!(
        "netipc-bench: {label}: {} calls in {wall:.3} s, {} errors",
        tally.calls, tally.errors
    );
    if let Some(e) = &tally.first_error {
        eprintln!("netipc-bench: {label}: first error: {e}");
    }
    i32::from(tally.errors > 0)
}

/// Checks the statuses of a cgroups answer.
fn check_cgroups(
    view: &cgroups_lookup::ResponseView<'_>,
    items: usize,
    mix: Mix,
) -> Result<(), String> {
    let statuses = view.iter().map(|item| item.status());
    check_statuses(
        statuses,
        items,
        mix,
        Status::Known,
        Status::UnknownPermanent,
    )
}

/// Checks the statuses of an apps answer.
fn check_apps(view: &apps_lookup::ResponseView<'_>, items: usize, mix: Mix) -> Result<(), String> {
    let statuses = view.iter().map(|item| item.status());
    check_statuses(statuses, items, mix, PidStatus::Known, PidStatus::Unknown)
}

/// Checks that an answer has `items` items, each `known` or `unknown` as
/// `mix` asked.
fn check_statuses<S: PartialEq + std::fmt::Debug>(
    statuses: impl ExactSizeIterator<Item = S>,
    items: usize,
    mix: Mix,
    known: S,
    unknown: S,
) -> Result<(), String> {
    if statuses.len() != items {
        return Err(format!("{} items for {items} keys", statuses.len()));
    }
    for (i, status) in statuses.enumerate() {
        let want = if mix.is_known(i) { &known } else { &unknown };
        if status != *want {
            return Err(format!("item {i}: {status:?}, expected {want:?}"));
        }
    }
    Ok(())
}

fn connect<K: ServiceKind>(
    run_dir: &Path,
    service: &str,
    profiles: Profiles,
) -> Result<LookupClient<K>, String> {
    let mut config = ClientConfig::new(AUTH_TOKEN)
        .with_profiles(profiles, profiles)
        .with_request_payload(LOOKUP_PAYLOAD);
    if let Some(wait) = wait_override() {
        config = config.with_wait(wait);
    }
    let lookup = LookupConfig::default().with_request_ceiling(LOOKUP_PAYLOAD);
    let mut client =
        LookupClient::<K>::with_lookup_config(endpoint(run_dir, service)?, config, lookup);
    for _ in 0..CONNECT_ATTEMPTS {
        client.refresh();
        if client.ready() {
            return Ok(client);
        }
        std::thread::sleep(CONNECT_INTERVAL);
    }
    Err(format!(
        "cannot connect to {service} in {}: state {}",
        run_dir.display(),
        client.state()
    ))
}

/// Arguments of a lookup client run.
#[derive(Debug, Clone, Copy)]
pub struct LookupRun {
    /// Measurement window in seconds.
    pub duration_sec: u64,
    /// Calls per second; 0 = unthrottled.
    pub target_rps: u64,
    /// Keys per call.
    pub items: usize,
    /// Which keys.
    pub mix: Mix,
}

/// Runs a lookup client subcommand; prints the CSV line, returns the exit
/// code. Throughput is logical calls per second; latency is per call.
pub fn run_client(name: &str, run_dir: &Path, service: &str, run: LookupRun) -> i32 {
    // A match, not `let … else`: the Windows build uses rustc 1.63.
    let (which, profiles, base) = match client_spec(name) {
        Some(spec) => spec,
        None => return 1,
    };
    let label = format!("{base}-{}-{}", run.items, run.mix.name());
    let mut samples = Samples::with_capacity(sample_capacity(
        run.target_rps,
        run.duration_sec,
        UNTHROTTLED_SAMPLES,
    ));
    let mut tally = Tally::default();
    let mut limiter = RateLimiter::new(run.target_rps);
    let measured = match which {
        Which::Cgroups => connect::<CgroupsLookup>(run_dir, service, profiles).map(|mut client| {
            let keys = cgroup_keys(run.items, run.mix);
            call_loop(run, &mut limiter, &mut samples, &mut tally, || {
                let view = client.call_lookup(&keys).map_err(|e| e.to_string())?;
                Ok((mono_ns(), check_cgroups(&view, run.items, run.mix)))
            })
        }),
        Which::Apps => connect::<AppsLookup>(run_dir, service, profiles).map(|mut client| {
            let keys = pid_keys(run.items, run.mix);
            call_loop(run, &mut limiter, &mut samples, &mut tally, || {
                let view = client.call_lookup(&keys).map_err(|e| e.to_string())?;
                Ok((mono_ns(), check_apps(&view, run.items, run.mix)))
            })
        }),
    };
    let window = match measured {
        Ok(window) => window,
        Err(e) => {
            eprintln!("netipc-bench: {label}: {e}");
            return 1;
        }
    };
    report(&label, &tally, &window, &mut samples)
}

/// Calls `call` over a window of `run.duration_sec` at the target rate and
/// returns the window. `call` makes one logical call and returns when it
/// returned (`mono_ns`) and the answer's check; a failed call stops the
/// run.
fn call_loop(
    run: LookupRun,
    limiter: &mut RateLimiter,
    samples: &mut Samples,
    tally: &mut Tally,
    mut call: impl FnMut() -> Result<(u64, Result<(), String>), String>,
) -> Window {
    let window = Window::start(run.duration_sec);
    while window.open() {
        limiter.wait();
        let t0 = mono_ns();
        match call() {
            Ok((done, checked)) => {
                samples.push(done.saturating_sub(t0));
                tally.calls += 1;
                if let Err(e) = checked {
                    tally.error(|| e);
                }
            }
            Err(e) => {
                tally.error(|| e);
                break;
            }
        }
    }
    window
}

/// Runs an in-process dispatch subcommand: per call, the request is
/// encoded, dispatched to the synthetic handler (with a response budget
/// large enough for any call, so one dispatch answers every key) and the
/// response decoded and checked. No transport, no split.
pub fn run_dispatch(which: Which, duration_sec: u64, items: usize, mix: Mix) -> i32 {
    let name = match which {
        Which::Cgroups => "cgroups-lookup-dispatch",
        Which::Apps => "apps-lookup-dispatch",
    };
    let label = format!("{name}-{items}-{}", mix.name());
    let mut samples = Samples::with_capacity(sample_capacity(0, duration_sec, UNTHROTTLED_SAMPLES));
    let mut tally = Tally::default();
    let window = match which {
        Which::Cgroups => dispatch_loop(
            &cgroups_handler(),
            &cgroup_keys(items, mix),
            cgroups_lookup::encode_request::<Vec<u8>>,
            |response| {
                let view =
                    cgroups_lookup::ResponseView::decode(response).map_err(|e| e.to_string())?;
                check_cgroups(&view, items, mix)
            },
            duration_sec,
            &mut samples,
            &mut tally,
        ),
        Which::Apps => dispatch_loop(
            &apps_handler(),
            &pid_keys(items, mix),
            apps_lookup::encode_request,
            |response| {
                let view =
                    apps_lookup::ResponseView::decode(response).map_err(|e| e.to_string())?;
                check_apps(&view, items, mix)
            },
            duration_sec,
            &mut samples,
            &mut tally,
        ),
    };
    report(&label, &tally, &window, &mut samples)
}

/// Over a window of `duration_sec`: encodes the request for `keys`,
/// dispatches it to `handler` with a budget large enough for any call,
/// and checks the response with `check`; the first failure stops the run.
fn dispatch_loop<K>(
    handler: &impl Handler,
    keys: &[K],
    encode: impl Fn(&mut Vec<u8>, &[K]) -> Result<usize, LookupError>,
    check: impl Fn(&[u8]) -> Result<(), String>,
    duration_sec: u64,
    samples: &mut Samples,
    tally: &mut Tally,
) -> Window {
    let budget = 64 << 20;
    let mut request = Vec::new();
    let mut response = Vec::new();
    let window = Window::start(duration_sec);
    while window.open() {
        let t0 = mono_ns();
        request.clear();
        response.clear();
        let result = encode(&mut request, keys)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                handler
                    .serve_within(&request, &mut response, budget)
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| check(&response));
        samples.push(mono_ns().saturating_sub(t0));
        tally.calls += 1;
        if let Err(e) = result {
            tally.error(|| e);
            break;
        }
    }
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_mix() {
        assert!(cgroup_keys(4, Mix::Known)
            .iter()
            .all(|k| k.starts_with(b"/sys/")));
        assert!(cgroup_keys(4, Mix::Unknown)
            .iter()
            .all(|k| k.starts_with(b"/gone")));
        assert_eq!(pid_keys(4, Mix::Mixed), [1, 1_000_001, 3, 1_000_003]);
        assert_eq!(Mix::parse("mixed"), Some(Mix::Mixed));
        assert_eq!(parse_items("0"), None);
        assert_eq!(parse_items("32768"), Some(32_768));
    }
}
