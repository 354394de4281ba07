//! The `netipc-bench` benchmark driver.
//!
//! It implements the shared benchmark-driver interface of protocol v1, so
//! any client can be paired with any server of another implementation:
//!
//! ```text
//! netipc-bench <server-subcommand> <run_dir> <service> [duration_sec]
//! netipc-bench <client-subcommand> <run_dir> <service> <duration_sec> <target_rps> [depth]
//! netipc-bench lookup-bench <duration_sec>
//! netipc-bench <lookup-client> <run_dir> <service> <duration_sec> <target_rps> <items> <known|unknown|mixed>
//! netipc-bench <lookup-dispatch> <duration_sec> <items> <known|unknown|mixed>
//! ```
//!
//! Servers print `READY` once their socket is bound and
//! `SERVER_CPU_SEC=<seconds>` when SIGTERM or SIGINT arrives or their
//! lifetime (duration + 3 s) ends. Clients print one 10-column CSV line on
//! stdout and exit 1 if any response was wrong. `docs/benchmarks-method.md`
//! describes the measurement method.

mod client;
mod clock;
mod common;
// In-process lookups need `std::hint::black_box` (Rust 1.66), newer than
// the rustc 1.63 the Windows build uses; lookup-bench is built on Unix.
#[cfg(unix)]
mod lookup;
mod lookups;
mod measure;
mod server;
mod snapshot;

use std::path::Path;

use client::{ClientSpec, RunArgs};
use server::ServerSpec;

const USAGE: &str = "\
usage:
  netipc-bench --help | -h        this text (exit 0)
  netipc-bench <server> <run_dir> <service> [duration_sec]
      servers: uds-ping-pong-server shm-ping-pong-server
               uds-batch-ping-pong-server shm-batch-ping-pong-server
               snapshot-server snapshot-shm-server
               cgroups-lookup-server cgroups-lookup-shm-server
               apps-lookup-server apps-lookup-shm-server
  netipc-bench <client> <run_dir> <service> <duration_sec> <target_rps>
      clients: uds-ping-pong-client shm-ping-pong-client
               uds-batch-ping-pong-client shm-batch-ping-pong-client
               snapshot-client snapshot-shm-client
  netipc-bench <pipeline-client> <run_dir> <service> <duration_sec> <target_rps> <depth>
      pipeline clients: uds-pipeline-client uds-pipeline-batch-client
  netipc-bench lookup-bench <duration_sec>
  netipc-bench <lookup-client> <run_dir> <service> <duration_sec> <target_rps> <items> <mix>
      lookup clients: cgroups-lookup-client cgroups-lookup-shm-client
                      apps-lookup-client apps-lookup-shm-client
  netipc-bench <lookup-dispatch> <duration_sec> <items> <mix>
      in-process: cgroups-lookup-dispatch apps-lookup-dispatch
      items 1..65536, mix known|unknown|mixed

target_rps 0 = unthrottled. Environment: NETIPC_BENCH_WAIT=default|latency|cpu|reference|adaptive:<us>
selects the receive wait policy of clients and servers.";

fn usage(problem: &str) -> i32 {
    // On Windows the baseline is the named pipe: `np-…` subcommands.
    let usage = USAGE.replace("uds-", &format!("{}-", common::BASELINE));
    eprintln!("netipc-bench: {problem}\n{usage}");
    1
}

/// Dispatches `args` (without the program name); returns the exit code.
fn dispatch(args: &[String]) -> i32 {
    let sub = match args.first() {
        Some(sub) => sub,
        None => return usage("missing subcommand"),
    };
    if matches!(sub.as_str(), "--help" | "-h" | "help") {
        println!("netipc-bench: the netipc benchmark driver (docs/benchmarks-method.md)\n{USAGE}");
        return 0;
    }
    let rest = &args[1..];
    if let Some(spec) = ServerSpec::from_subcommand(sub) {
        if rest.len() < 2 {
            return usage(&format!("{sub} needs <run_dir> <service>"));
        }
        let duration = common::parse_server_duration(rest.get(2).map(String::as_str));
        return server::run(spec, Path::new(&rest[0]), &rest[1], duration);
    }
    if let Some(spec) = ClientSpec::from_subcommand(sub) {
        let needed = if spec.needs_depth() { 5 } else { 4 };
        if rest.len() < needed {
            return usage(&format!(
                "{sub} needs <run_dir> <service> <duration_sec> <target_rps>{}",
                if spec.needs_depth() { " <depth>" } else { "" }
            ));
        }
        let run = RunArgs {
            duration_sec: common::parse_client_duration(&rest[2]),
            target_rps: common::parse_target_rps(&rest[3]),
            depth: if spec.needs_depth() {
                common::parse_depth(&rest[4])
            } else {
                1
            },
        };
        return client::run(spec, Path::new(&rest[0]), &rest[1], run);
    }
    if lookups::client_spec(sub).is_some() {
        if rest.len() < 6 {
            return usage(&format!(
                "{sub} needs <run_dir> <service> <duration_sec> <target_rps> <items> <mix>"
            ));
        }
        let (items, mix) = match (
            lookups::parse_items(&rest[4]),
            lookups::Mix::parse(&rest[5]),
        ) {
            (Some(items), Some(mix)) => (items, mix),
            _ => return usage("items must be 1..65536 and mix known, unknown or mixed"),
        };
        let run = lookups::LookupRun {
            duration_sec: common::parse_client_duration(&rest[2]),
            target_rps: common::parse_target_rps(&rest[3]),
            items,
            mix,
        };
        return lookups::run_client(sub, Path::new(&rest[0]), &rest[1], run);
    }
    if let Some(which) = lookups::dispatch_spec(sub) {
        if rest.len() < 3 {
            return usage(&format!("{sub} needs <duration_sec> <items> <mix>"));
        }
        let (items, mix) = match (
            lookups::parse_items(&rest[1]),
            lookups::Mix::parse(&rest[2]),
        ) {
            (Some(items), Some(mix)) => (items, mix),
            _ => return usage("items must be 1..65536 and mix known, unknown or mixed"),
        };
        return lookups::run_dispatch(which, common::parse_client_duration(&rest[0]), items, mix);
    }
    if sub == "lookup-bench" {
        #[cfg(unix)]
        return match rest.first() {
            Some(d) => lookup::run(common::parse_client_duration(d)),
            None => usage("lookup-bench needs <duration_sec>"),
        };
        #[cfg(not(unix))]
        return usage("lookup-bench is built on Unix only");
    }
    usage(&format!("unknown subcommand {sub:?}"))
}

fn main() {
    // The Rust runtime already ignores SIGPIPE (a write to a closed socket
    // returns EPIPE instead of killing the process), as the driver
    // interface requires.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(dispatch(&args));
}
