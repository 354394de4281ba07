//! Round trips over UDS at many sizes and packet sizes, the chunk layout on
//! the wire, the kernel's packet-size limit, pipelining, local refusals
//! and the connection-level helpers.

#[macro_use]
mod support;

use std::thread;
use std::time::{Duration, Instant};

use netipc::transport::uds::FALLBACK_PACKET_SIZE;
use netipc::transport::{Limits, TransportError, UdsChannel, UdsConn};
use netipc::wire::{Header, HelloAck, Kind, Profiles};
use support::*;

const T: Option<Duration> = Some(Duration::from_secs(20));
const MAX: u32 = (4 << 20) + 64;

/// Sends `payload` from one channel to an echo thread and checks the bytes
/// that come back.
fn round_trip(packet_size: u32, sizes: &[usize]) {
    let l = limits(MAX, 1, packet_size);
    let (mut client, mut server) = channel_pair(l, l);
    let count = sizes.len();
    let echo = thread::spawn(move || {
        for _ in 0..count {
            let (h, p) = server.recv(T).unwrap();
            let p = p.to_vec();
            let reply = response(h.code, h.payload_len, h.message_id);
            server.send(&reply, &p).unwrap();
        }
    });
    for (i, &size) in sizes.iter().enumerate() {
        let payload = pattern(i as u64, size);
        let id = 1000 + i as u64;
        client.send(&request(size as u32, id), &payload).unwrap();
        let (h, back) = client.recv(T).unwrap();
        assert_eq!(h.kind, Kind::Response);
        assert_eq!(h.message_id, id);
        assert_eq!(h.payload_len as usize, size);
        assert!(
            back == payload.as_slice(),
            "payload of {size} bytes differs"
        );
    }
    echo.join().unwrap();
}

fn sizes_for(p: usize) -> Vec<usize> {
    vec![
        0,
        1,
        p - 32,
        p - 31,
        64 << 10,
        1 << 20,
        4 << 20,
        7,
        p - 33,
        2 * (p - 32),
        2 * (p - 32) + 1,
    ]
}

#[test]
fn round_trips_with_128_byte_packets() {
    round_trip(128, &sizes_for(128));
}

#[test]
fn round_trips_with_the_default_packet_size() {
    let (a, _b) = UdsConn::pair().unwrap();
    let p = a.default_packet_size();
    round_trip(p, &sizes_for(p as usize));
}

#[test]
fn round_trips_with_odd_packet_sizes() {
    for p in [33u32, 100, 4099] {
        round_trip(p, &[0, 1, 5, 300, 10_000]);
    }
}

#[test]
fn chunk_layout_on_the_wire_matches_the_protocol_example() {
    // P = 128, payload 300 → 96, 96, 96, 12; chunk_count 4; total 332.
    let (mut ch, peer) = raw_channel(limits(4096, 1, 128));
    let payload = pattern(3, 300);
    ch.send(&request(300, 0xabc), &payload).unwrap();
    let first = peer.recv_packet();
    assert_eq!(first.len(), 128);
    assert_eq!(&first[..32], &request(300, 0xabc).encode()[..]);
    assert_eq!(&first[32..], &payload[..96]);
    let mut offset = 96;
    for (index, len) in [(1u32, 96usize), (2, 96), (3, 12)] {
        let p = peer.recv_packet();
        assert_eq!(p.len(), 32 + len);
        assert_eq!(&p[..32], &chunk(0xabc, 332, index, 4, len as u32)[..]);
        assert_eq!(&p[32..], &payload[offset..offset + len]);
        offset += len;
    }
    assert_eq!(
        peer.recv(Duration::from_millis(50)),
        None,
        "no extra packet"
    );
}

#[test]
fn packet_count_at_the_boundary() {
    let (mut ch, peer) = raw_channel(limits(4096, 1, 128));
    // 96 bytes: one full packet, no chunk header.
    ch.send(&request(96, 1), &[1; 96]).unwrap();
    assert_eq!(peer.recv_packet().len(), 128);
    assert_eq!(peer.recv(Duration::from_millis(20)), None);
    // 97 bytes: a full packet and a 33-byte continuation.
    ch.send(&request(97, 2), &[2; 97]).unwrap();
    assert_eq!(peer.recv_packet().len(), 128);
    let second = peer.recv_packet();
    assert_eq!(second.len(), 33);
    assert_eq!(&second[..32], &chunk(2, 129, 1, 2, 1)[..]);
    // 0 bytes: the header alone.
    ch.send(&request(0, 3), &[]).unwrap();
    assert_eq!(peer.recv_packet(), request(0, 3).encode().to_vec());
}

#[test]
fn the_kernel_accepts_a_packet_of_exactly_the_default_packet_size() {
    let (a, b) = UdsConn::pair().unwrap();
    let sndbuf = a.so_sndbuf().unwrap();
    let p = a.default_packet_size();
    assert!(sndbuf > 32);
    assert_eq!(p as usize, sndbuf - 32);
    let bytes = pattern(9, p as usize);
    a.send_packet(&[&bytes[..32], &bytes[32..]]).unwrap();
    let mut buf = vec![0u8; p as usize];
    assert_eq!(b.recv_packet(&mut buf, T).unwrap(), p as usize);
    assert!(buf == bytes);
    // The pitfall the default avoids: the raw SO_SNDBUF is too large for
    // one message.
    let too_big = vec![0u8; sndbuf];
    let err = a.send_packet(&[&too_big]).unwrap_err();
    assert_err!(err, TransportError::Io { op: "sendmsg", .. });
}

#[test]
fn full_size_chunks_at_the_default_packet_size_are_accepted_by_the_kernel() {
    let (a, _) = UdsConn::pair().unwrap();
    let p = a.default_packet_size();
    // Three full packets and a short one.
    round_trip(p, &[3 * (p as usize - 32) + 5]);
}

// --------------------------------------------------------------- pipelining

fn pipelined(reverse: bool) {
    let l = limits(1024, 1, 128);
    let (mut client, mut server) = channel_pair(l, l);
    let answer = thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..16 {
            let (h, p) = server.recv(T).unwrap();
            got.push((h, p.to_vec()));
        }
        if reverse {
            got.reverse();
        }
        for (h, p) in got {
            // Answer with the request payload repeated twice.
            let body = [p.as_slice(), p.as_slice()].concat();
            server
                .send(&response(h.code, body.len() as u32, h.message_id), &body)
                .unwrap();
        }
    });
    let ids: Vec<u64> = (0..16).map(|i| 0x1_0000 + i * 3).collect();
    for &id in &ids {
        let body = pattern(id, 50 + (id % 7) as usize * 20);
        client
            .send_request(&request(body.len() as u32, id), &body)
            .unwrap();
    }
    assert_eq!(client.in_flight().len(), 16);
    let mut seen = Vec::new();
    for _ in 0..16 {
        let (h, p) = client.recv_response(T).unwrap();
        let body = pattern(h.message_id, 50 + (h.message_id % 7) as usize * 20);
        assert!(
            p == [body.as_slice(), body.as_slice()].concat().as_slice(),
            "response {} does not match its request",
            h.message_id
        );
        seen.push(h.message_id);
    }
    answer.join().unwrap();
    assert!(client.in_flight().is_empty());
    let mut expected = ids.clone();
    if reverse {
        expected.reverse();
    }
    assert_eq!(seen, expected);
}

#[test]
fn sixteen_requests_in_flight_answered_in_order() {
    pipelined(false);
}

#[test]
fn sixteen_requests_in_flight_answered_in_reverse() {
    pipelined(true);
}

#[test]
fn a_duplicate_id_is_refused_locally() {
    let (mut ch, peer) = raw_channel(limits(1024, 1, 128));
    ch.send_request(&request(1, 5), &[1]).unwrap();
    let err = ch.send_request(&request(1, 5), &[2]).unwrap_err();
    assert_err!(err, TransportError::DuplicateInFlight { id: 5 });
    assert!(err.is_local_refusal());
    // Only the first request reached the wire; the first is still in flight.
    assert_eq!(peer.recv_packet().len(), 33);
    assert_eq!(peer.recv(Duration::from_millis(50)), None);
    assert!(ch.in_flight().contains(5));
    assert_eq!(ch.in_flight().len(), 1);
}

#[test]
fn a_send_failure_fails_every_request_in_flight() {
    let (mut ch, peer) = raw_channel(limits(1024, 1, 128));
    ch.send_request(&request(0, 1), &[]).unwrap();
    ch.send_request(&request(0, 2), &[]).unwrap();
    drop(peer);
    let err = ch.send_request(&request(0, 3), &[]).unwrap_err();
    assert_err!(err, TransportError::PeerClosed);
    assert!(ch.in_flight().is_empty());
}

#[test]
fn a_receive_timeout_keeps_requests_in_flight() {
    let (mut ch, peer) = raw_channel(limits(1024, 1, 128));
    ch.send_request(&request(0, 1), &[]).unwrap();
    let err = ch
        .recv_response(Some(Duration::from_millis(30)))
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout));
    assert!(ch.in_flight().contains(1));
    peer.send(&response(1, 0, 1).encode());
    assert_eq!(ch.recv_response(T).unwrap().0.message_id, 1);
}

#[test]
fn in_flight_set_rules() {
    let mut f = netipc::transport::InFlight::with_capacity(4);
    f.insert(1).unwrap();
    f.insert(2).unwrap();
    assert!(matches!(
        f.insert(1),
        Err(TransportError::DuplicateInFlight { id: 1 })
    ));
    f.complete(1).unwrap();
    assert!(matches!(
        f.complete(1),
        Err(TransportError::UnknownResponseId { id: 1 })
    ));
    f.insert(1).unwrap();
    let mut failed: Vec<u64> = f.fail_all().collect();
    failed.sort_unstable();
    assert_eq!(failed, vec![1, 2]);
    assert!(f.is_empty());
}

// ------------------------------------------------------------ local refusals

#[test]
fn sends_over_the_limits_are_refused_before_any_byte() {
    let (mut ch, peer) = raw_channel(Limits {
        max_send_payload: 100,
        max_send_items: 2,
        max_recv_payload: 100,
        max_recv_items: 2,
        packet_size: 64,
    });
    let err = ch.send(&request(101, 1), &[0; 101]).unwrap_err();
    assert_err!(
        err,
        TransportError::RequestTooLarge {
            len: 101,
            limit: 100
        }
    );
    assert!(err.is_local_refusal());
    let mut h = request(8, 1);
    h.item_count = 3;
    let err = ch.send(&h, &[0; 8]).unwrap_err();
    assert_err!(err, TransportError::TooManyItems { count: 3, limit: 2 });
    let err = ch.send(&request(9, 1), &[0; 8]).unwrap_err();
    assert_err!(
        err,
        TransportError::PayloadLenMismatch {
            header: 9,
            actual: 8
        }
    );
    let err = ch.send_request(&request(101, 1), &[0; 101]).unwrap_err();
    assert!(matches!(err, TransportError::RequestTooLarge { .. }));
    assert!(
        ch.in_flight().is_empty(),
        "a refused request is not in flight"
    );
    assert_eq!(
        peer.recv(Duration::from_millis(50)),
        None,
        "nothing was written"
    );
    // At the limit it goes (chunked: 64-byte packets).
    ch.send(&request(100, 1), &[0; 100]).unwrap();
    assert_eq!(peer.recv_packet().len(), 64);
}

#[test]
fn a_packet_size_of_32_or_less_is_refused() {
    for p in [0, 1, 32] {
        let (a, _b) = UdsConn::pair().unwrap();
        let err = UdsChannel::new(a, limits(10, 1, p)).unwrap_err();
        assert!(matches!(err, TransportError::BadPacketSize { size } if size == p));
    }
}

// ----------------------------------------------------------------- limits

#[test]
fn limits_from_an_ack_for_each_side() {
    let ack = HelloAck {
        server_supported_profiles: Profiles::BASELINE,
        intersection_profiles: Profiles::BASELINE,
        selected_profile: Profiles::BASELINE,
        agreed_max_request_payload_bytes: 1,
        agreed_max_request_batch_items: 2,
        agreed_max_response_payload_bytes: 3,
        agreed_max_response_batch_items: 4,
        agreed_packet_size: 5,
        session_id: 6,
    };
    assert_eq!(
        Limits::for_client(&ack),
        Limits {
            max_send_payload: 1,
            max_send_items: 2,
            max_recv_payload: 3,
            max_recv_items: 4,
            packet_size: 5
        }
    );
    assert_eq!(
        Limits::for_server(&ack),
        Limits {
            max_send_payload: 3,
            max_send_items: 4,
            max_recv_payload: 1,
            max_recv_items: 2,
            packet_size: 5
        }
    );
}

#[test]
fn the_receive_limits_apply_per_direction() {
    // Client may send 1000, receive 100; the server the other way round.
    let client_l = Limits {
        max_send_payload: 1000,
        max_send_items: 1,
        max_recv_payload: 100,
        max_recv_items: 1,
        packet_size: 128,
    };
    let server_l = Limits {
        max_send_payload: 100,
        max_send_items: 1,
        max_recv_payload: 1000,
        max_recv_items: 1,
        packet_size: 128,
    };
    let (mut c, mut s) = channel_pair(client_l, server_l);
    c.send(&request(1000, 1), &[7; 1000]).unwrap();
    assert_eq!(s.recv(T).unwrap().1.len(), 1000);
    assert!(matches!(
        s.send(&response(1, 101, 1), &[0; 101]),
        Err(TransportError::RequestTooLarge { .. })
    ));
}

// ------------------------------------------------------------------ try_recv

#[test]
fn try_recv_does_not_wait() {
    let (mut ch, peer) = raw_channel(limits(4096, 1, 128));
    assert!(ch.try_recv(T).unwrap().is_none());
    peer.send(&packet(&[&response(1, 3, 4).encode(), b"abc"]));
    // Give the packet time to be queued (it already is: send is synchronous).
    let (h, p) = ch.try_recv(T).unwrap().unwrap();
    assert_eq!((h.message_id, p), (4, &b"abc"[..]));
    assert!(ch.try_recv(T).unwrap().is_none());
    // A chunked message whose rest arrives later.
    let payload = pattern(1, 300);
    let mut sender = UdsChannel::new(UdsConn::from_fd(peer.fd), limits(4096, 1, 128)).unwrap();
    let t = thread::spawn(move || {
        sender.send(&response(1, 300, 9), &payload).unwrap();
        sender
    });
    let got = loop {
        if let Some((h, p)) = ch.try_recv(T).unwrap() {
            break (h.message_id, p.to_vec());
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(got, (9, pattern(1, 300)));
    drop(t.join().unwrap());
}

// ------------------------------------------------------ connection helpers

#[test]
fn recv_packet_detects_an_oversize_packet() {
    let (a, b) = UdsConn::pair().unwrap();
    a.send_packet(&[&[1u8; 100]]).unwrap();
    let mut buf = [0u8; 64];
    let err = b.recv_packet(&mut buf, T).unwrap_err();
    assert_err!(
        err,
        TransportError::OversizePacket {
            len: 100,
            limit: 64
        }
    );
    assert_eq!(b.try_recv_packet(&mut buf).unwrap(), None);
    a.send_packet(&[b"ab", b"", b"cd", b"e", b"f", b"g", b"h", b"i", b"j", b"k"])
        .unwrap();
    assert_eq!(b.try_recv_packet(&mut buf).unwrap(), Some(11));
    assert_eq!(&buf[..11], b"abcdefghijk".as_slice());
}

#[test]
fn recv_packet_times_out_and_reports_eof() {
    let (a, b) = UdsConn::pair().unwrap();
    let mut buf = [0u8; 64];
    let t = Duration::from_millis(100);
    let err = assert_within(t, || b.recv_packet(&mut buf, Some(t)).unwrap_err());
    assert!(matches!(err, TransportError::Timeout));
    let err = b.recv_packet(&mut buf, Some(Duration::ZERO)).unwrap_err();
    assert!(matches!(err, TransportError::Timeout));
    // A huge timeout is "forever", not an overflow.
    a.send_packet(&[b"x"]).unwrap();
    assert_eq!(b.recv_packet(&mut buf, Some(Duration::MAX)).unwrap(), 1);
    drop(a);
    assert!(matches!(
        b.recv_packet(&mut buf, None),
        Err(TransportError::PeerClosed)
    ));
}

#[test]
fn switching_between_timeouts_and_blocking_works() {
    let (a, b) = UdsConn::pair().unwrap();
    let mut buf = [0u8; 8];
    for round in 0..3u8 {
        a.send_packet(&[&[round]]).unwrap();
        assert_eq!(
            b.recv_packet(&mut buf, Some(Duration::from_millis(500 + round as u64)))
                .unwrap(),
            1
        );
        a.send_packet(&[&[round]]).unwrap();
        assert_eq!(b.recv_packet(&mut buf, None).unwrap(), 1);
    }
    // After a blocking receive, a timeout still applies.
    let t = Duration::from_millis(50);
    assert_within(t, || {
        assert!(matches!(
            b.recv_packet(&mut buf, Some(t)),
            Err(TransportError::Timeout)
        ))
    });
}

#[test]
fn wait_readable_and_hang_up_detection() {
    let (a, b) = UdsConn::pair().unwrap();
    assert!(!b.wait_readable(Some(Duration::from_millis(20))).unwrap());
    assert!(!b.is_hung_up());
    a.send_packet(&[b"x"]).unwrap();
    assert!(b.wait_readable(Some(Duration::from_millis(20))).unwrap());
    assert!(b.wait_readable(None).unwrap());
    assert!(!b.is_hung_up(), "data alone is not a hang-up");
    drop(a);
    assert!(b.is_hung_up());
    // The queued packet is still there.
    let mut buf = [0u8; 4];
    assert_eq!(b.recv_packet(&mut buf, T).unwrap(), 1);
    assert!(matches!(
        b.recv_packet(&mut buf, T),
        Err(TransportError::PeerClosed)
    ));
}

#[test]
fn sending_to_a_closed_peer_is_peer_closed_not_sigpipe() {
    let (a, b) = UdsConn::pair().unwrap();
    drop(b);
    assert!(matches!(
        a.send_packet(&[b"x"]),
        Err(TransportError::PeerClosed)
    ));
}

#[test]
fn a_send_timeout_stops_a_send_to_a_peer_that_does_not_read() {
    let (a, _b) = UdsConn::pair().unwrap();
    a.set_send_timeout(Some(Duration::from_millis(50))).unwrap();
    let chunk = vec![0u8; 60_000];
    let err = assert_within(Duration::from_millis(50), || loop {
        if let Err(e) = a.send_packet(&[&chunk]) {
            break e;
        }
    });
    assert_err!(err, TransportError::Timeout);
}

#[test]
fn default_packet_size_follows_a_changed_sndbuf() {
    assert_eq!(FALLBACK_PACKET_SIZE, 65_536);
    for requested in [1usize, 10_000, 100_000] {
        let (a, b) = UdsConn::pair().unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&a, requested).unwrap();
        // The kernel doubles the value and rounds a tiny one up to its
        // minimum (well above 32).
        let sndbuf = a.so_sndbuf().unwrap();
        let p = a.default_packet_size() as usize;
        assert_eq!(p, sndbuf - 32);
        // And a packet of that size still goes through.
        let bytes = vec![7u8; p];
        a.send_packet(&[&bytes]).unwrap();
        let mut buf = vec![0u8; p];
        assert_eq!(b.recv_packet(&mut buf, T).unwrap(), p);
    }
}

#[test]
fn header_fields_survive_a_round_trip() {
    let l = limits(4096, 8, 128);
    let (mut a, mut b) = channel_pair(l, l);
    let h = Header {
        kind: Kind::Response,
        flags: netipc::wire::Flags::NONE,
        code: 0x7777,
        transport_status: 5,
        payload_len: 200,
        item_count: 0,
        message_id: u64::MAX,
    };
    a.send(&h, &pattern(0, 200)).unwrap();
    assert_eq!(b.recv(T).unwrap().0, h);
}

/// `recv_split` bounds only the wait for the first packet: the rest of a
/// chunked message may take longer than that, up to its own deadline.
#[test]
fn split_timeouts_let_a_slow_chunked_message_through() {
    let (mut chan, peer) = raw_channel(limits(1024, 1, 128));
    // 200 payload bytes at packet size 128: 96 in the first packet, then 96
    // and 8 in two continuations.
    let payload = pattern(3, 200);
    let header = request(200, 9);
    let total = 232;
    let first = packet(&[&header.encode(), &payload[..96]]);
    let second = packet(&[&chunk(9, total, 1, 3, 96), &payload[96..192]]);
    let third = packet(&[&chunk(9, total, 2, 3, 8), &payload[192..]]);

    // The first packet is queued before the receive starts, so the 200 ms
    // first-packet timeout cannot expire however late the sender thread runs.
    peer.send(&first);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        peer.send(&second);
        peer.send(&third);
        peer
    });
    // The whole message takes over 300 ms; the first packet is there at once.
    let (got, body) = chan
        .recv_split(
            Some(Duration::from_millis(200)),
            Some(Duration::from_secs(5)),
        )
        .map(|(h, b)| (h, b.to_vec()))
        .unwrap();
    // The pause between chunks is longer than the first-packet timeout (and
    // than the 100 ms slice a server waits in), yet the message arrives whole.
    assert_eq!(got, header);
    assert_eq!(body, payload);
    let _peer = sender.join().unwrap();

    // Nothing queued: the first-packet timeout applies.
    let started = Instant::now();
    assert!(matches!(
        chan.recv_split(
            Some(Duration::from_millis(50)),
            Some(Duration::from_secs(5))
        ),
        Err(TransportError::Timeout)
    ));
    assert!(started.elapsed() < SLACK);
}
