//! CGROUPS_SNAPSHOT response: `SnapshotView::decode`, every accessor, both
//! iteration directions, `to_owned`, and re-encoding the owned snapshot.
//!
//! Checked properties:
//! * acceptance matches an independent validator written from the rules in
//!   docs/codec.md (header, directory, each item, no trailing bytes);
//! * an error that names an item names one the header announced;
//! * every accessor of every item returns what the raw bytes say, `item(i)`
//!   agrees with forward and backward iteration, and iteration stops after
//!   `item_count` items;
//! * `to_owned` copies every field;
//! * re-encoding the owned snapshot either fails with `InteriorNul` for the
//!   first item whose name or path holds a NUL (the builder refuses those by
//!   design) or succeeds; the result then has the canonical length, decodes
//!   to an equal snapshot, does not depend on the builder's item hint, is a
//!   fixed point of decode + encode, and fits a limit of exactly its length
//!   but not one byte less.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::cgroups::{ItemView, Snapshot, SnapshotBuilder, SnapshotView};
use netipc::codec::CodecError;
use netipc_fuzz::{ne_u16, ne_u32, ne_u64};

/// What the validator reads for one item.
struct RawItem<'a> {
    hash: u32,
    options: u32,
    enabled: u32,
    name: &'a [u8],
    path: &'a [u8],
}

/// `Some((offset, length))` of a NUL-terminated field inside `item`.
fn field(item: &[u8], at: usize) -> Option<(u64, u64)> {
    let off = u64::from(ne_u32(item, at));
    let len = u64::from(ne_u32(item, at + 4));
    let nul = off + len;
    (off >= 32 && nul < item.len() as u64 && item[nul as usize] == 0).then_some((off, len))
}

/// Independent validator: the items when the payload is a valid snapshot.
fn reference(p: &[u8]) -> Option<Vec<RawItem<'_>>> {
    if p.len() < 24 || ne_u16(p, 0) != 1 || ne_u16(p, 2) != 0 || ne_u32(p, 12) != 0 {
        return None;
    }
    let n = u64::from(ne_u32(p, 4));
    let dir_end = 24 + 8 * n;
    if dir_end > p.len() as u64 {
        return None;
    }
    let area = &p[dir_end as usize..];
    let mut furthest = 0u64;
    let mut out = Vec::new();
    for i in 0..n as usize {
        let off = u64::from(ne_u32(p, 24 + 8 * i));
        let len = u64::from(ne_u32(p, 28 + 8 * i));
        if off % 8 != 0 || off + len > area.len() as u64 || len < 32 {
            return None;
        }
        let item = &area[off as usize..(off + len) as usize];
        if ne_u16(item, 0) != 1 || ne_u16(item, 2) != 0 {
            return None;
        }
        let (no, nl) = field(item, 16)?;
        let (po, pl) = field(item, 24)?;
        // Inclusive regions [o, o + l] (the NUL belongs to the field).
        if !(no + nl < po || po + pl < no) {
            return None;
        }
        furthest = furthest.max(off + len);
        out.push(RawItem {
            hash: ne_u32(item, 4),
            options: ne_u32(item, 8),
            enabled: ne_u32(item, 12),
            name: &item[no as usize..(no + nl) as usize],
            path: &item[po as usize..(po + pl) as usize],
        });
    }
    (furthest == area.len() as u64).then_some(out)
}

fn check_item(i: usize, got: &ItemView<'_>, raw: &RawItem<'_>) {
    assert_eq!(got.hash(), raw.hash, "item {i} hash");
    assert_eq!(got.options(), raw.options, "item {i} options");
    assert_eq!(got.enabled(), raw.enabled, "item {i} enabled");
    assert_eq!(
        got.name().as_ptr(),
        raw.name.as_ptr(),
        "item {i} name start"
    );
    assert_eq!(got.name(), raw.name, "item {i} name");
    assert_eq!(
        got.path().as_ptr(),
        raw.path.as_ptr(),
        "item {i} path start"
    );
    assert_eq!(got.path(), raw.path, "item {i} path");
    for (what, bytes, strict, lossy) in [
        ("name", raw.name, got.name_str(), got.name_lossy()),
        ("path", raw.path, got.path_str(), got.path_lossy()),
    ] {
        match (strict, std::str::from_utf8(bytes)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(CodecError::Utf8 { field, source }), Err(e)) => {
                assert_eq!(field, what);
                assert_eq!(source, e);
            }
            (a, b) => panic!("item {i} {what}: {a:?} disagrees with std {b:?}"),
        }
        assert_eq!(lossy, String::from_utf8_lossy(bytes));
    }
    let owned = got.to_owned();
    assert_eq!(
        (owned.hash, owned.options, owned.enabled),
        (raw.hash, raw.options, raw.enabled)
    );
    assert_eq!(owned.name, raw.name);
    assert_eq!(owned.path, raw.path);
}

fn encode_with_hint(s: &Snapshot, hint: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, s.systemd_enabled, s.generation, hint);
    for item in &s.items {
        b.push_item(item).expect("item was accepted once already");
    }
    let len = b.finish().expect("no limit set");
    assert_eq!(len, buf.len());
    buf
}

fuzz_target!(|data: &[u8]| {
    let got = SnapshotView::decode(data);
    let want = reference(data);
    assert_eq!(
        got.is_ok(),
        want.is_some(),
        "acceptance disagrees with the rules: {got:?}"
    );
    if let Err(e) = &got {
        if let Some(index) = e.item_index() {
            assert!(data.len() >= 24 && (index as u64) < u64::from(ne_u32(data, 4)));
        }
    }
    let (Ok(view), Some(raw)) = (got, want) else {
        return;
    };

    // Header accessors.
    let n = raw.len();
    assert_eq!(view.item_count(), n);
    assert_eq!(view.is_empty(), n == 0);
    assert_eq!(view.systemd_enabled(), ne_u32(data, 8));
    assert_eq!(view.generation(), ne_u64(data, 16));
    assert_eq!(view.as_bytes(), data);

    // Random access, forward and backward iteration.
    let mut fwd = view.iter();
    assert_eq!(fwd.len(), n);
    for (i, r) in raw.iter().enumerate() {
        let item = view.item(i).expect("validated item must be readable");
        check_item(i, &item, r);
        assert_eq!(fwd.next(), Some(item), "forward iteration at {i}");
    }
    assert_eq!(fwd.next(), None);
    assert_eq!(fwd.next(), None, "iterator must stay exhausted");
    assert_eq!(view.item(n), None);
    assert_eq!(view.item(usize::MAX), None);
    let back: Vec<ItemView<'_>> = view.iter().rev().collect();
    assert_eq!(back.len(), n);
    for (i, item) in back.iter().rev().enumerate() {
        check_item(i, item, &raw[i]);
    }
    // Meeting in the middle from both ends visits every item once.
    let mut both = view.iter();
    let (mut lo, mut hi) = (0usize, n);
    while let Some(item) = both.next() {
        check_item(lo, &item, &raw[lo]);
        lo += 1;
        let Some(item) = both.next_back() else {
            break;
        };
        hi -= 1;
        check_item(hi, &item, &raw[hi]);
    }
    assert_eq!(lo, hi, "front and back iteration must meet");
    assert_eq!((&view).into_iter().count(), n);

    // Owned copy.
    let owned = view.to_owned();
    assert_eq!(owned.systemd_enabled, view.systemd_enabled());
    assert_eq!(owned.generation, view.generation());
    assert_eq!(owned.items.len(), n);
    for (i, (o, r)) in owned.items.iter().zip(&raw).enumerate() {
        assert_eq!(
            (o.hash, o.options, o.enabled),
            (r.hash, r.options, r.enabled),
            "item {i}"
        );
        assert_eq!((&o.name[..], &o.path[..]), (r.name, r.path), "item {i}");
    }

    // Re-encoding.
    let first_nul = owned.items.iter().enumerate().find_map(|(i, it)| {
        if it.name.contains(&0) {
            Some((i, "name"))
        } else if it.path.contains(&0) {
            Some((i, "path"))
        } else {
            None
        }
    });
    let mut prefixed = vec![0x5a; 5];
    let res = owned.encode_into(&mut prefixed);
    if let Some((index, which)) = first_nul {
        assert!(
            matches!(res, Err(CodecError::InteriorNul { index: i, field, .. }) if i == index && field == which),
            "item {index} {which} holds a NUL, expected InteriorNul, got {res:?}"
        );
        assert_eq!(
            prefixed, [0x5a; 5],
            "a failed encode must leave the buffer as it was"
        );
        assert!(owned.encode().is_err());
        return;
    }
    let len = res.expect("snapshot without NULs must encode");
    assert_eq!(prefixed[..5], [0x5a; 5], "encode_into must only append");
    let enc = &prefixed[5..];
    assert_eq!(enc.len(), len);
    assert_eq!(owned.encode().as_deref(), Ok(enc));

    // Canonical length: header, directory, items at multiples of 8, no
    // padding after the last one.
    let mut area = 0u64;
    for (i, it) in owned.items.iter().enumerate() {
        if i > 0 {
            area = area.div_ceil(8) * 8;
        }
        area += 34 + it.name.len() as u64 + it.path.len() as u64;
    }
    assert_eq!(len as u64, 24 + 8 * n as u64 + area);

    let redecoded = SnapshotView::decode(enc).expect("re-encoded snapshot must decode");
    assert_eq!(
        redecoded.to_owned(),
        owned,
        "round trip through the encoder"
    );
    assert_eq!(
        redecoded.to_owned().encode().as_deref(),
        Ok(enc),
        "fixed point"
    );

    // The hint never changes the bytes.
    for hint in [0, n / 2, n + 3] {
        assert_eq!(encode_with_hint(&owned, hint), enc, "hint {hint}");
    }

    // A limit of exactly the length fits; one byte less does not, and the
    // failure leaves the buffer untouched.
    let mut buf = Vec::new();
    let mut b =
        SnapshotBuilder::new(&mut buf, owned.systemd_enabled, owned.generation, n).with_limit(len);
    for item in &owned.items {
        b.push_item(item).expect("fits the exact limit");
    }
    assert_eq!(b.finish(), Ok(len));
    assert_eq!(buf, enc);
    let mut buf = vec![1, 2, 3];
    let mut b = SnapshotBuilder::new(&mut buf, owned.systemd_enabled, owned.generation, n)
        .with_limit(len - 1);
    let mut failed = false;
    for item in &owned.items {
        if let Err(e) = b.push_item(item) {
            assert!(matches!(e, CodecError::TooLarge { limit, .. } if limit == len - 1));
            failed = true;
            break;
        }
    }
    if !failed {
        // Only possible when the header alone is over the limit.
        assert_eq!(n, 0);
        assert!(matches!(b.finish(), Err(CodecError::TooLarge { .. })));
    } else {
        drop(b);
    }
    assert_eq!(buf, [1, 2, 3]);
});
