//! Every decoding rule of the wire layer, and property tests: round trips
//! for arbitrary field values and no panic on arbitrary bytes.

use netipc::wire::{
    BatchBuilder, BatchView, ChunkHeader, Flags, Header, Hello, HelloAck, Kind, Method, Profiles,
    Status, WireError, HEADER_LEN,
};
use proptest::prelude::*;

fn sample_header() -> Header {
    Header::request(Method::Increment, 8, 7)
}

fn with<const N: usize>(mut bytes: [u8; N], off: usize, patch: &[u8]) -> [u8; N] {
    bytes[off..off + patch.len()].copy_from_slice(patch);
    bytes
}

#[test]
fn header_rules() {
    let good = sample_header().encode();
    assert_eq!(Header::decode(&good).unwrap(), sample_header());
    assert!(matches!(
        Header::decode(&with(good, 0, &0u32.to_ne_bytes())),
        Err(WireError::BadMagic { found: 0, .. })
    ));
    assert!(matches!(
        Header::decode(&with(good, 4, &2u16.to_ne_bytes())),
        Err(WireError::BadVersion { found: 2, .. })
    ));
    let (version, h) = Header::decode_any_version(&with(good, 4, &2u16.to_ne_bytes())).unwrap();
    assert_eq!((version, h), (2, sample_header()));
    // Another version's flag bits are its own business: still recognisable
    // as "a message of another version" rather than garbage.
    let v2 = with(
        with(good, 4, &2u16.to_ne_bytes()),
        10,
        &0x8000u16.to_ne_bytes(),
    );
    assert_eq!(Header::decode_any_version(&v2).unwrap().0, 2);
    assert!(matches!(
        Header::decode(&v2),
        Err(WireError::BadVersion { found: 2, .. })
    ));
    assert!(matches!(
        Header::decode(&with(good, 6, &64u16.to_ne_bytes())),
        Err(WireError::BadHeaderLen { found: 64 })
    ));
    for kind in [0u16, 4, 0xffff] {
        assert!(matches!(
            Header::decode(&with(good, 8, &kind.to_ne_bytes())),
            Err(WireError::UnknownKind { found }) if found == kind
        ));
    }
    assert!(matches!(
        Header::decode(&with(good, 10, &2u16.to_ne_bytes())),
        Err(WireError::UnknownFlags { found: 2, .. })
    ));
    // Code and status stay raw: a server must be able to echo an unknown code.
    let odd = Header::decode(&with(good, 12, &99u16.to_ne_bytes())).unwrap();
    assert_eq!(odd.code, 99);
    assert!(matches!(
        odd.method(),
        Err(WireError::UnknownMethod { found: 99 })
    ));
    let odd = Header::decode(&with(good, 14, &77u16.to_ne_bytes())).unwrap();
    assert!(matches!(
        odd.status(),
        Err(WireError::UnknownStatus { found: 77 })
    ));
    // The decoder looks at 32 bytes only.
    let mut long = good.to_vec();
    long.extend_from_slice(&[0xAA; 10]);
    assert!(Header::decode(&long).is_ok());
}

#[test]
fn typed_codes() {
    for (v, s) in [
        (0, Status::Ok),
        (1, Status::BadEnvelope),
        (2, Status::AuthFailed),
        (3, Status::Incompatible),
        (4, Status::Unsupported),
        (5, Status::LimitExceeded),
        (6, Status::InternalError),
    ] {
        assert_eq!(Status::try_from(v).unwrap(), s);
        assert_eq!(s.code(), v);
    }
    assert!(Status::try_from(7).is_err());
    assert_eq!(Method::try_from(2).unwrap(), Method::CgroupsSnapshot);
    assert_eq!(Method::try_from(4).unwrap(), Method::CgroupsLookup);
    assert_eq!(Method::try_from(5).unwrap(), Method::AppsLookup);
    assert!(Method::try_from(0).is_err() && Method::try_from(6).is_err());
    assert_eq!(Kind::try_from(3).unwrap(), Kind::Control);
    assert_eq!(Profiles(0b110).highest(), Profiles::SHM_FUTEX);
    assert_eq!(Profiles(0).highest(), Profiles(0));
    assert_eq!(Profiles(3).to_string(), "UDS_SEQPACKET|SHM_HYBRID");
}

#[test]
fn chunk_rules() {
    let good = ChunkHeader {
        message_id: 5,
        total_message_len: 400,
        chunk_index: 1,
        chunk_count: 3,
        chunk_payload_len: 96,
    }
    .encode();
    assert!(ChunkHeader::decode(&good).is_ok());
    assert!(matches!(
        ChunkHeader::decode(&with(good, 0, &crate_magic())),
        Err(WireError::BadMagic { .. })
    ));
    assert!(matches!(
        ChunkHeader::decode(&with(good, 4, &0u16.to_ne_bytes())),
        Err(WireError::BadVersion { found: 0, .. })
    ));
    assert!(matches!(
        ChunkHeader::decode(&with(good, 6, &1u16.to_ne_bytes())),
        Err(WireError::UnknownFlags { found: 1, .. })
    ));
    assert!(matches!(
        ChunkHeader::decode(&with(good, 28, &0u32.to_ne_bytes())),
        Err(WireError::EmptyChunk)
    ));
}

/// The outer magic, which is not a valid chunk magic.
fn crate_magic() -> [u8; 4] {
    netipc::wire::MAGIC.to_ne_bytes()
}

#[test]
fn hello_rules() {
    let good = Hello {
        supported_profiles: Profiles(3),
        ..Hello::default()
    }
    .encode();
    assert!(Hello::decode(&good).is_ok());
    assert!(matches!(
        Hello::decode(&with(good, 0, &2u16.to_ne_bytes())),
        Err(WireError::BadLayoutVersion { found: 2, .. })
    ));
    assert!(matches!(
        Hello::decode(&with(good, 2, &1u16.to_ne_bytes())),
        Err(WireError::UnknownFlags { found: 1, .. })
    ));
    assert!(matches!(
        Hello::decode(&with(good, 28, &9u32.to_ne_bytes())),
        Err(WireError::NonZeroReserved { found: 9, .. })
    ));
    assert!(matches!(
        Hello::decode(&good[..43]),
        Err(WireError::Truncated {
            need: 44,
            have: 43,
            ..
        })
    ));

    let good = HelloAck {
        session_id: 3,
        ..HelloAck::default()
    }
    .encode();
    assert!(HelloAck::decode(&good).is_ok());
    assert!(matches!(
        HelloAck::decode(&with(good, 0, &0u16.to_ne_bytes())),
        Err(WireError::BadLayoutVersion { found: 0, .. })
    ));
    assert!(matches!(
        HelloAck::decode(&with(good, 2, &4u16.to_ne_bytes())),
        Err(WireError::UnknownFlags { found: 4, .. })
    ));
    assert!(matches!(
        HelloAck::decode(&with(good, 36, &1u32.to_ne_bytes())),
        Err(WireError::NonZeroReserved { found: 1, .. })
    ));
    // A rejection payload is all zero but the layout version.
    let rejection = HelloAck::REJECTION.encode();
    assert_eq!(&rejection[..2], &1u16.to_ne_bytes());
    assert!(rejection[2..].iter().all(|&b| b == 0));
}

fn batch_of(items: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = BatchBuilder::new(&mut buf, items.len() as u32).unwrap();
    for item in items {
        b.push(item).unwrap();
    }
    b.finish().unwrap();
    buf
}

#[test]
fn batch_rules() {
    let payload = batch_of(&[b"abc", b"defgh"]);
    assert_eq!(payload.len(), 16 + 8 + 8);
    assert!(BatchView::new(&payload, 2).is_ok());
    assert!(matches!(
        BatchView::new(&payload, 0),
        Err(WireError::EmptyBatch)
    ));
    assert!(matches!(
        BatchView::new(&payload[..15], 2),
        Err(WireError::BatchDirectoryTruncated { items: 2, .. })
    ));
    assert!(matches!(
        BatchView::new(&payload, 5),
        Err(WireError::BatchDirectoryTruncated { items: 5, .. })
    ));
    let mut bad = payload.clone();
    bad[8..12].copy_from_slice(&4u32.to_ne_bytes());
    assert!(matches!(
        BatchView::new(&bad, 2),
        Err(WireError::BatchItemMisaligned {
            index: 1,
            offset: 4
        })
    ));
    let mut bad = payload.clone();
    bad[12..16].copy_from_slice(&9u32.to_ne_bytes());
    assert!(matches!(
        BatchView::new(&bad, 2),
        Err(WireError::BatchItemOutOfBounds { index: 1, .. })
    ));
    let mut bad = payload.clone();
    bad[8..12].copy_from_slice(&u32::MAX.to_ne_bytes().map(|b| b & 0xf8));
    assert!(matches!(
        BatchView::new(&bad, 2),
        Err(WireError::BatchItemOutOfBounds { index: 1, .. })
    ));
    let mut bad = payload.clone();
    bad.extend_from_slice(&[0; 8]);
    assert!(matches!(
        BatchView::new(&bad, 2),
        Err(WireError::BatchTrailingBytes { extra: 11 })
    ));
    let mut bad = payload.clone();
    *bad.last_mut().unwrap() = 1;
    assert!(matches!(
        BatchView::new(&bad, 2),
        Err(WireError::BatchNonZeroPadding { offset: 31 })
    ));
    // The final pad may be missing (a C builder with a tight buffer omits it).
    assert!(BatchView::new(&payload[..16 + 8 + 5], 2).is_ok());
}

#[test]
fn batch_builder_misuse() {
    let mut buf = Vec::new();
    assert!(matches!(
        BatchBuilder::new(&mut buf, 0),
        Err(WireError::EmptyBatch)
    ));
    let mut b = BatchBuilder::new(&mut buf, 2).unwrap();
    b.push(b"x").unwrap();
    b.push(b"y").unwrap();
    assert!(matches!(
        b.push(b"z"),
        Err(WireError::BatchCountMismatch { expected: 2, .. })
    ));
    let mut buf = Vec::new();
    let mut b = BatchBuilder::new(&mut buf, 2).unwrap();
    b.push(b"x").unwrap();
    assert!(matches!(
        b.finish(),
        Err(WireError::BatchCountMismatch {
            expected: 2,
            pushed: 1
        })
    ));
    // The payload starts where the buffer ended: room for a header first.
    let mut buf = vec![0xEE; HEADER_LEN];
    let mut b = BatchBuilder::new(&mut buf, 1).unwrap();
    b.push_with(|out| out.extend_from_slice(&[1, 2, 3]))
        .unwrap();
    assert_eq!(b.finish().unwrap(), 16);
    assert_eq!(&buf[..HEADER_LEN], &[0xEE; HEADER_LEN]);
    let view = BatchView::new(&buf[HEADER_LEN..], 1).unwrap();
    assert_eq!(view.get(0).unwrap(), &[1, 2, 3]);
    assert_eq!(view.get(1), None);
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Request),
        Just(Kind::Response),
        Just(Kind::Control)
    ]
}

proptest! {
    #[test]
    fn header_round_trip(kind in arb_kind(), batch in any::<bool>(), code in any::<u16>(),
                         status in any::<u16>(), payload_len in 0..=Header::MAX_PAYLOAD_LEN,
                         item_count in any::<u32>(), message_id in any::<u64>()) {
        let h = Header {
            kind,
            flags: if batch { Flags::BATCH } else { Flags::NONE },
            code, transport_status: status, payload_len, item_count, message_id,
        };
        prop_assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn chunk_round_trip(message_id in any::<u64>(), total in any::<u32>(), index in any::<u32>(),
                        count in any::<u32>(), len in 1u32..) {
        let c = ChunkHeader { message_id, total_message_len: total, chunk_index: index,
                              chunk_count: count, chunk_payload_len: len };
        prop_assert_eq!(ChunkHeader::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn hello_round_trip(f in any::<[u32; 7]>(), token in any::<u64>()) {
        let h = Hello {
            supported_profiles: Profiles(f[0]), preferred_profiles: Profiles(f[1]),
            max_request_payload_bytes: f[2], max_request_batch_items: f[3],
            max_response_payload_bytes: f[4], max_response_batch_items: f[5],
            auth_token: token, packet_size: f[6],
        };
        prop_assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn hello_ack_round_trip(f in any::<[u32; 8]>(), session_id in any::<u64>()) {
        let a = HelloAck {
            server_supported_profiles: Profiles(f[0]), intersection_profiles: Profiles(f[1]),
            selected_profile: Profiles(f[2]), agreed_max_request_payload_bytes: f[3],
            agreed_max_request_batch_items: f[4], agreed_max_response_payload_bytes: f[5],
            agreed_max_response_batch_items: f[6], agreed_packet_size: f[7], session_id,
        };
        prop_assert_eq!(HelloAck::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn batch_round_trip(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..1000)) {
        let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
        let payload = batch_of(&refs);
        prop_assert_eq!(payload.len() % 8, 0);
        let view = BatchView::new(&payload, items.len() as u32).unwrap();
        prop_assert_eq!(view.len(), items.len());
        for (got, want) in view.iter().zip(&items) {
            prop_assert_eq!(got, want.as_slice());
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), n in 0u32..64) {
        let _ = Header::decode(&bytes);
        let _ = Header::decode_any_version(&bytes);
        let _ = ChunkHeader::decode(&bytes);
        let _ = Hello::decode(&bytes);
        let _ = HelloAck::decode(&bytes);
        if let Ok(view) = BatchView::new(&bytes, n) {
            for item in view.iter() {
                prop_assert!(item.len() <= bytes.len());
            }
        }
    }

    #[test]
    fn mutated_batches_never_panic(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..20),
                                   pos in any::<prop::sample::Index>(), byte in any::<u8>(),
                                   cut in any::<prop::sample::Index>()) {
        let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
        let mut payload = batch_of(&refs);
        let i = pos.index(payload.len());
        payload[i] = byte;
        let end = cut.index(payload.len() + 1);
        if let Ok(view) = BatchView::new(&payload[..end], items.len() as u32) {
            prop_assert_eq!(view.iter().count(), items.len());
        }
    }
}
