//! HELLO_ACK payload: `HelloAck::decode`.
//!
//! Checked properties:
//! * acceptance matches an independent reading of the raw bytes (at least 48
//!   bytes, layout 1, flags 0, reserved word 0);
//! * only the first 48 bytes matter;
//! * every field equals the bytes at its offset, and a decoded HELLO_ACK
//!   re-encodes to exactly the input's first 48 bytes;
//! * the all-zero-but-layout payload decodes to `HelloAck::REJECTION`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::wire::{HelloAck, WireError, HELLO_ACK_LEN};
use netipc_fuzz::{ne_u16, ne_u32, ne_u64};

fn expect_ok(b: &[u8]) -> bool {
    b.len() >= 48 && ne_u16(b, 0) == 1 && ne_u16(b, 2) == 0 && ne_u32(b, 36) == 0
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(HELLO_ACK_LEN, 48);
    let got = HelloAck::decode(data);
    if data.len() < HELLO_ACK_LEN {
        assert!(
            matches!(got, Err(WireError::Truncated { need: 48, have, .. }) if have == data.len()),
            "short input must be Truncated, got {got:?}"
        );
        return;
    }
    let first = &data[..HELLO_ACK_LEN];
    assert_eq!(HelloAck::decode(first), got);
    assert_eq!(got.is_ok(), expect_ok(data), "acceptance: {got:?}");

    if let Ok(a) = got {
        assert_eq!(a.server_supported_profiles.bits(), ne_u32(data, 4));
        assert_eq!(a.intersection_profiles.bits(), ne_u32(data, 8));
        assert_eq!(a.selected_profile.bits(), ne_u32(data, 12));
        assert_eq!(a.agreed_max_request_payload_bytes, ne_u32(data, 16));
        assert_eq!(a.agreed_max_request_batch_items, ne_u32(data, 20));
        assert_eq!(a.agreed_max_response_payload_bytes, ne_u32(data, 24));
        assert_eq!(a.agreed_max_response_batch_items, ne_u32(data, 28));
        assert_eq!(a.agreed_packet_size, ne_u32(data, 32));
        assert_eq!(a.session_id, ne_u64(data, 40));
        let enc = a.encode();
        assert_eq!(enc[..], first[..], "HELLO_ACK must re-encode byte for byte");
        assert_eq!(HelloAck::decode(&enc), Ok(a));
        let only_layout = ne_u16(first, 0) == 1 && first[2..].iter().all(|&b| b == 0);
        assert_eq!(a == HelloAck::REJECTION, only_layout);
    }
});
