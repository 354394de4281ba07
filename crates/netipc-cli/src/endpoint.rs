//! Client-side checks around an endpoint, turning what went wrong into the
//! tool's one-line errors and exit codes.

use std::io;
use std::path::Path;

use netipc::service::{
    ClientState, ClientStatus, ConnectError, ConnectFailure, Endpoint, EndpointError,
};

use crate::exit::{describe, CliError, Exit};
use crate::token::Token;

/// The run directory used when `--run-dir` is not given.
pub const DEFAULT_RUN_DIR: &str = "/run/netdata";

/// The endpoint name of the cgroups snapshot service.
pub const CGROUPS_SERVICE: &str = "cgroups-snapshot";

/// The endpoint name `serve increment` and `ping` use by default.
pub const INCREMENT_SERVICE: &str = "increment";

/// The endpoint `{run_dir}/{service}.sock`.
///
/// # Errors
///
/// A usage error (exit 2) naming the service and the limit in bytes when
/// the socket path would be too long for a Unix socket; exit 5 for any
/// other problem.
pub fn endpoint(run_dir: &Path, service: &str) -> Result<Endpoint, CliError> {
    Endpoint::new(run_dir, service).map_err(|e| match e {
        EndpointError::PathTooLong { len, max, .. } => {
            let room = max.saturating_sub(len - service.len());
            CliError::usage(format!(
                "service name {} is too long: {} bytes, but in run directory {} a service name may have at most {room} bytes (a socket path at most {max})",
                short_name(service),
                service.len(),
                run_dir.display(),
            ))
        }
        EndpointError::InvalidServiceName { .. } => CliError::usage(e.to_string()),
        other => CliError::run_dir(other.to_string()),
    })
}

/// A service name for a message: quoted, the middle of a very long one
/// elided.
fn short_name(service: &str) -> String {
    const KEEP: usize = 24;
    if service.len() <= 2 * KEEP + 3 {
        format!("\"{service}\"")
    } else {
        // Service names are ASCII (checked before the length).
        format!(
            "\"{}...{}\"",
            &service[..KEEP],
            &service[service.len() - KEEP..]
        )
    }
}

/// Checks a service name with the protocol's rule
/// ([`Endpoint::check_service_name`]; clap value parser).
///
/// # Errors
///
/// A description of the problem.
pub fn parse_service(s: &str) -> Result<String, String> {
    Endpoint::check_service_name(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

/// Checks, before connecting, that the endpoint's run directory is a
/// directory we can reach its socket through.
///
/// # Errors
///
/// Exit 5 when the directory does not exist, is not a directory, or cannot
/// be searched.
pub fn check_run_dir(endpoint: &Endpoint) -> Result<(), CliError> {
    let run_dir = endpoint.run_dir();
    let shown = run_dir.display();
    match std::fs::metadata(run_dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(CliError::run_dir(format!("run directory {shown} is not a directory"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CliError::run_dir(format!(
                "run directory {shown} does not exist — is the provider running? (choose another with --run-dir)"
            )))
        }
        Err(e) => return Err(run_dir_error(run_dir, &e)),
    }
    match std::fs::symlink_metadata(endpoint.socket_path()) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(run_dir_error(run_dir, &e)),
    }
}

/// "cannot access run directory D: reason" (exit 5).
pub fn run_dir_error(run_dir: &Path, e: &io::Error) -> CliError {
    CliError::run_dir(format!(
        "cannot access run directory {}: {}",
        run_dir.display(),
        io_reason(e)
    ))
}

/// An I/O error's text without the "(os error N)" suffix.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Turns a client's status after `refresh()` into the tool's error, or `Ok`
/// when it is Ready.
///
/// # Errors
///
/// As for [`connect_failed`], from the client's last connection attempt.
pub fn check_state(
    status: &ClientStatus,
    endpoint: &Endpoint,
    token: &Token,
) -> Result<(), CliError> {
    if status.state == ClientState::Ready {
        return Ok(());
    }
    Err(match &status.last_connect_error {
        Some(e) => connect_failed(e, endpoint, token),
        None => CliError::failure(format!(
            "cannot connect to {endpoint}: the client is {}",
            status.state
        )),
    })
}

/// The tool's error for a failed connection attempt, chosen by
/// [`ConnectError::kind`].
///
/// Exit 3 (no provider), 4 (token rejected), 5 (permission denied on the
/// socket), 1 (anything else).
pub fn connect_failed(e: &ConnectError, endpoint: &Endpoint, token: &Token) -> CliError {
    let socket = endpoint.socket_path();
    match e.kind() {
        ConnectFailure::NotFound => CliError::no_provider(socket),
        ConnectFailure::AuthFailed => CliError::auth_rejected(socket, &token.describe()),
        ConnectFailure::TimedOut => CliError::new(Exit::TimedOut, format!(
            "provider at {endpoint} did not answer the handshake in time (is it stopped or overloaded? see --timeout)"
        )),
        ConnectFailure::PermissionDenied => {
            CliError::run_dir(format!("cannot connect to {endpoint}: permission denied"))
        }
        ConnectFailure::Incompatible => CliError::failure(format!(
            "provider at {endpoint} is incompatible: {}",
            describe(e)
        )),
        ConnectFailure::PeerNotTrusted => CliError::failure(format!(
            "the process at {endpoint} runs as another user (not ours, not root); our auth token was not sent"
        )),
        ConnectFailure::SharedMemory => CliError::failure(format!(
            "{} (the provider may run as another user; try without --shm)",
            describe(e)
        )),
        _ => CliError::failure(format!("cannot connect to {endpoint}: {}", describe(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenSource;

    const TOKEN: Token = Token {
        value: 1,
        source: TokenSource::Flag,
    };

    #[test]
    fn service_names() {
        assert!(parse_service("cgroups-snapshot").is_ok());
        assert!(parse_service("a.b_c-9").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(parse_service(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_names_are_usage_errors_with_the_limit() {
        let name = "a".repeat(94);
        let e = endpoint(Path::new("/run/netdata"), &name).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        // 107 - "/run/netdata/".len() - ".sock".len() = 89
        assert!(e.message.contains("94 bytes"), "{e}");
        assert!(e.message.contains("at most 89 bytes"), "{e}");
        assert!(
            e.message.contains("\"aaaaaaaaaaaaaaaaaaaaaaaa...aaaa"),
            "{e}"
        );
    }

    #[test]
    fn run_dir_problems_exit_5() {
        let dir = tempfile::tempdir().unwrap();
        let ep = |dir: &Path| Endpoint::new(dir, "x").unwrap();
        assert_eq!(check_run_dir(&ep(dir.path())), Ok(()));

        let missing = dir.path().join("missing");
        let e = check_run_dir(&ep(&missing)).unwrap_err();
        assert_eq!(e.exit, Exit::RunDir);
        assert!(e.message.contains("does not exist"), "{e}");

        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = check_run_dir(&ep(&file)).unwrap_err();
        assert_eq!(e.exit, Exit::RunDir);
        assert!(e.message.ends_with("is not a directory"), "{e}");
    }

    #[test]
    fn connect_failures_map_to_exit_codes() {
        use netipc::service::{EndpointError, HandshakeError, Incompatibility};
        let ep = Endpoint::new("/r", "s").unwrap();
        let path = ep.socket_path().to_path_buf();
        let io = |n| std::io::Error::from_raw_os_error(n);
        let exit = |e: ConnectError| connect_failed(&e, &ep, &TOKEN).exit;
        assert_eq!(
            exit(ConnectError::Endpoint(EndpointError::NotFound {
                path: path.clone(),
                source: io(2),
            })),
            Exit::NoProvider
        );
        assert_eq!(
            exit(ConnectError::Handshake(HandshakeError::AuthFailed)),
            Exit::AuthRejected
        );
        assert_eq!(
            exit(ConnectError::Endpoint(EndpointError::PermissionDenied {
                path,
                source: io(13),
            })),
            Exit::RunDir
        );
        let incompatible = ConnectError::Handshake(HandshakeError::Incompatible(
            Incompatibility::PeerSaidIncompatible,
        ));
        let e = connect_failed(&incompatible, &ep, &TOKEN);
        assert_eq!(e.exit, Exit::Failure);
        assert!(e.message.contains("INCOMPATIBLE"), "{e}");
        assert_eq!(
            exit(ConnectError::Handshake(HandshakeError::Timeout)),
            Exit::TimedOut
        );
    }

    #[test]
    fn io_reasons_drop_the_errno() {
        let e = io::Error::from_raw_os_error(13);
        assert_eq!(io_reason(&e), "Permission denied");
    }
}
