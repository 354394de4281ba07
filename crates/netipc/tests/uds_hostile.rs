//! A hostile raw peer breaking each frame and chunk rule: `recv` must
//! return the matching typed error and never panic, and one broken session
//! must not affect another.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use netipc::transport::{TransportError, UdsChannel};
use netipc::wire::{BatchBuilder, Flags, Header, Kind, WireError};
use proptest::prelude::*;

const T: Option<Duration> = Some(Duration::from_secs(5));
/// Packet size used by most tests: B = 96.
const P: u32 = 128;

fn channel() -> (UdsChannel, RawPeer) {
    raw_channel(limits(4096, 16, P))
}

/// Receives on `ch` after the raw peer sent `packets`.
fn recv_after(packets: &[Vec<u8>]) -> Result<(Header, Vec<u8>), TransportError> {
    let (mut ch, peer) = channel();
    for p in packets {
        peer.send(p);
    }
    ch.recv(T).map(|(h, p)| (h, p.to_vec()))
}

fn valid_header_bytes(payload_len: u32) -> [u8; 32] {
    response(1, payload_len, 7).encode()
}

fn with_header_field(off: usize, patch: &[u8]) -> Vec<u8> {
    let mut h = valid_header_bytes(8).to_vec();
    h[off..off + patch.len()].copy_from_slice(patch);
    h.extend_from_slice(&[0u8; 8]);
    h
}

// ------------------------------------------------------------ frame rules

#[test]
fn a_valid_message_is_accepted() {
    let (h, p) = recv_after(&[packet(&[&valid_header_bytes(8), &[9u8; 8]])]).unwrap();
    assert_eq!(h, response(1, 8, 7));
    assert_eq!(p, vec![9u8; 8]);
}

#[test]
fn bad_magic() {
    let err = recv_after(&[with_header_field(0, &0x1234_5678u32.to_ne_bytes())]).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::BadMagic {
            found: 0x1234_5678,
            ..
        })
    );
    assert!(err.is_protocol_violation());
}

#[test]
fn bad_version() {
    let err = recv_after(&[with_header_field(4, &2u16.to_ne_bytes())]).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::BadVersion { found: 2, .. })
    );
}

#[test]
fn bad_header_len() {
    let err = recv_after(&[with_header_field(6, &31u16.to_ne_bytes())]).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::BadHeaderLen { found: 31 })
    );
}

#[test]
fn unknown_kind() {
    for kind in [0u16, 4, 0xffff] {
        let err = recv_after(&[with_header_field(8, &kind.to_ne_bytes())]).unwrap_err();
        assert_err!(err, TransportError::Wire(WireError::UnknownKind { found }) if *found == kind);
    }
}

#[test]
fn unknown_flags() {
    let err = recv_after(&[with_header_field(10, &0x0002u16.to_ne_bytes())]).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::UnknownFlags { found: 2, .. })
    );
}

#[test]
fn short_first_packet() {
    let err = recv_after(&[vec![0x43; 31]]).unwrap_err();
    assert_err!(err, TransportError::ShortPacket { len: 31 });
}

#[test]
fn payload_len_over_the_limit() {
    // Announced only: the check happens right after the header decodes.
    let err = recv_after(&[valid_header_bytes(4097).to_vec()]).unwrap_err();
    assert_err!(
        err,
        TransportError::IncomingTooLarge {
            len: 4097,
            limit: 4096
        }
    );
    let err = recv_after(&[valid_header_bytes(Header::MAX_PAYLOAD_LEN).to_vec()]).unwrap_err();
    assert_err!(err, TransportError::IncomingTooLarge { .. });
    // 32 + payload_len does not fit in 32 bits: the header itself is invalid.
    let err = recv_after(&[valid_header_bytes(u32::MAX).to_vec()]).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::PayloadLenTooLarge { found: u32::MAX })
    );
}

#[test]
fn item_count_over_the_limit() {
    let mut h = response(1, 8, 7);
    h.item_count = 17;
    let err = recv_after(&[packet(&[&h.encode(), &[0u8; 8]])]).unwrap_err();
    assert_err!(
        err,
        TransportError::IncomingTooManyItems {
            count: 17,
            limit: 16
        }
    );
}

#[test]
fn item_count_zero_without_batch_is_accepted() {
    let mut h = response(1, 8, 7);
    h.item_count = 0;
    let (got, _) = recv_after(&[packet(&[&h.encode(), &[0u8; 8]])]).unwrap();
    assert_eq!(got.item_count, 0);
}

fn batch_header(payload_len: u32, items: u32) -> Header {
    Header {
        flags: Flags::BATCH,
        item_count: items,
        ..response(1, payload_len, 7)
    }
}

#[test]
fn valid_batch_is_accepted() {
    let mut buf = Vec::new();
    let mut b = BatchBuilder::new(&mut buf, 2).unwrap();
    b.push(b"ab").unwrap();
    b.push(b"xyz").unwrap();
    let len = b.finish().unwrap();
    let (h, p) = recv_after(&[packet(&[&batch_header(len, 2).encode(), &buf])]).unwrap();
    assert!(h.is_batch());
    assert_eq!(p, buf);
}

#[test]
fn bad_batch_directory() {
    // Misaligned offset.
    let mut dir = vec![0u8; 16 + 16];
    put32(&mut dir, 0, 0);
    put32(&mut dir, 4, 2);
    put32(&mut dir, 8, 4);
    put32(&mut dir, 12, 2);
    let err = recv_after(&[packet(&[&batch_header(32, 2).encode(), &dir])]).unwrap_err();
    assert_err!(
        err,
        TransportError::BadBatch(WireError::BatchItemMisaligned {
            index: 1,
            offset: 4
        })
    );
    // Item past the packed area.
    let mut dir = vec![0u8; 16 + 8];
    put32(&mut dir, 12, 100);
    let err = recv_after(&[packet(&[&batch_header(24, 2).encode(), &dir])]).unwrap_err();
    assert_err!(
        err,
        TransportError::BadBatch(WireError::BatchItemOutOfBounds { .. })
    );
    // Directory longer than the payload.
    let err = recv_after(&[packet(&[&batch_header(8, 2).encode(), &[0u8; 8]])]).unwrap_err();
    assert_err!(
        err,
        TransportError::BadBatch(WireError::BatchDirectoryTruncated { .. })
    );
}

#[test]
fn batch_flag_with_one_item_still_needs_a_directory() {
    let err = recv_after(&[packet(&[&batch_header(0, 1).encode()])]).unwrap_err();
    assert_err!(
        err,
        TransportError::BadBatch(WireError::BatchDirectoryTruncated { .. })
    );
    // With a one-entry directory it is fine.
    let mut payload = vec![0u8; 16];
    put32(&mut payload, 4, 8);
    let (h, _) = recv_after(&[packet(&[&batch_header(16, 1).encode(), &payload])]).unwrap();
    assert_eq!(h.item_count, 1);
}

#[test]
fn oversize_packet_longer_than_header_plus_payload() {
    let err = recv_after(&[packet(&[&valid_header_bytes(8), &[0u8; 9]])]).unwrap_err();
    assert_err!(err, TransportError::OversizePacket { len: 41, limit: 40 });
}

#[test]
fn oversize_packet_longer_than_the_packet_size() {
    // A 200-byte payload in one 232-byte packet although P = 128.
    let err = recv_after(&[packet(&[&valid_header_bytes(200), &[0u8; 200]])]).unwrap_err();
    assert_err!(
        err,
        TransportError::OversizePacket {
            len: 232,
            limit: 128
        }
    );
}

#[test]
fn oversize_packet_beyond_the_receive_buffer_is_detected_not_truncated() {
    // Limits 100 bytes, P = 128: the first-packet buffer holds 128 bytes; a
    // 5000-byte packet must not pass as its first 128 bytes.
    let (mut ch, peer) = raw_channel(limits(100, 1, P));
    peer.send(&packet(&[&valid_header_bytes(96), &[0u8; 4968]]));
    let err = ch.recv(T).unwrap_err();
    assert_err!(err, TransportError::OversizePacket { len: 5000, .. });
}

#[test]
fn zero_length_packet_and_eof_are_peer_closed() {
    let err = recv_after(&[Vec::new()]).unwrap_err();
    assert_err!(err, TransportError::PeerClosed);
    let (mut ch, peer) = channel();
    drop(peer);
    assert!(matches!(ch.recv(T), Err(TransportError::PeerClosed)));
}

// ------------------------------------------------------------ chunk rules
//
// A 300-byte payload at P = 128: first packet 32 + 96, then chunks of 96,
// 96 and 12 bytes; chunk_count 4, total_message_len 332.

const LEN: u32 = 300;
const TOTAL: u32 = 332;
const COUNT: u32 = 4;

fn first_packet() -> Vec<u8> {
    packet(&[&valid_header_bytes(LEN), &pattern(96, 1)])
}

fn good_chunk(index: u32) -> Vec<u8> {
    let len = if index == 3 { 12 } else { 96 };
    packet(&[
        &chunk(7, TOTAL, index, COUNT, len),
        &pattern(len as usize, index as u8),
    ])
}

fn chunked(mutate: impl FnOnce(&mut Vec<Vec<u8>>)) -> Result<(Header, Vec<u8>), TransportError> {
    let mut packets = vec![first_packet(), good_chunk(1), good_chunk(2), good_chunk(3)];
    mutate(&mut packets);
    recv_after(&packets)
}

#[test]
fn a_valid_chunked_message_is_reassembled() {
    let (h, p) = chunked(|_| {}).unwrap();
    assert_eq!(h.payload_len, LEN);
    let mut expected = pattern(96, 1);
    expected.extend(pattern(96, 1));
    expected.extend(pattern(96, 2));
    expected.extend(pattern(12, 3));
    assert_eq!(p, expected);
}

#[test]
fn chunk_bad_magic() {
    let err = chunked(|p| put32(&mut p[1], 0, 0x4e49_5043)).unwrap_err();
    assert_err!(err, TransportError::Wire(WireError::BadMagic { .. }));
}

#[test]
fn chunk_bad_version() {
    let err = chunked(|p| put16(&mut p[1], 4, 2)).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::BadVersion { found: 2, .. })
    );
}

#[test]
fn chunk_bad_flags() {
    let err = chunked(|p| put16(&mut p[2], 6, 1)).unwrap_err();
    assert_err!(
        err,
        TransportError::Wire(WireError::UnknownFlags { found: 1, .. })
    );
}

#[test]
fn chunk_zero_payload_len() {
    let err = chunked(|p| p[1] = chunk(7, TOTAL, 1, COUNT, 0).to_vec()).unwrap_err();
    assert_err!(err, TransportError::Wire(WireError::EmptyChunk));
}

#[test]
fn chunk_wrong_message_id() {
    let err =
        chunked(|p| p[2] = packet(&[&chunk(8, TOTAL, 2, COUNT, 96), &[0u8; 96]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkMessageIdMismatch {
            expected: 7,
            found: 8
        }
    );
}

#[test]
fn chunk_wrong_index() {
    let err = chunked(|p| p.swap(1, 2)).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkIndexMismatch {
            expected: 1,
            found: 2
        }
    );
    let err =
        chunked(|p| p[1] = packet(&[&chunk(7, TOTAL, 0, COUNT, 96), &[0u8; 96]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkIndexMismatch {
            expected: 1,
            found: 0
        }
    );
}

#[test]
fn chunk_wrong_count() {
    let err = chunked(|p| p[1] = packet(&[&chunk(7, TOTAL, 1, 5, 96), &[0u8; 96]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkCountMismatch {
            expected: 4,
            found: 5
        }
    );
}

#[test]
fn chunk_wrong_total() {
    let err =
        chunked(|p| p[3] = packet(&[&chunk(7, TOTAL + 1, 3, COUNT, 12), &[0u8; 12]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkTotalMismatch {
            expected: 332,
            found: 333
        }
    );
}

#[test]
fn chunk_payload_len_differs_from_the_packet() {
    let err =
        chunked(|p| p[1] = packet(&[&chunk(7, TOTAL, 1, COUNT, 95), &[0u8; 96]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkLengthMismatch {
            declared: 95,
            actual: 96
        }
    );
}

#[test]
fn chunk_overrun() {
    // The last chunk carries 20 bytes where 12 remain.
    let err =
        chunked(|p| p[3] = packet(&[&chunk(7, TOTAL, 3, COUNT, 20), &[0u8; 20]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkOverrun {
            len: 20,
            remaining: 12
        }
    );
}

#[test]
fn chunk_larger_than_the_packet_size() {
    // 100 data bytes fit the 204 remaining but make a 132-byte packet.
    let err =
        chunked(|p| p[1] = packet(&[&chunk(7, TOTAL, 1, COUNT, 100), &[0u8; 100]])).unwrap_err();
    assert_err!(
        err,
        TransportError::OversizePacket {
            len: 132,
            limit: 128
        }
    );
}

#[test]
fn chunk_shorter_than_a_header() {
    let err = chunked(|p| p[1] = vec![0x4b; 20]).unwrap_err();
    assert_err!(err, TransportError::ShortPacket { len: 20 });
}

#[test]
fn short_intermediate_chunks_leave_the_message_incomplete() {
    // Four chunks announced, but chunk 1 carries only 10 bytes: after chunk
    // 3 the message still misses 86 bytes.
    let err =
        chunked(|p| p[1] = packet(&[&chunk(7, TOTAL, 1, COUNT, 10), &[0u8; 10]])).unwrap_err();
    assert_err!(
        err,
        TransportError::ChunkIncomplete {
            count: 4,
            received: 246,
            total: 332
        }
    );
}

#[test]
fn eof_mid_message() {
    let (mut ch, peer) = channel();
    peer.send(&first_packet());
    peer.send(&good_chunk(1));
    drop(peer);
    assert!(matches!(ch.recv(T), Err(TransportError::PeerClosed)));
}

#[test]
fn timeout_mid_message_is_a_stalled_message() {
    let (mut ch, peer) = channel();
    peer.send(&first_packet());
    let timeout = Duration::from_millis(150);
    let err = assert_within(timeout, || ch.recv(Some(timeout)).unwrap_err());
    assert_err!(
        err,
        TransportError::StalledMessage {
            received: 128,
            total: 332
        }
    );
    drop(peer);
}

#[test]
fn a_chunk_of_another_message_interleaved() {
    // A new outer header where a continuation chunk belongs.
    let err = chunked(|p| p[1] = packet(&[&valid_header_bytes(8), &[0u8; 8]])).unwrap_err();
    assert_err!(err, TransportError::Wire(WireError::BadMagic { .. }));
}

#[test]
fn a_short_first_packet_of_a_chunked_message_is_accepted_as_the_peers_do() {
    // First packet carries 50 bytes; then ceil(250 / 96) = 3 chunks follow.
    let packets = vec![
        packet(&[&valid_header_bytes(LEN), &[1u8; 50]]),
        packet(&[&chunk(7, TOTAL, 1, 4, 96), &[2u8; 96]]),
        packet(&[&chunk(7, TOTAL, 2, 4, 96), &[3u8; 96]]),
        packet(&[&chunk(7, TOTAL, 3, 4, 58), &[4u8; 58]]),
    ];
    let (_, p) = recv_after(&packets).unwrap();
    assert_eq!(p.len(), 300);
    assert_eq!(&p[..50], &[1u8; 50][..]);
    assert_eq!(&p[242..], &[4u8; 58][..]);
}

// ------------------------------------------------------- pipelining errors

#[test]
fn a_response_to_no_request_is_a_protocol_error() {
    let (mut ch, peer) = channel();
    ch.send_request(&request(0, 1), &[]).unwrap();
    ch.send_request(&request(0, 2), &[]).unwrap();
    peer.send(&response(1, 0, 99).encode());
    let err = ch.recv_response(T).unwrap_err();
    assert_err!(err, TransportError::UnknownResponseId { id: 99 });
    assert!(err.is_protocol_violation());
    // Every request in flight failed with it.
    assert!(ch.in_flight().is_empty());
}

#[test]
fn a_request_where_a_response_is_expected() {
    let (mut ch, peer) = channel();
    ch.send_request(&request(0, 1), &[]).unwrap();
    peer.send(&request(0, 1).encode());
    let err = ch.recv_response(T).unwrap_err();
    assert_err!(
        err,
        TransportError::UnexpectedKind {
            expected: Kind::Response,
            found: Kind::Request
        }
    );
    assert!(ch.in_flight().is_empty());
}

// ------------------------------------------------------------- isolation

#[test]
fn one_broken_session_does_not_affect_another() {
    let (mut bad, bad_peer) = channel();
    let (mut good, good_peer) = channel();
    bad_peer.send(&with_header_field(0, &[0xff; 4]));
    good_peer.send(&packet(&[&valid_header_bytes(8), &[5u8; 8]]));
    assert!(bad.recv(T).is_err());
    let (h, p) = good.recv(T).unwrap();
    assert_eq!((h.message_id, p), (7, &[5u8; 8][..]));
    // The good one keeps working, chunked messages included.
    for p in [first_packet(), good_chunk(1), good_chunk(2), good_chunk(3)] {
        good_peer.send(&p);
    }
    assert_eq!(good.recv(T).unwrap().1.len(), 300);
    good.send(&response(1, 3, 1), b"abc").unwrap();
    assert_eq!(good_peer.recv_packet().len(), 35);
}

// ---------------------------------------------------------- no panics ever

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary packets, some starting with a valid header, never panic.
    #[test]
    fn arbitrary_packets_never_panic(
        packets in proptest::collection::vec(
            (any::<bool>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..300)),
            1..6,
        )
    ) {
        let (mut ch, peer) = channel();
        for (valid_start, payload_len, mut bytes) in packets {
            if valid_start && bytes.len() >= 32 {
                let h = response(1, payload_len % 600, 7).encode();
                bytes[..32].copy_from_slice(&h);
            }
            if !bytes.is_empty() {
                peer.send(&bytes);
            }
        }
        drop(peer);
        for _ in 0..8 {
            match ch.recv(Some(Duration::from_millis(100))) {
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
}
