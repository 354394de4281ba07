//! The subcommands. Each returns `Ok(())` or a [`CliError`] carrying its
//! one-line message and exit code; `main` prints and exits.

use std::io::{self, Write};
use std::time::Duration;

use netipc::service::{
    CallError, ClientConfig, ClientState, ClientStatus, ConnectFailure, Endpoint, SessionError,
};
use netipc::wire::Status;

use crate::cli::{Cli, Command, Common, Serve};
use crate::endpoint::{check_run_dir, check_state, endpoint};
use crate::exit::{describe, CliError, Exit};
use crate::probe::{self, method_name, MethodServed};
use crate::signals::StopFlag;
use crate::token::{self, Token};

pub mod demo;
pub mod list;
pub mod lookups;
pub mod ping;
pub mod query;
pub mod serve;
pub mod status;
pub mod token_cmd;

/// How long the probe behind an error message may take when no
/// `--timeout` was given.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs a parsed command line.
///
/// # Errors
///
/// What went wrong, as a one-line message with its exit code.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(Serve::CgroupsSnapshot(args)) => serve::cgroups(&args, &install_stop()?),
        Command::Serve(Serve::Increment(args)) => serve::increment(&args, &install_stop()?),
        Command::List(args) => list::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Serve(Serve::CgroupsLookup(args)) => {
            lookups::serve_cgroups(&args, &install_stop()?)
        }
        Command::Serve(Serve::AppsLookup(args)) => lookups::serve_apps(&args, &install_stop()?),
        Command::CgroupsLookup(args) => lookups::cgroups_lookup(&args),
        Command::AppsLookup(args) => lookups::apps_lookup(&args),
        Command::Snapshot(args) => query::snapshot(&args),
        Command::Lookup(args) => query::lookup(&args),
        Command::Ping(args) => ping::run(&args, &install_stop()?),
        Command::Token(args) => token_cmd::run(&args),
        Command::Demo(args) => demo::run(&args, &install_stop()?),
    }
}

fn install_stop() -> Result<StopFlag, CliError> {
    StopFlag::install()
        .map_err(|e| CliError::failure(format!("cannot install signal handlers: {e}")))
}

/// Token, endpoint and run-dir check shared by the client commands.
///
/// # Errors
///
/// No token (exit 2), a bad or too long service name (exit 2), an
/// unusable run directory (exit 5).
pub(crate) fn prepare(common: &Common, service: &str) -> Result<(Token, Endpoint), CliError> {
    let endpoint = endpoint(&common.run_dir, service)?;
    let token = token::resolve(common.token)?;
    check_run_dir(&endpoint)?;
    Ok((token, endpoint))
}

/// A Level 2 client configuration with the command's token and
/// `--timeout` (for connecting and the handshake, for each response, and
/// for each call as a whole, its one retry included).
pub(crate) fn client_config(common: &Common, token: &Token) -> ClientConfig {
    let config = ClientConfig::new(token.auth());
    match common.timeout {
        Some(t) => config
            .with_handshake_timeout(t)
            .with_response_timeout(t)
            .with_shm_attach_timeout(t)
            .with_call_timeout(t),
        None => config,
    }
}

/// Writes `value` as one line of JSON on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out)),
    )
}

/// Output errors: a closed pipe (`netipc snapshot | head`) is not a
/// failure; anything else is.
pub(crate) fn output(result: io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(CliError::failure(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

/// The error for a failed call. If the retry inside the call reconnected
/// and that failed in a telling way (provider gone, token rejected), that
/// is reported instead of the call error.
pub(crate) fn call_failed(
    status: &ClientStatus,
    err: &CallError,
    endpoint: &Endpoint,
    token: &Token,
    method: &str,
) -> CliError {
    let socket = endpoint.socket_path();
    if matches!(
        status.state,
        ClientState::NotFound | ClientState::AuthFailed | ClientState::Incompatible
    ) {
        if let Err(e) = check_state(status, endpoint, token) {
            return e;
        }
    }
    match err {
        CallError::Status(Status::Unsupported) => not_served(endpoint, token, method),
        CallError::Timeout => CliError::new(
            Exit::TimedOut,
            format!("provider at {endpoint} did not answer {method} in time (see --timeout)"),
        ),
        CallError::Session(e) if matches!(**e, SessionError::Timeout) => CliError::new(
            Exit::TimedOut,
            format!("provider at {endpoint} did not answer {method} in time (see --timeout)"),
        ),
        CallError::Reconnect(e) if e.kind() == ConnectFailure::TimedOut => CliError::new(
            Exit::TimedOut,
            format!("provider at {endpoint} did not answer in time (see --timeout)"),
        ),
        other => CliError::failure(format!(
            "{method} call to {} failed: {}",
            socket.display(),
            describe(other)
        )),
    }
}

/// The error for a provider that answered UNSUPPORTED to `method`: says
/// what it serves instead, found with a probe.
pub(crate) fn not_served(endpoint: &Endpoint, token: &Token, method: &str) -> CliError {
    let serves = match probe::probe(endpoint, Some(token), PROBE_TIMEOUT) {
        Ok(p) => match p.method {
            Some(MethodServed::Served(m)) => format!("it serves {}", method_name(m)),
            Some(MethodServed::None) => "it answers UNSUPPORTED to every method".to_string(),
            _ => "it answered UNSUPPORTED".to_string(),
        },
        Err(_) => "it answered UNSUPPORTED".to_string(),
    };
    CliError::failure(format!(
        "provider at {endpoint} does not serve {method}: {serves} (see `netipc status --service {}`)",
        endpoint.service()
    ))
}
