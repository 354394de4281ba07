//! The `netipc` command-line tool. See `netipc --help` and docs/cli.md.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use netipc_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match netipc_cli::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netipc: {e}");
            ExitCode::from(e.exit.code())
        }
    }
}
