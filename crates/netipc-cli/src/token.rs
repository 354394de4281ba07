//! Which auth token a command uses, and where it came from.
//!
//! `--token HEX` wins; otherwise the token is derived from the agent's
//! invocation id in the environment by [`netipc::auth`]; with neither the
//! command stops with a one-line usage error naming both variables and
//! `--token`.

use netipc::auth::{self, AuthError, AuthToken, INVOCATION_ID, NETDATA_INVOCATION_ID};

use crate::exit::CliError;

/// Where a token came from; shown in auth errors so a person knows what to
/// fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token HEX`.
    Flag,
    /// Derived from this environment variable.
    Env(&'static str),
    /// Picked at random (the demo, when no invocation id is set).
    Random,
}

impl TokenSource {
    /// `from --token`, `derived from NETDATA_INVOCATION_ID`, `picked at random`.
    pub fn describe(self) -> String {
        match self {
            TokenSource::Flag => "from --token".to_string(),
            TokenSource::Env(var) => format!("derived from {var}"),
            TokenSource::Random => "picked at random".to_string(),
        }
    }
}

/// An auth token and its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The 64-bit value carried in HELLO.
    pub value: u64,
    /// Where it came from.
    pub source: TokenSource,
}

impl Token {
    /// The token as the library takes it.
    pub fn auth(&self) -> AuthToken {
        AuthToken::new(self.value)
    }
}

/// The token for a command: `explicit` (from `--token`) or the one derived
/// from the environment.
///
/// # Errors
///
/// A usage error (exit 2) when there is neither.
pub fn resolve(explicit: Option<u64>) -> Result<Token, CliError> {
    resolve_with(explicit, |name| {
        std::env::var_os(name).map(|v| v.into_encoded_bytes())
    })
}

/// [`resolve`] with the environment given as a function, for tests.
///
/// # Errors
///
/// As for [`resolve`].
pub fn resolve_with<F>(explicit: Option<u64>, lookup: F) -> Result<Token, CliError>
where
    F: Fn(&str) -> Option<Vec<u8>>,
{
    if let Some(value) = explicit {
        return Ok(Token {
            value,
            source: TokenSource::Flag,
        });
    }
    from_env_with(lookup).ok_or_else(|| CliError::usage(AuthError::NoInvocationId.to_string()))
}

/// The token derived from the environment, if an invocation id is set.
pub fn from_env() -> Option<Token> {
    from_env_with(|name| std::env::var_os(name).map(|v| v.into_encoded_bytes()))
}

fn from_env_with<F>(lookup: F) -> Option<Token>
where
    F: Fn(&str) -> Option<Vec<u8>>,
{
    // Same order and empty-means-unset rule as `netipc::auth`.
    [NETDATA_INVOCATION_ID, INVOCATION_ID]
        .into_iter()
        .find_map(|var| {
            let value = lookup(var).filter(|v| !v.is_empty())?;
            Some(Token {
                value: auth::derive_token_bytes(&value),
                source: TokenSource::Env(var),
            })
        })
}

/// Parses a `--token` argument (clap value parser).
///
/// # Errors
///
/// The library's message for a malformed token.
pub fn parse_flag(s: &str) -> Result<u64, String> {
    auth::parse_token_hex(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<Vec<u8>> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_bytes().to_vec())
        }
    }

    #[test]
    fn flag_wins_over_environment() {
        let t = resolve_with(Some(0), env(&[(NETDATA_INVOCATION_ID, "netdata")])).unwrap();
        assert_eq!(
            t,
            Token {
                value: 0,
                source: TokenSource::Flag
            }
        );
    }

    #[test]
    fn environment_order_and_empty_values() {
        let t = resolve_with(
            None,
            env(&[(NETDATA_INVOCATION_ID, "netdata"), (INVOCATION_ID, "x")]),
        )
        .unwrap();
        assert_eq!(t.value, 0x7a8e_501d_f119_ce00);
        assert_eq!(t.source, TokenSource::Env(NETDATA_INVOCATION_ID));

        let t = resolve_with(
            None,
            env(&[
                (NETDATA_INVOCATION_ID, ""),
                (INVOCATION_ID, "550e8400e29b41d4a716446655440000"),
            ]),
        )
        .unwrap();
        assert_eq!(t.value, 0x07ae_121f_ff2a_b1b2);
        assert_eq!(t.source, TokenSource::Env(INVOCATION_ID));
        assert_eq!(t.source.describe(), "derived from INVOCATION_ID");
    }

    #[test]
    fn agrees_with_the_library() {
        let lib = auth::token_from_lookup(|name| std::env::var(name).ok()).ok();
        let ours = from_env().map(|t| t.value);
        if std::env::vars_os().all(|(_, v)| v.to_str().is_some()) {
            assert_eq!(lib, ours);
        }
    }

    #[test]
    fn missing_token_is_a_usage_error_naming_everything() {
        let e = resolve_with(None, env(&[(INVOCATION_ID, "")])).unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::Usage);
        for needle in ["NETDATA_INVOCATION_ID", " INVOCATION_ID", "--token"] {
            assert!(e.message.contains(needle), "{}", e.message);
        }
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn flag_parsing() {
        assert_eq!(parse_flag("0x2A"), Ok(0x2a));
        assert!(parse_flag("zz").unwrap_err().contains("\"zz\""));
    }
}
