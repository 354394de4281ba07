//! `netipc ping`: INCREMENT round trips, back to back (a latency
//! measurement) or one per interval (`-i`, like ping(8)); Ctrl-C ends
//! either with the statistics so far.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use netipc::service::increment::IncrementClient;
use serde_json::json;

use super::query::transport_name;
use super::status::nanos;
use super::{call_failed, client_config, output, prepare, print_json};
use crate::cli::PingArgs;
use crate::endpoint::{check_state, INCREMENT_SERVICE};
use crate::exit::CliError;
use crate::format;
use crate::latency::{LatencySummary, Samples};
use crate::log;
use crate::signals::StopFlag;

/// Round trips made before a back-to-back run starts measuring.
const PING_WARMUP: u32 = 100;

/// Round trips of a back-to-back run without `--count`.
const DEFAULT_COUNT: u32 = 1000;

/// A back-to-back run shows a progress line once it has run this long…
const PROGRESS_AFTER: Duration = Duration::from_millis(500);

/// …and updates it this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Runs `netipc ping`.
///
/// # Errors
///
/// As for the other client commands, or when the endpoint does not answer
/// INCREMENT correctly. Ctrl-C is not an error: the statistics so far are
/// printed and the exit status is 0.
pub fn run(args: &PingArgs, stop: &StopFlag) -> Result<(), CliError> {
    let service = args.service.name_or(INCREMENT_SERVICE);
    let (token, endpoint) = prepare(&args.common, service)?;
    let mut config = client_config(&args.common, &token);
    if !args.shm {
        config = config.uds_only();
    }
    let mut client = IncrementClient::new(endpoint.clone(), config);
    client.refresh();
    check_state(&client.status(), &endpoint, &token)?;
    let transport = transport_name(client.status().profile);

    let (warmup, count) = match args.interval {
        None => (PING_WARMUP, Some(args.count.unwrap_or(DEFAULT_COUNT))),
        Some(_) => (0, args.count),
    };
    let per_reply = args.interval.is_some() && !args.json;
    let mut progress = Progress::new(args.interval.is_none() && !args.json);
    let mut samples = Samples::with_capacity(count.unwrap_or(1024).min(1 << 20) as usize);
    let mut value = 0u64;
    let mut interrupted = false;
    let mut seq = 0u32;
    if per_reply {
        let stdout = io::stdout();
        output(writeln!(
            stdout.lock(),
            "INCREMENT {endpoint} over {transport}"
        ))?;
    }
    loop {
        if stop.is_set() {
            interrupted = true;
            break;
        }
        if count.is_some_and(|c| samples.len() >= c as usize) {
            break;
        }
        let started = Instant::now();
        let answer = match client.call(value) {
            Ok(a) => a,
            // A signal may cut a wait short: that is Ctrl-C, not a failure.
            Err(_) if stop.is_set() => {
                interrupted = true;
                break;
            }
            Err(e) => {
                progress.clear();
                return Err(call_failed(
                    &client.status(),
                    &e,
                    &endpoint,
                    &token,
                    "INCREMENT",
                ));
            }
        };
        let took = started.elapsed();
        if answer != value.wrapping_add(1) {
            progress.clear();
            return Err(CliError::failure(format!(
                "provider at {endpoint} answered {answer} to INCREMENT {value}"
            )));
        }
        value = answer;
        seq += 1;
        if seq <= warmup {
            continue;
        }
        samples.push(took);
        if per_reply {
            let stdout = io::stdout();
            output(writeln!(
                stdout.lock(),
                "seq={} value={answer} time={}",
                samples.len(),
                format::duration(took)
            ))?;
        }
        progress.tick(samples.len(), count);
        if let Some(interval) = args.interval {
            if count.is_some_and(|c| samples.len() >= c as usize) {
                break;
            }
            if stop.sleep(interval) {
                interrupted = true;
                break;
            }
        }
    }
    progress.clear();
    let summary = samples.summary();
    if args.json {
        return print_json(&json!({
            "service": endpoint.service(),
            "endpoint": endpoint.to_string(),
            "transport": transport,
            "requested": count,
            "count": summary.map_or(0, |s| s.count),
            "interrupted": interrupted,
            "min_ns": summary.map(|s| nanos(s.min)),
            "p50_ns": summary.map(|s| nanos(s.p50)),
            "p90_ns": summary.map(|s| nanos(s.p90)),
            "p99_ns": summary.map(|s| nanos(s.p99)),
            "max_ns": summary.map(|s| nanos(s.max)),
            "mean_ns": summary.map(|s| nanos(s.mean)),
            "calls_per_second": summary.map(|s| s.per_second().round()),
        }));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(write_summary(
        &mut out,
        summary.as_ref(),
        &endpoint.to_string(),
        transport,
        interrupted,
    ))
}

fn write_summary(
    out: &mut impl Write,
    summary: Option<&LatencySummary>,
    endpoint: &str,
    transport: &str,
    interrupted: bool,
) -> io::Result<()> {
    let note = if interrupted { " (interrupted)" } else { "" };
    match summary {
        None => writeln!(
            out,
            "0 INCREMENT round trips to {endpoint} over {transport}{note}"
        ),
        Some(s) => writeln!(
            out,
            "{} INCREMENT round trips to {endpoint} over {transport}{note}\n{}  mean {} ({} calls/s)",
            format::count(s.count as u64),
            s.line(),
            format::duration(s.mean),
            format::count(s.per_second() as u64),
        ),
    }
}

/// A `\r`-rewritten progress line on stderr, shown only when stdout and
/// stderr are terminals, `-q` was not given, and the run is long.
struct Progress {
    enabled: bool,
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    fn new(wanted: bool) -> Self {
        Progress {
            enabled: wanted
                && log::level() >= log::NORMAL
                && io::stdout().is_terminal()
                && io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
        }
    }

    fn tick(&mut self, done: usize, total: Option<u32>) {
        if !self.enabled || self.started.elapsed() < PROGRESS_AFTER {
            return;
        }
        if self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let total = total.map_or_else(String::new, |t| format!(" of {}", format::count(t.into())));
        let _ = write!(
            io::stderr(),
            "\r\x1b[K{}{total} round trips",
            format::count(done as u64)
        );
    }

    fn clear(&mut self) {
        if self.enabled && self.last.is_some() {
            let _ = write!(io::stderr(), "\r\x1b[K");
            self.last = None;
        }
    }
}
