//! The `netipc` command-line tool. See `netipc --help` and docs/cli.md.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use netipc_cli::cli::Cli;
use netipc_cli::exit::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `netipc` alone: the help, but as a usage error.
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            // One line, and at most one hint line (docs/cli.md).
            let (error, hint) = CliError::from_clap(&e.render().to_string());
            eprintln!("netipc: {error}");
            if let Some(hint) = hint {
                eprintln!("netipc: hint: {hint}");
            }
            return ExitCode::from(error.exit.code());
        }
    };
    netipc_cli::log::set(cli.quiet, cli.verbose);
    match netipc_cli::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netipc: {e}");
            ExitCode::from(e.exit.code())
        }
    }
}
