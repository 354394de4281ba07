//! `netipc demo`: a provider on this machine's cgroups and its clients, in
//! one process, in a temporary run directory that is removed at the end.
//!
//! Needs no flags and no root: the run directory is created under the
//! temporary directory (`$TMPDIR`, else `/tmp`), the token comes from
//! `--token`, else the environment, else is random, and when the cgroup
//! filesystem cannot be scanned a small synthetic tree is served instead
//! (and the output says so).

use std::fs::{self, DirBuilder};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use netipc::cache::{name_hash, CgroupsCache};
use netipc::service::cgroups::CgroupsSnapshotClient;
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{CallError, ClientConfig, ManagedServer, ServerConfig};

use super::output;
use super::query::transport_name;
use super::serve::{response_limit_for, start};
use crate::cgroupfs::{Layout, ScanSource};
use crate::cli::DemoArgs;
use crate::endpoint::{check_state, endpoint, CGROUPS_SERVICE, INCREMENT_SERVICE};
use crate::exit::{describe, CliError, Exit};
use crate::format::{self, Row};
use crate::latency::{LatencySummary, Samples};
use crate::provider::SnapshotProvider;
use crate::signals::StopFlag;
use crate::token::{self, Token, TokenSource};

/// Sessions each demo provider serves at once: the demo's clients stay
/// connected side by side, and each may reconnect while the provider has
/// not yet noticed its previous session end.
const DEMO_SESSIONS: usize = 8;

/// Names of the synthetic tree served when the real one cannot be read.
const SYNTHETIC: [&str; 9] = [
    "init.scope",
    "system.slice",
    "system.slice/ssh.service",
    "system.slice/cron.service",
    "system.slice/docker-4f1c2a.scope",
    "user.slice",
    "user.slice/user-1000.slice",
    "user.slice/user-1000.slice/session-1.scope",
    "machine.slice/libpod-9e8d.scope",
];

/// Lookups timed per name; the mean is shown.
const LOOKUP_REPEAT: u32 = 100_000;

/// A name no cgroup has, for the lookup miss.
const MISSING: &str = "system.slice/no-such.service";

/// Temporary run directories longer than this risk the 107-byte socket
/// path limit; `/tmp` is used instead.
const MAX_TMP_LEN: usize = 64;

/// Runs the demo.
///
/// # Errors
///
/// Anything that stops it; exit 130 when interrupted. The run directory is
/// removed in every case.
pub fn run(args: &DemoArgs, stop: &StopFlag) -> Result<(), CliError> {
    let token = match args.token {
        Some(value) => Token {
            value,
            source: TokenSource::Flag,
        },
        None => token::from_env().unwrap_or(Token {
            value: random_u64(),
            source: TokenSource::Random,
        }),
    };
    let dir = RunDir::create()?;
    let result = Demo {
        args,
        stop,
        token,
        dir: dir.path(),
        out: io::stdout(),
    }
    .run();
    let leftovers = dir.leftovers();
    let dir_path = dir.path().to_path_buf();
    drop(dir);
    result?;
    let mut out = io::stdout();
    output(if leftovers.is_empty() {
        writeln!(
            out,
            "\ncleaned up: the providers removed their sockets and shared-memory files, and {} is gone",
            dir_path.display()
        )
    } else {
        writeln!(
            out,
            "\nleft behind before cleanup: {}",
            leftovers.join(", ")
        )
    })?;
    if leftovers.is_empty() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "files were left behind in the run directory: {}",
            leftovers.join(", ")
        )))
    }
}

struct Demo<'a> {
    args: &'a DemoArgs,
    stop: &'a StopFlag,
    token: Token,
    dir: &'a Path,
    out: io::Stdout,
}

impl Demo<'_> {
    fn say(&mut self, text: std::fmt::Arguments<'_>) -> Result<(), CliError> {
        output(
            self.out
                .write_fmt(text)
                .and_then(|()| self.out.write_all(b"\n")),
        )
    }

    fn check_stop(&self) -> Result<(), CliError> {
        if self.stop.is_set() {
            Err(CliError::new(Exit::Interrupted, "interrupted; cleaned up"))
        } else {
            Ok(())
        }
    }

    fn run(mut self) -> Result<(), CliError> {
        self.say(format_args!(
            "netipc demo: a cgroups-snapshot provider and its clients, over UDS and shared memory\n"
        ))?;
        self.say(format_args!(
            "run directory  {} (temporary)",
            self.dir.display()
        ))?;
        self.say(format_args!(
            "auth token     {} ({})",
            format::hex64(self.token.value),
            self.token.source.describe()
        ))?;
        let provider = self.scan()?;
        let (snapshot_server, increment_server) = self.start_providers(&provider)?;
        self.check_stop()?;

        let config = ClientConfig::new(self.token.auth());
        let mut uds = self.snapshot_client(config.clone().uds_only())?;
        let payload = self.show_snapshot(&mut uds)?;
        let mut shm = self.snapshot_client(config.clone())?;
        self.compare_snapshot(&mut shm, &payload)?;
        self.check_stop()?;

        self.show_lookups()?;
        self.check_stop()?;

        self.show_latencies(&mut uds, &mut shm, payload.len())?;
        drop(uds);
        drop(shm);
        snapshot_server.shutdown();
        increment_server.shutdown();
        self.check_stop()?;

        let mountinfo = self
            .args
            .mountinfo
            .clone()
            .unwrap_or_else(|| PathBuf::from("/proc/self/mountinfo"));
        super::lookups::demo(&mut self.out, self.dir, &self.token, &mountinfo)?;
        Ok(())
    }

    /// Scans this machine's cgroups, or a synthetic tree when they cannot
    /// be read, and says which.
    fn scan(&mut self) -> Result<SnapshotProvider, CliError> {
        let source = self
            .args
            .mountinfo
            .clone()
            .map_or_else(ScanSource::default, ScanSource::Mountinfo);
        let mut provider = SnapshotProvider::new(source);
        match provider.rescan() {
            Ok(r) => {
                let (root, layout) = provider
                    .last_scan()
                    .map(|s| (s.root.clone(), s.layout))
                    .unwrap_or((PathBuf::from("?"), Layout::V2));
                self.say(format_args!(
                    "cgroups        {} {} under {} ({}), scanned in {}",
                    r.items,
                    format::plural(r.items, "cgroup", "cgroups"),
                    root.display(),
                    layout_name(layout),
                    format::duration(r.took),
                ))?;
            }
            Err(e) => {
                let root = self.dir.join("synthetic-cgroup");
                make_synthetic_tree(&root).map_err(|e| {
                    CliError::failure(format!("cannot build a synthetic cgroup tree: {e}"))
                })?;
                provider = SnapshotProvider::with_root(&root, Layout::V2);
                let r = provider.rescan().map_err(|e| {
                    CliError::failure(format!("cannot scan the synthetic tree: {}", describe(&e)))
                })?;
                self.say(format_args!(
                    "cgroups        cannot scan this machine's cgroups: {}\n               serving a synthetic tree of {} cgroups from {} instead",
                    describe(&e),
                    r.items,
                    root.display(),
                ))?;
            }
        }
        Ok(provider)
    }

    /// Starts the cgroups-snapshot and increment providers in this process.
    fn start_providers(
        &mut self,
        provider: &SnapshotProvider,
    ) -> Result<(ManagedServer, ManagedServer), CliError> {
        // The demo keeps more clients connected at once than a provider's
        // default 2 sessions.
        let mut config = ServerConfig::new(self.token.auth()).with_max_sessions(DEMO_SESSIONS);
        config = config.with_response_payload(response_limit_for(provider.current().payload.len()));
        let snapshots = start(
            self.dir,
            CGROUPS_SERVICE,
            config,
            provider.handle().handler(),
        )?;
        let increments = start(
            self.dir,
            INCREMENT_SERVICE,
            ServerConfig::new(self.token.auth()).with_max_sessions(DEMO_SESSIONS),
            increment::handler(|v| Ok(v.wrapping_add(1))),
        )?;
        self.say(format_args!(
            "providers      {} and {} (in this process)",
            snapshots.socket_path().display(),
            increments.socket_path().display()
        ))?;
        Ok((snapshots, increments))
    }

    /// Step 1: fetches the snapshot and prints it; returns its payload.
    fn show_snapshot(&mut self, client: &mut CgroupsSnapshotClient) -> Result<Vec<u8>, CliError> {
        let profile = client.status().profile;
        let view = client.call_snapshot().map_err(|e| {
            CliError::failure(format!(
                "snapshot call over {} failed: {}",
                transport_name(profile),
                describe(&e)
            ))
        })?;
        let rows: Vec<Row<'_>> = view.iter().map(|i| i.item()).collect();
        self.say(format_args!(
            "\n1. snapshot over {} ({}): generation {}, systemd_enabled {}, {} {}, {}",
            transport_name(profile),
            profile.map(|p| p.to_string()).unwrap_or_default(),
            view.generation(),
            view.systemd_enabled(),
            rows.len(),
            format::plural(rows.len(), "cgroup", "cgroups"),
            format::bytes(view.as_bytes().len() as u64),
        ))?;
        let mut table = Vec::new();
        format::write_table(&mut table, &rows, Some(self.args.rows), "   ")
            .map_err(|e| CliError::failure(e.to_string()))?;
        output(self.out.write_all(&table))?;
        Ok(view.as_bytes().to_vec())
    }

    /// Step 2: fetches the snapshot again and compares the bytes.
    fn compare_snapshot(
        &mut self,
        client: &mut CgroupsSnapshotClient,
        payload: &[u8],
    ) -> Result<(), CliError> {
        let profile = client.status().profile;
        let same = client
            .call_snapshot()
            .map(|view| view.as_bytes() == payload)
            .map_err(|e| {
                CliError::failure(format!(
                    "snapshot call over {} failed: {}",
                    transport_name(profile),
                    describe(&e)
                ))
            })?;
        self.say(format_args!(
            "\n2. snapshot over {} ({}): {}",
            transport_name(profile),
            profile.map(|p| p.to_string()).unwrap_or_default(),
            if same {
                "byte-for-byte the same payload"
            } else {
                "a different payload (the tree changed in between)"
            }
        ))
    }

    /// Step 3: a few hits and a miss in a Level 3 cache.
    fn show_lookups(&mut self) -> Result<(), CliError> {
        let endpoint = endpoint(self.dir, CGROUPS_SERVICE)?;
        let socket = endpoint.socket_path().to_path_buf();
        let mut cache = CgroupsCache::new(endpoint, ClientConfig::new(self.token.auth()));
        let refreshed = Instant::now();
        cache.refresh().map_err(|e| {
            CliError::failure(format!(
                "cache refresh from {} failed: {}",
                socket.display(),
                describe(&e)
            ))
        })?;
        let refresh_took = refreshed.elapsed();
        let mut names: Vec<Vec<u8>> = pick_names(cache.iter().map(|c| (c.name, c.enabled)));
        names.push(MISSING.as_bytes().to_vec());
        self.say(format_args!(
            "\n3. lookups in the client-side cache (refreshed in {}; hash = 32-bit FNV-1a of the name; time = mean of {} lookups)",
            format::duration(refresh_took),
            format::count(u64::from(LOOKUP_REPEAT)),
        ))?;
        let shown: Vec<String> = names.iter().map(|n| format::display_bytes(n)).collect();
        let width = shown
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (name, shown) in names.iter().zip(&shown) {
            let hash = name_hash(name);
            let started = Instant::now();
            for _ in 0..LOOKUP_REPEAT {
                black_box(cache.lookup(black_box(hash), black_box(name)));
            }
            let took = started.elapsed() / LOOKUP_REPEAT;
            let found = cache
                .lookup(hash, name)
                .map(|c| (c.enabled, format::display_bytes(c.path)));
            let (result, detail) = match found {
                Some((enabled, path)) => ("hit ", format!("  → {path} (enabled {enabled})")),
                None => ("miss", String::new()),
            };
            self.say(format_args!(
                "   {result}  {shown:<width$}  {}  {:>7}{detail}",
                format::hex32(hash),
                format::duration(took),
            ))?;
        }
        Ok(())
    }

    /// Step 4: round-trip latencies per transport and call.
    fn show_latencies(
        &mut self,
        uds: &mut CgroupsSnapshotClient,
        shm: &mut CgroupsSnapshotClient,
        snapshot_len: usize,
    ) -> Result<(), CliError> {
        let calls = self.args.calls;
        let snapshot_calls = (calls / 10).max(1);
        self.say(format_args!(
            "\n4. round trips, one client at a time (INCREMENT: {} calls, CGROUPS_SNAPSHOT of {}: {} calls)",
            format::count(u64::from(calls)),
            format::bytes(snapshot_len as u64),
            format::count(u64::from(snapshot_calls)),
        ))?;
        self.say(format_args!(
            "   {:<14} {:<17} {:>10} {:>10} {:>10} {:>10}",
            "transport", "call", "min", "p50", "p99", "max"
        ))?;
        let config = ClientConfig::new(self.token.auth());
        for (label, config, client) in [
            ("UDS", config.clone().uds_only(), uds),
            ("shared memory", config.clone(), shm),
        ] {
            let inc = self.time_increment(config, calls)?;
            self.latency_line(label, "INCREMENT", &inc)?;
            let snap = self.time_snapshot(client, snapshot_calls)?;
            self.latency_line(label, "CGROUPS_SNAPSHOT", &snap)?;
        }
        Ok(())
    }

    fn snapshot_client(&self, config: ClientConfig) -> Result<CgroupsSnapshotClient, CliError> {
        let mut client = CgroupsSnapshotClient::new(endpoint(self.dir, CGROUPS_SERVICE)?, config);
        client.refresh();
        check_state(&client.status(), client.endpoint(), &self.token)?;
        Ok(client)
    }

    fn time_increment(&self, config: ClientConfig, calls: u32) -> Result<LatencySummary, CliError> {
        let mut client = IncrementClient::new(endpoint(self.dir, INCREMENT_SERVICE)?, config);
        client.refresh();
        check_state(&client.status(), client.endpoint(), &self.token)?;
        let fail =
            |e: CallError| CliError::failure(format!("INCREMENT call failed: {}", describe(&e)));
        let mut value = 0;
        for _ in 0..100 {
            value = client.call(value).map_err(fail)?;
        }
        let mut samples = Samples::with_capacity(calls as usize);
        for i in 0..calls {
            if i % 1024 == 0 {
                self.check_stop()?;
            }
            let started = Instant::now();
            let answer = client.call(value).map_err(fail)?;
            samples.push(started.elapsed());
            if answer != value.wrapping_add(1) {
                return Err(CliError::failure(format!(
                    "INCREMENT {value} was answered {answer}"
                )));
            }
            value = answer;
        }
        samples
            .summary()
            .ok_or_else(|| CliError::failure("no round trip measured"))
    }

    fn time_snapshot(
        &self,
        client: &mut CgroupsSnapshotClient,
        calls: u32,
    ) -> Result<LatencySummary, CliError> {
        let fail = |e: CallError| {
            CliError::failure(format!("CGROUPS_SNAPSHOT call failed: {}", describe(&e)))
        };
        for _ in 0..10 {
            client.call_snapshot().map_err(fail)?;
        }
        let mut samples = Samples::with_capacity(calls as usize);
        for i in 0..calls {
            if i % 256 == 0 {
                self.check_stop()?;
            }
            let started = Instant::now();
            client.call_snapshot().map_err(fail)?;
            samples.push(started.elapsed());
        }
        samples
            .summary()
            .ok_or_else(|| CliError::failure("no round trip measured"))
    }

    fn latency_line(
        &mut self,
        transport: &str,
        call: &str,
        s: &LatencySummary,
    ) -> Result<(), CliError> {
        self.say(format_args!(
            "   {:<14} {:<17} {:>10} {:>10} {:>10} {:>10}",
            transport,
            call,
            format::duration(s.min),
            format::duration(s.p50),
            format::duration(s.p99),
            format::duration(s.max),
        ))
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::V1 => "cgroup v1",
        Layout::V2 => "cgroup v2",
    }
}

/// Up to three names worth looking up: an enabled system service, another
/// enabled cgroup, and the root.
pub fn pick_names<'a>(items: impl Iterator<Item = (&'a [u8], u32)>) -> Vec<Vec<u8>> {
    let mut service = None;
    let mut other = None;
    let mut root = None;
    for (name, enabled) in items {
        if name == b"/" {
            root.get_or_insert(name);
        } else if enabled != 0 && name.starts_with(b"system.slice/") && name.ends_with(b".service")
        {
            service.get_or_insert(name);
        } else if enabled != 0 {
            other.get_or_insert(name);
        }
    }
    [service, other, root]
        .into_iter()
        .flatten()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Builds the synthetic tree under `root`.
fn make_synthetic_tree(root: &Path) -> io::Result<()> {
    for name in SYNTHETIC {
        fs::create_dir_all(root.join(name))?;
    }
    Ok(())
}

/// 64 random bits: from `/dev/urandom`, else from the standard library's
/// per-process random hash keys mixed with the time.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_ne_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// The demo's temporary run directory: mode 0700, removed on drop.
#[derive(Debug)]
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    fn create() -> Result<RunDir, CliError> {
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > MAX_TMP_LEN {
            base = PathBuf::from("/tmp");
        }
        let mut last = None;
        for _ in 0..8 {
            let path = base.join(format!(
                "netipc-demo-{}-{:08x}",
                std::process::id(),
                random_u64() as u32
            ));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let reason = last
            .map(|e| crate::endpoint::io_reason(&e))
            .unwrap_or_default();
        Err(CliError::run_dir(format!(
            "cannot create a temporary run directory in {}: {reason} (set TMPDIR to a writable directory)",
            base.display()
        )))
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Sockets and shared-memory files still in the directory.
    fn leftovers(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sock") || n.ends_with(".ipcshm"))
            .collect();
        names.sort();
        names
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_interesting_names() {
        let items: Vec<(&[u8], u32)> = vec![
            (b"/", 0),
            (b"init.scope", 0),
            (b"system.slice", 0),
            (b"system.slice/docker-1.scope", 1),
            (b"system.slice/ssh.service", 1),
            (b"system.slice/cron.service", 1),
        ];
        let names = pick_names(items.into_iter());
        assert_eq!(
            names,
            [
                b"system.slice/ssh.service".to_vec(),
                b"system.slice/docker-1.scope".to_vec(),
                b"/".to_vec()
            ]
        );
        assert_eq!(pick_names(std::iter::empty()), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn synthetic_tree_scans() {
        let tmp = tempfile::tempdir().unwrap();
        make_synthetic_tree(tmp.path()).unwrap();
        let mut p = SnapshotProvider::with_root(tmp.path(), Layout::V2);
        let r = p.rescan().unwrap();
        // The listed names, plus the root and the implied machine.slice.
        assert_eq!(r.items, SYNTHETIC.len() + 2);
        assert_eq!(p.current().systemd_enabled, 1);
    }

    #[test]
    fn run_dir_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = RunDir::create().unwrap();
        let path = dir.path().to_path_buf();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o700, 0);
        fs::write(path.join("x.sock"), b"").unwrap();
        assert_eq!(dir.leftovers(), ["x.sock"]);
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn random_tokens_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
