//! Unit tests of the token derivation, the UUID rules and the environment order.

use super::*;

const CANONICAL: &str = "550e8400-e29b-41d4-a716-446655440000";

/// The bytes of [`CANONICAL`], written out by hand.
const CANONICAL_BYTES: [u8; 16] = [
    0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
];

const CANONICAL_TOKEN: u64 = 0xf25f_3467_eb84_d6e6;
const SYSTEMD_STYLE: &str = "0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c";
const SYSTEMD_STYLE_TOKEN: u64 = 0xce21_5af6_3868_e0c5;

fn token(text: &str) -> Result<u64, UuidError> {
    derive_token(text).map(AuthToken::get)
}

#[test]
fn agent_vectors() {
    assert_eq!(token(CANONICAL), Ok(CANONICAL_TOKEN));
    assert_eq!(token(SYSTEMD_STYLE), Ok(SYSTEMD_STYLE_TOKEN));
    assert_eq!(token(&"0".repeat(32)), Ok(0xd0a6_6a65_c752_8968));
    assert_eq!(token_from_uuid(&[0; 16]).get(), 0xd0a6_6a65_c752_8968);
    assert_eq!(token_from_uuid(&CANONICAL_BYTES).get(), CANONICAL_TOKEN);
}

#[test]
fn digits_decode_pairwise_in_written_order() {
    assert_eq!(parse_uuid(CANONICAL.as_bytes()), Ok(CANONICAL_BYTES));
    let mut counting = [0u8; 16];
    for (i, b) in counting.iter_mut().enumerate() {
        *b = (i as u8) * 0x11;
    }
    assert_eq!(
        parse_uuid(b"00112233445566778899aabbccddeeff"),
        Ok(counting)
    );
}

#[test]
fn upper_lower_and_mixed_case_agree() {
    for spelling in [
        "550e8400-e29b-41d4-a716-446655440000",
        "550E8400-E29B-41D4-A716-446655440000",
        "550e8400-E29B-41d4-A716-446655440000",
        "550E8400e29b41D4a716446655440000",
    ] {
        assert_eq!(
            parse_uuid(spelling.as_bytes()),
            Ok(CANONICAL_BYTES),
            "{spelling}"
        );
        assert_eq!(token(spelling), Ok(CANONICAL_TOKEN), "{spelling}");
    }
}

#[test]
fn no_hyphens_or_four_at_any_even_positions() {
    for spelling in [
        "550e8400e29b41d4a716446655440000",
        // the canonical 8-4-4-4-12 layout
        "550e8400-e29b-41d4-a716-446655440000",
        // four hyphens at other pair boundaries
        "55-0e-84-00-e29b41d4a716446655440000",
        "550e8400e29b41d4a7164466-55-44-00-00",
        "55-0e8400e29b-41d4a716-4466554400-00",
    ] {
        assert_eq!(
            parse_uuid(spelling.as_bytes()),
            Ok(CANONICAL_BYTES),
            "{spelling}"
        );
    }
}

#[test]
fn one_to_three_or_five_hyphens_are_rejected() {
    for (spelling, count) in [
        ("550e8400-e29b41d4a716446655440000", 1),
        ("550e8400-e29b-41d4a716446655440000", 2),
        ("550e8400-e29b-41d4-a716446655440000", 3),
        ("550e8400-e29b-41d4-a716-4466-55440000", 5),
    ] {
        assert_eq!(
            parse_uuid(spelling.as_bytes()),
            Err(UuidError::HyphenCount { count }),
            "{spelling}"
        );
    }
}

#[test]
fn hyphen_at_an_odd_position_or_first_is_rejected() {
    // Inside the first pair, with four hyphens in total.
    assert_eq!(
        parse_uuid(b"5-50e8400-e29b-41d4-a716446655440000"),
        Err(UuidError::MisplacedHyphen { offset: 1 })
    );
    // Inside a later pair.
    assert_eq!(
        parse_uuid(b"550e8400-e29b-41d4-a71-6-446655440000"),
        Err(UuidError::MisplacedHyphen { offset: 22 })
    );
    assert_eq!(
        parse_uuid(b"-550e8400-e29b-41d4-a716-446655440000"),
        Err(UuidError::MisplacedHyphen { offset: 0 })
    );
}

#[test]
fn doubled_hyphen_is_rejected() {
    assert_eq!(
        parse_uuid(b"550e8400--e29b-41d4-a716-446655440000"),
        Err(UuidError::MisplacedHyphen { offset: 9 })
    );
}

#[test]
fn leading_space_and_braces_are_rejected() {
    assert_eq!(
        parse_uuid(b" 550e8400-e29b-41d4-a716-446655440000"),
        Err(UuidError::NotHex {
            offset: 0,
            byte: b' '
        })
    );
    assert_eq!(
        parse_uuid(b"{550e8400-e29b-41d4-a716-446655440000}"),
        Err(UuidError::NotHex {
            offset: 0,
            byte: b'{'
        })
    );
    assert_eq!(
        parse_uuid(b"550e8400-e29b-41d4-a716-44665544000g"),
        Err(UuidError::NotHex {
            offset: 35,
            byte: b'g'
        })
    );
}

#[test]
fn trailing_text_is_ignored() {
    for spelling in [
        "550e8400-e29b-41d4-a716-446655440000}",
        "550e8400-e29b-41d4-a716-446655440000\n",
        "550e8400-e29b-41d4-a716-446655440000 and more",
        "550e8400-e29b-41d4-a716-4466554400001234",
        "550e8400e29b41d4a716446655440000-",
        "550e8400e29b41d4a716446655440000-ab-cd",
    ] {
        assert_eq!(
            parse_uuid(spelling.as_bytes()),
            Ok(CANONICAL_BYTES),
            "{spelling:?}"
        );
    }
    let mut with_junk = CANONICAL.as_bytes().to_vec();
    with_junk.extend_from_slice(&[0xff, 0x00, 0xfe]);
    assert_eq!(parse_uuid(&with_junk), Ok(CANONICAL_BYTES));
}

#[test]
fn short_or_empty_text_is_rejected() {
    assert_eq!(
        parse_uuid(b"550e8400e29b41d4a71644665544000"),
        Err(UuidError::TooShort { digits: 31 })
    );
    assert_eq!(
        parse_uuid(b"550e8400-e29b-41d4-a716-44665544000"),
        Err(UuidError::TooShort { digits: 31 })
    );
    assert_eq!(parse_uuid(b""), Err(UuidError::Empty));
}

#[test]
fn arbitrary_text_is_never_hashed() {
    for text in [
        "netdata",
        "not-a-uuid",
        "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
    ] {
        assert!(derive_token(text).is_err(), "{text}");
    }
}

/// A lookup over fixed `(name, value)` pairs that records what it was
/// asked.
fn fixed_env<'a>(
    pairs: &'a [(&'a str, &'a str)],
    asked: &'a mut Vec<String>,
) -> impl FnMut(&str) -> Option<&'a str> + 'a {
    move |name| {
        asked.push(name.to_string());
        pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

#[test]
fn netdata_variable_wins_when_it_parses() {
    let mut asked = Vec::new();
    let env = [
        (NETDATA_INVOCATION_ID, CANONICAL),
        (INVOCATION_ID, SYSTEMD_STYLE),
    ];
    let found = env_token_from_lookup(fixed_env(&env, &mut asked)).unwrap();
    assert_eq!(found.token.get(), CANONICAL_TOKEN);
    assert_eq!(found.variable, NETDATA_INVOCATION_ID);
    assert_eq!(asked, [NETDATA_INVOCATION_ID]);
}

#[test]
fn unset_empty_or_malformed_first_variable_falls_through() {
    for first in [
        None,
        Some(""),
        Some("not a uuid"),
        Some(" 550e8400e29b41d4a716446655440000"),
    ] {
        let mut env = vec![(INVOCATION_ID, SYSTEMD_STYLE)];
        if let Some(v) = first {
            env.push((NETDATA_INVOCATION_ID, v));
        }
        let mut asked = Vec::new();
        let found = env_token_from_lookup(fixed_env(&env, &mut asked)).unwrap();
        assert_eq!(found.token.get(), SYSTEMD_STYLE_TOKEN, "{first:?}");
        assert_eq!(found.variable, INVOCATION_ID);
        assert_eq!(asked, [NETDATA_INVOCATION_ID, INVOCATION_ID]);
    }
}

#[test]
fn missing_id_says_what_was_wrong_with_each_variable() {
    let mut asked = Vec::new();
    let result = token_from_lookup(fixed_env(&[], &mut asked));
    assert_eq!(
        result,
        Err(AuthError::NoInvocationId {
            netdata_invocation_id: VarProblem::Unset,
            invocation_id: VarProblem::Unset,
        })
    );
    assert_eq!(asked, [NETDATA_INVOCATION_ID, INVOCATION_ID]);
    assert_eq!(
        result.unwrap_err().to_string(),
        "no usable invocation id in the environment: NETDATA_INVOCATION_ID is unset, \
         INVOCATION_ID is unset"
    );

    let mut asked = Vec::new();
    let env = [
        (NETDATA_INVOCATION_ID, ""),
        (INVOCATION_ID, "550e8400e29b41d4a71644665544000"),
    ];
    let e = token_from_lookup(fixed_env(&env, &mut asked)).unwrap_err();
    assert_eq!(
        e,
        AuthError::NoInvocationId {
            netdata_invocation_id: VarProblem::NotUuid(UuidError::Empty),
            invocation_id: VarProblem::NotUuid(UuidError::TooShort { digits: 31 }),
        }
    );
    let msg = e.to_string();
    assert_eq!(
        msg,
        "no usable invocation id in the environment: NETDATA_INVOCATION_ID is empty, \
         INVOCATION_ID is not a UUID (it ends after 31 of 32 hex digits)"
    );
    assert!(
        !msg.contains("--"),
        "library messages name no CLI flag: {msg}"
    );
}

#[test]
fn env_variant_agrees_with_lookup() {
    // Reads the real environment without modifying it.
    assert_eq!(token_from_env(), token_from_lookup(process_env));
}

#[test]
fn token_hex_accepts() {
    let cases: [(&str, u64); 8] = [
        ("0", 0),
        ("0x0", 0),
        ("1", 1),
        ("0xff", 0xff),
        ("0XFF", 0xff),
        ("f25f3467eb84d6e6", CANONICAL_TOKEN),
        ("0xF25F3467EB84D6E6", CANONICAL_TOKEN),
        ("ffffffffffffffff", u64::MAX),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_token_hex(input),
            Ok(AuthToken::new(expected)),
            "{input:?}"
        );
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
    assert!(!msg.contains("--"), "{msg}");
}

#[test]
fn debug_never_shows_the_value() {
    let t = AuthToken::new(0x1122_3344_5566_7788);
    let shown = format!("{t:?}");
    assert!(!shown.contains("1122334455667788"), "{shown}");
    assert!(
        !shown.contains(&0x1122_3344_5566_7788u64.to_string()),
        "{shown}"
    );
    assert_eq!(
        shown,
        format!("AuthToken(fingerprint {:04x})", t.fingerprint())
    );
    assert_eq!(t.get(), 0x1122_3344_5566_7788);
    assert_eq!(AuthToken::from(0x1122_3344_5566_7788), t);
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
