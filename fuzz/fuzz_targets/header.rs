//! Outer message header: `Header::decode` and `Header::decode_any_version`.
//!
//! Checked properties:
//! * acceptance matches an independent reading of the raw bytes (length,
//!   magic, header_len, kind, defined flags; version and the 32-bit total
//!   length only for `decode`);
//! * only the first 32 bytes matter;
//! * `decode` equals `decode_any_version` restricted to version 1;
//! * a decoded header re-encodes to the input's first 32 bytes (apart from
//!   the version field, which `encode` always writes as 1) and decodes back
//!   to itself;
//! * the typed views of `code` and `transport_status` agree with the raw
//!   numbers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::wire::{Flags, Header, WireError, HEADER_LEN, MAGIC, VERSION};
use netipc_fuzz::{ne_u16, ne_u32};

/// The acceptance rule of `decode_any_version`, read off the bytes directly.
fn expect_any_ok(b: &[u8]) -> bool {
    b.len() >= 32
        && ne_u32(b, 0) == 0x4e49_5043
        && ne_u16(b, 6) == 32
        && matches!(ne_u16(b, 8), 1..=3)
        && ne_u16(b, 10) & !0x0001 == 0
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(MAGIC, 0x4e49_5043);
    let any = Header::decode_any_version(data);
    let strict = Header::decode(data);

    if data.len() < HEADER_LEN {
        assert!(
            matches!(any, Err(WireError::Truncated { need: 32, have, .. }) if have == data.len()),
            "short input must be Truncated, got {any:?}"
        );
        assert_eq!(strict, any.map(|(_, h)| h));
        return;
    }

    // Only the first 32 bytes are looked at.
    let first = &data[..HEADER_LEN];
    assert_eq!(Header::decode_any_version(first), any);
    assert_eq!(Header::decode(first), strict);

    assert_eq!(
        any.is_ok(),
        expect_any_ok(data),
        "acceptance disagrees with the rule: {any:?}"
    );

    match any {
        Ok((version, h)) => {
            assert_eq!(version, ne_u16(data, 4));
            // 32 + payload_len must fit in 32 bits.
            let fits = u64::from(ne_u32(data, 16)) + 32 <= u64::from(u32::MAX);
            if version == VERSION && fits {
                assert_eq!(strict, Ok(h));
            } else if version == VERSION {
                assert_eq!(
                    strict,
                    Err(WireError::PayloadLenTooLarge {
                        found: h.payload_len
                    })
                );
            } else {
                assert_eq!(
                    strict,
                    Err(WireError::BadVersion {
                        what: "message header",
                        found: version
                    })
                );
            }

            assert_eq!(h.kind as u16, ne_u16(data, 8));
            assert_eq!(h.flags.0 & !Flags::KNOWN.0, 0);
            assert_eq!(h.is_batch(), h.flags.0 & 1 != 0);
            if let Ok(method) = h.method() {
                assert_eq!(method.code(), h.code);
            }
            if let Ok(status) = h.status() {
                assert_eq!(status.code(), h.transport_status);
            }

            let enc = h.encode();
            assert_eq!(enc[..4], first[..4], "magic");
            assert_eq!(ne_u16(&enc, 4), VERSION);
            assert_eq!(enc[6..], first[6..], "fields after the version");
            if version == VERSION {
                assert_eq!(enc[..], first[..], "v1 header must re-encode byte for byte");
            }
            if fits {
                assert_eq!(Header::decode(&enc), Ok(h));
            }
            assert_eq!(Header::decode_any_version(&enc), Ok((VERSION, h)));
        }
        Err(e) => {
            // `decode` runs the same checks first, so it fails the same way.
            assert_eq!(strict, Err(e));
        }
    }
});
