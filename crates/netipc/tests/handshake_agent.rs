//! The newest reference servers' rules (PROTOCOL-LOOKUP.md §19.1–§19.5) on
//! our managed server, each seen by a raw peer on the wire: the request cap
//! at the handshake, the session closed after LIMIT_EXCEEDED, BAD_ENVELOPE
//! and INTERNAL_ERROR (not after UNSUPPORTED), trailing bytes, the u32
//! bound and STRING_REVERSE's `str_offset`; and what our client does with a
//! LIMIT_EXCEEDED handshake. Clients of the frozen protocol, which propose
//! their learned sizes, still connect when the server is configured for
//! them.

#[macro_use]
mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use netipc::auth::AuthToken;
use netipc::service::increment::{self, IncrementClient};
use netipc::service::string_reverse;
use netipc::service::{
    ClientConfig, ClientState, ConnectFailure, Endpoint, HandlerError, HandshakeError,
    ManagedServer, ServerConfig,
};
use netipc::transport::{negotiate, ServerPolicy};
use netipc::wire::{Header, Hello, Kind, Profiles, Status, WireError, HEADER_LEN};

const TOKEN: AuthToken = AuthToken::new(0x1122_3344_5566_7788);
const INCREMENT: u16 = 1;
const STRING_REVERSE: u16 = 3;

fn endpoint(dir: &Path, service: &str) -> Endpoint {
    Endpoint::new(dir, service).unwrap()
}

/// An INCREMENT server (13 fails on purpose) with `config`.
fn increment_server(dir: &Path, config: ServerConfig) -> ManagedServer {
    ManagedServer::start(
        endpoint(dir, "inc"),
        config,
        increment::handler(|v| {
            if v == 13 {
                Err(HandlerError::new("13 fails on purpose"))
            } else {
                Ok(v + 1)
            }
        }),
    )
    .unwrap()
}

/// A STRING_REVERSE server with `config`.
fn reverse_server(dir: &Path, config: ServerConfig) -> ManagedServer {
    ManagedServer::start(
        endpoint(dir, "rev"),
        config,
        string_reverse::handler(|s| Ok(s.chars().rev().collect())),
    )
    .unwrap()
}

/// A HELLO as a client of the frozen protocol sends it: baseline only,
/// with the given request proposal and response hint.
fn frozen_hello(request: u32, response: u32) -> Hello {
    Hello {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles(0),
        max_request_payload_bytes: request,
        max_request_batch_items: 1,
        max_response_payload_bytes: response,
        max_response_batch_items: 1,
        auth_token: TOKEN.get(),
        packet_size: 65_536,
    }
}

/// Connects a raw peer to `ep` and sends `hello`; returns the peer and the
/// HELLO_ACK packet.
fn raw_connect(ep: &Endpoint, hello: &Hello) -> (RawPeer, Vec<u8>) {
    let conn = netipc::transport::connect(ep).unwrap();
    let peer = RawPeer { fd: conn.into_fd() };
    peer.send(&hello_packet(hello));
    let ack = peer.recv_packet();
    assert_eq!(ack.len(), 32 + 48, "HELLO_ACK packet");
    (peer, ack)
}

/// A raw baseline session with a 1024-byte request proposal, accepted.
fn raw_session(ep: &Endpoint) -> RawPeer {
    let (peer, ack) = raw_connect(ep, &frozen_hello(1024, 1024));
    assert_eq!(get16(&ack, 14), 0, "handshake status");
    peer
}

/// A request packet: `code`, `message_id`, the payload.
fn request_packet(code: u16, id: u64, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        code,
        ..request(payload.len() as u32, id)
    };
    packet(&[&header.encode(), payload])
}

/// Receives one response and returns its status and payload.
fn response_of(peer: &RawPeer, id: u64) -> (Status, Vec<u8>) {
    let reply = peer.recv_packet();
    assert!(reply.len() >= HEADER_LEN, "response packet: {reply:?}");
    let header = Header::decode(&reply[..HEADER_LEN]).unwrap();
    assert_eq!(header.kind, Kind::Response);
    assert_eq!(header.message_id, id);
    (header.status().unwrap(), reply[HEADER_LEN..].to_vec())
}

/// An INCREMENT request payload.
fn inc(v: u64) -> [u8; 8] {
    v.to_ne_bytes()
}

/// A STRING_REVERSE payload with the given `str_offset`.
fn reverse_payload(offset: u32, s: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&offset.to_ne_bytes());
    p.extend_from_slice(&(s.len() as u32).to_ne_bytes());
    p.resize(offset as usize, 0);
    p.extend_from_slice(s);
    p.push(0);
    p
}

// ---- §19.1: the request cap at the handshake ----

#[test]
fn negotiate_caps_the_request_at_the_server_maximum() {
    let policy = ServerPolicy {
        auth_token: TOKEN,
        ..ServerPolicy::default()
    };
    // Default (and 0): 1024, echoed when not exceeded.
    for max in [0, 1024] {
        let p = ServerPolicy {
            max_request_payload: max,
            ..policy
        };
        let ack = negotiate(&frozen_hello(1024, 65_536), &p, 1).unwrap();
        assert_eq!(ack.agreed_max_request_payload_bytes, 1024);
        let ack = negotiate(&frozen_hello(16, 65_536), &p, 1).unwrap();
        assert_eq!(ack.agreed_max_request_payload_bytes, 16);
        assert_eq!(
            negotiate(&frozen_hello(1025, 65_536), &p, 1),
            Err(Status::LimitExceeded)
        );
    }
    // Configured larger, even above the frozen protocol's 1 MiB.
    let big = ServerPolicy {
        max_request_payload: 4 << 20,
        ..policy
    };
    let ack = negotiate(&frozen_hello(4 << 20, 65_536), &big, 1).unwrap();
    assert_eq!(ack.agreed_max_request_payload_bytes, 4 << 20);
    // Position: after the profiles, before the packet size.
    let no_profile = Hello {
        supported_profiles: Profiles::SHM_ANY,
        ..frozen_hello(4096, 0)
    };
    assert_eq!(negotiate(&no_profile, &policy, 1), Err(Status::Unsupported));
    let bad_packet = Hello {
        packet_size: 32,
        ..frozen_hello(4096, 0)
    };
    assert_eq!(
        negotiate(&bad_packet, &policy, 1),
        Err(Status::LimitExceeded)
    );
}

#[test]
fn managed_server_rejects_a_proposal_over_its_maximum_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let (peer, ack) = raw_connect(server.endpoint(), &frozen_hello(2048, 65_536));
    assert_eq!(get16(&ack, 14), Status::LimitExceeded.code(), "status");
    // Rejection payload: all zero except layout_version = 1.
    let mut expected = [0u8; 48];
    expected[0..2].copy_from_slice(&1u16.to_ne_bytes());
    assert_eq!(&ack[32..], &expected[..]);
    assert!(peer.sees_eof(SLACK), "server did not close after rejecting");
    assert!(wait_until(|| server.stats().sessions_refused == 1));
}

#[test]
fn client_reports_the_rejection_as_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(
        dir.path(),
        ServerConfig::new(TOKEN).with_request_payload(512),
    );
    let mut client = IncrementClient::new(server.endpoint().clone(), ClientConfig::new(TOKEN));
    client.refresh();
    let status = client.status();
    // A rejected handshake leaves the context Disconnected (PROTOCOL.md
    // §13 item 3); the next refresh tries again.
    assert_eq!(status.state, ClientState::Disconnected);
    assert_eq!(
        status.connect_failure(),
        Some(ConnectFailure::LimitRejected)
    );
    let error = status.last_connect_error.unwrap();
    assert_err!(
        error.as_ref(),
        netipc::service::ConnectError::Handshake(HandshakeError::LimitRejected {
            proposed: 1024,
            server_cap: None
        })
    );
    assert!(error.to_string().contains("1024"), "{error}");
}

#[test]
fn client_names_the_cap_when_the_rejection_carries_it() {
    // A server that announces its maximum in the rejection ACK (ours and the
    // reference peers send zeros there).
    let (ours, peer) = raw_pair();
    let server = std::thread::spawn(move || {
        let hello = peer.recv_packet();
        assert_eq!(get32(&hello, 32 + 12), 4096, "proposal");
        let mut ack = [0u8; 48];
        ack[0..2].copy_from_slice(&1u16.to_ne_bytes());
        put32(&mut ack, 16, 2048);
        peer.send(&packet(&[&ack_header(5).encode(), &ack]));
        peer
    });
    let proposal = netipc::transport::ClientProposal {
        max_request_payload: 4096,
        auth_token: TOKEN,
        ..Default::default()
    };
    let result = netipc::transport::client_handshake(&ours, &proposal, SLACK);
    drop(server.join().unwrap());
    let error = result.unwrap_err();
    assert_err!(
        error,
        HandshakeError::LimitRejected {
            proposed: 4096,
            server_cap: Some(2048)
        }
    );
    assert!(error.to_string().contains("2048"), "{error}");
}

#[test]
fn client_retries_once_with_the_default_proposal() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let config = ClientConfig::new(TOKEN).with_request_payload(4096);
    let mut client = IncrementClient::new(server.endpoint().clone(), config);
    client.refresh();
    assert!(client.ready(), "{:?}", client.status());
    assert_eq!(client.status().limits.unwrap().max_request_payload, 1024);
    assert_eq!(client.call(41).unwrap(), 42);
    // The first handshake was refused, the retry served.
    assert_eq!(server.stats().sessions_refused, 1);
}

#[test]
fn client_proposals_never_exceed_the_configured_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let _server = reverse_server(dir.path(), ServerConfig::new(TOKEN));
    let mut client = string_reverse::StringReverseClient::new(
        endpoint(dir.path(), "rev"),
        ClientConfig::new(TOKEN),
    );
    client.refresh();
    assert_eq!(client.status().request_proposal, 1024);
    assert_eq!(client.status().response_hint, 65_536);
    let long = "x".repeat(2000);
    assert_err!(
        client.call(&long),
        Err(netipc::service::CallError::RequestTooLarge {
            len: 2009,
            limit: 1024
        })
    );
    // Nothing was learned from it, and the session is still there.
    assert_eq!(client.status().request_proposal, 1024);
    assert_eq!(client.call("abc").unwrap(), "cba");
    assert_eq!(client.status().reconnects, 0);
}

// ---- frozen-protocol clients (PROTOCOL.md §13, §10.5) ----

#[test]
fn frozen_protocol_client_with_learned_sizes_connects_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    // Rejected by the default maximum…
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let (peer, ack) = raw_connect(server.endpoint(), &frozen_hello(1 << 20, 1 << 20));
    assert_eq!(get16(&ack, 14), Status::LimitExceeded.code());
    assert!(peer.sees_eof(SLACK));
    // …while the C typed client's initial 16 bytes are accepted.
    let (peer, ack) = raw_connect(server.endpoint(), &frozen_hello(16, 65_536));
    assert_eq!(get16(&ack, 14), 0);
    assert_eq!(get32(&ack, 32 + 16), 16);
    drop(peer);
    server.shutdown();

    // …and accepted by a server configured for 1 MiB requests.
    let config = ServerConfig::new(TOKEN).with_request_payload(1 << 20);
    let server = increment_server(dir.path(), config);
    let (peer, ack) = raw_connect(server.endpoint(), &frozen_hello(1 << 20, 1 << 20));
    assert_eq!(get16(&ack, 14), 0, "status");
    assert_eq!(get32(&ack, 32 + 12), 1, "selected the baseline");
    assert_eq!(get32(&ack, 32 + 16), 1 << 20, "request proposal echoed");
    assert_eq!(get32(&ack, 32 + 24), 65_536, "the server's response limit");
    peer.send(&request_packet(INCREMENT, 1, &inc(41)));
    assert_eq!(response_of(&peer, 1), (Status::Ok, inc(42).to_vec()));
}

// ---- §19.2: terminal statuses close the session ----

#[test]
fn bad_envelope_closes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let peer = raw_session(server.endpoint());
    peer.send(&request_packet(INCREMENT, 1, &[1, 2, 3]));
    assert_eq!(response_of(&peer, 1), (Status::BadEnvelope, Vec::new()));
    assert!(
        peer.sees_eof(SLACK),
        "session still open after BAD_ENVELOPE"
    );
}

#[test]
fn internal_error_closes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let peer = raw_session(server.endpoint());
    peer.send(&request_packet(INCREMENT, 1, &inc(13)));
    assert_eq!(response_of(&peer, 1), (Status::InternalError, Vec::new()));
    assert!(
        peer.sees_eof(SLACK),
        "session still open after INTERNAL_ERROR"
    );
    assert_eq!(server.stats().handler_failures, 1);
}

#[test]
fn limit_exceeded_closes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(TOKEN)
        .with_response_payload(64)
        .with_response_ceiling(64);
    let server = reverse_server(dir.path(), config);
    let peer = raw_session(server.endpoint());
    peer.send(&request_packet(
        STRING_REVERSE,
        1,
        &reverse_payload(8, &[b'a'; 100]),
    ));
    assert_eq!(response_of(&peer, 1), (Status::LimitExceeded, Vec::new()));
    assert!(
        peer.sees_eof(SLACK),
        "session still open after LIMIT_EXCEEDED"
    );
    // The learned response limit stays at the configured maximum.
    assert_eq!(server.stats().learned_response, 64);
}

#[test]
fn unsupported_keeps_the_session_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let peer = raw_session(server.endpoint());
    peer.send(&request_packet(
        STRING_REVERSE,
        1,
        &reverse_payload(8, b"abc"),
    ));
    assert_eq!(response_of(&peer, 1), (Status::Unsupported, Vec::new()));
    peer.send(&request_packet(INCREMENT, 2, &inc(1)));
    assert_eq!(response_of(&peer, 2), (Status::Ok, inc(2).to_vec()));
}

// ---- §19.3–§19.5: malformed requests ----

#[test]
fn trailing_bytes_after_a_complete_message_end_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let peer = raw_session(server.endpoint());
    // payload_len 8, but the packet carries 16 payload bytes.
    peer.send(&packet(&[&request(8, 1).encode(), &inc(1), &inc(2)]));
    assert!(
        peer.sees_eof(SLACK),
        "no reply and a closed session expected"
    );

    // The same rule at Level 1: a typed protocol violation.
    let (mut chan, raw) = raw_channel(limits(1024, 1, 65_536));
    raw.send(&packet(&[&request(8, 1).encode(), &inc(1), &[0]]));
    let err = chan.recv(Some(SLACK)).unwrap_err();
    assert_err!(
        err,
        netipc::transport::TransportError::OversizePacket { len: 41, limit: 40 }
    );
    assert!(err.is_protocol_violation());
    // A packet exactly 32 + payload_len long is a complete message.
    let (mut chan, raw) = raw_channel(limits(1024, 1, 65_536));
    raw.send(&packet(&[&request(8, 2).encode(), &inc(7)]));
    let (header, payload) = chan.recv(Some(SLACK)).unwrap();
    assert_eq!((header.message_id, payload), (2, &inc(7)[..]));
}

#[test]
fn payload_len_above_the_u32_bound_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = increment_server(dir.path(), ServerConfig::new(TOKEN));
    let peer = raw_session(server.endpoint());
    let mut header = request(8, 1).encode();
    put32(&mut header, 16, u32::MAX - 31);
    peer.send(&packet(&[&header, &inc(1)]));
    assert!(
        peer.sees_eof(SLACK),
        "no reply and a closed session expected"
    );

    // At Level 1, even with the largest limits: a typed error.
    let (mut chan, raw) = raw_channel(limits(u32::MAX, 1, 65_536));
    raw.send(&packet(&[&header, &inc(1)]));
    assert_err!(
        chan.recv(Some(SLACK)),
        Err(netipc::transport::TransportError::Wire(
            WireError::PayloadLenTooLarge { .. }
        ))
    );
}

#[test]
fn string_reverse_offset_other_than_8_is_bad_envelope_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = reverse_server(dir.path(), ServerConfig::new(TOKEN));
    for offset in [16u32, 12] {
        let peer = raw_session(server.endpoint());
        peer.send(&request_packet(
            STRING_REVERSE,
            1,
            &reverse_payload(8, b"abc"),
        ));
        let (status, payload) = response_of(&peer, 1);
        assert_eq!(status, Status::Ok);
        assert_eq!(&payload[8..11], b"cba");
        peer.send(&request_packet(
            STRING_REVERSE,
            2,
            &reverse_payload(offset, b"abc"),
        ));
        assert_eq!(response_of(&peer, 2), (Status::BadEnvelope, Vec::new()));
        assert!(peer.sees_eof(SLACK), "offset {offset}: session still open");
    }
}

/// Polls `cond` for up to 10 s.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}
