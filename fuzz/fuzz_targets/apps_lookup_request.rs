//! APPS_LOOKUP request: `RequestView::decode` and its accessors.
//!
//! Checked properties:
//! * acceptance matches an independent reading of §14.4 / §16.1 (header,
//!   directory of ascending, aligned, in-bounds 8-byte entries, reserved
//!   words zero);
//! * accepted PIDs are what the raw key bytes say, in every access order;
//! * re-encoding gives the canonical `16 + 16k` bytes with the same PIDs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::lookup::apps_lookup::{encode_request, request_len, RequestView};
use netipc_fuzz::{ne_u16, ne_u32};

/// Independent validator: the PIDs when the payload is a valid request.
fn reference(p: &[u8]) -> Option<Vec<u32>> {
    if p.len() < 16 || ne_u16(p, 0) != 1 || ne_u16(p, 2) != 0 || ne_u32(p, 8) != 0 || ne_u32(p, 12) != 0 {
        return None;
    }
    let n = u64::from(ne_u32(p, 4));
    let area = 16 + 8 * n;
    if area > p.len() as u64 {
        return None;
    }
    let area_len = p.len() as u64 - area;
    let mut prev_end = 0;
    let mut pids = Vec::new();
    for i in 0..n as usize {
        let off = u64::from(ne_u32(p, 16 + 8 * i));
        let len = u64::from(ne_u32(p, 20 + 8 * i));
        if off % 8 != 0 || len != 8 || off + len > area_len || (i > 0 && off < prev_end) {
            return None;
        }
        prev_end = off + len;
        let at = (area + off) as usize;
        if ne_u32(p, at + 4) != 0 {
            return None;
        }
        pids.push(ne_u32(p, at));
    }
    Some(pids)
}

fuzz_target!(|data: &[u8]| {
    let got = RequestView::decode(data);
    let want = reference(data);
    assert_eq!(got.is_ok(), want.is_some(), "acceptance: {got:?}");
    let (Ok(view), Some(pids)) = (got, want) else {
        return;
    };
    assert!(view.iter().eq(pids.iter().copied()));
    assert!(view.iter().rev().eq(pids.iter().rev().copied()));
    for (i, &pid) in pids.iter().enumerate() {
        assert_eq!(view.pid(i), Some(pid));
    }
    assert_eq!(view.pid(pids.len()), None);
    let mut buf = Vec::new();
    let n = encode_request(&mut buf, &pids).unwrap();
    assert_eq!(n as u64, request_len(pids.len()));
    assert!(RequestView::decode(&buf).unwrap().iter().eq(pids.iter().copied()));
});
