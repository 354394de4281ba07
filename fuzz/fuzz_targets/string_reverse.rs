//! STRING_REVERSE payload: `StringView::decode`, `to_str` and re-encoding.
//!
//! Checked properties:
//! * acceptance matches an independent reading of the rules (8-byte header,
//!   offset exactly 8, string and NUL inside the payload, NUL after the string);
//! * the view is exactly `payload[offset..offset + length]`;
//! * `to_str` succeeds exactly when the bytes are UTF-8, with the same text;
//! * re-encoding gives `9 + len` bytes that decode to the same string, and is
//!   byte-identical to the input when the input was already canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::string_reverse::{self, StringView};
use netipc::codec::CodecError;
use netipc_fuzz::ne_u32;

/// Independent validator: the string's bounds when the payload is valid.
fn reference(p: &[u8]) -> Option<(usize, usize)> {
    if p.len() < 8 {
        return None;
    }
    let off = u64::from(ne_u32(p, 0));
    let len = u64::from(ne_u32(p, 4));
    if off != 8 || off + len >= p.len() as u64 || p[(off + len) as usize] != 0 {
        return None;
    }
    Some((off as usize, len as usize))
}

fuzz_target!(|data: &[u8]| {
    let got = StringView::decode(data);
    let want = reference(data);
    assert_eq!(got.is_ok(), want.is_some(), "acceptance: {got:?}");
    if data.len() < 8 {
        assert!(
            matches!(got, Err(CodecError::Truncated { need: 8, have, .. }) if have == data.len()),
            "short input must be Truncated, got {got:?}"
        );
    }
    let (Ok(view), Some((off, len))) = (got, want) else {
        return;
    };

    let expected = &data[off..off + len];
    assert_eq!(view.as_bytes().as_ptr(), expected.as_ptr());
    assert_eq!(view.as_bytes(), expected);
    assert_eq!(view.len(), len);
    assert_eq!(view.is_empty(), len == 0);
    match (view.to_str(), std::str::from_utf8(expected)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(CodecError::Utf8 { field, source }), Err(e)) => {
            assert_eq!(field, "string");
            assert_eq!(source, e);
        }
        (a, b) => panic!("to_str {a:?} disagrees with std {b:?}"),
    }

    let mut buf = vec![0xa5; 3];
    string_reverse::encode_into(&mut buf, view.as_bytes()).expect("short string encodes");
    assert_eq!(buf[..3], [0xa5; 3], "encode_into must only append");
    let enc = &buf[3..];
    assert_eq!(enc.len(), string_reverse::encoded_len(len));
    assert_eq!(enc.len(), 9 + len);
    let again = StringView::decode(enc).expect("re-encoded payload must decode");
    assert_eq!(again.as_bytes(), view.as_bytes());
    if off == 8 && data.len() == 9 + len {
        assert_eq!(enc, data, "canonical input must re-encode byte for byte");
    }
});
