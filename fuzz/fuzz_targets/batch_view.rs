//! Batch payloads: `BatchView::new`, `get` and iteration.
//!
//! Input layout: the first 4 bytes (native endian) are the `item_count` the
//! outer header would announce; the rest is the batch payload.
//!
//! Checked properties:
//! * acceptance matches an independent validator written from the rules
//!   (count ≥ 1, directory fits, offsets 8-aligned, items inside the area,
//!   at most 7 trailing bytes after the furthest item, all zero);
//! * every item returned by `get` and by the iterator is exactly the slice
//!   its directory entry names, in order, and there are `item_count` of them;
//! * rebuilding the items with `BatchBuilder` gives a payload of the expected
//!   length that decodes to the same items, and rebuilding that is a fixed
//!   point (identical bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::wire::{BatchBuilder, BatchView, WireError};
use netipc_fuzz::{ne_u32, round8};

/// Independent validator: `Some(entries)` when the payload is a valid batch.
fn reference(payload: &[u8], count: u32) -> Option<Vec<(usize, usize)>> {
    if count == 0 {
        return None;
    }
    let dir_len = 8 * u64::from(count);
    if dir_len > payload.len() as u64 {
        return None;
    }
    let dir_len = dir_len as usize;
    let area_len = (payload.len() - dir_len) as u64;
    let mut entries = Vec::with_capacity(count as usize);
    let mut furthest = 0u64;
    for i in 0..count as usize {
        let off = u64::from(ne_u32(payload, 8 * i));
        let len = u64::from(ne_u32(payload, 8 * i + 4));
        if off % 8 != 0 || off + len > area_len {
            return None;
        }
        furthest = furthest.max(off + len);
        entries.push((off as usize, len as usize));
    }
    let tail = &payload[dir_len + furthest as usize..];
    if tail.len() > 7 || tail.iter().any(|&b| b != 0) {
        return None;
    }
    Some(entries)
}

fn rebuild(items: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = BatchBuilder::new(&mut buf, items.len() as u32).expect("count >= 1");
    for item in items {
        b.push(item).expect("item fits");
    }
    let len = b.finish().expect("all items pushed");
    assert_eq!(len as usize, buf.len());
    buf
}

fuzz_target!(|data: &[u8]| {
    let Some((count, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = u32::from_ne_bytes(*count);
    let got = BatchView::new(payload, count);
    let want = reference(payload, count);
    assert_eq!(
        got.is_ok(),
        want.is_some(),
        "acceptance disagrees with the rules: {got:?}"
    );
    if count == 0 {
        assert_eq!(got.err(), Some(WireError::EmptyBatch));
        return;
    }
    let (Ok(view), Some(entries)) = (got, want) else {
        return;
    };

    let n = count as usize;
    let area = &payload[8 * n..];
    assert_eq!(view.len(), n);
    assert!(!view.is_empty());
    assert_eq!(view.get(n), None);
    assert_eq!(view.iter().len(), n);

    let mut items = Vec::with_capacity(n);
    for (i, &(off, len)) in entries.iter().enumerate() {
        let expected = &area[off..off + len];
        let item = view.get(i).expect("validated item must be readable");
        assert_eq!(item.as_ptr(), expected.as_ptr(), "item {i} start");
        assert_eq!(item.len(), len, "item {i} length");
        items.push(item);
    }
    let iterated: Vec<&[u8]> = view.iter().collect();
    assert_eq!(iterated, items);
    let mut it = view.into_iter();
    for _ in 0..n {
        it.next();
    }
    assert_eq!(it.next(), None);
    assert_eq!(it.size_hint(), (0, Some(0)));

    // Canonical re-encoding.
    let rebuilt = rebuild(&items);
    let expected_len: u64 =
        8 * n as u64 + items.iter().map(|i| round8(i.len() as u64)).sum::<u64>();
    assert_eq!(rebuilt.len() as u64, expected_len);
    let again = BatchView::new(&rebuilt, count).expect("rebuilt batch must decode");
    assert!(again.iter().eq(items.iter().copied()));
    assert_eq!(rebuild(&again.iter().collect::<Vec<_>>()), rebuilt);
});
