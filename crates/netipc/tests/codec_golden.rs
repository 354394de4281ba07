//! The codecs against the protocol's golden vectors (layer `codec`).
//!
//! The vectors were produced on a little-endian host, and the protocol uses
//! native byte order, so these tests only run on little-endian targets.
#![cfg(target_endian = "little")]

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::{Snapshot, SnapshotBuilder, SnapshotRequest, SnapshotView};
use netipc::codec::string_reverse::{self, StringView};
use netipc::codec::{increment, CodecError};
use serde_json::Value;

const VECTORS: &str = include_str!("data/netipc-v1-vectors.json");

struct Vector {
    name: String,
    inputs: Value,
    bytes: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    let nibble = |c: u8| -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("bad hex digit {c:#x}"),
        }
    };
    s.as_bytes()
        .chunks_exact(2)
        .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
        .collect()
}

fn codec_vectors() -> Vec<Vector> {
    let all: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let out: Vec<Vector> = all
        .as_array()
        .expect("top level is an array")
        .iter()
        .filter(|v| v["layer"] == "codec")
        .map(|v| {
            let bytes = unhex(v["hex"].as_str().expect("hex string"));
            assert_eq!(Some(bytes.len() as u64), v["len"].as_u64(), "len field");
            Vector {
                name: v["name"].as_str().expect("name").to_owned(),
                inputs: v["inputs"].clone(),
                bytes,
            }
        })
        .collect();
    // Guard against the filter silently matching nothing.
    let names: Vec<&str> = out.iter().map(|v| v.name.as_str()).collect();
    for expected in [
        "increment_41",
        "string_reverse_empty",
        "string_reverse_hello",
        "string_reverse_300_alphabet",
        "cgroups_snapshot_request",
        "cgroups_snapshot_response_empty",
        "cgroups_snapshot_response_one_item",
        "cgroups_snapshot_response_three_items",
    ] {
        assert!(names.contains(&expected), "missing vector {expected}");
    }
    out
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64"))
}

fn u32_of(v: &Value, key: &str) -> u32 {
    u32::try_from(u64_of(v, key)).unwrap_or_else(|_| panic!("{key} is not a u32"))
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn with_prefix<'a>(vectors: &'a [Vector], prefix: &str) -> Vec<&'a Vector> {
    let out: Vec<&Vector> = vectors
        .iter()
        .filter(|v| v.name.starts_with(prefix))
        .collect();
    assert!(!out.is_empty(), "no vectors named {prefix}*");
    out
}

#[test]
fn every_codec_vector_is_covered() {
    for v in codec_vectors() {
        let known = ["increment_", "string_reverse_", "cgroups_snapshot_"]
            .iter()
            .any(|p| v.name.starts_with(p));
        assert!(known, "codec vector {} has no test", v.name);
    }
}

#[test]
fn increment_vectors() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "increment_") {
        let value = u64_of(&v.inputs, "value");
        assert_eq!(
            increment::encode(value).as_slice(),
            &v.bytes[..],
            "{}",
            v.name
        );
        let mut buf = Vec::new();
        increment::encode_into(&mut buf, value);
        assert_eq!(buf, v.bytes, "{}", v.name);
        assert_eq!(increment::decode(&v.bytes), Ok(value), "{}", v.name);
        let short = &v.bytes[..v.bytes.len() - 1];
        assert_eq!(short.len(), 7);
        assert!(matches!(
            increment::decode(short),
            Err(CodecError::Truncated {
                need: 8,
                have: 7,
                ..
            })
        ));
    }
}

#[test]
fn string_reverse_vectors() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "string_reverse_") {
        let s = str_of(&v.inputs, "value");
        assert_eq!(s.len() as u64, u64_of(&v.inputs, "str_len"), "{}", v.name);
        assert_eq!(string_reverse::encoded_len(s.len()), v.bytes.len());

        let mut buf = Vec::new();
        string_reverse::encode_into(&mut buf, s.as_bytes()).expect("encode");
        assert_eq!(buf, v.bytes, "{}", v.name);

        let view = StringView::decode(&v.bytes).expect("decode");
        assert_eq!(view.as_bytes(), s.as_bytes(), "{}", v.name);
        assert_eq!(view.to_str(), Ok(s));
        assert_eq!(view.len(), s.len());
        assert_eq!(view.is_empty(), s.is_empty());

        let short = &v.bytes[..v.bytes.len() - 1];
        assert!(
            matches!(
                StringView::decode(short),
                Err(CodecError::StringOutOfBounds { .. })
            ),
            "{} truncated by one byte must be rejected",
            v.name
        );
    }
}

#[test]
fn snapshot_request_vector() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "cgroups_snapshot_request") {
        assert_eq!(u64_of(&v.inputs, "layout_version"), 1);
        assert_eq!(u64_of(&v.inputs, "flags"), 0);
        assert_eq!(SnapshotRequest.encode().as_slice(), &v.bytes[..]);
        assert_eq!(SnapshotRequest::decode(&v.bytes), Ok(SnapshotRequest));
        assert!(matches!(
            SnapshotRequest::decode(&v.bytes[..v.bytes.len() - 1]),
            Err(CodecError::Truncated {
                need: 4,
                have: 3,
                ..
            })
        ));
    }
}

struct ExpectedItem<'v> {
    hash: u32,
    options: u32,
    enabled: u32,
    name: &'v str,
    path: &'v str,
}

fn expected_items(inputs: &Value) -> Vec<ExpectedItem<'_>> {
    let items = inputs["items"].as_array().expect("items array");
    assert_eq!(items.len() as u64, u64_of(inputs, "item_count"));
    items
        .iter()
        .map(|i| ExpectedItem {
            hash: u32_of(i, "hash"),
            options: u32_of(i, "options"),
            enabled: u32_of(i, "enabled"),
            name: str_of(i, "name"),
            path: str_of(i, "path"),
        })
        .collect()
}

fn build_with_hint(inputs: &Value, hint: usize, buf: &mut Vec<u8>) -> usize {
    let mut b = SnapshotBuilder::new(
        buf,
        u32_of(inputs, "systemd_enabled"),
        u64_of(inputs, "generation"),
        hint,
    );
    for item in expected_items(inputs) {
        b.push(CgroupItem {
            hash: item.hash,
            options: item.options,
            enabled: item.enabled,
            name: item.name.as_bytes(),
            path: item.path.as_bytes(),
        })
        .expect("push");
    }
    b.finish().expect("finish")
}

#[test]
fn snapshot_response_vectors_encode() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "cgroups_snapshot_response_") {
        assert_eq!(u64_of(&v.inputs, "layout_version"), 1);
        assert_eq!(u64_of(&v.inputs, "flags"), 0);
        let n = expected_items(&v.inputs).len();
        let mut hints = vec![0, n, 10 * n, n + 1, n.saturating_sub(1), 16];
        hints.dedup();
        for hint in hints {
            let mut buf = Vec::new();
            let len = build_with_hint(&v.inputs, hint, &mut buf);
            assert_eq!(len, v.bytes.len(), "{} hint {hint}", v.name);
            assert_eq!(buf, v.bytes, "{} hint {hint}", v.name);

            // Reusing a buffer that already holds other bytes appends.
            let mut buf = vec![0xee; 5];
            build_with_hint(&v.inputs, hint, &mut buf);
            assert_eq!(&buf[..5], &[0xee; 5]);
            assert_eq!(
                &buf[5..],
                &v.bytes[..],
                "{} hint {hint} after prefix",
                v.name
            );
        }
    }
}

#[test]
fn snapshot_response_vectors_decode() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "cgroups_snapshot_response_") {
        let view = SnapshotView::decode(&v.bytes).expect("decode");
        let expected = expected_items(&v.inputs);
        assert_eq!(view.item_count(), expected.len(), "{}", v.name);
        assert_eq!(view.systemd_enabled(), u32_of(&v.inputs, "systemd_enabled"));
        assert_eq!(view.generation(), u64_of(&v.inputs, "generation"));
        assert_eq!(view.iter().len(), expected.len());
        for (i, want) in expected.iter().enumerate() {
            let got = view.item(i).expect("item in range");
            assert_eq!(got.hash(), want.hash, "{} item {i}", v.name);
            assert_eq!(got.options(), want.options, "{} item {i}", v.name);
            assert_eq!(got.enabled(), want.enabled, "{} item {i}", v.name);
            assert_eq!(got.name_str(), Ok(want.name), "{} item {i}", v.name);
            assert_eq!(got.path_str(), Ok(want.path), "{} item {i}", v.name);
        }
        assert_eq!(view.item(expected.len()), None);
        assert!(view.iter().eq(view.into_iter()));

        let owned: Snapshot = view.to_owned();
        assert_eq!(owned.items.len(), expected.len());
        assert_eq!(owned.encode().as_deref(), Ok(&v.bytes[..]), "{}", v.name);
    }
}

#[test]
fn snapshot_response_vectors_truncated_are_rejected() {
    let vectors = codec_vectors();
    for v in with_prefix(&vectors, "cgroups_snapshot_response_") {
        let short = &v.bytes[..v.bytes.len() - 1];
        let err = SnapshotView::decode(short).expect_err(&v.name);
        if v.bytes.len() == 24 {
            assert!(
                matches!(err, CodecError::Truncated { have: 23, .. }),
                "{err}"
            );
        } else {
            // The last item loses its final NUL: it no longer fits its area.
            assert!(
                matches!(err, CodecError::ItemOutOfBounds { .. }),
                "{}: {err}",
                v.name
            );
        }
    }
}
