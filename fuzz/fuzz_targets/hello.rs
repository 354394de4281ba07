//! HELLO payload: `Hello::decode`.
//!
//! Checked properties:
//! * acceptance matches an independent reading of the raw bytes (at least 44
//!   bytes, layout 1, flags 0, reserved word 0);
//! * only the first 44 bytes matter;
//! * every field equals the bytes at its offset, and a decoded HELLO
//!   re-encodes to exactly the input's first 44 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::wire::{Hello, WireError, HELLO_LEN};
use netipc_fuzz::{ne_u16, ne_u32, ne_u64};

fn expect_ok(b: &[u8]) -> bool {
    b.len() >= 44 && ne_u16(b, 0) == 1 && ne_u16(b, 2) == 0 && ne_u32(b, 28) == 0
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(HELLO_LEN, 44);
    let got = Hello::decode(data);
    if data.len() < HELLO_LEN {
        assert!(
            matches!(got, Err(WireError::Truncated { need: 44, have, .. }) if have == data.len()),
            "short input must be Truncated, got {got:?}"
        );
        return;
    }
    let first = &data[..HELLO_LEN];
    assert_eq!(Hello::decode(first), got);
    assert_eq!(got.is_ok(), expect_ok(data), "acceptance: {got:?}");

    if let Ok(h) = got {
        assert_eq!(h.supported_profiles.bits(), ne_u32(data, 4));
        assert_eq!(h.preferred_profiles.bits(), ne_u32(data, 8));
        assert_eq!(h.max_request_payload_bytes, ne_u32(data, 12));
        assert_eq!(h.max_request_batch_items, ne_u32(data, 16));
        assert_eq!(h.max_response_payload_bytes, ne_u32(data, 20));
        assert_eq!(h.max_response_batch_items, ne_u32(data, 24));
        assert_eq!(h.auth_token, ne_u64(data, 32));
        assert_eq!(h.packet_size, ne_u32(data, 40));
        let enc = h.encode();
        assert_eq!(enc[..], first[..], "HELLO must re-encode byte for byte");
        assert_eq!(Hello::decode(&enc), Ok(h));
    }
});
