//! Property tests for the codecs: round trips over arbitrary values, decoders
//! fed arbitrary and mutated bytes, and a differential check of the snapshot
//! decoder against a small, independent reference validator.

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::{
    Snapshot, SnapshotBuilder, SnapshotItem, SnapshotRequest, SnapshotView,
};
use netipc::codec::string_reverse::{self, StringView};
use netipc::codec::{increment, CodecError};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Bytes whose length is spread over 0 ..= 1 MiB on a log scale. Large
/// contents come from a cheap generator so big cases stay fast.
fn sized_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..64),
        2 => (0u32..=20, any::<u32>(), any::<u8>()).prop_map(|(bits, r, seed)| {
            let len = (r as usize) % ((1usize << bits) + 1);
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect()
        }),
    ]
}

/// Bytes without NUL, suitable for a cgroup name or path.
fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..max)
}

fn item(max_name: usize, max_path: usize) -> impl Strategy<Value = SnapshotItem> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        text(max_name),
        text(max_path),
    )
        .prop_map(|(hash, options, enabled, name, path)| SnapshotItem {
            hash,
            options,
            enabled,
            name,
            path,
        })
}

fn snapshot(max_items: usize, max_name: usize, max_path: usize) -> impl Strategy<Value = Snapshot> {
    (
        any::<u32>(),
        any::<u64>(),
        vec(item(max_name, max_path), 0..max_items),
    )
        .prop_map(|(systemd_enabled, generation, items)| Snapshot {
            systemd_enabled,
            generation,
            items,
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
            Mutation::Set(i, v) if len > 0 => bytes[i % len] = v,
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            Mutation::Insert(i, v) => bytes.insert(i % (len + 1), v),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u64::from(u16::from_ne_bytes([s[0], s[1]])))
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u64::from(u32::from_ne_bytes([s[0], s[1], s[2], s[3]])))
}

/// Independent statement of the snapshot rules (protocol steps 1-5 plus our
/// strict extras), written for clarity rather than speed.
fn reference_snapshot_ok(p: &[u8]) -> bool {
    fn check(p: &[u8]) -> Option<bool> {
        let len = p.len() as u64;
        if len < 24 || u16_at(p, 0)? != 1 || u16_at(p, 2)? != 0 || u32_at(p, 12)? != 0 {
            return Some(false);
        }
        let n = u32_at(p, 4)?;
        let area_start = 24 + 8 * n;
        if area_start > len {
            return Some(false);
        }
        let area_len = len - area_start;
        let mut furthest = 0;
        for i in 0..n {
            let off = u32_at(p, (24 + 8 * i) as usize)?;
            let ilen = u32_at(p, (28 + 8 * i) as usize)?;
            if off % 8 != 0 || off + ilen > area_len || ilen < 32 {
                return Some(false);
            }
            let start = (area_start + off) as usize;
            let item = &p[start..start + ilen as usize];
            if u16_at(item, 0)? != 1 || u16_at(item, 2)? != 0 {
                return Some(false);
            }
            let (no, nl) = (u32_at(item, 16)?, u32_at(item, 20)?);
            let (po, pl) = (u32_at(item, 24)?, u32_at(item, 28)?);
            for (o, l) in [(no, nl), (po, pl)] {
                if o < 32 || o + l + 1 > ilen || item[(o + l) as usize] != 0 {
                    return Some(false);
                }
            }
            if no < po + pl + 1 && po < no + nl + 1 {
                return Some(false);
            }
            furthest = furthest.max(off + ilen);
        }
        Some(furthest == area_len)
    }
    check(p).unwrap_or(false)
}

fn reference_string_ok(p: &[u8]) -> bool {
    match (u32_at(p, 0), u32_at(p, 4)) {
        (Some(off), Some(len)) => {
            off == 8 && off + len < p.len() as u64 && p[(off + len) as usize] == 0
        }
        _ => false,
    }
}

/// Uses every accessor of a successfully decoded snapshot and checks that
/// they agree with one another.
fn exercise(view: &SnapshotView<'_>) {
    let n = view.item_count();
    assert_eq!(view.is_empty(), n == 0);
    assert_eq!(view.iter().len(), n);
    let items: Vec<_> = view.iter().collect();
    assert_eq!(items.len(), n, "iterator stopped early");
    let mut back: Vec<_> = view.iter().rev().collect();
    back.reverse();
    assert_eq!(back, items);
    for (i, it) in items.iter().enumerate() {
        assert_eq!(view.item(i).as_ref(), Some(it));
        let _ = (it.hash(), it.options(), it.enabled());
        let _ = (
            it.name_lossy(),
            it.path_lossy(),
            it.name_str(),
            it.path_str(),
        );
        // Every string lies inside the payload.
        let range = view.as_bytes().as_ptr_range();
        for s in [it.name(), it.path()] {
            let r = s.as_ptr_range();
            assert!(range.start <= r.start && r.end <= range.end);
        }
    }
    assert_eq!(view.item(n), None);

    let owned = view.to_owned();
    assert_eq!(owned.items.len(), n);
    assert_eq!(owned.systemd_enabled, view.systemd_enabled());
    assert_eq!(owned.generation, view.generation());
    match owned.encode() {
        Ok(bytes) => {
            let again = SnapshotView::decode(&bytes).expect("re-encoded snapshot decodes");
            assert_eq!(again.to_owned(), owned);
        }
        Err(CodecError::InteriorNul { index, .. }) => {
            let it = &owned.items[index];
            assert!(it.name.contains(&0) || it.path.contains(&0));
        }
        Err(e) => panic!("re-encoding a decoded snapshot failed: {e}"),
    }
}

fn build(s: &Snapshot, hint: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, s.systemd_enabled, s.generation, hint);
    for it in &s.items {
        b.push_item(it).expect("push");
    }
    let len = b.finish().expect("finish");
    assert_eq!(len, buf.len());
    buf
}

/// Checks the byte layout of an encoded snapshot independently of the
/// decoder: aligned offsets, zero gaps, no trailing padding.
fn check_layout(p: &[u8], s: &Snapshot) {
    let n = s.items.len();
    assert_eq!(u32_at(p, 4), Some(n as u64));
    let area = 24 + 8 * n;
    let mut expected_off = 0usize;
    for (i, it) in s.items.iter().enumerate() {
        let off = u32_at(p, 24 + 8 * i).expect("entry") as usize;
        let len = u32_at(p, 28 + 8 * i).expect("entry") as usize;
        assert_eq!(off, expected_off, "item {i} offset");
        assert_eq!(len, 34 + it.name.len() + it.path.len(), "item {i} length");
        if i > 0 {
            let prev_end = u32_at(p, 16 + 8 * i).expect("prev") as usize
                + u32_at(p, 20 + 8 * i).expect("prev") as usize;
            assert!(p[area + prev_end..area + off].iter().all(|&b| b == 0));
        }
        expected_off = (off + len + 7) & !7;
        if i + 1 == n {
            assert_eq!(p.len(), area + off + len, "no padding after the last item");
        }
    }
    if n == 0 {
        assert_eq!(p.len(), 24);
    }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn increment_round_trip(value in any::<u64>(), extra in vec(any::<u8>(), 0..16)) {
        let mut buf = Vec::new();
        increment::encode_into(&mut buf, value);
        prop_assert_eq!(buf.len(), increment::PAYLOAD_LEN);
        buf.extend_from_slice(&extra);
        prop_assert_eq!(increment::decode(&buf), Ok(value));
    }

    #[test]
    fn snapshot_small_round_trip(
        s in snapshot(8, 40, 80),
        hint in 0usize..20,
        other_hint in 0usize..20,
        prefix in vec(any::<u8>(), 0..9),
    ) {
        let bytes = build(&s, hint);
        check_layout(&bytes, &s);
        prop_assert_eq!(&build(&s, other_hint), &bytes);
        let view = SnapshotView::decode(&bytes).expect("decodes");
        prop_assert_eq!(view.to_owned(), s.clone());
        exercise(&view);

        // Appending after a prefix yields prefix + the same bytes.
        let mut buf = prefix.clone();
        prop_assert_eq!(s.encode_into(&mut buf), Ok(bytes.len()));
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&buf[prefix.len()..], &bytes[..]);
    }

    #[test]
    fn snapshot_limit_keeps_payload_within_bounds(
        s in snapshot(12, 30, 60),
        limit in 0usize..1200,
    ) {
        let mut buf = Vec::new();
        let mut accepted = Snapshot {
            systemd_enabled: s.systemd_enabled,
            generation: s.generation,
            items: Vec::new(),
        };
        let mut b = SnapshotBuilder::new(&mut buf, s.systemd_enabled, s.generation, 4)
            .with_limit(limit);
        for it in &s.items {
            match b.push_item(it) {
                Ok(()) => accepted.items.push(it.clone()),
                Err(CodecError::TooLarge { need, limit: l }) => {
                    prop_assert_eq!(l, limit);
                    prop_assert!(need > limit);
                    // The payload the push would have produced.
                    let area = b.payload_len() - 24 - 8 * b.item_count();
                    let offset = (area + 7) & !7;
                    let item_len = 34 + it.name.len() + it.path.len();
                    prop_assert_eq!(need, 24 + 8 * (b.item_count() + 1) + offset + item_len);
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        match b.finish() {
            Ok(len) => {
                prop_assert!(len <= limit);
                prop_assert_eq!(&buf, &build(&accepted, 0));
            }
            Err(e) => {
                prop_assert!(limit < 24, "finish failed with {}", e);
                prop_assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn snapshot_builder_rejects_any_nul(
        name in text(20),
        path in text(20),
        at in any::<usize>(),
        in_path in any::<bool>(),
    ) {
        let (mut name, mut path) = (name, path);
        let target = if in_path { &mut path } else { &mut name };
        let pos = at % (target.len() + 1);
        target.insert(pos, 0);
        let mut buf = vec![1, 2, 3];
        let mut b = SnapshotBuilder::new(&mut buf, 0, 0, 1);
        let err = b.push(CgroupItem { hash: 0, options: 0, enabled: 0, name: &name, path: &path });
        let field = if in_path { "path" } else { "name" };
        prop_assert_eq!(err, Err(CodecError::InteriorNul { index: 0, field, at: pos }));
        drop(b);
        prop_assert_eq!(buf, vec![1, 2, 3]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn string_reverse_round_trip(s in sized_bytes(), prefix in vec(any::<u8>(), 0..9)) {
        let mut buf = prefix.clone();
        string_reverse::encode_into(&mut buf, &s).expect("encode");
        let payload = &buf[prefix.len()..];
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(payload.len(), string_reverse::encoded_len(s.len()));
        prop_assert_eq!(u32_at(payload, 0), Some(8));
        prop_assert_eq!(u32_at(payload, 4), Some(s.len() as u64));
        let view = StringView::decode(payload).expect("decode");
        prop_assert_eq!(view.as_bytes(), &s[..]);
        prop_assert_eq!(view.len(), s.len());
        prop_assert_eq!(view.to_str().is_ok(), std::str::from_utf8(&s).is_ok());
        // Any truncation is rejected.
        let cut = payload.len() - 1;
        prop_assert!(StringView::decode(&payload[..cut]).is_err());
    }

    #[test]
    fn snapshot_large_item_round_trip(name in sized_bytes(), path in sized_bytes()) {
        let clean = |v: Vec<u8>| -> Vec<u8> { v.into_iter().map(|b| b.max(1)).collect() };
        let s = Snapshot {
            systemd_enabled: 1,
            generation: 2,
            items: vec![SnapshotItem {
                hash: 3,
                options: 4,
                enabled: 5,
                name: clean(name),
                path: clean(path),
            }],
        };
        let bytes = build(&s, 1);
        check_layout(&bytes, &s);
        let view = SnapshotView::decode(&bytes).expect("decodes");
        prop_assert_eq!(view.to_owned(), s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn snapshot_many_items_round_trip(s in snapshot(5000, 24, 48), hint in 0usize..6000) {
        let bytes = build(&s, hint);
        check_layout(&bytes, &s);
        prop_assert_eq!(&build(&s, s.items.len()), &bytes);
        let view = SnapshotView::decode(&bytes).expect("decodes");
        prop_assert_eq!(view.item_count(), s.items.len());
        for (got, want) in view.iter().zip(&s.items) {
            prop_assert_eq!(got.hash(), want.hash);
            prop_assert_eq!(got.options(), want.options);
            prop_assert_eq!(got.enabled(), want.enabled);
            prop_assert_eq!(got.name(), &want.name[..]);
            prop_assert_eq!(got.path(), &want.path[..]);
        }
    }
}

// ---------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let inc = increment::decode(&bytes);
        prop_assert_eq!(inc.is_ok(), bytes.len() >= 8);

        let s = StringView::decode(&bytes);
        prop_assert_eq!(s.is_ok(), reference_string_ok(&bytes));
        if let Ok(v) = s {
            prop_assert_eq!(v.len(), v.as_bytes().len());
            let _ = v.to_str();
        }

        let r = SnapshotRequest::decode(&bytes);
        prop_assert_eq!(
            r.is_ok(),
            u16_at(&bytes, 0) == Some(1) && u16_at(&bytes, 2) == Some(0)
        );

        let snap = SnapshotView::decode(&bytes);
        prop_assert_eq!(snap.is_ok(), reference_snapshot_ok(&bytes));
        if let Ok(v) = snap {
            exercise(&v);
        }
    }

    /// Arbitrary bytes behind a plausible header, so that the directory and
    /// item checks are reached far more often than with fully random input.
    #[test]
    fn plausible_header_random_body(
        count in 0u32..6,
        reserved_ok in prop::bool::weighted(0.9),
        body in vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1u16.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&count.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&u32::from(!reserved_ok).to_ne_bytes());
        bytes.extend_from_slice(&0u64.to_ne_bytes());
        bytes.extend_from_slice(&body);
        let snap = SnapshotView::decode(&bytes);
        prop_assert_eq!(snap.is_ok(), reference_snapshot_ok(&bytes));
        if let Ok(v) = snap {
            exercise(&v);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn mutated_snapshot_decodes_or_errors(
        s in snapshot(6, 12, 20),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut bytes = build(&s, s.items.len());
        mutate(&mut bytes, &mutations);
        let snap = SnapshotView::decode(&bytes);
        prop_assert_eq!(snap.is_ok(), reference_snapshot_ok(&bytes));
        if let Ok(v) = snap {
            exercise(&v);
        }
    }

    #[test]
    fn mutated_string_decodes_or_errors(
        s in vec(any::<u8>(), 0..40),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut bytes = Vec::new();
        string_reverse::encode_into(&mut bytes, &s).expect("encode");
        mutate(&mut bytes, &mutations);
        let decoded = StringView::decode(&bytes);
        prop_assert_eq!(decoded.is_ok(), reference_string_ok(&bytes));
        if let Ok(v) = decoded {
            prop_assert_eq!(Some(v.len() as u64), u32_at(&bytes, 4));
            let _ = v.to_str();
        }
    }

    #[test]
    fn mutated_request_and_increment(
        mutations in vec(mutation(), 1..4),
        value in any::<u64>(),
    ) {
        let mut req = SnapshotRequest.encode().to_vec();
        mutate(&mut req, &mutations);
        let ok = req.len() >= 4 && req[..4] == SnapshotRequest.encode();
        prop_assert_eq!(SnapshotRequest::decode(&req).is_ok(), ok);

        let mut inc = increment::encode(value).to_vec();
        mutate(&mut inc, &mutations);
        match increment::decode(&inc) {
            Ok(v) => prop_assert_eq!(&v.to_ne_bytes()[..], &inc[..8]),
            Err(e) => {
                let truncated = matches!(e, CodecError::Truncated { .. });
                prop_assert!(truncated && inc.len() < 8, "unexpected {}", e);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Structured hostile input: valid framing, random item geometry
// ---------------------------------------------------------------------------

/// One item that starts out canonical (name of `x`, path of `x`) and then
/// gets some of its string offsets/lengths replaced and a few body bytes
/// overwritten with NUL or `x`, so that the NUL, bounds, header-overlap and
/// name/path-overlap rules are all exercised with both outcomes.
fn raw_item() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        4 => Just(None),
        1 => (0u32..64).prop_map(Some),
        1 => (28u32..36).prop_map(Some),
    ];
    let poke = (any::<usize>(), prop_oneof![Just(0u8), Just(b'x')]);
    (
        0usize..12,
        0usize..12,
        [field.clone(), field.clone(), field.clone(), field],
        vec(poke, 0..3),
    )
        .prop_map(|(nl, pl, overrides, pokes)| {
            let canonical = [32, nl as u32, 33 + nl as u32, pl as u32];
            let mut item = Vec::new();
            item.extend_from_slice(&1u16.to_ne_bytes());
            item.extend_from_slice(&0u16.to_ne_bytes());
            item.extend_from_slice(&[0xab; 12]);
            for (c, o) in canonical.iter().zip(overrides) {
                item.extend_from_slice(&o.unwrap_or(*c).to_ne_bytes());
            }
            item.extend(std::iter::repeat(b'x').take(nl));
            item.push(0);
            item.extend(std::iter::repeat(b'x').take(pl));
            item.push(0);
            let body = item.len() - 32;
            for (at, v) in pokes {
                item[32 + at % body] = v;
            }
            item
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_item_geometry_matches_reference(
        items in vec(raw_item(), 1..4),
        order in any::<u64>(),
    ) {
        // Lay the items out packed and aligned, then list them in the
        // directory in a rotated order.
        let n = items.len();
        let mut area = Vec::new();
        let mut entries = Vec::new();
        for it in &items {
            area.resize((area.len() + 7) & !7, 0);
            entries.push((area.len() as u32, it.len() as u32));
            area.extend_from_slice(it);
        }
        entries.rotate_left((order % n as u64) as usize);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1u16.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&(n as u32).to_ne_bytes());
        bytes.extend_from_slice(&[0; 16]);
        for (off, len) in entries {
            bytes.extend_from_slice(&off.to_ne_bytes());
            bytes.extend_from_slice(&len.to_ne_bytes());
        }
        bytes.extend_from_slice(&area);
        let snap = SnapshotView::decode(&bytes);
        prop_assert_eq!(snap.is_ok(), reference_snapshot_ok(&bytes), "{:?}", snap);
        if let Ok(v) = snap {
            exercise(&v);
        }
    }
}
