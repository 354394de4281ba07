//! A misbehaving peer writes garbage into the region; the honest side must
//! answer with typed errors, never panic, never read out of bounds and never
//! hang.
//!
//! The hostile peer writes the file with `pwrite` (no mapping needed): the
//! page cache is shared, so the honest side's mapping sees the bytes.

mod shm_common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netipc::transport::shm::{ShmError, ShmRegion};
use netipc::transport::wait::{WaitConfig, Waiter};
use proptest::prelude::*;
use shm_common::*;

/// 256-byte payload limits: both areas are align64(32 + 256) = 320 bytes,
/// so up to 288 payload bytes fit.
const CAP: u32 = 320;
const MAX_PAYLOAD: usize = 288;
const REQ_AREA: u64 = 64;
const RESP_AREA: u64 = 384;
const SHORT: Duration = Duration::from_millis(30);
/// Generous allowance for a loaded machine.
const SLACK: Duration = Duration::from_secs(5);

struct Setup {
    _dir: tempfile::TempDir,
    path: PathBuf,
    server: ShmRegion,
    peer: RawPeer,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h-0000000000000001.ipcshm");
    let server = ShmRegion::create(&path, 256, 256).unwrap();
    assert_eq!(server.request_capacity(), CAP);
    assert_eq!(server.response_capacity(), CAP);
    assert_eq!(server.layout().response_offset as u64, RESP_AREA);
    let peer = RawPeer::open(&path);
    Setup {
        _dir: dir,
        path,
        server,
        peer,
    }
}

/// Publishes a request with the given length word (and garbage content).
fn hostile_request(peer: &RawPeer, len: u32) {
    peer.write(REQ_AREA, &[0xa5; CAP as usize]);
    peer.set_u32(OFF_REQ_LEN, len);
    peer.bump(OFF_REQ_SEQ, 1);
    peer.bump(OFF_REQ_SIGNAL, 1);
}

fn recv(region: &mut ShmRegion, timeout: Duration) -> Result<Vec<u8>, ShmError> {
    let mut buf = Vec::new();
    let mut waiter = Waiter::default();
    region.recv(&mut buf, Some(timeout), &mut waiter).map(|n| {
        assert_eq!(n, buf.len());
        buf
    })
}

fn assert_times_out(region: &mut ShmRegion, timeout: Duration) {
    let t0 = Instant::now();
    match recv(region, timeout) {
        Err(ShmError::Timeout { timeout: t }) => assert_eq!(t, timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let took = t0.elapsed();
    assert!(took >= timeout, "returned early after {took:?}");
    assert!(took < timeout + SLACK, "took {took:?}");
}

#[test]
fn zero_length_is_corrupt_and_consumed() {
    let mut s = setup();
    hostile_request(&s.peer, 0);
    match recv(&mut s.server, SHORT) {
        Err(ShmError::Corrupt { len: 0, capacity }) => assert_eq!(capacity, CAP),
        other => panic!("{other:?}"),
    }
    // The slot was consumed: nothing more to read.
    assert_times_out(&mut s.server, SHORT);
}

#[test]
fn length_beyond_capacity_is_corrupt() {
    for len in [CAP + 1, CAP + 64, 1 << 20, u32::MAX] {
        let mut s = setup();
        hostile_request(&s.peer, len);
        match recv(&mut s.server, SHORT) {
            Err(ShmError::Corrupt { len: l, capacity }) => {
                assert_eq!((l, capacity), (len, CAP));
            }
            other => panic!("len {len}: {other:?}"),
        }
        assert_times_out(&mut s.server, SHORT);
    }
}

#[test]
fn length_below_the_outer_header_is_short() {
    for len in [1, 8, 31] {
        let mut s = setup();
        hostile_request(&s.peer, len);
        match recv(&mut s.server, SHORT) {
            Err(ShmError::ShortMessage { len: l }) => assert_eq!(l, len),
            other => panic!("len {len}: {other:?}"),
        }
        assert_times_out(&mut s.server, SHORT);
    }
}

#[test]
fn boundary_lengths_are_delivered_verbatim() {
    for len in [32, 33, CAP - 1, CAP] {
        let mut s = setup();
        hostile_request(&s.peer, len);
        let msg = recv(&mut s.server, SHORT).unwrap();
        assert_eq!(msg.len(), len as usize);
        assert!(msg.iter().all(|&b| b == 0xa5));
    }
}

#[test]
fn no_publication_times_out_without_hanging() {
    let mut s = setup();
    for timeout in [
        Duration::ZERO,
        Duration::from_millis(1),
        SHORT,
        Duration::from_millis(200),
    ] {
        assert_times_out(&mut s.server, timeout);
    }
}

#[test]
fn signal_changes_without_a_publication_are_ignored() {
    let mut s = setup();
    let stop = Arc::new(AtomicBool::new(false));
    let path = s.path.clone();
    let stop2 = Arc::clone(&stop);
    // Keeps changing the signal word (without FUTEX_WAKE, as pwrite cannot),
    // and keeps the sequence number where it is.
    let t = std::thread::spawn(move || {
        let peer = RawPeer::open(&path);
        while !stop2.load(Ordering::Relaxed) {
            peer.bump(OFF_REQ_SIGNAL, 1);
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    assert_times_out(&mut s.server, Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}

#[test]
fn timeout_does_not_consume_and_a_later_publication_is_received() {
    let mut s = setup();
    assert_times_out(&mut s.server, SHORT);
    let header = outer_header(KIND_REQUEST, 1, 4, 9);
    s.peer.write(REQ_AREA, &header);
    s.peer.write(REQ_AREA + 32, b"abcd");
    s.peer.set_u32(OFF_REQ_LEN, 36);
    s.peer.bump(OFF_REQ_SEQ, 1);
    let msg = recv(&mut s.server, SHORT).unwrap();
    assert_eq!(msg.len(), 36);
    assert_eq!(&msg[..32], &header);
    assert_eq!(&msg[32..], b"abcd");
}

fn assert_seq_corrupt(r: Result<Vec<u8>, ShmError>, want_expected: u64, want_found: u64) {
    match r {
        Err(ShmError::SequenceCorrupt {
            word,
            expected,
            found,
        }) => {
            assert_eq!(word, "req_seq");
            assert_eq!((expected, found), (want_expected, want_found));
        }
        other => panic!("expected a sequence error, got {other:?}"),
    }
}

#[test]
fn sequence_jump_is_corruption_and_consumes_nothing() {
    let mut s = setup();
    s.peer.write(REQ_AREA, &[7; 40]);
    s.peer.set_u32(OFF_REQ_LEN, 40);
    s.peer.bump(OFF_REQ_SEQ, 5);
    // Every attempt reports it; nothing is consumed or answered.
    for _ in 0..3 {
        assert_seq_corrupt(recv(&mut s.server, SHORT), 1, 5);
    }
    assert_eq!(s.server.consumed(), 0);
    assert_eq!(s.server.published(), 0);
}

#[test]
fn sequence_going_backwards_or_to_the_maximum_is_corruption() {
    let mut s = setup();
    hostile_request(&s.peer, 40);
    recv(&mut s.server, SHORT).unwrap();
    s.peer.set_u64(OFF_REQ_SEQ, 0);
    assert_seq_corrupt(recv(&mut s.server, SHORT), 2, 0);
    // The hostile client of the issue: req_seq = u64::MAX after one call.
    s.peer.set_u64(OFF_REQ_SEQ, u64::MAX);
    assert_seq_corrupt(recv(&mut s.server, SHORT), 2, u64::MAX);
    assert_eq!(s.server.consumed(), 1);
    // Restored to the last consumed value: just nothing new.
    s.peer.set_u64(OFF_REQ_SEQ, 1);
    assert_times_out(&mut s.server, SHORT);
}

#[test]
fn scribbled_own_sequence_word_is_reported_on_send() {
    let mut s = setup();
    s.peer.set_u64(OFF_RESP_SEQ, 40);
    let h = outer_header(KIND_RESPONSE, 1, 0, 1);
    match s.server.send(&h, &[]) {
        Err(ShmError::SequenceCorrupt {
            word,
            expected,
            found,
        }) => assert_eq!((word, expected, found), ("resp_seq", 0, 40)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_rejects_garbage_responses() {
    let s = setup();
    let mut client = ShmRegion::attach(&s.path).unwrap();
    for (len, ok) in [
        (0, false),
        (CAP + 1, false),
        (u32::MAX, false),
        (5, false),
        (64, true),
    ] {
        s.peer.write(RESP_AREA, &[0x3c; CAP as usize]);
        s.peer.set_u32(OFF_RESP_LEN, len);
        s.peer.bump(OFF_RESP_SEQ, 1);
        let r = recv(&mut client, SHORT);
        match (len, r) {
            (
                0,
                Err(ShmError::Corrupt {
                    len: 0,
                    capacity: CAP,
                }),
            ) => {}
            (l, Err(ShmError::Corrupt { len, capacity: CAP })) if l > CAP && len == l => {}
            (5, Err(ShmError::ShortMessage { len: 5 })) => {}
            (64, Ok(msg)) => assert_eq!(msg, vec![0x3c; 64]),
            (l, r) => panic!("len {l} (ok expected: {ok}): {r:?}"),
        }
    }
    assert_times_out(&mut client, SHORT);
}

#[test]
fn layout_rewritten_after_attach_is_not_trusted() {
    let mut s = setup();
    let mut client = ShmRegion::attach(&s.path).unwrap();
    // The peer rewrites the layout fields to point far outside the file.
    s.peer.set_u32(16, 0xffff_ff00);
    s.peer.set_u32(20, 0xffff_ff00);
    s.peer.set_u32(24, 0xffff_ff00);
    s.peer.set_u32(28, 0xffff_ff00);
    // Both sides keep using the layout they validated.
    let h = outer_header(KIND_REQUEST, 1, 3, 1);
    client.send(&h, b"xyz").unwrap();
    let mut waiter = Waiter::default();
    let mut buf = Vec::new();
    let n = s.server.recv(&mut buf, Some(SLACK), &mut waiter).unwrap();
    assert_eq!(&buf[..n], [&h[..], b"xyz"].concat().as_slice());
    let big = vec![1u8; MAX_PAYLOAD];
    let h = outer_header(KIND_RESPONSE, 1, MAX_PAYLOAD as u32, 1);
    s.server.send(&h, &big).unwrap();
    let n = client.recv(&mut buf, Some(SLACK), &mut waiter).unwrap();
    assert_eq!(n, CAP as usize);
    assert_eq!(&buf[32..], &big[..]);
}

#[test]
fn oversized_send_is_refused_locally() {
    let mut s = setup();
    let before = s.peer.u64_at(OFF_RESP_SEQ);
    let h = outer_header(KIND_RESPONSE, 1, MAX_PAYLOAD as u32 + 1, 1);
    match s.server.send(&h, &[0; MAX_PAYLOAD + 1]) {
        Err(ShmError::MessageTooLarge { len, capacity }) => {
            assert_eq!((len, capacity), (32 + MAX_PAYLOAD + 1, CAP));
        }
        other => panic!("{other:?}"),
    }
    // Nothing was published.
    assert_eq!(s.peer.u64_at(OFF_RESP_SEQ), before);
    assert_eq!(s.peer.u32_at(OFF_RESP_LEN), 0);
    assert_eq!(s.server.max_send_payload() as usize, MAX_PAYLOAD);
    // The largest message that fits goes through.
    s.server.send(&h, &[0; MAX_PAYLOAD]).unwrap();
    assert_eq!(s.peer.u64_at(OFF_RESP_SEQ), before + 1);
    assert_eq!(s.peer.u32_at(OFF_RESP_LEN), CAP);
}

/// One round of a scribbler racing a reader on a fresh region, until the
/// reader reports a sequence error (after which the session would end).
/// The scribbler publishes garbage lengths and contents while the reader
/// runs; it waits for the reader to classify each publication before the
/// next one (so every outcome is reached whatever the machine's load), and
/// now and then jumps the sequence number. Returns (messages, length
/// errors, sequence errors).
fn scribble_round(seed: u32) -> (u32, u32, u32) {
    let mut s = setup();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let path = s.path.clone();
    let (stop2, seen2) = (Arc::clone(&stop), Arc::clone(&seen));
    let t = std::thread::spawn(move || {
        let peer = RawPeer::open(&path);
        let mut x: u32 = seed | 1;
        let mut i = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = match x % 4 {
                0 => x,
                1 => x % (CAP + 2),
                _ => 32 + x % (CAP - 31),
            };
            peer.write(REQ_AREA, &pattern(i, (x % CAP) as usize));
            peer.set_u32(OFF_REQ_LEN, len);
            // One step, and now and then a jump.
            peer.bump(OFF_REQ_SEQ, 1 + u64::from(x % 16 == 0));
            peer.bump(OFF_REQ_SIGNAL, 1);
            i += 1;
            // Scribble over the area while the reader looks at it, until it
            // has classified this publication.
            while seen2.load(Ordering::Acquire) < i && !stop2.load(Ordering::Relaxed) {
                peer.write(REQ_AREA, &pattern(i ^ u64::from(x), (x % CAP) as usize));
                std::thread::yield_now();
            }
        }
    });
    let mut buf = Vec::new();
    let mut waiter = Waiter::new(WaitConfig::default());
    let (mut ok, mut errors, mut seq_errors) = (0u32, 0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(10);
    while seq_errors == 0 && Instant::now() < deadline {
        match s.server.recv(&mut buf, Some(SHORT), &mut waiter) {
            Ok(n) => {
                assert!((32..=CAP as usize).contains(&n));
                assert_eq!(buf.len(), n);
                ok += 1;
            }
            Err(ShmError::Corrupt { len, capacity }) => {
                assert!(len == 0 || len > capacity);
                errors += 1;
            }
            Err(ShmError::ShortMessage { len }) => {
                assert!((1..32).contains(&len));
                errors += 1;
            }
            Err(ShmError::SequenceCorrupt {
                expected, found, ..
            }) => {
                assert_eq!(expected, s.server.consumed() + 1);
                assert_ne!(found, expected);
                assert_ne!(found, s.server.consumed());
                seq_errors += 1;
            }
            Err(ShmError::Timeout { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
        seen.fetch_add(1, Ordering::Release);
    }
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    (ok, errors, seq_errors)
}

#[test]
fn concurrent_scribbler_never_breaks_the_reader() {
    let (mut ok, mut errors, mut seq_errors) = (0, 0, 0);
    let mut seed = 0x1234_5678u32;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (ok == 0 || errors == 0 || seq_errors == 0) && Instant::now() < deadline {
        let (o, e, q) = scribble_round(seed);
        ok += o;
        errors += e;
        seq_errors += q;
        seed = seed.wrapping_mul(747_796_405).wrapping_add(1);
    }
    assert!(
        ok > 0 && errors > 0 && seq_errors > 0,
        "ok {ok}, errors {errors}, sequence errors {seq_errors}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever length word is published, the result is classified exactly.
    #[test]
    fn any_published_length_is_classified(len in prop_oneof![
        0u32..400,
        any::<u32>(),
    ]) {
        let mut s = setup();
        hostile_request(&s.peer, len);
        let r = recv(&mut s.server, SHORT);
        match r {
            Ok(msg) => prop_assert!((32..=CAP).contains(&len) && msg.len() == len as usize),
            Err(ShmError::Corrupt { len: l, capacity }) => {
                prop_assert!(l == len && capacity == CAP && (len == 0 || len > CAP));
            }
            Err(ShmError::ShortMessage { len: l }) => prop_assert!(l == len && (1..32).contains(&len)),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }
}
