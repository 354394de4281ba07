//! CGROUPS_LOOKUP request: `RequestView::decode` and its accessors.
//!
//! Checked properties:
//! * an error that names a key names one the header announced;
//! * an accepted request has `len()` keys, each non-empty and without NUL,
//!   the same forwards, backwards and by index;
//! * re-encoding the keys succeeds, has the length `request_len` predicts,
//!   and decodes to the same keys (a fixed point from then on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::lookup::cgroups_lookup::{encode_request, request_len, RequestView};
use netipc_fuzz::ne_u32;

fuzz_target!(|data: &[u8]| {
    let view = match RequestView::decode(data) {
        Ok(v) => v,
        Err(e) => {
            if let Some(i) = e.index() {
                assert!(data.len() >= 16 && (i as u64) < u64::from(ne_u32(data, 4)));
            }
            return;
        }
    };
    let keys: Vec<&[u8]> = view.iter().collect();
    assert_eq!(keys.len(), view.len());
    assert_eq!(view.as_bytes(), data);
    for (i, k) in keys.iter().enumerate() {
        assert!(!k.is_empty() && !k.contains(&0), "key {i}");
        assert_eq!(view.key(i), Some(*k));
    }
    assert_eq!(view.key(keys.len()), None);
    assert!(view.iter().rev().eq(keys.iter().rev().copied()));

    let mut buf = Vec::new();
    let n = encode_request(&mut buf, &keys).expect("decoded keys re-encode");
    assert_eq!(n as u64, request_len(&keys));
    let again = RequestView::decode(&buf).expect("re-encoded request decodes");
    assert!(again.iter().eq(keys.iter().copied()));
    let mut twice = Vec::new();
    encode_request(&mut twice, &keys).unwrap();
    assert_eq!(twice, buf);
});
