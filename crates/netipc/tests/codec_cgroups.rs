//! CGROUPS_SNAPSHOT codec (`netipc::codec::cgroups`): the request, the
//! builder's exact bytes, every decoding rule of the response, the borrowed
//! and owned forms, and the builder's limit and rollback behaviour.

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::{SnapshotBuilder, SnapshotRequest, SnapshotView, REQUEST_LEN};
use netipc::codec::CodecError;

type Item<'a> = (u32, u32, u32, &'a [u8], &'a [u8]);

const TWO: [Item<'static>; 2] = [
    (0xdead_beef, 3, 1, b"a", b"/b"),
    (7, 0, 0, b"init.scope", b"/sys/fs/cgroup/init.scope"),
];

fn build(items: &[Item<'_>], hint: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 1, 9, hint);
    for &(h, o, e, n, p) in items {
        b.push(CgroupItem {
            hash: h,
            options: o,
            enabled: e,
            name: n,
            path: p,
        })
        .expect("push");
    }
    b.finish().expect("finish");
    buf
}

fn set_u16(p: &mut [u8], at: usize, v: u16) {
    p[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn set_u32(p: &mut [u8], at: usize, v: u32) {
    p[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get(p: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(p[at..at + 4].try_into().expect("in range"))
}

/// Start of item `i` in a payload with `n` items.
fn item_at(p: &[u8], n: usize, i: usize) -> usize {
    24 + 8 * n + get(p, 24 + 8 * i) as usize
}

fn decode_err(p: &[u8]) -> CodecError {
    SnapshotView::decode(p).expect_err("must be rejected")
}

// --- request -----------------------------------------------------------

#[test]
fn request_round_trip_and_extra_bytes() {
    let r = SnapshotRequest.encode();
    assert_eq!(r.len(), REQUEST_LEN);
    assert_eq!(SnapshotRequest::decode(&r), Ok(SnapshotRequest));
    let mut longer = r.to_vec();
    longer.extend_from_slice(&[0xff; 4]);
    assert_eq!(SnapshotRequest::decode(&longer), Ok(SnapshotRequest));
    let mut buf = vec![1];
    SnapshotRequest.encode_into(&mut buf);
    assert_eq!(&buf[1..], &r);
}

#[test]
fn request_truncated() {
    for len in 0..REQUEST_LEN {
        assert_eq!(
            SnapshotRequest::decode(&SnapshotRequest.encode()[..len]),
            Err(CodecError::Truncated {
                what: "snapshot request",
                need: 4,
                have: len
            })
        );
    }
}

#[test]
fn request_bad_layout_and_flags() {
    let mut r = SnapshotRequest.encode();
    set_u16(&mut r, 0, 2);
    assert_eq!(
        SnapshotRequest::decode(&r),
        Err(CodecError::BadLayoutVersion {
            what: "snapshot request",
            found: 2
        })
    );
    let mut r = SnapshotRequest.encode();
    set_u16(&mut r, 2, 0x10);
    assert_eq!(
        SnapshotRequest::decode(&r),
        Err(CodecError::NonZeroFlags {
            what: "snapshot request",
            found: 0x10
        })
    );
}

// --- builder layout ----------------------------------------------------

#[test]
fn builder_matches_documented_example() {
    // name "a", path "/b": 37-byte item, directory {0,37}, payload 69.
    let p = build(&TWO[..1], 1);
    assert_eq!(p.len(), 69);
    assert_eq!((get(&p, 24), get(&p, 28)), (0, 37));
    let item = 32;
    assert_eq!(get(&p, item + 16), 32);
    assert_eq!(get(&p, item + 20), 1);
    assert_eq!(get(&p, item + 24), 34);
    assert_eq!(get(&p, item + 28), 2);
    assert_eq!(&p[item + 32..], b"a\0/b\0");
}

#[test]
fn builder_aligns_items_zero_gaps_and_no_final_padding() {
    let p = build(&TWO, 2);
    let first_len = get(&p, 28) as usize;
    let second_off = get(&p, 32) as usize;
    assert_eq!(first_len, 37);
    assert_eq!(second_off, 40);
    let area = 24 + 16;
    assert!(p[area + 37..area + 40].iter().all(|&b| b == 0));
    let second_len = get(&p, 36) as usize;
    assert_eq!(p.len(), area + second_off + second_len);
    assert_eq!(p.last(), Some(&0));
}

#[test]
fn builder_output_independent_of_hint() {
    let reference = build(&TWO, 2);
    for hint in [0, 1, 3, 20, 1000, usize::MAX] {
        assert_eq!(build(&TWO, hint), reference, "hint {hint}");
    }
    let empty = build(&[], 0);
    for hint in [1, 5, 100] {
        assert_eq!(build(&[], hint), empty);
    }
}

#[test]
fn builder_appends_after_existing_bytes() {
    let reference = build(&TWO, 2);
    for hint in [0, 2, 9] {
        let mut buf = b"prefix".to_vec();
        let mut b = SnapshotBuilder::new(&mut buf, 1, 9, hint);
        for &(h, o, e, n, p) in &TWO {
            b.push(CgroupItem {
                hash: h,
                options: o,
                enabled: e,
                name: n,
                path: p,
            })
            .expect("push");
        }
        assert_eq!(b.finish(), Ok(reference.len()));
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(&buf[6..], &reference[..]);
    }
}

#[test]
fn builder_reuses_capacity_without_reallocating() {
    let mut buf = Vec::with_capacity(4096);
    for round in 0..3 {
        buf.clear();
        let ptr = buf.as_ptr();
        let cap = buf.capacity();
        // A hint of 0 forces the item area to move right at finish().
        let mut b = SnapshotBuilder::new(&mut buf, 0, round, if round == 1 { 0 } else { 40 });
        for i in 0..20u32 {
            b.push(CgroupItem {
                hash: i,
                options: i,
                enabled: i,
                name: b"name",
                path: b"/some/path",
            })
            .expect("push");
        }
        b.finish().expect("finish");
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.capacity(), cap);
        assert_eq!(SnapshotView::decode(&buf).map(|v| v.item_count()), Ok(20));
    }
}

#[test]
fn builder_rejects_interior_nul_with_index() {
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 0, 0, 4);
    b.push(CgroupItem {
        hash: 1,
        options: 0,
        enabled: 0,
        name: b"ok",
        path: b"/ok",
    })
    .expect("push");
    assert_eq!(
        b.push(CgroupItem {
            hash: 2,
            options: 0,
            enabled: 0,
            name: b"x\0y",
            path: b"/p"
        }),
        Err(CodecError::InteriorNul {
            index: 1,
            field: "name",
            at: 1
        })
    );
    assert_eq!(
        b.push(CgroupItem {
            hash: 2,
            options: 0,
            enabled: 0,
            name: b"x",
            path: b"/p\0"
        }),
        Err(CodecError::InteriorNul {
            index: 1,
            field: "path",
            at: 2
        })
    );
    assert_eq!(b.item_count(), 1);
    let len = b.finish().expect("finish");
    let v = SnapshotView::decode(&buf[..len]).expect("valid");
    assert_eq!(v.item_count(), 1);
}

#[test]
fn builder_limit_rejects_and_rolls_back() {
    let full = build(&TWO, 2);
    let one = build(&TWO[..1], 1);
    // A limit one byte short of the two-item payload.
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 1, 9, 2).with_limit(full.len() - 1);
    let (h, o, e, n, p) = TWO[0];
    b.push(CgroupItem {
        hash: h,
        options: o,
        enabled: e,
        name: n,
        path: p,
    })
    .expect("first fits");
    let (h, o, e, n, p) = TWO[1];
    assert_eq!(
        b.push(CgroupItem {
            hash: h,
            options: o,
            enabled: e,
            name: n,
            path: p
        }),
        Err(CodecError::TooLarge {
            need: full.len(),
            limit: full.len() - 1
        })
    );
    assert_eq!(b.payload_len(), one.len());
    assert_eq!(b.finish(), Ok(one.len()));
    assert_eq!(buf, one);

    // Exactly at the limit is fine.
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 1, 9, 0).with_limit(full.len());
    for &(h, o, e, n, p) in &TWO {
        b.push(CgroupItem {
            hash: h,
            options: o,
            enabled: e,
            name: n,
            path: p,
        })
        .expect("fits");
    }
    assert_eq!(b.finish(), Ok(full.len()));
    assert_eq!(buf, full);
}

#[test]
fn builder_limit_below_header_fails_finish_and_restores_buffer() {
    let mut buf = b"keep".to_vec();
    let b = SnapshotBuilder::new(&mut buf, 1, 1, 8).with_limit(23);
    assert_eq!(
        b.finish(),
        Err(CodecError::TooLarge {
            need: 24,
            limit: 23
        })
    );
    assert_eq!(buf, b"keep");
}

#[test]
fn dropped_builder_restores_buffer() {
    let mut buf = b"keep".to_vec();
    {
        let mut b = SnapshotBuilder::new(&mut buf, 1, 1, 8);
        b.push(CgroupItem {
            hash: 1,
            options: 2,
            enabled: 3,
            name: b"n",
            path: b"p",
        })
        .expect("push");
    }
    assert_eq!(buf, b"keep");
}

// --- decode: happy paths and boundaries --------------------------------

#[test]
fn decode_reads_every_field() {
    let p = build(&TWO, 2);
    let v = SnapshotView::decode(&p).expect("valid");
    assert_eq!(v.item_count(), 2);
    assert_eq!(v.systemd_enabled(), 1);
    assert_eq!(v.generation(), 9);
    assert_eq!(v.as_bytes(), &p[..]);
    for (i, (item, &(h, o, e, n, pa))) in v.iter().zip(TWO.iter()).enumerate() {
        assert_eq!(item.hash(), h);
        assert_eq!(item.options(), o);
        assert_eq!(item.enabled(), e);
        assert_eq!(item.name(), n);
        assert_eq!(item.path(), pa);
        assert_eq!(v.item(i), Some(item));
    }
    assert_eq!(v.item(2), None);
    assert_eq!(v.item(usize::MAX), None);
    assert_eq!(v.iter().len(), 2);
    assert_eq!(
        v.iter().rev().map(|i| i.hash()).collect::<Vec<_>>(),
        [7, 0xdead_beef]
    );
    let first = v.item(0).expect("item 0");
    assert_eq!(first.name_str(), Ok("a"));
    assert_eq!(first.path_lossy(), "/b");
}

#[test]
fn empty_snapshot_is_header_only() {
    let p = build(&[], 0);
    assert_eq!(p.len(), 24);
    let v = SnapshotView::decode(&p).expect("valid");
    assert!(v.is_empty());
    assert_eq!(v.item_count(), 0);
    assert_eq!(v.iter().next(), None);
    assert_eq!(v.item(0), None);
}

#[test]
fn empty_name_and_path_make_a_34_byte_item() {
    let p = build(&[(5, 6, 7, b"", b"")], 1);
    assert_eq!(p.len(), 24 + 8 + 34);
    assert_eq!(get(&p, 28), 34);
    assert_eq!(get(&p, 32 + 16), 32);
    assert_eq!(get(&p, 32 + 24), 33);
    let v = SnapshotView::decode(&p).expect("valid");
    let item = v.item(0).expect("item");
    assert_eq!((item.name(), item.path()), (&b""[..], &b""[..]));
    assert_eq!(item.hash(), 5);
}

#[test]
fn one_mebibyte_item_round_trips() {
    let name = vec![b'n'; 300 * 1024];
    let path = vec![b'p'; 1024 * 1024 - 300 * 1024 - 24 - 8 - 34];
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 0, 1, 1).with_limit(1 << 20);
    b.push(CgroupItem {
        hash: 1,
        options: 2,
        enabled: 3,
        name: &name,
        path: &path,
    })
    .expect("fits exactly");
    assert_eq!(b.finish(), Ok(1 << 20));
    let v = SnapshotView::decode(&buf).expect("valid");
    let item = v.item(0).expect("item");
    assert_eq!(item.name(), &name[..]);
    assert_eq!(item.path(), &path[..]);
    // One byte more is over the limit.
    let mut buf = Vec::new();
    let mut b = SnapshotBuilder::new(&mut buf, 0, 1, 1).with_limit(1 << 20);
    let mut longer = path.clone();
    longer.push(b'p');
    assert!(matches!(
        b.push(CgroupItem {
            hash: 1,
            options: 2,
            enabled: 3,
            name: &name,
            path: &longer
        }),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn items_out_of_directory_order_are_accepted() {
    let mut p = build(&TWO, 2);
    // Swap the two directory entries.
    let (a, b) = (get(&p, 24), get(&p, 28));
    let (c, d) = (get(&p, 32), get(&p, 36));
    set_u32(&mut p, 24, c);
    set_u32(&mut p, 28, d);
    set_u32(&mut p, 32, a);
    set_u32(&mut p, 36, b);
    let v = SnapshotView::decode(&p).expect("valid");
    assert_eq!(v.item(0).map(|i| i.hash()), Some(7));
    assert_eq!(v.item(1).map(|i| i.hash()), Some(0xdead_beef));
}

#[test]
fn items_sharing_bytes_are_accepted() {
    let mut p = build(&TWO, 2);
    let (off, len) = (get(&p, 32), get(&p, 36));
    set_u32(&mut p, 24, off);
    set_u32(&mut p, 28, len);
    let v = SnapshotView::decode(&p).expect("valid");
    assert_eq!(v.item(0), v.item(1));
}

#[test]
fn decoded_interior_nul_is_accepted_but_not_re_encoded() {
    let mut p = build(&[(1, 0, 0, b"ab", b"/p")], 1);
    p[32 + 32] = 0; // "ab" -> "\0b"
    let v = SnapshotView::decode(&p).expect("valid");
    let item = v.item(0).expect("item");
    assert_eq!(item.name(), b"\0b");
    let mut out = Vec::new();
    let mut b = SnapshotBuilder::new(&mut out, 0, 0, 1);
    assert!(matches!(
        b.push_view(&item),
        Err(CodecError::InteriorNul { field: "name", .. })
    ));
}

#[test]
fn owned_round_trip() {
    let p = build(&TWO, 2);
    let owned = SnapshotView::decode(&p).expect("valid").to_owned();
    assert_eq!(owned.items.len(), 2);
    assert_eq!(owned.items[1].name, b"init.scope");
    assert_eq!(owned.encode(), Ok(p.clone()));
    let mut buf = vec![9];
    assert_eq!(owned.encode_into(&mut buf), Ok(p.len()));
    assert_eq!(&buf[1..], &p[..]);
}

#[test]
fn non_utf8_name_helpers() {
    let p = build(&[(1, 0, 0, &[0xff, b'a'], b"/p")], 1);
    let v = SnapshotView::decode(&p).expect("valid");
    let item = v.item(0).expect("item");
    assert!(matches!(
        item.name_str(),
        Err(CodecError::Utf8 { field: "name", .. })
    ));
    assert_eq!(item.name_lossy(), "\u{fffd}a");
    assert_eq!(item.path_str(), Ok("/p"));
}

// --- decode: one test per rule -----------------------------------------

#[test]
fn rule1_header_truncated() {
    let p = build(&[], 0);
    for len in 0..24 {
        assert_eq!(
            decode_err(&p[..len]),
            CodecError::Truncated {
                what: "snapshot header",
                need: 24,
                have: len
            }
        );
    }
}

#[test]
fn rule2_bad_layout_flags_reserved() {
    let mut p = build(&TWO, 2);
    set_u16(&mut p, 0, 0);
    assert_eq!(
        decode_err(&p),
        CodecError::BadLayoutVersion {
            what: "snapshot",
            found: 0
        }
    );
    let mut p = build(&TWO, 2);
    set_u16(&mut p, 2, 1);
    assert_eq!(
        decode_err(&p),
        CodecError::NonZeroFlags {
            what: "snapshot",
            found: 1
        }
    );
    let mut p = build(&TWO, 2);
    set_u32(&mut p, 12, 0x100);
    assert_eq!(
        decode_err(&p),
        CodecError::NonZeroReserved {
            what: "snapshot",
            found: 0x100
        }
    );
}

#[test]
fn rule3_directory_truncated() {
    let mut p = build(&[], 0);
    set_u32(&mut p, 4, 1);
    assert_eq!(
        decode_err(&p),
        CodecError::DirectoryTruncated {
            item_count: 1,
            need: 32,
            have: 24
        }
    );
    // The largest count must not overflow the size computation.
    let mut p = build(&TWO, 2);
    set_u32(&mut p, 4, u32::MAX);
    assert_eq!(
        decode_err(&p),
        CodecError::DirectoryTruncated {
            item_count: u32::MAX,
            need: 24 + 8 * u64::from(u32::MAX),
            have: p.len()
        }
    );
}

#[test]
fn rule4_misaligned_offset() {
    let mut p = build(&TWO, 2);
    set_u32(&mut p, 32, 44);
    assert_eq!(
        decode_err(&p),
        CodecError::Misaligned {
            index: 1,
            offset: 44
        }
    );
}

#[test]
fn rule4_item_out_of_bounds() {
    let mut p = build(&TWO, 2);
    let area_len = p.len() - 40;
    let len = get(&p, 36);
    set_u32(&mut p, 36, len + 1);
    assert_eq!(
        decode_err(&p),
        CodecError::ItemOutOfBounds {
            index: 1,
            offset: 40,
            length: len + 1,
            area_len
        }
    );
    // Offsets near the top of the 32-bit range must not wrap.
    let mut p = build(&TWO, 2);
    set_u32(&mut p, 24, u32::MAX - 7);
    assert!(matches!(
        decode_err(&p),
        CodecError::ItemOutOfBounds { index: 0, .. }
    ));
}

#[test]
fn rule4_length_below_item_header() {
    let mut p = build(&TWO, 2);
    set_u32(&mut p, 28, 31);
    assert_eq!(
        decode_err(&p),
        CodecError::ItemTooShort {
            index: 0,
            length: 31
        }
    );
}

#[test]
fn rule5_item_layout_and_flags() {
    let mut p = build(&TWO, 2);
    let at = item_at(&p, 2, 1);
    set_u16(&mut p, at, 3);
    assert_eq!(
        decode_err(&p),
        CodecError::ItemBadLayoutVersion { index: 1, found: 3 }
    );
    let mut p = build(&TWO, 2);
    let at = item_at(&p, 2, 1);
    set_u16(&mut p, at + 2, 0x8000);
    assert_eq!(
        decode_err(&p),
        CodecError::ItemNonZeroFlags {
            index: 1,
            found: 0x8000
        }
    );
}

#[test]
fn rule5_string_offsets_inside_header() {
    for (field, off_at) in [("name", 16), ("path", 24)] {
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 1);
        set_u32(&mut p, at + off_at, 31);
        assert_eq!(
            decode_err(&p),
            CodecError::FieldOffsetInHeader {
                index: 1,
                field,
                offset: 31
            }
        );
    }
}

#[test]
fn rule5_string_out_of_bounds() {
    for (field, off_at) in [("name", 16), ("path", 24)] {
        let mut p = build(&TWO, 2);
        let at = item_at(&p, 2, 0);
        let item_len = get(&p, 28) as usize;
        let offset = get(&p, at + off_at);
        // Make the NUL land exactly one byte past the item.
        let length = item_len as u32 - offset;
        set_u32(&mut p, at + off_at + 4, length);
        assert_eq!(
            decode_err(&p),
            CodecError::FieldOutOfBounds {
                index: 0,
                field,
                offset,
                length,
                item_len
            }
        );
        // Huge values must not wrap.
        set_u32(&mut p, at + off_at, u32::MAX);
        set_u32(&mut p, at + off_at + 4, u32::MAX);
        assert!(matches!(
            decode_err(&p),
            CodecError::FieldOutOfBounds { index: 0, .. }
        ));
    }
}

#[test]
fn rule5_missing_nul_for_name_and_path() {
    let mut p = build(&TWO, 2);
    let at = item_at(&p, 2, 1);
    // Name is "init.scope" (10 bytes) at 32: its NUL is at 42.
    p[at + 42] = b'!';
    assert_eq!(
        decode_err(&p),
        CodecError::ItemMissingNul {
            index: 1,
            field: "name",
            found: b'!'
        }
    );
    let mut p = build(&TWO, 2);
    let last = p.len() - 1;
    p[last] = b'?';
    assert_eq!(
        decode_err(&p),
        CodecError::ItemMissingNul {
            index: 1,
            field: "path",
            found: b'?'
        }
    );
}

#[test]
fn rule5_overlapping_name_and_path() {
    // Path pointing at the name itself.
    let mut p = build(&TWO, 2);
    let at = item_at(&p, 2, 1);
    set_u32(&mut p, at + 24, 32);
    set_u32(&mut p, at + 28, 10);
    assert_eq!(decode_err(&p), CodecError::NameOverlapsPath { index: 1 });
    // An empty path sitting on the name's NUL overlaps too.
    let mut p = build(&TWO, 2);
    let at = item_at(&p, 2, 1);
    set_u32(&mut p, at + 24, 42);
    set_u32(&mut p, at + 28, 0);
    assert_eq!(decode_err(&p), CodecError::NameOverlapsPath { index: 1 });
    // Name placed after the path, adjacent but disjoint, is fine.
    let mut p = build(&[(1, 0, 0, b"", b"")], 1);
    set_u32(&mut p, 32 + 16, 33);
    set_u32(&mut p, 32 + 24, 32);
    assert!(SnapshotView::decode(&p).is_ok());
}

#[test]
fn strict_item_count_consistent_with_size() {
    // Header claims no items but an item area follows.
    let mut p = build(&TWO[..1], 1);
    set_u32(&mut p, 4, 0);
    assert_eq!(
        decode_err(&p),
        CodecError::TrailingBytes {
            end: 24,
            len: p.len()
        }
    );
}

#[test]
fn strict_trailing_bytes_rejected() {
    for extra in [&[0u8][..], &[0; 3], b"junk"] {
        let mut p = build(&TWO, 2);
        let end = p.len();
        p.extend_from_slice(extra);
        assert_eq!(
            decode_err(&p),
            CodecError::TrailingBytes { end, len: p.len() }
        );
    }
    let mut p = build(&[], 0);
    p.push(0);
    assert_eq!(
        decode_err(&p),
        CodecError::TrailingBytes { end: 24, len: 25 }
    );
}

#[test]
fn error_item_index_helper() {
    assert_eq!(
        CodecError::NameOverlapsPath { index: 4 }.item_index(),
        Some(4)
    );
    assert_eq!(
        CodecError::Truncated {
            what: "x",
            need: 1,
            have: 0
        }
        .item_index(),
        None
    );
}
