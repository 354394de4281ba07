//! Hostile peers on the pipe: malformed handshakes and sessions. Each must
//! end that one session with a typed error and leave the server serving.

use netipc::transport::handshake::server_handshake;
use netipc::transport::windows::{connect_timeout, PipeConn, PipeListener, PipeListenerConfig};
use netipc::transport::{HandshakeError, TransportError};
use netipc::wire::{
    ChunkHeader, ControlOpcode, Flags, Header, HelloAck, Kind, Method, Status, HEADER_LEN,
    HELLO_LEN,
};

use crate::harness::Test;
use crate::support::*;

pub const TESTS: &[Test] = &[
    ("hostile_garbage_first_packet", hostile_garbage_first_packet),
    ("hostile_truncated_hello", hostile_truncated_hello),
    ("hostile_oversized_hello", hostile_oversized_hello),
    ("hostile_envelope_version_2", hostile_envelope_version_2),
    (
        "hostile_request_instead_of_hello",
        hostile_request_instead_of_hello,
    ),
    (
        "hostile_oversized_payload_len",
        hostile_oversized_payload_len,
    ),
    ("hostile_padded_packet", hostile_padded_packet),
    ("hostile_chunk_index", hostile_chunk_index),
    ("hostile_chunk_message_id", hostile_chunk_message_id),
    ("hostile_chunk_overrun", hostile_chunk_overrun),
    ("hostile_bad_batch_directory", hostile_bad_batch_directory),
    (
        "hostile_client_vanishes_mid_message",
        hostile_client_vanishes_mid_message,
    ),
    (
        "hostile_server_unknown_response_id",
        hostile_server_unknown_response_id,
    ),
    ("hostile_server_sends_request", hostile_server_sends_request),
];

/// The header of a HELLO with `payload_len`.
fn hello_header(version_ok: bool, payload_len: u32) -> [u8; HEADER_LEN] {
    let mut h = Header {
        kind: Kind::Control,
        flags: Flags::NONE,
        code: ControlOpcode::Hello as u16,
        transport_status: 0,
        payload_len,
        item_count: 1,
        message_id: 0,
    }
    .encode();
    if !version_ok {
        h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    }
    h
}

/// A valid HELLO packet for the tests' token.
fn hello_packet() -> Vec<u8> {
    let hello = proposal(1024).to_hello(65_536);
    [
        &hello_header(true, HELLO_LEN as u32)[..],
        &hello.encode()[..],
    ]
    .concat()
}

/// Reads the HELLO_ACK status a server sent on a raw connection.
fn ack_status(conn: &PipeConn) -> u16 {
    let mut buf = [0u8; 256];
    let n = conn.recv_packet(&mut buf, Some(LONG)).expect("a HELLO_ACK");
    let (_, h) = Header::decode_any_version(&buf[..n]).expect("ACK header");
    assert_eq!(h.code, ControlOpcode::HelloAck as u16);
    h.transport_status
}

fn expect_closed(conn: &PipeConn) {
    let mut buf = [0u8; 256];
    match conn.recv_packet(&mut buf, Some(LONG)) {
        Err(TransportError::PeerClosed) => {}
        other => panic!("expected the server to close, got {other:?}"),
    }
}

/// The server still serves a well-behaved client.
fn still_serving(server: &TestServer, run: &std::path::Path, svc: &str) {
    let mut chan = client(run, svc, &proposal(1024));
    call(&mut chan, 1, 100, 100);
    assert!(server.handshake().is_ok());
}

fn hostile_garbage_first_packet() {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let conn = connect_timeout(&ep(&run, &svc), LONG).unwrap();
    conn.send_packet(&[0xAB; 100]).unwrap();
    expect_closed(&conn);
    assert!(matches!(
        server.handshake(),
        Err(HandshakeError::BadHeader(_))
    ));
    still_serving(&server, &run, &svc);
}

fn hostile_truncated_hello() {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let conn = connect_timeout(&ep(&run, &svc), LONG).unwrap();
    conn.send_packet(&hello_packet()[..HEADER_LEN + 20])
        .unwrap();
    assert_eq!(ack_status(&conn), Status::BadEnvelope.code());
    drop(conn);
    assert!(matches!(
        server.handshake(),
        Err(HandshakeError::BadHello(_))
    ));
    still_serving(&server, &run, &svc);
}

/// A first message larger than the 128-byte handshake buffer: the read
/// fails (ERROR_MORE_DATA) and the session is closed without a reply.
fn hostile_oversized_hello() {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let conn = connect_timeout(&ep(&run, &svc), LONG).unwrap();
    let mut packet = hello_packet();
    packet.resize(100_000, 0);
    // The server closes after reading 128 bytes, possibly while this write
    // (larger than the pipe buffer) still waits for room.
    match conn.send_packet(&packet) {
        Ok(()) => expect_closed(&conn),
        Err(TransportError::PeerClosed) => {}
        Err(e) => panic!("unexpected send error {e}"),
    }
    match server.handshake() {
        Err(HandshakeError::Transport(TransportError::OversizePacket { len, limit: 128 })) => {
            assert_eq!(len, 100_000)
        }
        other => panic!("expected an oversize HELLO, got {other:?}"),
    }
    still_serving(&server, &run, &svc);
}

fn hostile_envelope_version_2() {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let conn = connect_timeout(&ep(&run, &svc), LONG).unwrap();
    let mut packet = hello_packet();
    packet[..HEADER_LEN].copy_from_slice(&hello_header(false, HELLO_LEN as u32));
    conn.send_packet(&packet).unwrap();
    assert_eq!(ack_status(&conn), Status::Incompatible.code());
    drop(conn);
    assert!(matches!(
        server.handshake(),
        Err(HandshakeError::Incompatible(_))
    ));
    still_serving(&server, &run, &svc);
}

fn hostile_request_instead_of_hello() {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let conn = connect_timeout(&ep(&run, &svc), LONG).unwrap();
    let h = Header::request(Method::Increment, 8, 1).encode();
    conn.send_packet(&[&h[..], &[0u8; 8][..]].concat()).unwrap();
    expect_closed(&conn);
    assert!(matches!(
        server.handshake(),
        Err(HandshakeError::UnexpectedMessage { .. })
    ));
    still_serving(&server, &run, &svc);
}

/// A session whose raw connection the test writes to after a good handshake.
fn raw_session(
    p: netipc::transport::handshake::ClientProposal,
) -> (TestServer, std::path::PathBuf, String, PipeConn) {
    let (run, svc) = endpoint();
    let server = TestServer::start(&run, &svc, policy(1024));
    let chan = client(&run, &svc, &p);
    assert!(server.handshake().is_ok());
    (server, run, svc, chan.into_conn())
}

fn hostile_oversized_payload_len() {
    let (server, run, svc, conn) = raw_session(proposal(1024));
    let h = Header::request(Method::Increment, 0x7FFF_FFF0, 1).encode();
    conn.send_packet(&[&h[..], &[1u8; 100][..]].concat())
        .unwrap();
    match server.ended() {
        TransportError::IncomingTooLarge {
            len: 0x7FFF_FFF0,
            limit: 1024,
        } => {}
        other => panic!("expected IncomingTooLarge, got {other:?}"),
    }
    expect_closed(&conn);
    still_serving(&server, &run, &svc);
}

fn hostile_padded_packet() {
    let (server, run, svc, conn) = raw_session(proposal(1024));
    let h = Header::request(Method::Increment, 10, 1).encode();
    conn.send_packet(&[&h[..], &[1u8; 20][..]].concat())
        .unwrap();
    assert!(matches!(
        server.ended(),
        TransportError::OversizePacket { len: 52, limit: 42 }
    ));
    still_serving(&server, &run, &svc);
}

/// The first packet of a 200-byte message over 100-byte packets, then a
/// continuation built by `chunk`.
fn send_chunked(conn: &PipeConn, chunk: impl Fn(&mut ChunkHeader)) {
    let h = Header::request(Method::Increment, 200, 9).encode();
    conn.send_packet(&[&h[..], &[0u8; 68][..]].concat())
        .unwrap();
    let mut c = ChunkHeader {
        message_id: 9,
        total_message_len: 232,
        chunk_index: 1,
        chunk_count: 3,
        chunk_payload_len: 68,
    };
    chunk(&mut c);
    let data = vec![0u8; c.chunk_payload_len as usize];
    conn.send_packet(&[&c.encode()[..], &data[..]].concat())
        .unwrap();
}

fn small_packets() -> netipc::transport::handshake::ClientProposal {
    netipc::transport::handshake::ClientProposal {
        packet_size: 100,
        ..proposal(1024)
    }
}

fn hostile_chunk_index() {
    let (server, run, svc, conn) = raw_session(small_packets());
    send_chunked(&conn, |c| c.chunk_index = 2);
    assert!(matches!(
        server.ended(),
        TransportError::ChunkIndexMismatch {
            expected: 1,
            found: 2
        }
    ));
    still_serving(&server, &run, &svc);
}

fn hostile_chunk_message_id() {
    let (server, run, svc, conn) = raw_session(small_packets());
    send_chunked(&conn, |c| c.message_id = 10);
    assert!(matches!(
        server.ended(),
        TransportError::ChunkMessageIdMismatch {
            expected: 9,
            found: 10
        }
    ));
    still_serving(&server, &run, &svc);
}

/// A last chunk carrying more than the message has left is refused by the
/// bounded read (the pipe reports ERROR_MORE_DATA), never copied.
fn hostile_chunk_overrun() {
    let (server, run, svc, conn) = raw_session(small_packets());
    let h = Header::request(Method::Increment, 100, 9).encode();
    conn.send_packet(&[&h[..], &[0u8; 68][..]].concat())
        .unwrap();
    let c = ChunkHeader {
        message_id: 9,
        total_message_len: 132,
        chunk_index: 1,
        chunk_count: 2,
        chunk_payload_len: 68,
    };
    conn.send_packet(&[&c.encode()[..], &[0u8; 68][..]].concat())
        .unwrap();
    match server.ended() {
        TransportError::OversizePacket { limit: 64, .. } => {}
        other => panic!("expected an oversize chunk, got {other:?}"),
    }
    still_serving(&server, &run, &svc);
}

fn hostile_bad_batch_directory() {
    let (server, run, svc, conn) = raw_session(netipc::transport::handshake::ClientProposal {
        max_request_batch_items: 4,
        ..proposal(1024)
    });
    let h = Header::batch_request(Method::Increment, 16, 2, 1).encode();
    let mut dir = [0u8; 16];
    dir[0..4].copy_from_slice(&1000u32.to_ne_bytes());
    dir[4..8].copy_from_slice(&8u32.to_ne_bytes());
    conn.send_packet(&[&h[..], &dir[..]].concat()).unwrap();
    assert!(matches!(server.ended(), TransportError::BadBatch(_)));
    still_serving(&server, &run, &svc);
}

fn hostile_client_vanishes_mid_message() {
    let (server, run, svc, conn) = raw_session(small_packets());
    let h = Header::request(Method::Increment, 200, 9).encode();
    conn.send_packet(&[&h[..], &[0u8; 68][..]].concat())
        .unwrap();
    drop(conn);
    assert!(matches!(server.ended(), TransportError::PeerClosed));
    still_serving(&server, &run, &svc);
}

/// A server that handshakes properly and then answers with `reply`.
fn hostile_server(reply: fn(&Header) -> Header) -> TransportError {
    let (run, svc) = endpoint();
    let listener = PipeListener::bind(&ep(&run, &svc), &PipeListenerConfig::default()).unwrap();
    let server = std::thread::spawn(move || {
        let conn = listener.accept(Some(LONG)).unwrap().expect("client");
        let ack = server_handshake(&conn, &policy(1024), 1, LONG, |_: &HelloAck| {
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
        assert_eq!(ack.session_id, 1);
        let mut buf = vec![0u8; 2048];
        let n = conn.recv_packet(&mut buf, Some(LONG)).unwrap();
        let req = Header::decode(&buf[..n]).unwrap();
        conn.send_packet(&reply(&req).encode()).unwrap();
        // Keep the pipe open until the client has judged the reply.
        conn.linger(LONG);
    });
    let mut chan = client(&run, &svc, &proposal(1024));
    let payload = request_payload(0, 8);
    let h = Header::request(Method::Increment, 8, 41);
    chan.send_request(&h, &payload).unwrap();
    let err = chan.recv_response(Some(LONG)).unwrap_err();
    assert!(
        chan.in_flight().is_empty(),
        "a protocol error fails every request"
    );
    drop(chan);
    server.join().unwrap();
    err
}

fn hostile_server_unknown_response_id() {
    let err = hostile_server(|req| {
        let mut h = Header::response_to(req, Status::Ok, 0);
        h.message_id += 1;
        h
    });
    assert!(
        matches!(err, TransportError::UnknownResponseId { id: 42 }),
        "{err:?}"
    );
}

fn hostile_server_sends_request() {
    let err = hostile_server(|req| Header::request(Method::Increment, 0, req.message_id));
    assert!(
        matches!(err, TransportError::UnexpectedKind { .. }),
        "{err:?}"
    );
}
