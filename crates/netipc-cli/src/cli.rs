//! The command line, as clap parses it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::endpoint::{parse_service, CGROUPS_SERVICE, DEFAULT_RUN_DIR, INCREMENT_SERVICE};
use crate::token;

/// Shown at the end of `netipc --help`.
pub const AFTER_HELP: &str = "\
Auth: every command except `demo` and `list` needs the provider's auth token:
--token HEX, or else it is derived from NETDATA_INVOCATION_ID (falling back to
INVOCATION_ID). `netipc token` shows which one is used and its fingerprint.

Errors are one line on stderr, `netipc: <what went wrong>`; a usage error may
add a second line `netipc: hint: <suggestion>`.

Exit codes:
    0  success (also `ping` stopped by Ctrl-C: it prints its statistics)
    1  runtime failure (a call failed, the provider is incompatible or serves another method, ...)
    2  usage error (bad arguments, a service name too long for the run directory), or no auth token available
    3  no provider at the endpoint
    4  the provider rejected our auth token
    5  run directory missing, not a directory, or not accessible
    6  lookup: no cgroup of that name
    7  the provider did not answer in time (see --timeout)
  130  demo interrupted (it still cleans up)";

/// netipc: serve and inspect netipc endpoints (protocol version 1).
#[derive(Debug, Parser)]
#[command(name = "netipc", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// More output: notes on stderr; `serve` also logs ended sessions.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: no notes or session log on stderr (errors still show).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a provider until SIGINT or SIGTERM.
    #[command(subcommand)]
    Serve(Serve),
    /// List the endpoints in the run directory: live or stale, owner, method.
    List(ListArgs),
    /// Show one endpoint: owner, method served, what the handshake agreed.
    Status(StatusArgs),
    /// Fetch the cgroups snapshot and print it as a table (or JSON).
    Snapshot(SnapshotArgs),
    /// Look one cgroup up by name (or hash) through the client-side cache.
    Lookup(LookupArgs),
    /// Ask a cgroups-lookup provider about cgroup paths (table or JSON).
    CgroupsLookup(CgroupsLookupArgs),
    /// Ask an apps-lookup provider about processes (table or JSON).
    AppsLookup(AppsLookupArgs),
    /// Measure round trips to an INCREMENT endpoint.
    Ping(PingArgs),
    /// Show which auth token the client commands use and its fingerprint.
    Token(TokenArgs),
    /// Show it all on this machine, no root needed.
    ///
    /// Starts a provider on this machine's cgroups in a temporary run
    /// directory, queries it over UDS and shared memory, looks names up in
    /// the client-side cache, times round trips, and removes everything it
    /// created.
    Demo(DemoArgs),
}

/// Where the endpoint is and which token to present.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Directory of the endpoints' sockets and shared-memory files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Auth token, 1 to 16 hex digits (default: derived from
    /// NETDATA_INVOCATION_ID, else INVOCATION_ID).
    #[arg(long, value_name = "HEX", value_parser = token::parse_flag)]
    pub token: Option<u64>,
    /// Longest wait for the provider: to connect, for the handshake, and
    /// for each response (e.g. 500ms, 2s; default 5s for the handshake, 30s
    /// for a response).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

/// Where the endpoints are and which token to present, for `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeCommon {
    /// Directory of the endpoints' sockets and shared-memory files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// Auth token, 1 to 16 hex digits (default: derived from
    /// NETDATA_INVOCATION_ID, else INVOCATION_ID).
    #[arg(long, value_name = "HEX", value_parser = token::parse_flag)]
    pub token: Option<u64>,
}

/// The endpoint of `ping` and `status`: `--service NAME`, or the name as
/// the one positional argument (an alias).
#[derive(Debug, Clone, Args)]
pub struct ServiceArg {
    /// Endpoint name.
    #[arg(long = "service", value_name = "NAME", value_parser = parse_service)]
    pub flag: Option<String>,
    /// Endpoint name (same as --service).
    #[arg(value_name = "SERVICE", value_parser = parse_service, conflicts_with = "flag")]
    pub positional: Option<String>,
}

impl ServiceArg {
    /// The name given, or `default`.
    pub fn name_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.flag
            .as_deref()
            .or(self.positional.as_deref())
            .unwrap_or(default)
    }
}

/// `netipc serve …`
#[derive(Debug, Subcommand)]
pub enum Serve {
    /// Publish this host's cgroups, rescanning every --interval seconds.
    CgroupsSnapshot(ServeCgroupsArgs),
    /// Answer INCREMENT requests with the value plus one (a ping target).
    Increment(ServeIncrementArgs),
    /// Answer cgroups lookups (name, orchestrator, labels) from this
    /// host's cgroup filesystem.
    CgroupsLookup(ServeLookupArgs),
    /// Answer apps lookups (ppid, uid, start time, comm, cgroup) from
    /// /proc.
    AppsLookup(ServeLookupArgs),
}

/// `netipc serve cgroups-lookup` and `netipc serve apps-lookup`
#[derive(Debug, Clone, Args)]
pub struct ServeLookupArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: ServeCommon,
    /// Endpoint name (default: cgroups-lookup or apps-lookup).
    #[arg(long, value_name = "NAME", value_parser = parse_service)]
    pub service: Option<String>,
    /// Seconds between rescans of the cgroup filesystem (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Discover the cgroup hierarchies from this file (for tests).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/proc/self/mountinfo",
        hide = true
    )]
    pub mountinfo: PathBuf,
    /// Read processes from this directory (apps-lookup; for tests).
    #[arg(long, value_name = "DIR", default_value = "/proc", hide = true)]
    pub proc_root: PathBuf,
}

/// `netipc cgroups-lookup PATH…`
#[derive(Debug, Clone, Args)]
pub struct CgroupsLookupArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint name (default: cgroups-lookup).
    #[arg(long, value_name = "NAME", value_parser = parse_service)]
    pub service: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Absolute cgroup directory paths, e.g.
    /// /sys/fs/cgroup/system.slice/ssh.service.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<OsString>,
}

/// `netipc apps-lookup PID…`
#[derive(Debug, Clone, Args)]
pub struct AppsLookupArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint name (default: apps-lookup).
    #[arg(long, value_name = "NAME", value_parser = parse_service)]
    pub service: Option<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Process ids.
    #[arg(value_name = "PID", required = true)]
    pub pids: Vec<u32>,
}

/// `netipc serve cgroups-snapshot`
#[derive(Debug, Clone, Args)]
pub struct ServeCgroupsArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: ServeCommon,
    /// Endpoint name.
    #[arg(long, value_name = "NAME", default_value = CGROUPS_SERVICE, value_parser = parse_service)]
    pub service: String,
    /// Seconds between rescans of the cgroup filesystem (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Walk this directory as the cgroup root instead of discovering it
    /// (for tests).
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "mountinfo")]
    pub cgroup_root: Option<PathBuf>,
    /// Layout of --cgroup-root.
    #[arg(
        long,
        value_enum,
        default_value = "v2",
        hide = true,
        requires = "cgroup_root"
    )]
    pub layout: LayoutArg,
    /// Discover the hierarchy from this file instead of
    /// /proc/self/mountinfo (for tests).
    #[arg(long, value_name = "FILE", hide = true)]
    pub mountinfo: Option<PathBuf>,
}

/// `netipc serve increment`
#[derive(Debug, Clone, Args)]
pub struct ServeIncrementArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: ServeCommon,
    /// Endpoint name.
    #[arg(long, value_name = "NAME", default_value = INCREMENT_SERVICE, value_parser = parse_service)]
    pub service: String,
}

/// cgroup layout of a directly given root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// cgroup v1.
    V1,
    /// cgroup v2 (unified).
    V2,
}

/// `netipc snapshot`
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint name.
    #[arg(long, value_name = "NAME", default_value = CGROUPS_SERVICE, value_parser = parse_service)]
    pub service: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `netipc lookup NAME` or `netipc lookup --hash HASH`
#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// Run directory and token.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint name.
    #[arg(long, value_name = "NAME", default_value = CGROUPS_SERVICE, value_parser = parse_service)]
    pub service: String,
    /// The cgroup's name: its path relative to the cgroup root, e.g.
    /// system.slice/ssh.service (the root is "/").
    #[arg(value_name = "NAME", required_unless_present = "hash")]
    pub name: Option<OsString>,
    /// The cgroup's hash as the provider publishes it (decimal or 0x hex);
    /// with NAME, both must match.
    #[arg(long, value_name = "HASH", value_parser = parse_hash)]
    pub hash: Option<u32>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `netipc ping [--service NAME]`
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// Run directory, token and timeout.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint of an INCREMENT service (default: increment).
    #[command(flatten)]
    pub service: ServiceArg,
    /// Round trips to measure (default 1000 back to back; with -i, until
    /// Ctrl-C).
    #[arg(long, short = 'c', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub count: Option<u32>,
    /// Wait this long between round trips and print each one, like
    /// ping(8) (e.g. 1s, 200ms; a bare number is seconds).
    #[arg(long, short = 'i', value_name = "INTERVAL", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Offer shared memory (preferred over UDS) instead of UDS only.
    #[arg(long)]
    pub shm: bool,
    /// Print one JSON object with the statistics.
    #[arg(long)]
    pub json: bool,
}

/// `netipc status [--service NAME]`
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Run directory, token and timeout.
    #[command(flatten)]
    pub common: Common,
    /// Endpoint (default: cgroups-snapshot).
    #[command(flatten)]
    pub service: ServiceArg,
    /// Offer shared memory (preferred over UDS) instead of UDS only.
    #[arg(long)]
    pub shm: bool,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `netipc list`
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Run directory, token (optional here: without one the handshake is
    /// skipped) and timeout per endpoint.
    #[command(flatten)]
    pub common: Common,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `netipc token`
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Use this token instead of the one derived from the environment.
    #[arg(long, value_name = "HEX", value_parser = token::parse_flag)]
    pub token: Option<u64>,
    /// Also print the token itself (a secret).
    #[arg(long)]
    pub reveal: bool,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `netipc demo`
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Auth token (default: derived from NETDATA_INVOCATION_ID or
    /// INVOCATION_ID if set, else random).
    #[arg(long, value_name = "HEX", value_parser = token::parse_flag)]
    pub token: Option<u64>,
    /// Rows of the snapshot table to print.
    #[arg(long, value_name = "N", default_value = "20")]
    pub rows: usize,
    /// Round trips to time per transport and call.
    #[arg(long, value_name = "N", default_value = "10000",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub calls: u32,
    /// Discover the cgroup hierarchy from this file instead of
    /// /proc/self/mountinfo (for tests of the fallback).
    #[arg(long, value_name = "FILE", hide = true)]
    pub mountinfo: Option<PathBuf>,
}

/// Parses `--interval`: seconds, fractions allowed, from 0.01 to 86400.
///
/// # Errors
///
/// A description of the problem.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.01..=86_400.0).contains(&secs) {
        return Err(format!("{s} is out of range (0.01 to 86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a duration: a number and a unit (`ns`, `us`/`µs`, `ms`, `s`,
/// `m`, `h`), e.g. `500ms`, `2s`, `1.5s`; a bare number is seconds. From
/// 1 µs to 1 day.
///
/// # Errors
///
/// A description of the problem.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 2s)"))?;
    let secs = value * scale;
    if !(1e-6..=86_400.0).contains(&secs) {
        return Err(format!("{s} is out of range (1us to 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a `--hash`: decimal, or hexadecimal with `0x`.
///
/// # Errors
///
/// A description of the problem.
pub fn parse_hash(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not a 32-bit hash (decimal or 0x hex)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "x", "NaN", "1e9"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["netipc", "snapshot"]).unwrap();
        let Command::Snapshot(a) = cli.command else {
            panic!()
        };
        assert_eq!(a.common.run_dir, PathBuf::from("/run/netdata"));
        assert_eq!(a.service, "cgroups-snapshot");
        assert_eq!(a.common.token, None);

        let cli = Cli::try_parse_from(["netipc", "serve", "cgroups-snapshot", "--token", "0xAB"])
            .unwrap();
        let Command::Serve(Serve::CgroupsSnapshot(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.common.token, Some(0xab));
        assert_eq!(a.interval, Duration::from_secs(1));

        let cli = Cli::try_parse_from(["netipc", "ping", "--count", "5", "--shm"]).unwrap();
        let Command::Ping(a) = cli.command else {
            panic!()
        };
        assert_eq!(
            (a.service.name_or("increment"), a.count, a.shm),
            ("increment", Some(5), true)
        );

        // The service as a flag or as the positional alias.
        for args in [
            &["netipc", "status", "--service", "x"][..],
            &["netipc", "status", "x"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Status(a) = cli.command else {
                panic!()
            };
            assert_eq!(a.service.name_or("y"), "x");
        }
        assert!(Cli::try_parse_from(["netipc", "status", "--service", "x", "y"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "ms", "5x", "0s", "-1s", "2d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes() {
        assert_eq!(parse_hash("2002"), Ok(2002));
        assert_eq!(parse_hash("0xd05e7ab0"), Ok(0xd05e_7ab0));
        assert!(parse_hash("0x1_0000_0000").is_err());
        assert!(parse_hash("zz").is_err());
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["netipc", "snapshot", "--token", "xyz"][..],
            &["netipc", "ping", "--count", "0"],
            &["netipc", "status", "bad/name"],
            &[
                "netipc",
                "serve",
                "cgroups-snapshot",
                "--cgroup-root",
                "/a",
                "--mountinfo",
                "/b",
            ],
            &["netipc", "lookup"],
            &["netipc", "ping", "--timeout", "soon"],
            &["netipc", "list", "--quiet", "--verbose"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
