//! Chunk continuation header: `ChunkHeader::decode`.
//!
//! Checked properties:
//! * acceptance matches an independent reading of the raw bytes (length,
//!   magic "NCHK", version 1, flags 0, non-zero chunk payload length);
//! * only the first 32 bytes matter;
//! * a decoded chunk header re-encodes to exactly the input's first 32 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::wire::{ChunkHeader, WireError, CHUNK_HEADER_LEN};
use netipc_fuzz::{ne_u16, ne_u32, ne_u64};

fn expect_ok(b: &[u8]) -> bool {
    b.len() >= 32
        && ne_u32(b, 0) == 0x4e43_484b
        && ne_u16(b, 4) == 1
        && ne_u16(b, 6) == 0
        && ne_u32(b, 28) != 0
}

fuzz_target!(|data: &[u8]| {
    let got = ChunkHeader::decode(data);
    if data.len() < CHUNK_HEADER_LEN {
        assert!(
            matches!(got, Err(WireError::Truncated { need: 32, have, .. }) if have == data.len()),
            "short input must be Truncated, got {got:?}"
        );
        return;
    }
    let first = &data[..CHUNK_HEADER_LEN];
    assert_eq!(ChunkHeader::decode(first), got);
    assert_eq!(got.is_ok(), expect_ok(data), "acceptance: {got:?}");

    if let Ok(c) = got {
        assert_eq!(c.message_id, ne_u64(data, 8));
        assert_eq!(c.total_message_len, ne_u32(data, 16));
        assert_eq!(c.chunk_index, ne_u32(data, 20));
        assert_eq!(c.chunk_count, ne_u32(data, 24));
        assert_eq!(c.chunk_payload_len, ne_u32(data, 28));
        assert_ne!(c.chunk_payload_len, 0);
        let enc = c.encode();
        assert_eq!(
            enc[..],
            first[..],
            "chunk header must re-encode byte for byte"
        );
        assert_eq!(ChunkHeader::decode(&enc), Ok(c));
    }
});
