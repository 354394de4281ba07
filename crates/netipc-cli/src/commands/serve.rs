//! `netipc serve cgroups-snapshot` and `netipc serve increment`.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use netipc::service::{
    increment, Handler, HandshakeError, ManagedServer, ServerConfig, ServerError, SessionEvent,
};
use netipc::transport::{EndpointError, InUseReason};

use crate::cgroupfs::{Layout, ScanSource};
use crate::cli::{LayoutArg, ServeCgroupsArgs, ServeIncrementArgs};
use crate::endpoint::{endpoint, io_reason, run_dir_error};
use crate::exit::{describe, CliError};
use crate::format;
use crate::log;
use crate::provider::SnapshotProvider;
use crate::signals::StopFlag;
use crate::token::{self, Token};

/// Mode of a run directory that `serve` creates.
pub const RUN_DIR_MODE: u32 = 0o755;

/// Runs the cgroups snapshot provider until a stop is requested.
///
/// # Errors
///
/// No token, an unusable run directory, or an endpoint that cannot be
/// bound (for example because another provider serves it).
pub fn cgroups(args: &ServeCgroupsArgs, stop: &StopFlag) -> Result<(), CliError> {
    let run_dir = &args.common.run_dir;
    endpoint(run_dir, &args.service)?;
    let token = token::resolve(args.common.token)?;
    prepare_run_dir(run_dir)?;

    let source = match (&args.cgroup_root, &args.mountinfo) {
        (Some(root), _) => ScanSource::Root {
            root: root.clone(),
            layout: match args.layout {
                LayoutArg::V1 => Layout::V1,
                LayoutArg::V2 => Layout::V2,
            },
        },
        (None, Some(mountinfo)) => ScanSource::Mountinfo(mountinfo.clone()),
        (None, None) => ScanSource::default(),
    };
    let mut provider = SnapshotProvider::new(source);
    let mut last_failure = None;
    if let Err(e) = provider.rescan() {
        let text = describe(&e);
        eprintln!(
            "netipc: cannot scan the cgroup filesystem: {text}; serving an empty snapshot (generation 0) until a scan succeeds"
        );
        last_failure = Some(text);
    }

    let first = provider.current();
    let mut config = session_log(ServerConfig::new(token.auth()), &token);
    config = config.with_response_payload(response_limit_for(first.payload.len()));
    let server = start(run_dir, &args.service, config, provider.handle().handler())?;
    let root = provider
        .last_scan()
        .map(|s| format!(" from {}", s.root.display()))
        .unwrap_or_default();
    println!(
        "serving {} at {}: {} {}{root}, generation {}, rescanning every {}",
        args.service,
        server.socket_path().display(),
        first.items,
        format::plural(first.items, "cgroup", "cgroups"),
        first.generation,
        format::seconds(args.interval),
    );
    println!("auth token {}", token.describe());

    while !stop.sleep(args.interval) {
        match provider.rescan() {
            Ok(r) => {
                if last_failure.take().is_some() {
                    eprintln!("netipc: scanning works again");
                }
                if r.published {
                    println!(
                        "generation {}: {} {}",
                        r.generation,
                        r.items,
                        format::plural(r.items, "cgroup", "cgroups")
                    );
                }
            }
            Err(e) => {
                // Report each distinct failure once, not every interval.
                let text = describe(&e);
                if last_failure.as_deref() != Some(text.as_str()) {
                    eprintln!(
                        "netipc: rescan failed, still serving generation {}: {text}",
                        provider.current().generation
                    );
                    last_failure = Some(text);
                }
            }
        }
    }
    stop_server(server);
    Ok(())
}

/// Runs an INCREMENT provider until a stop is requested.
///
/// # Errors
///
/// As for [`cgroups`].
pub fn increment(args: &ServeIncrementArgs, stop: &StopFlag) -> Result<(), CliError> {
    let run_dir = &args.common.run_dir;
    endpoint(run_dir, &args.service)?;
    let token = token::resolve(args.common.token)?;
    prepare_run_dir(run_dir)?;
    let handler = increment::handler(|v| Ok(v.wrapping_add(1)));
    let server = start(
        run_dir,
        &args.service,
        session_log(ServerConfig::new(token.auth()), &token),
        handler,
    )?;
    println!(
        "serving {} at {}: INCREMENT answers the value plus one",
        args.service,
        server.socket_path().display()
    );
    println!("auth token {}", token.describe());
    while !stop.sleep(Duration::from_secs(3600)) {}
    stop_server(server);
    Ok(())
}

/// Shuts `server` down and says so.
pub(crate) fn stop_server(server: ManagedServer) {
    let socket = server.socket_path().to_path_buf();
    let served = server.stats().sessions_served;
    server.shutdown();
    println!(
        "stopped after {} {}; removed {}",
        served,
        format::plural(served as usize, "session", "sessions"),
        socket.display()
    );
}

/// Adds the session log to a provider's configuration: each session
/// accepted, refused (and why; for a token mismatch with our token's
/// source and fingerprint) or turned away is a line on stderr, unless `-q`;
/// ended sessions too under `-v`.
pub fn session_log(config: ServerConfig, token: &Token) -> ServerConfig {
    let ours = token.describe();
    config.with_session_observer(move |event| match event {
        SessionEvent::Accepted {
            session_id,
            profile,
        } => log::note(&format!("session {session_id} accepted ({profile})")),
        SessionEvent::Refused {
            session_id,
            error: HandshakeError::AuthFailed,
        } => log::note(&format!(
            "session {session_id} refused: the client's auth token differs from ours (token {ours})"
        )),
        SessionEvent::Refused { session_id, error } => log::note(&format!(
            "session {session_id} refused: {}",
            describe(*error)
        )),
        SessionEvent::TurnedAway { session_id } => log::note(&format!(
            "session {session_id} turned away: too many sessions at once"
        )),
        SessionEvent::Ended {
            session_id,
            requests,
        } => log::detail(&format!(
            "session {session_id} ended after {requests} {}",
            format::plural(*requests as usize, "request", "requests")
        )),
        _ => {}
    })
}

/// Starts a managed server, turning failures into the tool's errors.
pub(crate) fn start(
    run_dir: &Path,
    service: &str,
    config: ServerConfig,
    handler: impl Handler,
) -> Result<ManagedServer, CliError> {
    let endpoint = endpoint(run_dir, service)?;
    let socket = endpoint.socket_path().to_path_buf();
    ManagedServer::start(endpoint, config, handler).map_err(|e| start_error(&e, &socket))
}

fn start_error(e: &ServerError, socket: &Path) -> CliError {
    match e {
        ServerError::Endpoint(EndpointError::AddressInUse {
            reason: InUseReason::LiveListener | InUseReason::BindRace,
            ..
        }) => CliError::failure(format!(
            "another provider is already serving {}",
            socket.display()
        )),
        ServerError::Endpoint(EndpointError::PermissionDenied { .. }) => CliError::run_dir(
            format!("cannot listen at {}: permission denied", socket.display()),
        ),
        other => CliError::failure(format!(
            "cannot listen at {}: {}",
            socket.display(),
            describe(other)
        )),
    }
}

/// Makes sure `dir` exists as a directory, creating it (and missing
/// parents) with mode 0755 if needed.
///
/// # Errors
///
/// Exit 5 when it is not a directory or cannot be created.
pub fn prepare_run_dir(dir: &Path) -> Result<(), CliError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(CliError::run_dir(format!(
            "run directory {} is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(RUN_DIR_MODE)
            .create(dir)
            .map_err(|e| {
                CliError::run_dir(format!(
                    "cannot create run directory {}: {}",
                    dir.display(),
                    io_reason(&e)
                ))
            }),
        Err(e) => Err(run_dir_error(dir, &e)),
    }
}

/// The response limit to announce first: the next power of two that holds
/// the current snapshot, at least 64 KiB, so the first client rarely needs
/// to renegotiate. (Later growth is learned by the server.)
pub fn response_limit_for(payload_len: usize) -> u32 {
    let want = payload_len.max(64 * 1024).next_power_of_two();
    u32::try_from(want).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn run_dir_is_created_0755() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare_run_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        // The umask may take bits away, never add them.
        assert_eq!(mode & !RUN_DIR_MODE, 0);
        prepare_run_dir(&dir).unwrap();

        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            prepare_run_dir(&file).unwrap_err().exit,
            crate::exit::Exit::RunDir
        );
    }

    #[test]
    fn first_response_limit() {
        assert_eq!(response_limit_for(0), 65_536);
        assert_eq!(response_limit_for(65_536), 65_536);
        assert_eq!(response_limit_for(65_537), 131_072);
        assert_eq!(response_limit_for(1_500_000), 2_097_152);
    }
}
