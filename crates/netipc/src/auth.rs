//! Auth token derivation.
//!
//! Every HELLO carries a 64-bit auth token. Peers started by the same agent
//! instance agree on it without any exchange because they all derive it from
//! the agent's *invocation id*, an identifier that the agent (or systemd)
//! places in the environment of every plugin it launches.
//!
//! # Derivation
//!
//! 1. Take the invocation id text (see [`token_from_env`] for where it comes
//!    from).
//! 2. If the text is a UUID according to [`parse_uuid`], hash its 16 raw
//!    bytes (decoded from the hex digits in the order they are written).
//!    Otherwise hash the bytes of the text exactly as given: no trimming, no
//!    case folding.
//! 3. The hash is 64-bit FNV-1a ([`fnv1a64`]).
//! 4. A hash of 0 is replaced by 1 ([`fix_zero`]), so a derived token is never
//!    0.
//!
//! Hashing the decoded bytes rather than the text makes the hyphenated,
//! unhyphenated, upper-case and lower-case spellings of one UUID produce the
//! same token, which matters because systemd writes `INVOCATION_ID` as 32 bare
//! hex digits while other launchers use the canonical hyphenated form.
//!
//! The companion document `docs/auth.md` lists test vectors that C and Go
//! implementations can check themselves against.
//!
//! # Example
//!
//! ```
//! use netipc::auth::derive_token;
//!
//! let a = derive_token("550e8400-e29b-41d4-a716-446655440000");
//! let b = derive_token("550E8400E29B41D4A716446655440000");
//! assert_eq!(a, b);
//! assert_eq!(a, 0x07ae_121f_ff2a_b1b2);
//! ```

#![forbid(unsafe_code)]

use std::ffi::OsString;

/// Name of the environment variable consulted first for the invocation id.
pub const NETDATA_INVOCATION_ID: &str = "NETDATA_INVOCATION_ID";

/// Name of the environment variable consulted when
/// [`NETDATA_INVOCATION_ID`] is unset or empty (systemd sets this one for
/// every unit it starts).
pub const INVOCATION_ID: &str = "INVOCATION_ID";

/// FNV-1a 64-bit offset basis.
const FNV64_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64-bit prime.
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Byte offsets, within the hyphen-free 32-digit string, before which a
/// hyphen may appear (the 8-4-4-4-12 group boundaries).
const UUID_GROUP_BOUNDARIES: [usize; 4] = [8, 12, 16, 20];

/// Errors from token derivation and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither invocation-id environment variable holds a non-empty value.
    #[error(
        "no invocation id: environment variables NETDATA_INVOCATION_ID and INVOCATION_ID \
         are both unset or empty; pass the auth token explicitly with --token HEX"
    )]
    NoInvocationId,

    /// A `--token` argument is not a valid hexadecimal token.
    #[error("invalid token {input:?}: {reason}; expected 1 to 16 hex digits, optionally prefixed with 0x")]
    InvalidTokenHex {
        /// The rejected text, as given.
        input: String,
        /// Short description of what is wrong with it.
        reason: &'static str,
    },
}

/// 64-bit FNV-1a hash of `bytes`.
///
/// Starts from the offset basis `0xcbf29ce484222325`; for every byte the
/// state is XORed with the byte and then multiplied (wrapping) by the prime
/// `0x100000001b3`.
///
/// ```
/// assert_eq!(netipc::auth::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(netipc::auth::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = FNV64_BASIS;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(FNV64_PRIME);
        i += 1;
    }
    h
}

/// Maps a raw hash to a derived token: 0 becomes 1, every other value is
/// returned unchanged.
///
/// This is the last step of [`derive_token`]. It is a separate function
/// because no input with a 64-bit FNV-1a hash of 0 is known, so the rule can
/// only be tested directly on the mapping.
pub const fn fix_zero(hash: u64) -> u64 {
    if hash == 0 {
        1
    } else {
        hash
    }
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

/// Recognises a UUID and returns its 16 bytes in textual order.
///
/// A value is a UUID when it consists of exactly 32 hex digits (either case,
/// mixed case allowed) plus optional hyphens, where each hyphen sits at one
/// of the four group boundaries of the canonical 8-4-4-4-12 form (after hex
/// digit 8, 12, 16 or 20), and there is at most one hyphen per boundary.
/// Any subset of the four hyphens may be present, so both the canonical
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` and the bare 32-digit form
/// qualify.
///
/// Anything else — a hyphen elsewhere (leading, trailing, doubled, inside a
/// group), braces, whitespace, a `urn:uuid:` prefix, fewer or more than 32
/// digits — is not a UUID, and [`derive_token`] then hashes the text as is.
///
/// ```
/// use netipc::auth::parse_uuid;
///
/// assert!(parse_uuid(b"550e8400-e29b-41d4-a716-446655440000").is_some());
/// assert!(parse_uuid(b"550e8400e29b41d4a716446655440000").is_some());
/// assert!(parse_uuid(b"550e-8400e29b41d4a716446655440000").is_none());
/// ```
pub fn parse_uuid(value: &[u8]) -> Option<[u8; 16]> {
    if value.len() < 32 || value.len() > 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut digits = 0usize;
    let mut hyphen_at = usize::MAX; // digit count at which the last hyphen was seen
    for &c in value {
        if c == b'-' {
            if !UUID_GROUP_BOUNDARIES.contains(&digits) || hyphen_at == digits {
                return None;
            }
            hyphen_at = digits;
            continue;
        }
        let v = hex_value(c)?;
        if digits == 32 {
            return None;
        }
        let byte = &mut out[digits / 2];
        *byte = if digits % 2 == 0 { v << 4 } else { *byte | v };
        digits += 1;
    }
    (digits == 32).then_some(out)
}

/// Derives the auth token from an invocation id given as raw bytes.
///
/// Same rule as [`derive_token`]; useful when the value comes from a
/// non-UTF-8 source such as an `OsStr`. Non-UTF-8 bytes can never form a
/// UUID, so such values always take the hash-the-text path.
pub fn derive_token_bytes(value: &[u8]) -> u64 {
    let hash = match parse_uuid(value) {
        Some(raw) => fnv1a64(&raw),
        None => fnv1a64(value),
    };
    fix_zero(hash)
}

/// Derives the auth token from an invocation id.
///
/// If `value` is a UUID (see [`parse_uuid`] for the exact rule), the 16
/// decoded bytes are hashed; otherwise the UTF-8 bytes of `value` are hashed
/// as given. The hash is [`fnv1a64`]; a result of 0 becomes 1
/// ([`fix_zero`]).
///
/// ```
/// use netipc::auth::derive_token;
///
/// assert_eq!(derive_token("netdata"), 0x7a8e_501d_f119_ce00);
/// ```
pub fn derive_token(value: &str) -> u64 {
    derive_token_bytes(value.as_bytes())
}

/// Picks the first non-empty invocation id, in the documented order.
fn first_invocation_id<V, F>(mut lookup: F) -> Option<V>
where
    V: AsRef<[u8]>,
    F: FnMut(&str) -> Option<V>,
{
    [NETDATA_INVOCATION_ID, INVOCATION_ID]
        .into_iter()
        .filter_map(&mut lookup)
        .find(|v| !v.as_ref().is_empty())
}

/// Derives the auth token from invocation-id values supplied by `lookup`.
///
/// `lookup` is called with a variable name and returns its value, or `None`
/// when it is unset. [`NETDATA_INVOCATION_ID`] is consulted first, then
/// [`INVOCATION_ID`]; an empty value counts as unset, so an empty
/// `NETDATA_INVOCATION_ID` falls through to `INVOCATION_ID`. The chosen value
/// goes through [`derive_token`].
///
/// This is the pure core of [`token_from_env`]: it lets callers (and tests)
/// supply the environment without touching the process environment.
///
/// # Errors
///
/// [`AuthError::NoInvocationId`] when both variables are unset or empty.
///
/// ```
/// use netipc::auth::{derive_token, token_from_lookup};
///
/// let token = token_from_lookup(|name| (name == "INVOCATION_ID").then(|| "abc".to_string()));
/// assert_eq!(token, Ok(derive_token("abc")));
/// ```
pub fn token_from_lookup<F>(lookup: F) -> Result<u64, AuthError>
where
    F: FnMut(&str) -> Option<String>,
{
    first_invocation_id(lookup)
        .map(|v| derive_token(&v))
        .ok_or(AuthError::NoInvocationId)
}

/// Derives the auth token from the process environment.
///
/// Reads [`NETDATA_INVOCATION_ID`], falling back to [`INVOCATION_ID`]; an
/// empty value counts as unset. Values that are not valid UTF-8 are hashed as
/// raw bytes (see [`derive_token_bytes`]). Otherwise identical to
/// [`token_from_lookup`].
///
/// # Errors
///
/// [`AuthError::NoInvocationId`] when both variables are unset or empty; its
/// message names both variables and suggests passing `--token`.
pub fn token_from_env() -> Result<u64, AuthError> {
    first_invocation_id(|name| std::env::var_os(name).map(env_bytes))
        .map(|v| derive_token_bytes(&v))
        .ok_or(AuthError::NoInvocationId)
}

/// The bytes of an environment value: the raw bytes on Unix.
#[cfg(unix)]
fn env_bytes(v: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    v.into_vec()
}

/// The bytes of an environment value: on Windows the UTF-8 form, with
/// unpaired surrogates (which an invocation id never holds) replaced.
#[cfg(not(unix))]
fn env_bytes(v: OsString) -> Vec<u8> {
    v.to_string_lossy().into_owned().into_bytes()
}

/// Parses an explicit token given as hexadecimal text (the CLI's
/// `--token HEX`).
///
/// Accepts an optional `0x` or `0X` prefix followed by 1 to 16 hex digits of
/// either case. Nothing else is allowed: no sign, no whitespace, no digit
/// separators. The value is returned exactly as written — including 0, which
/// is a legal wire value even though [`derive_token`] never produces it.
///
/// # Errors
///
/// [`AuthError::InvalidTokenHex`] naming the input and what is wrong with it.
///
/// ```
/// use netipc::auth::parse_token_hex;
///
/// assert_eq!(parse_token_hex("0x7ae121fff2ab1b2"), Ok(0x07ae_121f_ff2a_b1b2));
/// assert_eq!(parse_token_hex("FF"), Ok(0xff));
/// assert!(parse_token_hex("0x").is_err());
/// ```
pub fn parse_token_hex(s: &str) -> Result<u64, AuthError> {
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
    digits.bytes().try_fold(0u64, |acc, c| match hex_value(c) {
        Some(v) => Ok((acc << 4) | u64::from(v)),
        None => Err(invalid("not a hex digit")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent FNV-1a 64 written in the most literal way, used to
    /// cross-check [`fnv1a64`] and the UUID byte decoding.
    fn reference_fnv1a64(bytes: &[u8]) -> u64 {
        let mut h: u64 = 14_695_981_039_346_656_037; // 0xcbf29ce484222325
        for b in bytes.iter().copied() {
            h ^= u64::from(b);
            h = h.wrapping_mul(1_099_511_628_211); // 0x100000001b3
        }
        h
    }

    /// The bytes of the UUID 550e8400-e29b-41d4-a716-446655440000, written
    /// out by hand.
    const UUID_BYTES: [u8; 16] = [
        0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00,
        0x00,
    ];

    /// Token of [`UUID_BYTES`], computed once and pinned here.
    const UUID_TOKEN: u64 = 0x07ae_121f_ff2a_b1b2;

    #[test]
    fn fnv1a64_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fnv1a64_matches_reference() {
        for input in [&b""[..], b"a", b"netdata", &UUID_BYTES, &[0xff; 100]] {
            assert_eq!(fnv1a64(input), reference_fnv1a64(input));
        }
    }

    #[test]
    fn uuid_spellings_agree() {
        let expected = reference_fnv1a64(&UUID_BYTES);
        assert_eq!(expected, UUID_TOKEN);
        for spelling in [
            "550e8400-e29b-41d4-a716-446655440000",
            "550e8400e29b41d4a716446655440000",
            "550E8400-E29B-41D4-A716-446655440000",
            "550E8400E29B41D4A716446655440000",
            "550e8400-E29B-41d4-A716-446655440000",
            "550e8400-e29b41d4a716446655440000",
            "550e8400e29b41d4a716-446655440000",
        ] {
            assert_eq!(derive_token(spelling), UUID_TOKEN, "{spelling}");
        }
    }

    #[test]
    fn systemd_style_invocation_id() {
        let raw = [
            0x0f, 0x3c, 0x6a, 0x2b, 0x9d, 0x1e, 0x4f, 0x7a, 0x8c, 0x5b, 0x2d, 0x0e, 0x1f, 0x4a,
            0x3b, 0x6c,
        ];
        let token = derive_token("0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c");
        assert_eq!(token, reference_fnv1a64(&raw));
        assert_eq!(token, 0xf160_8c0f_f15e_d483);
    }

    #[test]
    fn non_uuid_values_hash_as_text() {
        let cases: [(&str, u64); 7] = [
            ("", 0xcbf2_9ce4_8422_2325),
            ("netdata", 0x7a8e_501d_f119_ce00),
            ("not-a-uuid", 0xe287_cc0c_0ba2_f0c0),
            // 31 hex digits
            ("550e8400e29b41d4a71644665544000", 0x36bb_30c9_aad6_e49e),
            // 33 hex digits
            ("550e8400e29b41d4a7164466554400000", 0x6ef8_3c76_b28c_ceae),
            // hyphen inside the first group
            ("550e-8400e29b41d4a716446655440000", 0xfe02_577b_9e84_1131),
            // non-hex digit in canonical shape
            (
                "550e8400-e29b-41d4-a716-44665544000g",
                0xfbb0_8a8e_e83a_adbd,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(derive_token(input), expected, "{input:?}");
            assert_eq!(reference_fnv1a64(input.as_bytes()), expected, "{input:?}");
            assert!(parse_uuid(input.as_bytes()).is_none(), "{input:?}");
        }
    }

    #[test]
    fn uuid_shape_rejections() {
        for bad in [
            "-550e8400e29b41d4a716446655440000",
            "550e8400e29b41d4a716446655440000-",
            "550e8400--e29b-41d4-a716-446655440000",
            "550e8400-e29b-41d4-a716-44665544-0000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            " 550e8400e29b41d4a716446655440000",
            "550e8400e29b41d4a716446655440000\n",
            "550e8400-e29b-41d4-a716-4466554400000",
        ] {
            assert_eq!(parse_uuid(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(
            parse_uuid(b"550e8400-e29b-41d4-a716-446655440000"),
            Some(UUID_BYTES)
        );
    }

    #[test]
    fn zero_maps_to_one() {
        assert_eq!(fix_zero(0), 1);
        assert_eq!(fix_zero(1), 1);
        assert_eq!(fix_zero(2), 2);
        assert_eq!(fix_zero(u64::MAX), u64::MAX);
    }

    #[test]
    fn non_utf8_bytes_hash_as_given() {
        let value = [0xff, 0xfe, b'x'];
        assert_eq!(derive_token_bytes(&value), reference_fnv1a64(&value));
    }

    #[test]
    fn lookup_prefers_netdata_variable() {
        let env = |name: &str| match name {
            NETDATA_INVOCATION_ID => Some("netdata".to_string()),
            INVOCATION_ID => Some("550e8400e29b41d4a716446655440000".to_string()),
            _ => None,
        };
        assert_eq!(token_from_lookup(env), Ok(0x7a8e_501d_f119_ce00));
    }

    #[test]
    fn lookup_falls_back_when_unset_or_empty() {
        let unset = |name: &str| (name == INVOCATION_ID).then(|| "netdata".to_string());
        assert_eq!(token_from_lookup(unset), Ok(0x7a8e_501d_f119_ce00));

        let empty = |name: &str| match name {
            NETDATA_INVOCATION_ID => Some(String::new()),
            INVOCATION_ID => Some("550e8400-e29b-41d4-a716-446655440000".to_string()),
            _ => None,
        };
        assert_eq!(token_from_lookup(empty), Ok(UUID_TOKEN));
    }

    #[test]
    fn lookup_reports_missing_id() {
        let mut asked = Vec::new();
        let result = token_from_lookup(|name| {
            asked.push(name.to_string());
            Some(String::new())
        });
        assert_eq!(result, Err(AuthError::NoInvocationId));
        assert_eq!(asked, [NETDATA_INVOCATION_ID, INVOCATION_ID]);

        let msg = AuthError::NoInvocationId.to_string();
        assert!(msg.contains("NETDATA_INVOCATION_ID"), "{msg}");
        assert!(msg.contains(" INVOCATION_ID"), "{msg}");
        assert!(msg.contains("--token"), "{msg}");
    }

    #[test]
    fn env_variant_agrees_with_lookup() {
        // Reads the real environment without modifying it.
        let via_lookup = token_from_lookup(|name| std::env::var(name).ok());
        assert_eq!(token_from_env(), via_lookup);
    }

    #[test]
    fn token_hex_accepts() {
        let cases: [(&str, u64); 8] = [
            ("0", 0),
            ("0x0", 0),
            ("1", 1),
            ("0xff", 0xff),
            ("0XFF", 0xff),
            ("7ae121fff2ab1b2", UUID_TOKEN),
            ("0x07AE121FFF2AB1B2", UUID_TOKEN),
            ("ffffffffffffffff", u64::MAX),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_token_hex(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn token_hex_rejects() {
        for bad in [
            "",
            "0x",
            "0X",
            "x1",
            "1ffffffffffffffff",
            "0x1ffffffffffffffff",
            "12g4",
            " 12",
            "12 ",
            "+1",
            "-1",
            "1_000",
            "0x0x1",
        ] {
            match parse_token_hex(bad) {
                Err(AuthError::InvalidTokenHex { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let msg = parse_token_hex("zz").unwrap_err().to_string();
        assert!(msg.contains("\"zz\""), "{msg}");
    }
}

/// The 64-bit auth token every HELLO carries.
///
/// A newtype so the secret does not travel as a bare `u64`: its `Debug`
/// output is redacted (`AuthToken(..)`), and the value is reached only
/// through [`AuthToken::get`]. [`AuthToken::fingerprint`] gives a short,
/// non-reversible label that is safe to print when two peers disagree.
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

    /// A 16-bit label of the token for logs and error messages: the top
    /// 16 bits of the token mixed with FNV-1a, printed by callers as 4 hex
    /// digits. Equal tokens have equal fingerprints; the token cannot be
    /// recovered from it.
    pub const fn fingerprint(self) -> u16 {
        let h = fnv1a64(&self.0.to_ne_bytes());
        (h >> 48) as u16 ^ (h as u16)
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthToken(fingerprint {:04x})", self.fingerprint())
    }
}

impl From<u64> for AuthToken {
    fn from(value: u64) -> Self {
        AuthToken(value)
    }
}

#[cfg(test)]
mod token_tests {
    use super::AuthToken;

    #[test]
    fn debug_never_shows_the_value() {
        let t = AuthToken::new(0x1122_3344_5566_7788);
        let shown = format!("{t:?}");
        assert!(!shown.contains("1122334455667788"), "{shown}");
        assert!(
            !shown.contains(&0x1122_3344_5566_7788u64.to_string()),
            "{shown}"
        );
        assert_eq!(t.get(), 0x1122_3344_5566_7788);
    }

    #[test]
    fn fingerprint_tells_tokens_apart() {
        assert_eq!(
            AuthToken::new(7).fingerprint(),
            AuthToken::new(7).fingerprint()
        );
        assert_ne!(
            AuthToken::new(7).fingerprint(),
            AuthToken::new(8).fingerprint()
        );
    }
}
