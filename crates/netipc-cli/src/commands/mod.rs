//! The subcommands. Each returns `Ok(())` or a [`CliError`] carrying its
//! one-line message and exit code; `main` prints and exits.

use std::io;

use netipc::service::{CallError, ClientState, ClientStatus, Endpoint};
use netipc::wire::Status;

use crate::cli::{Cli, Command, Serve};
use crate::endpoint::check_state;
use crate::exit::{describe, CliError};
use crate::signals::StopFlag;
use crate::token::Token;

pub mod demo;
pub mod query;
pub mod serve;

/// Runs a parsed command line.
///
/// # Errors
///
/// What went wrong, as a one-line message with its exit code.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(Serve::CgroupsSnapshot(args)) => serve::cgroups(&args, &install_stop()?),
        Command::Serve(Serve::Increment(args)) => serve::increment(&args, &install_stop()?),
        Command::Snapshot(args) => query::snapshot(&args),
        Command::Lookup(args) => query::lookup(&args),
        Command::Ping(args) => query::ping(&args),
        Command::Status(args) => query::status(&args),
        Command::Demo(args) => demo::run(&args, &install_stop()?),
    }
}

fn install_stop() -> Result<StopFlag, CliError> {
    StopFlag::install()
        .map_err(|e| CliError::failure(format!("cannot install signal handlers: {e}")))
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
        CallError::Status(Status::Unsupported) => CliError::failure(format!(
            "provider at {} does not serve {method} (it answered UNSUPPORTED)",
            socket.display()
        )),
        other => CliError::failure(format!(
            "{method} call to {} failed: {}",
            socket.display(),
            describe(other)
        )),
    }
}
