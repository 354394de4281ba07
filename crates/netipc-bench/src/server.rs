//! The benchmark servers: a Level 2 managed server per scenario family,
//! `READY` once the socket is bound, and `SERVER_CPU_SEC=` on SIGTERM,
//! SIGINT or at the end of the lifetime.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netipc::service::{cgroups, increment, Handler, ManagedServer, ServerConfig};
use netipc::wire::Profiles;

use crate::common::{
    cpu_ns, endpoint, ensure_run_dir, internal_name, wait_override, AUTH_TOKEN, BATCH_PAYLOAD,
    LOOKUP_PAYLOAD, NORMAL_REQUEST_PAYLOAD, NORMAL_RESPONSE_PAYLOAD, SERVER_GRACE, SERVER_WORKERS,
};
use crate::snapshot;

/// In and out buffer of the servers' pipe instances on Windows: a full
/// pipeline-batch round (128 × 16 000 bytes) plus headers.
#[cfg(windows)]
const PIPE_BUFFER: u32 = 4 << 20;

/// What a server subcommand serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// INCREMENT with the normal limits.
    Increment,
    /// INCREMENT with the batch limits.
    IncrementBatch,
    /// CGROUPS_SNAPSHOT with the normal limits.
    Snapshot,
    /// CGROUPS_LOOKUP over the synthetic cgroups.
    CgroupsLookup,
    /// APPS_LOOKUP over the synthetic processes.
    AppsLookup,
}

/// A server subcommand: what it serves and over which profiles.
#[derive(Debug, Clone, Copy)]
pub struct ServerSpec {
    /// Served method and limits.
    pub kind: ServerKind,
    /// Offered (and preferred) profiles: 0x01 or 0x03.
    pub profiles: Profiles,
}

impl ServerSpec {
    /// The spec of a server subcommand, if `name` is one (`np-…` instead
    /// of `uds-…` on Windows).
    pub fn from_subcommand(name: &str) -> Option<ServerSpec> {
        let uds = Profiles::BASELINE;
        let shm = Profiles(Profiles::BASELINE.0 | Profiles::SHM_HYBRID.0);
        let (kind, profiles) = match internal_name(name)?.as_str() {
            "uds-ping-pong-server" => (ServerKind::Increment, uds),
            "shm-ping-pong-server" => (ServerKind::Increment, shm),
            "uds-batch-ping-pong-server" => (ServerKind::IncrementBatch, uds),
            "shm-batch-ping-pong-server" => (ServerKind::IncrementBatch, shm),
            "snapshot-server" => (ServerKind::Snapshot, uds),
            "snapshot-shm-server" => (ServerKind::Snapshot, shm),
            "cgroups-lookup-server" => (ServerKind::CgroupsLookup, uds),
            "cgroups-lookup-shm-server" => (ServerKind::CgroupsLookup, shm),
            "apps-lookup-server" => (ServerKind::AppsLookup, uds),
            "apps-lookup-shm-server" => (ServerKind::AppsLookup, shm),
            _ => return None,
        };
        Some(ServerSpec { kind, profiles })
    }

    /// Managed-server settings of this spec.
    fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(AUTH_TOKEN);
        config = config.with_profiles(self.profiles, self.profiles);
        config = config.with_response_payload(match self.kind {
            ServerKind::IncrementBatch => BATCH_PAYLOAD,
            ServerKind::Increment | ServerKind::Snapshot => NORMAL_RESPONSE_PAYLOAD,
            ServerKind::CgroupsLookup | ServerKind::AppsLookup => LOOKUP_PAYLOAD,
        });
        // Accept the benchmark clients' request proposals (4096, or the
        // batch payload), above the 1024-byte default request maximum.
        config = config.with_request_payload(match self.kind {
            ServerKind::IncrementBatch => BATCH_PAYLOAD,
            ServerKind::Increment | ServerKind::Snapshot => NORMAL_REQUEST_PAYLOAD,
            ServerKind::CgroupsLookup | ServerKind::AppsLookup => LOOKUP_PAYLOAD,
        });
        config = config.with_max_sessions(SERVER_WORKERS);
        // A pipeline client writes its whole round before it reads: on a
        // named pipe the requests and the responses of a round must fit the
        // pipe's buffers, or both sides block in WriteFile (up to 128
        // batches of 16 000 bytes at the deepest pipeline-batch round).
        #[cfg(windows)]
        {
            config.listener = config.listener.with_buffer_size(PIPE_BUFFER);
        }
        if let Some(wait) = wait_override() {
            config = config.with_wait(wait);
        }
        config
    }
}

/// Wakes the main thread when SIGTERM or SIGINT arrives: the signal handler
/// writes a byte into a socket pair (async-signal-safe), the main thread
/// blocks reading the other end with a timeout.
#[cfg(unix)]
struct StopSignal {
    reader: std::os::unix::net::UnixStream,
}

#[cfg(unix)]
impl StopSignal {
    fn install() -> std::io::Result<StopSignal> {
        let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, writer.try_clone()?)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, writer)?;
        Ok(StopSignal { reader })
    }

    /// Blocks until a signal arrives (true) or `lifetime` has passed
    /// (false).
    fn wait(&mut self, lifetime: Duration) -> bool {
        use std::io::Read;
        let deadline = Instant::now() + lifetime;
        let mut byte = [0u8; 1];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // A zero timeout would mean "block forever"; `left` is > 0.
            if self.reader.set_read_timeout(Some(left)).is_err() {
                std::thread::sleep(left.min(Duration::from_millis(50)));
                continue;
            }
            match self.reader.read(&mut byte) {
                Ok(n) if n > 0 => return true,
                // EOF cannot happen while the handlers hold the writer; be
                // safe and fall back to the timer.
                Ok(_) => std::thread::sleep(left.min(Duration::from_millis(50))),
                Err(_) => {}
            }
        }
    }
}

/// On Windows there is no SIGTERM: the server stops at the end of its
/// lifetime or when a line arrives on its standard input (end of input is
/// ignored, so a server started with stdin closed runs its lifetime).
/// Ctrl-C ends the process without the CPU line, as SIGTERM ends the
/// reference Rust server.
#[cfg(windows)]
struct StopSignal {
    line: std::sync::mpsc::Receiver<()>,
}

#[cfg(windows)]
impl StopSignal {
    fn install() -> std::io::Result<StopSignal> {
        let (tx, line) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("stdin-stop".into())
            .spawn(move || {
                let mut buf = String::new();
                if matches!(std::io::stdin().read_line(&mut buf), Ok(n) if n > 0) {
                    let _ = tx.send(());
                }
            })?;
        Ok(StopSignal { line })
    }

    /// Blocks until a line arrives on stdin (true) or `lifetime` has passed
    /// (false).
    fn wait(&mut self, lifetime: Duration) -> bool {
        let deadline = Instant::now() + lifetime;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.line.recv_timeout(left) {
                Ok(()) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
                // End of input: only the timer is left.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left);
                    return false;
                }
            }
        }
    }
}

/// Runs a server subcommand; returns the exit code.
pub fn run(spec: ServerSpec, run_dir: &Path, service: &str, duration_sec: u64) -> i32 {
    if let Err(e) = ensure_run_dir(run_dir) {
        eprintln!("netipc-bench: cannot create {}: {e}", run_dir.display());
        return 1;
    }
    let mut stop = match StopSignal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netipc-bench: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let config = spec.config();
    let started = match spec.kind {
        ServerKind::Increment | ServerKind::IncrementBatch => start(
            run_dir,
            service,
            config,
            increment::handler(|v| Ok(v.wrapping_add(1))),
        ),
        ServerKind::Snapshot => match snapshot::template() {
            Ok(template) => {
                let generation = AtomicU64::new(1);
                start(
                    run_dir,
                    service,
                    config,
                    cgroups::handler(move |out| {
                        let g = generation.fetch_add(1, Ordering::Relaxed);
                        snapshot::write_response(&template, g, out);
                        Ok(())
                    }),
                )
            }
            Err(e) => Err(format!("cannot build the snapshot: {e}")),
        },
        ServerKind::CgroupsLookup => {
            start(run_dir, service, config, crate::lookups::cgroups_handler())
        }
        ServerKind::AppsLookup => start(run_dir, service, config, crate::lookups::apps_handler()),
    };
    let server = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netipc-bench: {e}");
            return 1;
        }
    };
    // The socket is bound once start() has returned.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "READY")
        .and_then(|_| stdout.flush())
        .is_err()
    {
        eprintln!("netipc-bench: cannot write READY");
    }
    let cpu_start = cpu_ns();
    let lifetime = Duration::from_secs(duration_sec.saturating_add(SERVER_GRACE));
    let signalled = stop.wait(lifetime);
    let stats = server.stats();
    server.shutdown();
    let cpu_sec = cpu_ns().saturating_sub(cpu_start) as f64 / 1e9;
    let _ = writeln!(stdout, "SERVER_CPU_SEC={cpu_sec:.6}").and_then(|_| stdout.flush());
    eprintln!(
        "netipc-bench: {service}: stopped by {}; sessions {} served, {} refused; {} requests",
        if signalled { "signal" } else { "timer" },
        stats.sessions_served,
        stats.sessions_refused,
        stats.requests,
    );
    0
}

fn start(
    run_dir: &Path,
    service: &str,
    config: ServerConfig,
    handler: impl Handler,
) -> Result<ManagedServer, String> {
    ManagedServer::start(endpoint(run_dir, service)?, config, handler)
        .map_err(|e| format!("cannot serve {service} in {}: {e}", run_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands() {
        let s = ServerSpec::from_subcommand("shm-batch-ping-pong-server").unwrap();
        assert_eq!(s.kind, ServerKind::IncrementBatch);
        assert_eq!(s.profiles.0, 0x03);
        assert_eq!(s.config().session.policy.max_response_payload, 52096);
        assert_eq!(s.config().session.policy.max_request_payload, 52096);
        let s = ServerSpec::from_subcommand("snapshot-server").unwrap();
        assert_eq!(s.profiles.0, 0x01);
        assert_eq!(s.config().session.policy.max_response_payload, 65536);
        assert_eq!(s.config().max_sessions, 8);
        assert!(ServerSpec::from_subcommand("pipeline-server").is_none());
    }
}
