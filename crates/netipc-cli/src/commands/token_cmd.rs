//! `netipc token`: which auth token the client commands would use, where it
//! comes from, and its fingerprint; the token itself only with `--reveal`.

use std::io::{self, Write};

use serde_json::json;

use super::{output, print_json};
use crate::cli::TokenArgs;
use crate::exit::CliError;
use crate::format;
use crate::token::{self, TokenSource};

/// Runs `netipc token`.
///
/// # Errors
///
/// A usage error (exit 2) when no token is available.
pub fn run(args: &TokenArgs) -> Result<(), CliError> {
    let token = token::resolve(args.token)?;
    let (source, variable) = match token.source {
        TokenSource::Flag => ("flag", None),
        TokenSource::Env(var) => ("env", Some(var)),
        TokenSource::Random => ("random", None),
    };
    let revealed = args.reveal.then(|| format::hex64(token.value));
    if args.json {
        return print_json(&json!({
            "source": source,
            "variable": variable,
            "fingerprint": token.fingerprint(),
            "token": revealed,
        }));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output(writeln!(
        out,
        "source       {}\nfingerprint  {}\ntoken        {}",
        token.source.describe(),
        token.fingerprint(),
        revealed
            .as_deref()
            .unwrap_or("(hidden; --reveal prints it)"),
    ))
}
