//! Exit codes and the one-line errors the tool prints.
//!
//! Every failure the tool reports is a [`CliError`]: an [`Exit`] code plus a
//! message meant for a person, printed on one line as `netipc: <message>`.

use std::fmt;
use std::path::Path;

/// The documented exit codes of `netipc`.
///
/// | code | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | runtime failure (a call failed, the provider is incompatible, …) |
/// | 2 | usage error: bad arguments, or no auth token available |
/// | 3 | no provider listens at the endpoint |
/// | 4 | the provider rejected our auth token |
/// | 5 | the run directory is missing, not a directory, or not accessible |
/// | 6 | `lookup` found no cgroup of that name |
/// | 7 | the provider did not answer in time (`--timeout`) |
/// | 130 | `demo` was interrupted (SIGINT/SIGTERM); it still cleans up |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: the command did what was asked.
    Ok,
    /// 1: something failed at run time.
    Failure,
    /// 2: the command line is wrong, or no auth token is available.
    Usage,
    /// 3: nothing listens at the endpoint.
    NoProvider,
    /// 4: the provider rejected the auth token.
    AuthRejected,
    /// 5: the run directory cannot be used.
    RunDir,
    /// 6: `lookup` found no such cgroup.
    NotFound,
    /// 7: the provider did not answer in time.
    TimedOut,
    /// 130: `demo` was interrupted by SIGINT or SIGTERM.
    Interrupted,
}

impl Exit {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::NoProvider => 3,
            Exit::AuthRejected => 4,
            Exit::RunDir => 5,
            Exit::NotFound => 6,
            Exit::TimedOut => 7,
            Exit::Interrupted => 130,
        }
    }
}

/// A failure to report: what to print and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// How the process exits.
    pub exit: Exit,
    /// One line for a person, without the `netipc:` prefix.
    pub message: String,
}

impl CliError {
    /// An error with the given exit code. Line breaks in `message` are
    /// replaced by spaces so the report stays on one line.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.contains(['\n', '\r']) {
            message.replace(['\n', '\r'], " ")
        } else {
            message
        };
        CliError { exit, message }
    }

    /// A runtime failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Nothing listens at `socket` (exit 3).
    pub fn no_provider(socket: &Path) -> Self {
        Self::new(
            Exit::NoProvider,
            format!("no provider at {} — is it running?", socket.display()),
        )
    }

    /// The provider at `socket` rejected our token (exit 4). `source` says
    /// where the token came from.
    pub fn auth_rejected(socket: &Path, source: &str) -> Self {
        Self::new(
            Exit::AuthRejected,
            format!(
                "provider at {} rejected our auth token (token {source})",
                socket.display()
            ),
        )
    }

    /// A usage error from clap, on one line: its message without the
    /// `error: ` prefix, the usage block and the `--help` pointer; a
    /// multi-line message (such as a list of missing arguments) is joined.
    /// clap's suggestion, if any, is returned as the hint.
    pub fn from_clap(rendered: &str) -> (CliError, Option<String>) {
        let mut blocks = rendered
            .split("\n\n")
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let first = blocks.next().unwrap_or("invalid arguments");
        let message = first
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
            .replace(": ,", ":");
        let message = message
            .strip_prefix("error: ")
            .unwrap_or(&message)
            .to_string();
        let hint = blocks
            .flat_map(str::lines)
            .map(str::trim)
            .find_map(|l| l.strip_prefix("tip: "))
            .map(str::to_string);
        (CliError::usage(message), hint)
    }

    /// The run directory cannot be used (exit 5).
    pub fn run_dir(message: impl Into<String>) -> Self {
        Self::new(Exit::RunDir, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// An error and its causes on one line: each message of the
/// [`source`](std::error::Error::source) chain, joined by ": " (library
/// errors name only their own context and leave the cause to `source`).
/// An I/O error's "(os error N)" suffix is dropped.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    while let Some(at) = text.find(" (os error") {
        match text[at..].find(')') {
            Some(end) => text.replace_range(at..at + end + 1, ""),
            None => break,
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_joins_the_source_chain() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot connect")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::from_raw_os_error(13));
        assert_eq!(describe(&e), "cannot connect: Permission denied");
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let all = [
            Exit::Ok,
            Exit::Failure,
            Exit::Usage,
            Exit::NoProvider,
            Exit::AuthRejected,
            Exit::RunDir,
            Exit::NotFound,
            Exit::TimedOut,
            Exit::Interrupted,
        ];
        let codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 130]);
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = CliError::failure("first\nsecond\r\nthird");
        assert_eq!(e.message, "first second  third");
        assert_eq!(e.exit, Exit::Failure);
    }

    #[test]
    fn clap_errors_become_one_line() {
        let (e, hint) = CliError::from_clap(
            "error: the following required arguments were not provided:\n  <NAME>\n\n\
             Usage: netipc lookup <NAME>\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(e.exit, Exit::Usage);
        assert_eq!(
            e.message,
            "the following required arguments were not provided: <NAME>"
        );
        assert_eq!(hint, None);
        let (e, hint) = CliError::from_clap(
            "error: unexpected argument '--cout' found\n\n  tip: a similar argument exists: '--count'\n\n\
             Usage: netipc ping --count <N>\n\nFor more information, try '--help'.\n",
        );
        assert_eq!(e.message, "unexpected argument '--cout' found");
        assert_eq!(
            hint.as_deref(),
            Some("a similar argument exists: '--count'")
        );
    }

    #[test]
    fn endpoint_messages() {
        let sock = Path::new("/run/netdata/cgroups-snapshot.sock");
        assert_eq!(
            CliError::no_provider(sock).to_string(),
            "no provider at /run/netdata/cgroups-snapshot.sock — is it running?"
        );
        let e = CliError::auth_rejected(sock, "from --token");
        assert_eq!(e.exit, Exit::AuthRejected);
        assert!(e
            .message
            .starts_with("provider at /run/netdata/cgroups-snapshot.sock rejected"));
    }
}
