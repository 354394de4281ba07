//! The other end of a socket our code uses, driven with raw system calls,
//! and connected pairs of connections and channels.

use std::time::Duration;

use netipc::transport::{Endpoint, Limits, UdsChannel, UdsConn};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fd::OwnedFd;
use rustix::net::{self, RecvFlags, SendFlags};

use super::wait::SLACK;

/// The other end of a socket our code uses, driven with raw system calls.
pub struct RawPeer {
    pub fd: OwnedFd,
}

impl RawPeer {
    /// Connects to the listener at `ep` without any handshake.
    pub fn connect(ep: &Endpoint) -> RawPeer {
        let conn = netipc::transport::connect(ep).expect("raw connect");
        RawPeer { fd: conn.into_fd() }
    }

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
