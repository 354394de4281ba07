//! The CGROUPS_LOOKUP and APPS_LOOKUP codecs against every lookup golden
//! vector: valid requests and responses are re-created byte for byte
//! (request encoder, plain builder, request-backed builder with the listed
//! budget, stitching) and decoded back to their inputs; every invalid vector
//! is rejected for the rule it breaks; frames carry the payload vectors.
//!
//! The vectors were recorded on a little-endian host.
#![cfg(target_endian = "little")]

mod lookup_common;

use std::collections::BTreeMap;

use lookup_common::{decode_apps, decode_cg, encode_apps, encode_cg, AppItem, CgItem, OwnedLabels};
use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{self, Status};
use netipc::codec::lookup::{Added, LookupError};
use netipc::wire::Header;
use serde_json::Value;

const VECTORS: &str = include_str!("data/netipc-v1-lookup-vectors.json");

struct Vector {
    name: String,
    method: String,
    payload: String,
    valid: bool,
    inputs: Value,
    raw: Value,
    bytes: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn vectors() -> BTreeMap<String, Vector> {
    let all: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    let mut out = BTreeMap::new();
    for v in all.as_array().expect("array") {
        let bytes = unhex(v["hex"].as_str().expect("hex"));
        assert_eq!(Some(bytes.len() as u64), v["len"].as_u64(), "len field");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let name = s("name");
        let old = out.insert(
            name.clone(),
            Vector {
                name,
                method: s("method"),
                payload: s("payload"),
                valid: v["valid"].as_bool().expect("valid"),
                inputs: v["inputs"].clone(),
                raw: v.clone(),
                bytes,
            },
        );
        assert!(old.is_none(), "duplicate vector name");
    }
    out
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} is not an integer"))
}

fn bytes_of(v: &Value, k: &str) -> Vec<u8> {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} is not a string"))
        .as_bytes()
        .to_vec()
}

fn labels_of(v: &Value) -> OwnedLabels {
    v["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| (bytes_of(l, "key"), bytes_of(l, "value")))
        .collect()
}

fn cg_item(v: &Value) -> CgItem {
    CgItem {
        status: Status::from_code(u64_of(v, "status") as u16).expect("status"),
        orchestrator: u64_of(v, "orchestrator") as u16,
        path: bytes_of(v, "path"),
        name: bytes_of(v, "name"),
        labels: labels_of(v),
    }
}

fn app_item(v: &Value) -> AppItem {
    AppItem {
        status: PidStatus::from_code(u64_of(v, "status") as u16).expect("status"),
        cgroup_status: CgroupStatus::from_code(u64_of(v, "cgroup_status") as u16)
            .expect("cgroup_status"),
        orchestrator: u64_of(v, "orchestrator") as u16,
        pid: u64_of(v, "pid") as u32,
        ppid: u64_of(v, "ppid") as u32,
        uid: u64_of(v, "uid") as u32,
        starttime: u64_of(v, "starttime"),
        comm: bytes_of(v, "comm"),
        cgroup_path: bytes_of(v, "cgroup_path"),
        cgroup_name: bytes_of(v, "cgroup_name"),
        labels: labels_of(v),
    }
}

fn items_of<T>(v: &Value, key: &str, f: fn(&Value) -> T) -> Vec<T> {
    v[key]
        .as_array()
        .expect("item list")
        .iter()
        .map(f)
        .collect()
}

fn check_response_header(v: &Vector) {
    assert_eq!(u64_of(&v.inputs, "layout_version"), 1, "{}", v.name);
    assert_eq!(u64_of(&v.inputs, "flags"), 0, "{}", v.name);
}

#[test]
fn the_vector_file_is_complete() {
    let all = vectors();
    assert_eq!(all.len(), 71);
    assert_eq!(all.values().filter(|v| v.valid).count(), 30);
    assert_eq!(all.values().filter(|v| !v.valid).count(), 41);
    for v in all.values() {
        let known = matches!(
            (v.method.as_str(), v.payload.as_str()),
            (
                "CGROUPS_LOOKUP" | "APPS_LOOKUP",
                "request" | "response" | "frame"
            )
        );
        assert!(known, "{}: unexpected method/payload", v.name);
    }
}

#[test]
fn requests_encode_and_decode() {
    let mut seen = 0;
    for v in vectors().values() {
        if !v.valid || v.payload != "request" {
            continue;
        }
        seen += 1;
        let count = u64_of(&v.inputs, "item_count") as usize;
        let mut buf = vec![0xee; 3];
        if v.method == "CGROUPS_LOOKUP" {
            let paths = items_of(&v.inputs, "paths", |p| {
                p.as_str().unwrap().as_bytes().to_vec()
            });
            assert_eq!(paths.len(), count);
            let n = cgroups_lookup::encode_request(&mut buf, &paths).expect("encode");
            assert_eq!(&buf[3..], &v.bytes[..], "{}", v.name);
            assert_eq!(n as u64, cgroups_lookup::request_len(&paths), "{}", v.name);
            let view = cgroups_lookup::RequestView::decode(&v.bytes).expect("decode");
            assert_eq!(view.len(), count);
            assert!(view.iter().eq(paths.iter().map(|p| &p[..])), "{}", v.name);
            assert!(view.iter().rev().eq(paths.iter().rev().map(|p| &p[..])));
            assert_eq!(view.key(count), None);
        } else {
            let pids = items_of(&v.inputs, "pids", |p| p.as_u64().unwrap() as u32);
            assert_eq!(pids.len(), count);
            let n = apps_lookup::encode_request(&mut buf, &pids).expect("encode");
            assert_eq!(&buf[3..], &v.bytes[..], "{}", v.name);
            assert_eq!(n as u64, apps_lookup::request_len(pids.len()));
            let view = apps_lookup::RequestView::decode(&v.bytes).expect("decode");
            assert!(view.iter().eq(pids.iter().copied()), "{}", v.name);
            assert_eq!(view.pid(count), None);
        }
        assert_eq!(&buf[..3], &[0xee; 3], "encoders only append");
    }
    assert_eq!(seen, 9);
}

/// How the listed bytes were made, and the items they decode to.
enum Recipe {
    Builder,
    Dispatch { request: String, budget: usize },
    Stitch { parts: Vec<(String, Vec<usize>)> },
}

fn recipe(v: &Vector) -> Recipe {
    let by = v.inputs["produced_by"].as_str().expect("produced_by");
    if by == "builder" {
        Recipe::Builder
    } else if by == "server dispatch" {
        Recipe::Dispatch {
            request: v.inputs["request_vector"].as_str().unwrap().to_owned(),
            budget: u64_of(&v.inputs, "response_budget") as usize,
        }
    } else {
        assert!(by.starts_with("client stitch"), "{}: {by}", v.name);
        // "NAME item 0" or "NAME items 0-1".
        let parts = items_of(&v.inputs, "stitched_from", |s| {
            let s = s.as_str().unwrap();
            let (name, range) = s.split_once(' ').unwrap();
            let range = range.split_once(' ').unwrap().1;
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            (name.to_owned(), (a..=b).collect())
        });
        Recipe::Stitch { parts }
    }
}

fn dispatch_cg(
    req: &[u8],
    budget: usize,
    handler: &[CgItem],
    generation: u64,
) -> (Vec<u8>, Vec<Added>) {
    let request = cgroups_lookup::RequestView::decode(req).expect("request");
    let mut buf = Vec::new();
    let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, budget);
    let mut outcomes = Vec::new();
    while let Some(path) = b.next_key() {
        let it = handler
            .iter()
            .find(|h| h.path == path)
            .expect("handler item");
        outcomes.push(it.with_answer(|a| b.add(a)).expect("add"));
    }
    b.set_generation(generation);
    b.finish().expect("finish");
    (buf, outcomes)
}

fn dispatch_apps(
    req: &[u8],
    budget: usize,
    handler: &[AppItem],
    generation: u64,
) -> (Vec<u8>, Vec<Added>) {
    let request = apps_lookup::RequestView::decode(req).expect("request");
    let mut buf = Vec::new();
    let mut b = apps_lookup::ReplyBuilder::new(&mut buf, request, budget);
    let mut outcomes = Vec::new();
    while let Some(pid) = b.next_key() {
        let it = handler.iter().find(|h| h.pid == pid).expect("handler item");
        outcomes.push(it.with_answer(|a| b.add(a)).expect("add"));
    }
    b.set_generation(generation);
    b.finish().expect("finish");
    (buf, outcomes)
}

/// The outcome the builder must report for each final item.
fn expected_outcome(final_code: u16, handler_code: u16, oversized: u16, exceeded: u16) -> Added {
    if final_code == handler_code {
        Added::Item
    } else if final_code == oversized {
        Added::OversizedItem
    } else {
        assert_eq!(final_code, exceeded);
        Added::PayloadExceeded
    }
}

#[test]
fn cgroups_responses_encode_and_decode() {
    let all = vectors();
    let mut seen = 0;
    for v in all.values() {
        if !v.valid || v.payload != "response" || v.method != "CGROUPS_LOOKUP" {
            continue;
        }
        seen += 1;
        check_response_header(v);
        let generation = u64_of(&v.inputs, "generation");
        let items = items_of(&v.inputs, "items", cg_item);
        assert_eq!(items.len() as u64, u64_of(&v.inputs, "item_count"));

        // Decode to the inputs.
        assert_eq!(
            decode_cg(&v.bytes),
            (generation, items.clone()),
            "{}",
            v.name
        );

        // Re-create the bytes the way they were made.
        match recipe(v) {
            Recipe::Builder => {
                for hint in [0, 1, items.len(), items.len() + 7] {
                    assert_eq!(
                        encode_cg(generation, &items, hint),
                        v.bytes,
                        "{} hint {hint}",
                        v.name
                    );
                }
            }
            Recipe::Dispatch { request, budget } => {
                let handler = items_of(&v.inputs, "handler_items", cg_item);
                let (bytes, outcomes) =
                    dispatch_cg(&all[&request].bytes, budget, &handler, generation);
                assert_eq!(bytes, v.bytes, "{}", v.name);
                assert!(bytes.len() <= budget);
                for ((o, it), h) in outcomes.iter().zip(&items).zip(&handler) {
                    let want = expected_outcome(it.status.code(), h.status.code(), 4, 3);
                    assert_eq!(*o, want, "{}: outcome for {:?}", v.name, it.path);
                }
                if let Some(known_len) = v.inputs["known_response_len"].as_u64() {
                    // The next multiple of 8 is enough for the KNOWN answer.
                    let budget = (known_len as usize + 7) & !7;
                    let (bytes, outcomes) =
                        dispatch_cg(&all[&request].bytes, budget, &handler, generation);
                    assert_eq!(outcomes, [Added::Item]);
                    assert_eq!(bytes.len() as u64, known_len);
                    assert_eq!(decode_cg(&bytes).1, handler);
                }
            }
            Recipe::Stitch { parts } => {
                let mut buf = Vec::new();
                let mut b = cgroups_lookup::ResponseBuilder::new(&mut buf, generation, 0);
                for (name, idx) in &parts {
                    let part = cgroups_lookup::ResponseView::decode(&all[name].bytes).unwrap();
                    assert_eq!(
                        part.generation(),
                        generation,
                        "sub-responses share the generation"
                    );
                    for &i in idx {
                        b.push_item(&part.item(i).unwrap()).expect("push_item");
                    }
                }
                b.finish().expect("finish");
                assert_eq!(buf, v.bytes, "{}", v.name);
                // Identical to a one-shot builder response of the same items.
                assert_eq!(encode_cg(generation, &items, 1), v.bytes);
            }
        }

        // Cut by one byte: rejected.
        assert!(
            cgroups_lookup::ResponseView::decode(&v.bytes[..v.bytes.len() - 1]).is_err(),
            "{} truncated",
            v.name
        );
    }
    assert_eq!(seen, 10);
}

#[test]
fn apps_responses_encode_and_decode() {
    let all = vectors();
    let mut seen = 0;
    for v in all.values() {
        if !v.valid || v.payload != "response" || v.method != "APPS_LOOKUP" {
            continue;
        }
        seen += 1;
        check_response_header(v);
        let generation = u64_of(&v.inputs, "generation");
        let items = items_of(&v.inputs, "items", app_item);
        assert_eq!(items.len() as u64, u64_of(&v.inputs, "item_count"));
        assert_eq!(
            decode_apps(&v.bytes),
            (generation, items.clone()),
            "{}",
            v.name
        );
        match recipe(v) {
            Recipe::Builder => {
                for hint in [0, 1, items.len(), items.len() + 7] {
                    assert_eq!(
                        encode_apps(generation, &items, hint),
                        v.bytes,
                        "{} hint {hint}",
                        v.name
                    );
                }
            }
            Recipe::Dispatch { request, budget } => {
                let handler = items_of(&v.inputs, "handler_items", app_item);
                let (bytes, outcomes) =
                    dispatch_apps(&all[&request].bytes, budget, &handler, generation);
                assert_eq!(bytes, v.bytes, "{}", v.name);
                for ((o, it), h) in outcomes.iter().zip(&items).zip(&handler) {
                    let want = expected_outcome(it.status.code(), h.status.code(), 3, 2);
                    assert_eq!(*o, want, "{}: outcome for pid {}", v.name, it.pid);
                }
            }
            Recipe::Stitch { .. } => panic!("{}: no APPS stitch vector expected", v.name),
        }
        assert!(
            apps_lookup::ResponseView::decode(&v.bytes[..v.bytes.len() - 1]).is_err(),
            "{} truncated",
            v.name
        );
    }
    assert_eq!(seen, 9);
}

#[test]
fn frames_carry_the_payload_vectors() {
    let all = vectors();
    let mut seen = 0;
    for v in all.values().filter(|v| v.payload == "frame") {
        seen += 1;
        let h = Header::decode(&v.bytes).expect("header");
        let want = &v.inputs["header"];
        assert_eq!(u64::from(h.kind as u16), u64_of(want, "kind"));
        assert_eq!(u64::from(h.flags.0), u64_of(want, "flags"));
        assert_eq!(u64::from(h.code), u64_of(want, "code"));
        assert_eq!(
            u64::from(h.transport_status),
            u64_of(want, "transport_status")
        );
        assert_eq!(u64::from(h.payload_len), u64_of(want, "payload_len"));
        assert_eq!(u64::from(h.item_count), 1, "lookups are never batches");
        assert_eq!(h.message_id, u64_of(want, "message_id"));
        let payload = &v.bytes[32..];
        assert_eq!(payload.len(), h.payload_len as usize);
        let inner = &all[v.inputs["payload_vector"].as_str().unwrap()];
        assert_eq!(payload, &inner.bytes[..]);
        let method = h.method().expect("method");
        match (v.method.as_str(), inner.payload.as_str()) {
            ("CGROUPS_LOOKUP", "request") => {
                assert_eq!(method, netipc::wire::Method::CgroupsLookup);
                cgroups_lookup::RequestView::decode(payload).expect("payload");
            }
            ("APPS_LOOKUP", "response") => {
                assert_eq!(method, netipc::wire::Method::AppsLookup);
                apps_lookup::ResponseView::decode(payload).expect("payload");
            }
            other => panic!("{}: unexpected frame {other:?}", v.name),
        }
    }
    assert_eq!(seen, 2);
}

/// The variant each invalid vector must produce (besides its `c_error`).
const EXPECTED_VARIANT: &[(&str, &str)] = &[
    ("invalid_cgroups_request_layout_version", "BadLayoutVersion"),
    ("invalid_cgroups_request_flags", "NonZeroFlags"),
    ("invalid_cgroups_request_reserved", "NonZeroReserved"),
    (
        "invalid_cgroups_request_directory_truncated",
        "DirectoryTruncated",
    ),
    ("invalid_cgroups_request_unaligned_key", "Misaligned"),
    (
        "invalid_cgroups_request_overlapping_keys",
        "EntryOutOfOrder",
    ),
    (
        "invalid_cgroups_request_key_out_of_bounds",
        "EntryOutOfBounds",
    ),
    ("invalid_cgroups_request_empty_key", "EntryTooShort"),
    ("invalid_cgroups_request_key_missing_nul", "KeyMissingNul"),
    ("invalid_cgroups_request_key_interior_nul", "KeyInteriorNul"),
    ("invalid_cgroups_response_flags", "NonZeroFlags"),
    ("invalid_cgroups_response_item_too_short", "EntryTooShort"),
    ("invalid_cgroups_response_unaligned_item", "Misaligned"),
    (
        "invalid_cgroups_response_items_out_of_order",
        "EntryOutOfOrder",
    ),
    (
        "invalid_cgroups_response_item_out_of_bounds",
        "EntryOutOfBounds",
    ),
    ("invalid_cgroups_response_unknown_status", "UnknownStatus"),
    (
        "invalid_cgroups_response_non_known_with_orchestrator",
        "StatusRule",
    ),
    ("invalid_cgroups_response_empty_path", "StatusRule"),
    ("invalid_cgroups_response_item_reserved", "ItemReserved"),
    (
        "invalid_cgroups_response_string_in_header",
        "StringInHeader",
    ),
    ("invalid_cgroups_response_missing_nul", "StringMissingNul"),
    ("invalid_cgroups_response_interior_nul", "StringInteriorNul"),
    (
        "invalid_cgroups_response_trailing_item_byte",
        "ItemLengthMismatch",
    ),
    ("invalid_cgroups_response_shared_nul", "StringsOverlap"),
    ("invalid_cgroups_response_label_padding", "LabelPadding"),
    ("invalid_cgroups_response_empty_label_key", "EmptyLabelKey"),
    (
        "invalid_cgroups_response_label_not_packed",
        "LabelNotPacked",
    ),
    ("invalid_apps_request_key_length", "BadKeyLength"),
    ("invalid_apps_request_key_reserved", "KeyReserved"),
    ("invalid_apps_request_reserved", "NonZeroReserved"),
    ("invalid_apps_response_layout_version", "ItemLayoutVersion"),
    ("invalid_apps_response_item_too_short", "EntryTooShort"),
    ("invalid_apps_response_unknown_status", "UnknownStatus"),
    (
        "invalid_apps_response_unknown_cgroup_status",
        "UnknownStatus",
    ),
    ("invalid_apps_response_comm_too_long", "StatusRule"),
    ("invalid_apps_response_known_empty_comm", "StatusRule"),
    ("invalid_apps_response_unknown_uid_set", "StatusRule"),
    ("invalid_apps_response_host_root_orchestrator", "StatusRule"),
    ("invalid_apps_response_permanent_empty_path", "StatusRule"),
    ("invalid_apps_response_item_reserved", "ItemReserved"),
    (
        "invalid_apps_response_overlapping_strings",
        "StringsOverlap",
    ),
];

fn decode_err(v: &Vector, bytes: &[u8]) -> LookupError {
    let r = match (v.method.as_str(), v.payload.as_str()) {
        ("CGROUPS_LOOKUP", "request") => cgroups_lookup::RequestView::decode(bytes).map(drop),
        ("CGROUPS_LOOKUP", "response") => cgroups_lookup::ResponseView::decode(bytes).map(drop),
        ("APPS_LOOKUP", "request") => apps_lookup::RequestView::decode(bytes).map(drop),
        ("APPS_LOOKUP", "response") => apps_lookup::ResponseView::decode(bytes).map(drop),
        other => panic!("{}: unexpected {other:?}", v.name),
    };
    r.expect_err(&v.name)
}

#[test]
fn invalid_vectors_are_rejected_for_the_named_rule() {
    let all = vectors();
    let invalid: Vec<&Vector> = all.values().filter(|v| !v.valid).collect();
    assert_eq!(invalid.len(), EXPECTED_VARIANT.len());
    for v in invalid {
        // The listed bytes are the base vector with the patch applied.
        let base = &all[v.inputs["base_vector"].as_str().unwrap()];
        assert!(base.valid && base.method == v.method && base.payload == v.payload);
        let mut patched = base.bytes.clone();
        if let Some(n) = v.inputs["truncate_to"].as_u64() {
            patched.truncate(n as usize);
        }
        for p in v.inputs["patch"].as_array().unwrap() {
            let at = u64_of(p, "offset") as usize;
            let from = unhex(p["from"].as_str().unwrap());
            let to = unhex(p["to"].as_str().unwrap());
            assert_eq!(
                &patched[at..at + from.len()],
                &from[..],
                "{} patch base",
                v.name
            );
            patched[at..at + to.len()].copy_from_slice(&to);
        }
        assert_eq!(patched, v.bytes, "{}: patch", v.name);

        let err = decode_err(v, &v.bytes);
        let c_error = v.raw["c_error"].as_str().unwrap();
        assert_eq!(
            Some(err.kind().name()),
            c_error.strip_prefix("NIPC_ERR_"),
            "{}: {err} ({err:?})",
            v.name
        );
        let variant = EXPECTED_VARIANT
            .iter()
            .find(|(n, _)| *n == v.name)
            .unwrap_or_else(|| panic!("{} not in the table", v.name))
            .1;
        let debug = format!("{err:?}");
        assert!(
            debug.starts_with(variant),
            "{}: got {debug}, want {variant}",
            v.name
        );
        // Every invalid vector breaks a rule of one item/key or of the header.
        if let Some(index) = err.index() {
            let count = u32::from_ne_bytes(v.bytes[4..8].try_into().unwrap());
            assert!(
                (index as u64) < u64::from(count),
                "{}: index {index}",
                v.name
            );
        }
    }
}
