//! Constants of the driver interface, argument parsing with the reference
//! fallbacks, clocks and the optional wait-policy override.

use std::path::Path;
use std::time::Duration;

use netipc::auth::AuthToken;
use netipc::service::{Endpoint, WaitConfig};

pub use crate::clock::{cpu_ns, mono_ns, sleep_until};

/// The endpoint `{run_dir}/{service}.sock` (on Windows the pipe
/// `netipc-{hash(run_dir)}-{service}`), or why it cannot be one.
pub fn endpoint(run_dir: &std::path::Path, service: &str) -> Result<Endpoint, String> {
    Endpoint::new(run_dir, service).map_err(|e| e.to_string())
}

/// Language tag printed in columns 2 and 3 of the client CSV line.
pub const LANG: &str = "netipc";

/// Auth token every driver sends in its HELLO.
pub const AUTH_TOKEN: AuthToken = AuthToken::new(0xBE4C_4000_00C0_FFEE);

/// Request payload proposed by the normal (non-batch) clients.
pub const NORMAL_REQUEST_PAYLOAD: u32 = 4096;
/// Response payload of the normal clients and servers.
pub const NORMAL_RESPONSE_PAYLOAD: u32 = 65536;

/// Request and response payload limit of the lookup scenarios: room for
/// 32,768 keys in one call, so the benchmark measures lookups rather than
/// the §18 split of a 1 KiB default request limit (which the split tests
/// cover).
pub const LOOKUP_PAYLOAD: u32 = 4 << 20;
/// Items per batch message at most.
pub const BATCH_ITEMS: u32 = 1000;
/// Request and response payload limit of the batch scenarios
/// (1000 × 48 + 4096).
pub const BATCH_PAYLOAD: u32 = BATCH_ITEMS * 48 + 4096;

/// Concurrent sessions per server (the Rust reference driver's value).
pub const SERVER_WORKERS: usize = 8;

/// Server lifetime when the duration argument is missing or unparsable.
pub const DEFAULT_SERVER_DURATION: u64 = 30;
/// Extra seconds a server lives past its duration argument.
pub const SERVER_GRACE: u64 = 3;

/// Client duration when the argument does not parse.
pub const DEFAULT_CLIENT_DURATION: u64 = 5;

/// Connection attempts of a client, and the pause between two.
pub const CONNECT_ATTEMPTS: u32 = 200;
/// Pause between two connection attempts.
pub const CONNECT_INTERVAL: Duration = Duration::from_millis(10);
/// How long a client retries attaching a shared-memory region
/// (200 tries, 5 ms apart, in the reference).
pub const SHM_ATTACH_TIMEOUT: Duration = Duration::from_secs(1);

/// Cap on stored latency samples.
pub const MAX_SAMPLES: u64 = 10_000_000;
/// Sample capacity of unthrottled ping-pong, snapshot and pipeline runs.
pub const UNTHROTTLED_SAMPLES: u64 = 5_000_000;
/// Sample capacity of unthrottled batch runs and of every pipeline-batch run.
pub const BATCH_SAMPLES: u64 = 2_000_000;

/// Deepest pipeline-batch round.
pub const MAX_PIPELINE_BATCH_DEPTH: u32 = 128;

/// Environment variable that overrides the library's default receive wait
/// policy in clients and servers: `default`, `latency`, `cpu`, `reference`,
/// or `adaptive:<max spin µs>`. Unset means the library default.
pub const WAIT_ENV: &str = "NETIPC_BENCH_WAIT";

/// Parses a client's duration: a non-negative integer, else 5.
pub fn parse_client_duration(arg: &str) -> u64 {
    arg.trim().parse().unwrap_or(DEFAULT_CLIENT_DURATION)
}

/// Parses a server's optional duration: a non-negative integer, else 30.
pub fn parse_server_duration(arg: Option<&str>) -> u64 {
    arg.and_then(|a| a.trim().parse().ok())
        .unwrap_or(DEFAULT_SERVER_DURATION)
}

/// Parses a target rate: a non-negative integer, else 0 (unthrottled).
pub fn parse_target_rps(arg: &str) -> u64 {
    arg.trim().parse().unwrap_or(0)
}

/// Parses a pipeline depth: values below 1 and garbage become 1.
pub fn parse_depth(arg: &str) -> u32 {
    match arg.trim().parse::<i64>() {
        Ok(d) if d >= 1 => u32::try_from(d).unwrap_or(u32::MAX),
        _ => 1,
    }
}

/// The wait policy selected through [`WAIT_ENV`], or `None` for the
/// library default. An unknown value is reported and ignored.
pub fn wait_override() -> Option<WaitConfig> {
    let value = std::env::var(WAIT_ENV).ok()?;
    match parse_wait(&value) {
        Ok(w) => w,
        Err(()) => {
            eprintln!("netipc-bench: ignoring unknown {WAIT_ENV}={value:?}");
            None
        }
    }
}

/// Parses a [`WAIT_ENV`] value.
fn parse_wait(value: &str) -> Result<Option<WaitConfig>, ()> {
    let value = value.trim();
    Ok(match value {
        "" | "default" => None,
        "latency" => Some(WaitConfig::latency_first()),
        "cpu" => Some(WaitConfig::cpu_first()),
        "reference" => Some(WaitConfig::reference()),
        _ => {
            let us = value.strip_prefix("adaptive:").ok_or(())?;
            let us: u64 = us.parse().map_err(|_| ())?;
            Some(WaitConfig::adaptive(Duration::from_micros(us)))
        }
    })
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
/// (On Windows the run directory is only hashed into the pipe name; it is
/// still created, as the reference drivers do.)
pub fn ensure_run_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Prefix of the baseline-transport subcommands and scenario labels: `uds`
/// on Unix, `np` (the named pipe) on Windows.
pub const BASELINE: &str = if cfg!(windows) { "np" } else { "uds" };

/// A subcommand in the spelling of the tables (`uds-…`), from the
/// platform's spelling (`np-…` on Windows); `None` for the other
/// platform's baseline names.
pub fn internal_name(name: &str) -> Option<String> {
    match name
        .strip_prefix(BASELINE)
        .and_then(|r| r.strip_prefix('-'))
    {
        Some(rest) => Some(format!("uds-{rest}")),
        None if BASELINE != "uds" && name.starts_with("uds-") => None,
        None => Some(name.to_owned()),
    }
}

/// A label of the tables (`uds-…`) in the platform's spelling.
pub fn platform_label(label: &str) -> String {
    match label.strip_prefix("uds-") {
        Some(rest) => format!("{BASELINE}-{rest}"),
        None => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_payload_is_52096() {
        assert_eq!(BATCH_PAYLOAD, 52096);
    }

    #[test]
    fn parse_fallbacks_match_the_rust_reference() {
        assert_eq!(parse_client_duration("7"), 7);
        assert_eq!(parse_client_duration("x"), 5);
        assert_eq!(parse_client_duration("-1"), 5);
        assert_eq!(parse_server_duration(None), 30);
        assert_eq!(parse_server_duration(Some("abc")), 30);
        assert_eq!(parse_server_duration(Some("0")), 0);
        assert_eq!(parse_server_duration(Some("12")), 12);
        assert_eq!(parse_target_rps("10000"), 10000);
        assert_eq!(parse_target_rps("fast"), 0);
        assert_eq!(parse_depth("16"), 16);
        assert_eq!(parse_depth("0"), 1);
        assert_eq!(parse_depth("-4"), 1);
        assert_eq!(parse_depth("deep"), 1);
    }

    #[test]
    fn baseline_names() {
        assert_eq!(
            internal_name("uds-ping-pong-server").as_deref(),
            Some("uds-ping-pong-server")
        );
        assert_eq!(
            internal_name("snapshot-shm-client").as_deref(),
            Some("snapshot-shm-client")
        );
        assert_eq!(platform_label("uds-pipeline-d16"), "uds-pipeline-d16");
        assert_eq!(platform_label("snapshot-baseline"), "snapshot-baseline");
    }

    #[test]
    fn wait_values() {
        assert_eq!(parse_wait("default"), Ok(None));
        assert_eq!(parse_wait("cpu"), Ok(Some(WaitConfig::cpu_first())));
        assert_eq!(
            parse_wait("adaptive:20"),
            Ok(Some(WaitConfig::adaptive(Duration::from_micros(20))))
        );
        assert_eq!(parse_wait("bogus"), Err(()));
    }

    #[test]
    fn clocks_advance() {
        let a = mono_ns();
        let c = cpu_ns();
        let mut x = 0u64;
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(mono_ns() > a);
        assert!(cpu_ns() >= c);
        let t = mono_ns() + 1_000_000;
        sleep_until(t);
        assert!(mono_ns() >= t);
    }
}
