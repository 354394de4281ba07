//! The auth test vectors published in docs/auth.md (for C and Go
//! implementers) agree with what `netipc::auth` computes, and with what the
//! `netipc` binary accepts for `--token`.

use std::path::Path;

use netipc::auth::{derive_token, parse_token_hex, AuthToken};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/auth.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The backticked pieces of a Markdown table cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

fn hex(token: &str) -> u64 {
    u64::from_str_radix(token.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn derivation_vectors_match_the_library() {
    let doc = doc();
    let (mut derived, mut rejected) = (0, 0);
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let c = cells(line);
        if c.len() != 3 || c[0] == "invocation id" {
            continue;
        }
        // Code spans are taken verbatim: the leading-space row keeps its space.
        let input = if c[0] == "*(empty)*" {
            ""
        } else {
            code_spans(line.trim().trim_start_matches('|'))[0]
        };
        if c[2] == "not a UUID" {
            assert!(derive_token(input).is_err(), "{line}");
            rejected += 1;
        } else {
            let expected = AuthToken::new(hex(code_spans(c[2])[0]));
            assert_eq!(derive_token(input), Ok(expected), "{line}");
            derived += 1;
        }
    }
    assert!(
        derived >= 9 && rejected >= 12,
        "only {derived} derived and {rejected} rejected vectors found in docs/auth.md"
    );
}

#[test]
fn agent_vectors_are_published() {
    let doc = doc();
    for (id, token) in [
        ("550e8400-e29b-41d4-a716-446655440000", "0xf25f3467eb84d6e6"),
        ("0f3c6a2b9d1e4f7a8c5b2d0e1f4a3b6c", "0xce215af63868e0c5"),
        ("00000000000000000000000000000000", "0xd0a66a65c7528968"),
    ] {
        let row = format!("| `{id}` |");
        let line = doc
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row for {id} in docs/auth.md"));
        assert!(line.ends_with(&format!("| `{token}` |")), "{line}");
    }
}

#[test]
fn token_flag_vectors_match_the_library() {
    let doc = doc();
    let section = doc
        .split("`--token` parsing:")
        .nth(1)
        .expect("--token table in docs/auth.md");
    let mut accepted = 0;
    let mut rejected = 0;
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let c = cells(line);
        if c.len() != 2 || c[0] == "argument" {
            continue;
        }
        if c[1] == "error" {
            for input in code_spans(c[0]) {
                assert!(
                    parse_token_hex(input).is_err(),
                    "{input:?} should be rejected"
                );
                rejected += 1;
            }
        } else {
            let expected = hex(code_spans(c[1])[0]);
            for input in code_spans(c[0]) {
                assert_eq!(
                    parse_token_hex(input),
                    Ok(AuthToken::new(expected)),
                    "{input:?}"
                );
                accepted += 1;
            }
        }
    }
    assert!(
        accepted >= 7 && rejected >= 6,
        "{accepted} accepted, {rejected} rejected"
    );
}
