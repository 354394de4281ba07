//! Auth token derivation.
//!
//! Every HELLO carries a 64-bit auth token. The agent and every plugin it
//! starts agree on it without any exchange: they all derive it from the
//! agent's *invocation id*, a UUID the agent places in the environment of each
//! plugin it launches.
//!
//! # Derivation
//!
//! 1. Read the invocation id from the environment ([`token_from_env`] says
//!    which variables, in which order).
//! 2. Parse it as a UUID with [`parse_uuid`], giving 16 raw bytes. A value
//!    that is not a UUID is an error: text is never hashed as such.
//! 3. The token is XXH3-64 (seed 0, default secret) of those 16 bytes
//!    ([`token_from_uuid`]). Every 64-bit result is used as is, 0 included.
//!
//! This is exactly what the agent computes, so a Rust plugin and the agent's
//! C plugins present the same token. `docs/auth.md` has the full rules and
//! test vectors for other implementations.
//!
//! A plugin started outside the agent has no invocation id; it gets
//! [`AuthError::NoInvocationId`], which says which variables were looked at
//! and what was wrong with each. Such a plugin must be given its token some
//! other way, for example as hexadecimal text parsed by [`parse_token_hex`].
//!
//! # Example
//!
//! ```
//! use netipc::auth::derive_token;
//!
//! let a = derive_token("550e8400-e29b-41d4-a716-446655440000").unwrap();
//! let b = derive_token("550E8400E29B41D4A716446655440000").unwrap();
//! assert_eq!(a, b);
//! assert_eq!(a.get(), 0xf25f_3467_eb84_d6e6);
//! assert!(derive_token("netdata").is_err());
//! ```

#![forbid(unsafe_code)]

use std::fmt;

use xxhash_rust::xxh3::xxh3_64;

/// Name of the environment variable consulted first for the invocation id
/// (the agent exports it to every plugin).
pub const NETDATA_INVOCATION_ID: &str = "NETDATA_INVOCATION_ID";

/// Name of the environment variable consulted when
/// [`NETDATA_INVOCATION_ID`] gives no UUID (systemd sets this one for every
/// unit it starts).
pub const INVOCATION_ID: &str = "INVOCATION_ID";

/// Hex digits in a UUID.
const UUID_DIGITS: usize = 32;

/// Why a text is not a UUID (see [`parse_uuid`] for the rules).
///
/// Offsets count bytes from the start of the text. The text itself is never
/// part of the message, since the token is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UuidError {
    /// The text is empty.
    #[error("it is empty")]
    Empty,

    /// The text ends before the 32nd hex digit.
    #[error("it ends after {digits} of 32 hex digits")]
    TooShort {
        /// Hex digits read before the end.
        digits: usize,
    },

    /// A byte where a hex digit belongs is neither a hex digit nor a hyphen.
    #[error("byte {offset} (0x{byte:02x}) is not a hex digit")]
    NotHex {
        /// Offset of the byte.
        offset: usize,
        /// The byte.
        byte: u8,
    },

    /// A hyphen where a hex digit belongs: at the very start, inside a byte
    /// pair, or right after another hyphen.
    #[error("the hyphen at byte {offset} is not between two byte pairs")]
    MisplacedHyphen {
        /// Offset of the hyphen.
        offset: usize,
    },

    /// The 32 digits contain hyphens, but not exactly four.
    #[error("it has {count} hyphens; a UUID has none or exactly four")]
    HyphenCount {
        /// Hyphens seen among the 32 digits.
        count: usize,
    },
}

/// What was wrong with one invocation-id variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VarProblem {
    /// The variable is not set.
    Unset,
    /// The variable is set, but its value is not a UUID.
    NotUuid(UuidError),
}

impl fmt::Display for VarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarProblem::Unset => f.write_str("is unset"),
            VarProblem::NotUuid(UuidError::Empty) => f.write_str("is empty"),
            VarProblem::NotUuid(e) => write!(f, "is not a UUID ({e})"),
        }
    }
}

/// Errors from token derivation and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither invocation-id variable holds a UUID.
    #[error(
        "no usable invocation id in the environment: NETDATA_INVOCATION_ID {netdata_invocation_id}, \
         INVOCATION_ID {invocation_id}"
    )]
    NoInvocationId {
        /// What was wrong with [`NETDATA_INVOCATION_ID`].
        netdata_invocation_id: VarProblem,
        /// What was wrong with [`INVOCATION_ID`].
        invocation_id: VarProblem,
    },

    /// An explicit token is not valid hexadecimal text.
    #[error("invalid token {input:?}: {reason}; expected 1 to 16 hex digits, optionally prefixed with 0x")]
    InvalidTokenHex {
        /// The rejected text, as given.
        input: String,
        /// Short description of what is wrong with it.
        reason: &'static str,
    },
}

/// Decodes one ASCII hex digit (either case).
const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The hex digit at `offset` of `text`, the `digits`-th digit of the UUID.
fn uuid_digit(text: &[u8], offset: usize, digits: usize) -> Result<u8, UuidError> {
    match text.get(offset) {
        None => Err(UuidError::TooShort { digits }),
        Some(b'-') => Err(UuidError::MisplacedHyphen { offset }),
        Some(&byte) => hex_value(byte).ok_or(UuidError::NotHex { offset, byte }),
    }
}

/// Parses the start of `text` as a UUID and returns its 16 bytes in the order
/// they are written.
///
/// The rules are the agent's:
///
/// * 32 hex digits, upper, lower or mixed case, read pairwise into 16 bytes;
/// * a single hyphen may stand between two byte pairs (at an even digit
///   position other than 0); the text has either no hyphen or exactly four,
///   at any such positions — the canonical 8-4-4-4-12 layout is one choice
///   among many;
/// * reading stops after the 16th byte: whatever follows is ignored, hyphens
///   and line ends included;
/// * anything else fails — a leading space or brace, a doubled hyphen, a
///   hyphen inside a pair, fewer than 32 digits.
///
/// # Errors
///
/// A [`UuidError`] saying where the text stops being a UUID.
///
/// ```
/// use netipc::auth::{parse_uuid, UuidError};
///
/// let canonical = parse_uuid(b"550e8400-e29b-41d4-a716-446655440000").unwrap();
/// assert_eq!(parse_uuid(b"550E8400E29B41D4A716446655440000"), Ok(canonical));
/// assert_eq!(parse_uuid(b"55-0e8400e29b41d4a716-4466-5544-0000"), Ok(canonical));
/// assert_eq!(parse_uuid(b"{550e8400-e29b-41d4-a716-446655440000}"),
///            Err(UuidError::NotHex { offset: 0, byte: b'{' }));
/// ```
pub fn parse_uuid(text: &[u8]) -> Result<[u8; 16], UuidError> {
    if text.is_empty() {
        return Err(UuidError::Empty);
    }
    let mut out = [0u8; 16];
    let mut offset = 0;
    let mut hyphens = 0;
    for (i, byte) in out.iter_mut().enumerate() {
        if i > 0 && text.get(offset) == Some(&b'-') {
            hyphens += 1;
            offset += 1;
        }
        let high = uuid_digit(text, offset, 2 * i)?;
        let low = uuid_digit(text, offset + 1, 2 * i + 1)?;
        *byte = (high << 4) | low;
        offset += 2;
    }
    debug_assert_eq!(offset - hyphens, UUID_DIGITS);
    if hyphens != 0 && hyphens != 4 {
        return Err(UuidError::HyphenCount { count: hyphens });
    }
    Ok(out)
}

/// The token of an invocation id already parsed into its 16 bytes:
/// XXH3-64 with seed 0 and the default secret.
///
/// ```
/// let zeros = netipc::auth::token_from_uuid(&[0; 16]);
/// assert_eq!(zeros.get(), 0xd0a6_6a65_c752_8968);
/// ```
pub fn token_from_uuid(uuid: &[u8; 16]) -> AuthToken {
    AuthToken(xxh3_64(uuid))
}

/// The token of an invocation id given as text: [`parse_uuid`], then
/// [`token_from_uuid`].
///
/// # Errors
///
/// The [`UuidError`] of a text that is not a UUID.
pub fn derive_token<T: AsRef<[u8]>>(invocation_id: T) -> Result<AuthToken, UuidError> {
    parse_uuid(invocation_id.as_ref()).map(|uuid| token_from_uuid(&uuid))
}

/// A token derived from the environment, and the variable it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvToken {
    /// The derived token.
    pub token: AuthToken,
    /// [`NETDATA_INVOCATION_ID`] or [`INVOCATION_ID`].
    pub variable: &'static str,
}

/// Derives the token from invocation-id variables supplied by `lookup`, and
/// says which variable it came from.
///
/// `lookup` is called with a variable name and returns its value, or `None`
/// when it is unset. The rule is the agent's: the first of
/// [`NETDATA_INVOCATION_ID`] and [`INVOCATION_ID`] that is set **and parses
/// as a UUID** wins. An empty or malformed `NETDATA_INVOCATION_ID` therefore
/// falls through to `INVOCATION_ID`.
///
/// # Errors
///
/// [`AuthError::NoInvocationId`] when neither variable gives a UUID; it
/// records what was wrong with each.
///
/// ```
/// use netipc::auth::{env_token_from_lookup, INVOCATION_ID};
///
/// let found = env_token_from_lookup(|name| match name {
///     "NETDATA_INVOCATION_ID" => Some("not a uuid"),
///     "INVOCATION_ID" => Some("0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c"),
///     _ => None,
/// })
/// .unwrap();
/// assert_eq!(found.variable, INVOCATION_ID);
/// assert_eq!(found.token.get(), 0xce21_5af6_3868_e0c5);
/// ```
pub fn env_token_from_lookup<F, V>(mut lookup: F) -> Result<EnvToken, AuthError>
where
    F: FnMut(&str) -> Option<V>,
    V: AsRef<[u8]>,
{
    let mut problems = [VarProblem::Unset; 2];
    for (variable, problem) in [NETDATA_INVOCATION_ID, INVOCATION_ID]
        .into_iter()
        .zip(problems.iter_mut())
    {
        if let Some(value) = lookup(variable) {
            match derive_token(value) {
                Ok(token) => return Ok(EnvToken { token, variable }),
                Err(e) => *problem = VarProblem::NotUuid(e),
            }
        }
    }
    Err(AuthError::NoInvocationId {
        netdata_invocation_id: problems[0],
        invocation_id: problems[1],
    })
}

/// [`env_token_from_lookup`] without the variable name.
///
/// # Errors
///
/// As for [`env_token_from_lookup`].
pub fn token_from_lookup<F, V>(lookup: F) -> Result<AuthToken, AuthError>
where
    F: FnMut(&str) -> Option<V>,
    V: AsRef<[u8]>,
{
    env_token_from_lookup(lookup).map(|found| found.token)
}

/// One variable of the process environment as bytes. Bytes that are not
/// UTF-8 become U+FFFD, which is not a hex digit; the valid prefix before
/// them is kept, so parsing fails or succeeds exactly as it would on the raw
/// bytes.
fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// [`env_token_from_lookup`] on the process environment.
///
/// # Errors
///
/// As for [`env_token_from_lookup`].
pub fn env_token() -> Result<EnvToken, AuthError> {
    env_token_from_lookup(process_env)
}

/// Derives the auth token from the process environment: the first of
/// [`NETDATA_INVOCATION_ID`] and [`INVOCATION_ID`] that holds a UUID (see
/// [`env_token_from_lookup`] for the rule).
///
/// # Errors
///
/// [`AuthError::NoInvocationId`] when neither variable holds a UUID; its
/// message names both variables and what was wrong with each.
pub fn token_from_env() -> Result<AuthToken, AuthError> {
    env_token().map(|found| found.token)
}

/// Parses an explicit token given as hexadecimal text.
///
/// Accepts an optional `0x` or `0X` prefix followed by 1 to 16 hex digits of
/// either case. Nothing else is allowed: no sign, no whitespace, no digit
/// separators. The value is returned exactly as written, 0 included.
///
/// # Errors
///
/// [`AuthError::InvalidTokenHex`] naming the input and what is wrong with it.
///
/// ```
/// use netipc::auth::parse_token_hex;
///
/// assert_eq!(parse_token_hex("0xf25f3467eb84d6e6").map(|t| t.get()), Ok(0xf25f_3467_eb84_d6e6));
/// assert_eq!(parse_token_hex("FF").map(|t| t.get()), Ok(0xff));
/// assert!(parse_token_hex("0x").is_err());
/// ```
pub fn parse_token_hex(s: &str) -> Result<AuthToken, AuthError> {
    let invalid = |reason| AuthError::InvalidTokenHex {
        input: s.to_string(),
        reason,
    };
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() {
        return Err(invalid("no hex digits"));
    }
    if digits.len() > 16 {
        return Err(invalid("more than 16 hex digits"));
    }
    digits
        .bytes()
        .try_fold(0u64, |acc, c| match hex_value(c) {
            Some(v) => Ok((acc << 4) | u64::from(v)),
            None => Err(invalid("not a hex digit")),
        })
        .map(AuthToken)
}

/// The 64-bit auth token every HELLO carries.
///
/// A newtype so the secret does not travel as a bare `u64`: its `Debug`
/// output is redacted (`AuthToken(fingerprint 1a2b)`), and the value is
/// reached only through [`AuthToken::get`]. [`AuthToken::fingerprint`] gives
/// a short, non-reversible label that is safe to print when two peers
/// disagree.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthToken(u64);

impl AuthToken {
    /// Wraps an explicit token value (for example one given on a command
    /// line, or shared by some other means).
    pub const fn new(value: u64) -> Self {
        AuthToken(value)
    }

    /// The raw value, as written into HELLO.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A 16-bit label of the token for logs and error messages, printed by
    /// callers as 4 hex digits: XXH3-64 of the token's little-endian bytes,
    /// folded to 16 bits. Equal tokens have equal fingerprints; the token
    /// cannot be recovered from it.
    pub fn fingerprint(self) -> u16 {
        let h = xxh3_64(&self.0.to_le_bytes());
        (h >> 48) as u16 ^ (h as u16)
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthToken(fingerprint {:04x})", self.fingerprint())
    }
}

impl From<u64> for AuthToken {
    fn from(value: u64) -> Self {
        AuthToken(value)
    }
}

#[cfg(test)]
mod tests;
