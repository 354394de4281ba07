//! Which auth token a command uses, and where it came from.
//!
//! `--token HEX` wins; otherwise the token is derived from the agent's
//! invocation id in the environment by [`netipc::auth`] (the first of
//! `NETDATA_INVOCATION_ID` and `INVOCATION_ID` that holds a UUID); with
//! neither the command stops with a one-line usage error that says what was
//! wrong with each variable and points to `--token`.

use netipc::auth::{self, AuthError, AuthToken};

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

    /// The token's fingerprint as 4 hex digits ([`AuthToken::fingerprint`]):
    /// safe to print, equal for equal tokens.
    pub fn fingerprint(&self) -> String {
        format!("{:04x}", self.auth().fingerprint())
    }

    /// `from --token, fingerprint 1a2b`: what auth errors show.
    pub fn describe(&self) -> String {
        format!(
            "{}, fingerprint {}",
            self.source.describe(),
            self.fingerprint()
        )
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
    from_env_with(lookup).map_err(|e| no_token(&e))
}

/// The usage error for a missing token: the library's explanation plus the
/// way out.
fn no_token(e: &AuthError) -> CliError {
    CliError::usage(format!(
        "{e}; pass the auth token explicitly with --token HEX"
    ))
}

/// The token derived from the environment, if an invocation id is set and
/// is a UUID.
pub fn from_env() -> Option<Token> {
    from_env_with(|name| std::env::var_os(name).map(|v| v.into_encoded_bytes())).ok()
}

fn from_env_with<F>(lookup: F) -> Result<Token, AuthError>
where
    F: Fn(&str) -> Option<Vec<u8>>,
{
    let found = auth::env_token_from_lookup(lookup)?;
    Ok(Token {
        value: found.token.get(),
        source: TokenSource::Env(found.variable),
    })
}

/// Parses a `--token` argument (clap value parser).
///
/// # Errors
///
/// The library's message for a malformed token.
pub fn parse_flag(s: &str) -> Result<u64, String> {
    auth::parse_token_hex(s)
        .map(AuthToken::get)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::auth::{INVOCATION_ID, NETDATA_INVOCATION_ID};

    const UUID: &str = "550e8400-e29b-41d4-a716-446655440000";
    const UUID_TOKEN: u64 = 0xf25f_3467_eb84_d6e6;
    const SYSTEMD_ID: &str = "0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c";
    const SYSTEMD_TOKEN: u64 = 0xce21_5af6_3868_e0c5;

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
        let t = resolve_with(Some(0), env(&[(NETDATA_INVOCATION_ID, UUID)])).unwrap();
        assert_eq!(
            t,
            Token {
                value: 0,
                source: TokenSource::Flag
            }
        );
    }

    #[test]
    fn environment_order_and_fall_through() {
        let t = resolve_with(
            None,
            env(&[(NETDATA_INVOCATION_ID, UUID), (INVOCATION_ID, SYSTEMD_ID)]),
        )
        .unwrap();
        assert_eq!(t.value, UUID_TOKEN);
        assert_eq!(t.source, TokenSource::Env(NETDATA_INVOCATION_ID));

        // An empty or non-UUID first variable falls through, as in the agent.
        for first in ["", "netdata"] {
            let t = resolve_with(
                None,
                env(&[(NETDATA_INVOCATION_ID, first), (INVOCATION_ID, SYSTEMD_ID)]),
            )
            .unwrap();
            assert_eq!(t.value, SYSTEMD_TOKEN);
            assert_eq!(t.source, TokenSource::Env(INVOCATION_ID));
            assert_eq!(t.source.describe(), "derived from INVOCATION_ID");
        }
    }

    #[test]
    fn agrees_with_the_library() {
        let lib = auth::token_from_env().ok().map(AuthToken::get);
        let ours = from_env().map(|t| t.value);
        assert_eq!(lib, ours);
    }

    #[test]
    fn missing_token_is_a_usage_error_naming_everything() {
        let e = resolve_with(
            None,
            env(&[(NETDATA_INVOCATION_ID, "netdata"), (INVOCATION_ID, "")]),
        )
        .unwrap_err();
        assert_eq!(e.exit, crate::exit::Exit::Usage);
        assert_eq!(
            e.message,
            "no usable invocation id in the environment: NETDATA_INVOCATION_ID is not a UUID \
             (byte 0 (0x6e) is not a hex digit), INVOCATION_ID is empty; \
             pass the auth token explicitly with --token HEX"
        );
    }

    #[test]
    fn description_carries_the_fingerprint() {
        let t = Token {
            value: 0x5eed,
            source: TokenSource::Flag,
        };
        let fp = format!("{:04x}", AuthToken::new(0x5eed).fingerprint());
        assert_eq!(t.fingerprint(), fp);
        assert_eq!(t.describe(), format!("from --token, fingerprint {fp}"));
    }

    #[test]
    fn flag_parsing() {
        assert_eq!(parse_flag("0x2A"), Ok(0x2a));
        assert_eq!(parse_flag("f25f3467eb84d6e6"), Ok(UUID_TOKEN));
        assert!(parse_flag("zz").unwrap_err().contains("\"zz\""));
    }
}
