//! Helpers shared by the transport tests: a raw peer that writes and reads
//! bytes directly on a SEQPACKET socket, and builders for crafted packets.

#![allow(dead_code)] // each test binary uses a different subset

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use netipc::transport::{Limits, UdsChannel, UdsConn};
use netipc::wire::{ChunkHeader, Flags, Header, Hello, Kind, Profiles};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{self, RecvFlags, SendFlags};

/// Generous slack for "returned within the timeout" checks.
pub const SLACK: Duration = Duration::from_secs(3);

/// The other end of a socket our code uses, driven with raw system calls.
pub struct RawPeer {
    pub fd: OwnedFd,
}

impl RawPeer {
    /// Sends one packet.
    pub fn send(&self, bytes: &[u8]) {
        let n = net::send(&self.fd, bytes, SendFlags::NOSIGNAL).expect("raw send");
        assert_eq!(n, bytes.len(), "raw send was short");
    }

    /// Receives one packet (up to 8 MiB), waiting at most `timeout`.
    /// `None` on timeout; an empty vector means EOF.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let ts = Timespec::try_from(timeout).unwrap();
        if poll(&mut fds, Some(&ts)).expect("poll") == 0 {
            return None;
        }
        let mut buf = vec![0u8; 8 << 20];
        let (_, n) = net::recv(&self.fd, &mut buf[..], RecvFlags::TRUNC).expect("raw recv");
        assert!(n <= buf.len(), "raw peer buffer too small");
        buf.truncate(n);
        Some(buf)
    }

    /// Receives one packet or panics.
    pub fn recv_packet(&self) -> Vec<u8> {
        self.recv(SLACK).expect("raw peer: no packet arrived")
    }

    /// True when the other side closed: EOF without any packet.
    pub fn sees_eof(&self, timeout: Duration) -> bool {
        matches!(self.recv(timeout), Some(v) if v.is_empty())
    }
}

/// A connected pair: our connection and a raw peer.
pub fn raw_pair() -> (UdsConn, RawPeer) {
    let (ours, theirs) = UdsConn::pair().expect("socketpair");
    (
        ours,
        RawPeer {
            fd: theirs.into_fd(),
        },
    )
}

/// Limits with the same values in both directions.
pub fn limits(payload: u32, items: u32, packet: u32) -> Limits {
    Limits {
        max_send_payload: payload,
        max_send_items: items,
        max_recv_payload: payload,
        max_recv_items: items,
        packet_size: packet,
    }
}

/// A channel over one end of a pair and a raw peer on the other.
pub fn raw_channel(l: Limits) -> (UdsChannel, RawPeer) {
    let (ours, peer) = raw_pair();
    (UdsChannel::new(ours, l).expect("channel"), peer)
}

/// Two channels connected to each other.
pub fn channel_pair(a: Limits, b: Limits) -> (UdsChannel, UdsChannel) {
    let (x, y) = UdsConn::pair().expect("socketpair");
    (
        UdsChannel::new(x, a).expect("channel"),
        UdsChannel::new(y, b).expect("channel"),
    )
}

/// Concatenates parts into one packet.
pub fn packet(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A plain RESPONSE header.
pub fn response(code: u16, payload_len: u32, message_id: u64) -> Header {
    Header {
        kind: Kind::Response,
        flags: Flags::NONE,
        code,
        transport_status: 0,
        payload_len,
        item_count: 1,
        message_id,
    }
}

/// A plain REQUEST header for method code 1.
pub fn request(payload_len: u32, message_id: u64) -> Header {
    Header {
        kind: Kind::Request,
        flags: Flags::NONE,
        code: 1,
        transport_status: 0,
        payload_len,
        item_count: 1,
        message_id,
    }
}

/// Writes a u16 in native byte order at `off`.
pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a u32 in native byte order at `off`.
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Reads a u16 in native byte order at `off`.
pub fn get16(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// Reads a u32 in native byte order at `off`.
pub fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// Reads a u64 in native byte order at `off`.
pub fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

/// A chunk header.
pub fn chunk(message_id: u64, total: u32, index: u32, count: u32, len: u32) -> [u8; 32] {
    ChunkHeader {
        message_id,
        total_message_len: total,
        chunk_index: index,
        chunk_count: count,
        chunk_payload_len: len,
    }
    .encode()
}

/// A well-formed HELLO proposal.
pub fn sample_hello() -> Hello {
    Hello {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles(0),
        max_request_payload_bytes: 4096,
        max_request_batch_items: 8,
        max_response_payload_bytes: 4096,
        max_response_batch_items: 8,
        auth_token: 0x1122_3344_5566_7788,
        packet_size: 65_536,
    }
}

/// The header of a HELLO packet.
pub fn hello_header() -> Header {
    Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: 1,
        transport_status: 0,
        payload_len: 44,
        item_count: 1,
        message_id: 0,
    }
}

/// A complete HELLO packet.
pub fn hello_packet(hello: &Hello) -> Vec<u8> {
    packet(&[&hello_header().encode(), &hello.encode()])
}

/// The header of a HELLO_ACK packet with `status`.
pub fn ack_header(status: u16) -> Header {
    Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: 2,
        transport_status: status,
        payload_len: 48,
        item_count: 1,
        message_id: 0,
    }
}

/// Asserts that `f` ran for no longer than `limit` plus [`SLACK`].
pub fn assert_within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(
        took <= limit + SLACK,
        "took {took:?}, expected at most {limit:?} plus slack"
    );
    out
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// Asserts that `value` matches `pattern`, printing the value otherwise.
#[allow(unused_macros)] // not every test binary uses it
macro_rules! assert_err {
    ($value:expr, $pattern:pat $(if $guard:expr)?) => {{
        let value = &$value;
        assert!(matches!(value, $pattern $(if $guard)?), "{value:?}");
    }};
}
