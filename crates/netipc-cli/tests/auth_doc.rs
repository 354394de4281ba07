//! The auth test vectors published in docs/auth.md (for C and Go
//! implementers) agree with what `netipc::auth` computes, and with what the
//! `netipc` binary accepts for `--token`.

use std::path::Path;

use netipc::auth::{derive_token, parse_token_hex};

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
    let mut checked = 0;
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let c = cells(line);
        if c.len() != 3 || !(c[1] == "UUID" || c[1] == "text") {
            continue;
        }
        let input = if c[0].starts_with("*(empty string)*") {
            ""
        } else {
            code_spans(c[0])[0]
        };
        let expected = hex(code_spans(c[2])[0]);
        assert_eq!(derive_token(input), expected, "{line}");
        checked += 1;
    }
    assert!(
        checked >= 15,
        "only {checked} vectors found in docs/auth.md"
    );
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
                assert_eq!(parse_token_hex(input), Ok(expected), "{input:?}");
                accepted += 1;
            }
        }
    }
    assert!(
        accepted >= 7 && rejected >= 6,
        "{accepted} accepted, {rejected} rejected"
    );
}
