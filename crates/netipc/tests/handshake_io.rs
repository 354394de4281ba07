//! The handshake over real sockets: every rejection status as a raw peer
//! sees it on the wire and as `client_handshake` reports it, garbage,
//! silence, and successful negotiations.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use netipc::auth::AuthToken;
use netipc::transport::error::Incompatibility;
use netipc::transport::{
    client_handshake, server_handshake, ClientProposal, HandshakeError, ServerPolicy, UdsConn,
};
use netipc::wire::{HelloAck, Profiles, Status, HELLO_ACK_LEN};

const TOKEN: u64 = 0x1122_3344_5566_7788;
const T: Duration = Duration::from_secs(5);

fn policy() -> ServerPolicy {
    ServerPolicy {
        supported: Profiles::BASELINE,
        preferred: Profiles(0),
        max_request_payload: 1 << 20,
        max_response_payload: 4096,
        packet_size: 0,
        auth_token: AuthToken::new(TOKEN),
    }
}

fn proposal() -> ClientProposal {
    ClientProposal {
        auth_token: AuthToken::new(TOKEN),
        ..ClientProposal::default()
    }
}

type ServerResult = Result<HelloAck, HandshakeError>;

/// Runs `server_handshake` on `conn` in a thread; the connection is closed
/// when the handshake returns.
fn spawn_server(
    conn: UdsConn,
    policy: ServerPolicy,
    session_id: u64,
) -> thread::JoinHandle<ServerResult> {
    thread::spawn(move || {
        server_handshake(&conn, &policy, session_id, T, |_| {
            Ok::<(), std::io::Error>(())
        })
    })
}

/// Sends `hello_bytes` from a raw peer to a real server; returns the status
/// of the HELLO_ACK it answered (checking the rejection layout), or `None`
/// when it closed without a reply, plus the server's own result.
fn raw_hello(hello_bytes: &[u8], policy: ServerPolicy) -> (Option<Status>, ServerResult) {
    let (ours, peer) = raw_pair();
    let server = spawn_server(ours, policy, 9);
    peer.send(hello_bytes);
    let result = server.join().unwrap();
    let reply = peer.recv(SLACK).expect("server neither replied nor closed");
    if reply.is_empty() {
        return (None, result);
    }
    assert_eq!(reply.len(), 32 + HELLO_ACK_LEN);
    assert_eq!(get32(&reply, 0), 0x4e49_5043, "magic");
    assert_eq!(get16(&reply, 4), 1, "version");
    assert_eq!(get16(&reply, 6), 32, "header_len");
    assert_eq!(get16(&reply, 8), 3, "kind CONTROL");
    assert_eq!(get16(&reply, 10), 0, "flags");
    assert_eq!(get16(&reply, 12), 2, "code HELLO_ACK");
    assert_eq!(get32(&reply, 16), 48, "payload_len");
    assert_eq!(get32(&reply, 20), 1, "item_count");
    assert_eq!(get64(&reply, 24), 0, "message_id");
    let status = Status::try_from(get16(&reply, 14)).unwrap();
    if status != Status::Ok {
        // Rejection payload: all zero except layout_version = 1.
        let mut expected = [0u8; 48];
        expected[0..2].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(&reply[32..], &expected[..], "rejection payload");
        // And the server closes right after.
        assert!(peer.sees_eof(SLACK), "server did not close after rejecting");
    }
    (Some(status), result)
}

/// Runs `client_handshake` against a real server with `policy`.
fn client_vs_server(
    p: ClientProposal,
    policy: ServerPolicy,
) -> (Result<HelloAck, HandshakeError>, ServerResult) {
    let (a, b) = UdsConn::pair().unwrap();
    let server = spawn_server(b, policy, 5);
    let client = client_handshake(&a, &p, T);
    (client, server.join().unwrap())
}

/// Runs `client_handshake` against a raw server that answers with `reply`.
fn client_vs_raw(p: ClientProposal, reply: Vec<u8>) -> Result<HelloAck, HandshakeError> {
    let (ours, peer) = raw_pair();
    let server = thread::spawn(move || {
        let hello = peer.recv_packet();
        assert_eq!(hello.len(), 32 + 44, "HELLO packet size");
        if reply.is_empty() {
            // Hang up without answering.
            drop(peer);
            return None;
        }
        peer.send(&reply);
        Some(peer)
    });
    let result = client_handshake(&ours, &p, T);
    drop(server.join().unwrap());
    result
}

fn rejection_packet(status: u16) -> Vec<u8> {
    packet(&[&ack_header(status).encode(), &HelloAck::REJECTION.encode()])
}

fn ok_ack() -> HelloAck {
    HelloAck {
        server_supported_profiles: Profiles::BASELINE,
        intersection_profiles: Profiles::BASELINE,
        selected_profile: Profiles::BASELINE,
        agreed_max_request_payload_bytes: 1024,
        agreed_max_request_batch_items: 1,
        agreed_max_response_payload_bytes: 1024,
        agreed_max_response_batch_items: 1,
        agreed_packet_size: 4096,
        session_id: 3,
    }
}

fn ok_packet(ack: &HelloAck) -> Vec<u8> {
    packet(&[&ack_header(0).encode(), &ack.encode()])
}

// ---------------------------------------------------------------- rejections

#[test]
fn auth_failure() {
    let hello = sample_hello();
    let bad = netipc::wire::Hello {
        auth_token: TOKEN ^ 0x100,
        ..hello
    };
    let (status, server) = raw_hello(&hello_packet(&bad), policy());
    assert_eq!(status, Some(Status::AuthFailed));
    assert!(matches!(server, Err(HandshakeError::AuthFailed)));

    let (client, server) = client_vs_server(
        ClientProposal {
            auth_token: AuthToken::new(1),
            ..proposal()
        },
        policy(),
    );
    assert_err!(client, Err(HandshakeError::AuthFailed));
    assert!(matches!(server, Err(HandshakeError::AuthFailed)));
}

#[test]
fn no_common_profile() {
    let bad = netipc::wire::Hello {
        supported_profiles: Profiles::SHM_HYBRID,
        ..sample_hello()
    };
    let (status, server) = raw_hello(&hello_packet(&bad), policy());
    assert_eq!(status, Some(Status::Unsupported));
    assert!(matches!(server, Err(HandshakeError::NoCommonProfile)));

    let (client, _) = client_vs_server(
        ClientProposal {
            supported: Profiles::SHM_ANY,
            ..proposal()
        },
        policy(),
    );
    assert_err!(client, Err(HandshakeError::NoCommonProfile));
}

#[test]
fn auth_is_reported_before_profiles() {
    let bad = netipc::wire::Hello {
        supported_profiles: Profiles::SHM_HYBRID,
        auth_token: 0,
        ..sample_hello()
    };
    let (status, _) = raw_hello(&hello_packet(&bad), policy());
    assert_eq!(status, Some(Status::AuthFailed));
}

#[test]
fn hello_layout_version_not_1() {
    let mut bytes = hello_packet(&sample_hello());
    put16(&mut bytes, 32, 2);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, Some(Status::Incompatible));
    assert!(matches!(
        server,
        Err(HandshakeError::Incompatible(
            Incompatibility::LayoutVersion(2)
        ))
    ));
}

#[test]
fn header_version_not_1() {
    let mut bytes = hello_packet(&sample_hello());
    put16(&mut bytes, 4, 2);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, Some(Status::Incompatible));
    assert!(matches!(
        server,
        Err(HandshakeError::Incompatible(
            Incompatibility::HeaderVersion(2)
        ))
    ));
}

#[test]
fn nonzero_hello_flags_get_bad_envelope() {
    let mut bytes = hello_packet(&sample_hello());
    put16(&mut bytes, 32 + 2, 1);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, Some(Status::BadEnvelope));
    assert!(matches!(server, Err(HandshakeError::BadHello(_))));
}

#[test]
fn nonzero_hello_reserved_gets_bad_envelope() {
    let mut bytes = hello_packet(&sample_hello());
    put32(&mut bytes, 32 + 28, 0xff);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, Some(Status::BadEnvelope));
    assert!(matches!(server, Err(HandshakeError::BadHello(_))));
}

#[test]
fn short_hello_gets_bad_envelope() {
    let bytes = hello_packet(&sample_hello());
    let (status, server) = raw_hello(&bytes[..32 + 40], policy());
    assert_eq!(status, Some(Status::BadEnvelope));
    assert!(matches!(server, Err(HandshakeError::BadHello(_))));
}

#[test]
fn packet_size_32_or_less() {
    let bad = netipc::wire::Hello {
        packet_size: 32,
        ..sample_hello()
    };
    let (status, server) = raw_hello(&hello_packet(&bad), policy());
    assert_eq!(status, Some(Status::Incompatible));
    assert!(matches!(
        server,
        Err(HandshakeError::Incompatible(Incompatibility::PacketSize(
            32
        )))
    ));

    // Client proposes 32.
    let (client, _) = client_vs_server(
        ClientProposal {
            packet_size: 32,
            ..proposal()
        },
        policy(),
    );
    assert_err!(
        client,
        Err(HandshakeError::Incompatible(
            Incompatibility::PeerSaidIncompatible
        ))
    );
    // Server configured with a tiny packet size.
    let (client, server) = client_vs_server(
        proposal(),
        ServerPolicy {
            packet_size: 16,
            ..policy()
        },
    );
    assert_err!(client, Err(HandshakeError::Incompatible(_)));
    assert!(matches!(
        server,
        Err(HandshakeError::Incompatible(Incompatibility::PacketSize(
            16
        )))
    ));
}

#[test]
fn request_payload_over_the_server_maximum() {
    // The policy's request maximum is 1 MiB.
    let bad = netipc::wire::Hello {
        max_request_payload_bytes: (1 << 20) + 1,
        ..sample_hello()
    };
    let (status, server) = raw_hello(&hello_packet(&bad), policy());
    assert_eq!(status, Some(Status::LimitExceeded));
    assert_err!(
        server,
        Err(HandshakeError::LimitRejected {
            proposed: 1_048_577,
            server_cap: Some(1_048_576)
        })
    );

    let (client, _) = client_vs_server(
        ClientProposal {
            max_request_payload: (1 << 20) + 1,
            ..proposal()
        },
        policy(),
    );
    // The rejection ACK is all zero: the client cannot know the cap.
    assert_err!(
        client,
        Err(HandshakeError::LimitRejected {
            proposed: 1_048_577,
            server_cap: None
        })
    );
}

#[test]
fn failing_prepare_sends_internal_error() {
    let (a, b) = UdsConn::pair().unwrap();
    let server = thread::spawn(move || {
        server_handshake(&b, &policy(), 4, T, |_| Err("region creation failed"))
    });
    let client = client_handshake(&a, &proposal(), T);
    assert_err!(client, Err(HandshakeError::Rejected(Status::InternalError)));
    let server = server.join().unwrap();
    assert!(matches!(server, Err(HandshakeError::Prepare(_))));
    assert_eq!(server.unwrap_err().status(), Some(Status::InternalError));
}

/// A server that cannot create a shared-memory region keeps serving: when
/// the client also offered the baseline, the session is negotiated again
/// without shared memory instead of being refused.
#[test]
fn failing_shm_prepare_falls_back_to_the_baseline() {
    let shm_policy = ServerPolicy {
        supported: Profiles::BASELINE | Profiles::SHM_HYBRID,
        preferred: Profiles::SHM_HYBRID,
        ..policy()
    };
    let both = ClientProposal {
        supported: Profiles::BASELINE | Profiles::SHM_HYBRID,
        preferred: Profiles::SHM_HYBRID,
        ..proposal()
    };
    let (a, b) = UdsConn::pair().unwrap();
    let server = thread::spawn(move || {
        let mut asked = Vec::new();
        let ack = server_handshake(&b, &shm_policy, 5, T, |ack| {
            asked.push(ack.selected_profile);
            if ack.selected_profile.has_shm() {
                Err("no space for the region")
            } else {
                Ok(())
            }
        });
        (ack, asked)
    });
    let ack = client_handshake(&a, &both, T).unwrap();
    assert_eq!(ack.selected_profile, Profiles::BASELINE);
    assert_eq!(ack.session_id, 5);
    let (server_ack, asked) = server.join().unwrap();
    assert_eq!(server_ack.unwrap(), ack);
    assert_eq!(asked, vec![Profiles::SHM_HYBRID, Profiles::BASELINE]);

    // A client that offered shared memory only cannot fall back.
    let shm_only = ClientProposal {
        supported: Profiles::SHM_HYBRID,
        preferred: Profiles::SHM_HYBRID,
        ..proposal()
    };
    let (a, b) = UdsConn::pair().unwrap();
    let server = thread::spawn(move || {
        server_handshake(&b, &shm_policy, 6, T, |ack| {
            if ack.selected_profile.has_shm() {
                Err("no space for the region")
            } else {
                Ok(())
            }
        })
    });
    let client = client_handshake(&a, &shm_only, T);
    assert_err!(client, Err(HandshakeError::Rejected(Status::InternalError)));
    assert!(matches!(
        server.join().unwrap(),
        Err(HandshakeError::Prepare(_))
    ));
}

#[test]
fn client_maps_every_rejection_status_to_a_distinct_error() {
    type Check = fn(&HandshakeError) -> bool;
    let cases: [(u16, Check); 6] = [
        (1, |e| {
            matches!(e, HandshakeError::Rejected(Status::BadEnvelope))
        }),
        (2, |e| matches!(e, HandshakeError::AuthFailed)),
        (3, |e| {
            matches!(
                e,
                HandshakeError::Incompatible(Incompatibility::PeerSaidIncompatible)
            )
        }),
        (4, |e| matches!(e, HandshakeError::NoCommonProfile)),
        (5, |e| {
            matches!(
                e,
                HandshakeError::LimitRejected {
                    server_cap: None,
                    ..
                }
            )
        }),
        (6, |e| {
            matches!(e, HandshakeError::Rejected(Status::InternalError))
        }),
    ];
    for (status, check) in cases {
        let err = client_vs_raw(proposal(), rejection_packet(status)).unwrap_err();
        assert!(check(&err), "status {status}: {err:?}");
        assert_eq!(err.status().map(|s| s.code()), Some(status));
    }
    // An unknown status value is a malformed ACK.
    let err = client_vs_raw(proposal(), rejection_packet(99)).unwrap_err();
    assert_err!(err, HandshakeError::BadAck(_));
}

#[test]
fn client_checks_the_status_before_the_payload() {
    // A rejection with a garbage (short) payload still reports the status.
    let reply = packet(&[&ack_header(2).encode(), &[0u8; 4]]);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::AuthFailed);
}

// ------------------------------------------------- malformed server replies

#[test]
fn client_rejects_bad_acks() {
    // Envelope version 2.
    let mut reply = ok_packet(&ok_ack());
    put16(&mut reply, 4, 2);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(
        err,
        HandshakeError::Incompatible(Incompatibility::HeaderVersion(2))
    );
    // Bad magic.
    let mut reply = ok_packet(&ok_ack());
    put32(&mut reply, 0, 0);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::BadHeader(_));
    // Not a HELLO_ACK.
    let mut reply = ok_packet(&ok_ack());
    put16(&mut reply, 12, 1);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::UnexpectedMessage { kind: 3, code: 1 });
    let mut reply = ok_packet(&ok_ack());
    put16(&mut reply, 8, 2);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::UnexpectedMessage { kind: 2, .. });
    // Layout version 2.
    let mut reply = ok_packet(&ok_ack());
    put16(&mut reply, 32, 2);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(
        err,
        HandshakeError::Incompatible(Incompatibility::LayoutVersion(2))
    );
    // Non-zero ACK flags.
    let mut reply = ok_packet(&ok_ack());
    put16(&mut reply, 34, 1);
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::BadAck(_));
    // Short ACK.
    let reply = ok_packet(&ok_ack())[..32 + 40].to_vec();
    let err = client_vs_raw(proposal(), reply).unwrap_err();
    assert_err!(err, HandshakeError::BadAck(_));
}

#[test]
fn client_rejects_an_agreed_packet_size_of_32_or_more_than_proposed() {
    for size in [0, 32] {
        let ack = HelloAck {
            agreed_packet_size: size,
            ..ok_ack()
        };
        let err = client_vs_raw(proposal(), ok_packet(&ack)).unwrap_err();
        assert_err!(err, HandshakeError::BadPacketSize(s) if *s == size);
    }
    let p = ClientProposal {
        packet_size: 4096,
        ..proposal()
    };
    let ack = HelloAck {
        agreed_packet_size: 4097,
        ..ok_ack()
    };
    let err = client_vs_raw(p, ok_packet(&ack)).unwrap_err();
    assert_err!(err, HandshakeError::BadPacketSize(4097));
}

#[test]
fn client_rejects_a_selection_it_did_not_offer() {
    for selected in [0u32, 0x02, 0x03, 0x08] {
        let ack = HelloAck {
            selected_profile: Profiles(selected),
            ..ok_ack()
        };
        let err = client_vs_raw(proposal(), ok_packet(&ack)).unwrap_err();
        assert!(
            matches!(err, HandshakeError::BadSelection { .. }),
            "{selected}: {err:?}"
        );
    }
}

#[test]
fn client_accepts_a_well_formed_ack_from_a_raw_server() {
    let ack = client_vs_raw(
        ClientProposal {
            packet_size: 4096,
            ..proposal()
        },
        ok_packet(&ok_ack()),
    )
    .unwrap();
    assert_eq!(ack, ok_ack());
}

#[test]
fn client_sees_peer_closed_without_reply() {
    let err = client_vs_raw(proposal(), Vec::new()).unwrap_err();
    assert_err!(err, HandshakeError::PeerClosed);
}

// ------------------------------------------------------- garbage and silence

#[test]
fn garbage_closes_without_reply() {
    let mut bytes = hello_packet(&sample_hello());
    put32(&mut bytes, 0, 0x0bad_0bad);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, None);
    assert_err!(server, Err(HandshakeError::BadHeader(_)));

    let (status, server) = raw_hello(b"hello?", policy());
    assert_eq!(status, None);
    assert!(matches!(server, Err(HandshakeError::BadHeader(_))));
}

#[test]
fn bad_header_len_with_bad_version_closes_without_reply() {
    let mut bytes = hello_packet(&sample_hello());
    put16(&mut bytes, 4, 2);
    put16(&mut bytes, 6, 40);
    let (status, _) = raw_hello(&bytes, policy());
    assert_eq!(status, None);
}

#[test]
fn a_message_other_than_hello_closes_without_reply() {
    // A REQUEST.
    let bytes = packet(&[&request(8, 1).encode(), &[0u8; 8]]);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, None);
    assert!(matches!(
        server,
        Err(HandshakeError::UnexpectedMessage { kind: 1, code: 1 })
    ));
    // A HELLO_ACK sent to the server.
    let (status, _) = raw_hello(&ok_packet(&ok_ack()), policy());
    assert_eq!(status, None);
    // CONTROL with version 2 but not a HELLO: no reply either.
    let mut bytes = hello_packet(&sample_hello());
    put16(&mut bytes, 4, 2);
    put16(&mut bytes, 12, 7);
    let (status, _) = raw_hello(&bytes, policy());
    assert_eq!(status, None);
}

#[test]
fn hello_with_trailing_bytes_is_accepted_like_the_peers_do() {
    let mut bytes = hello_packet(&sample_hello());
    bytes.extend_from_slice(&[0xee; 20]);
    let (status, server) = raw_hello(&bytes, policy());
    assert_eq!(status, Some(Status::Ok));
    assert_eq!(server.unwrap().session_id, 9);
}

#[test]
fn silent_client_times_out_on_the_server() {
    let (ours, _peer) = raw_pair();
    let timeout = Duration::from_millis(200);
    let result = assert_within(timeout, || {
        server_handshake(&ours, &policy(), 1, timeout, |_| {
            Ok::<(), std::io::Error>(())
        })
    });
    assert_err!(result, Err(HandshakeError::Timeout));
}

#[test]
fn silent_server_times_out_on_the_client() {
    let (ours, peer) = raw_pair();
    let timeout = Duration::from_millis(200);
    let result = assert_within(timeout, || client_handshake(&ours, &proposal(), timeout));
    assert_err!(result, Err(HandshakeError::Timeout));
    // The HELLO did go out.
    assert_eq!(peer.recv_packet().len(), 76);
}

#[test]
fn client_that_hangs_up_gives_peer_closed_on_the_server() {
    let (ours, peer) = raw_pair();
    drop(peer);
    let result = server_handshake(&ours, &policy(), 1, T, |_| Ok::<(), std::io::Error>(()));
    assert_err!(result, Err(HandshakeError::PeerClosed));
}

// ----------------------------------------------------------------- success

#[test]
fn successful_handshake_agrees_on_the_matrix_values() {
    let (a, b) = UdsConn::pair().unwrap();
    let auto = a.default_packet_size();
    let server_policy = ServerPolicy {
        supported: Profiles::ALL_LINUX,
        max_response_payload: 65_536,
        ..policy()
    };
    let prepared = Arc::new(AtomicBool::new(false));
    let flag = prepared.clone();
    let server = thread::spawn(move || {
        server_handshake(&b, &server_policy, 42, T, |ack: &HelloAck| {
            assert_eq!(ack.session_id, 42);
            flag.store(true, Ordering::SeqCst);
            Ok::<(), std::io::Error>(())
        })
    });
    let p = ClientProposal {
        supported: Profiles::ALL_LINUX,
        max_request_payload: 100_000,
        max_request_batch_items: 32,
        max_response_payload: 5,
        max_response_batch_items: 5,
        ..proposal()
    };
    let ack = client_handshake(&a, &p, T).unwrap();
    // prepare() ran before the ACK was sent.
    assert!(prepared.load(Ordering::SeqCst));
    assert_eq!(server.join().unwrap().unwrap(), ack);
    assert_eq!(ack.server_supported_profiles, Profiles::ALL_LINUX);
    assert_eq!(ack.intersection_profiles, Profiles::ALL_LINUX);
    assert_eq!(ack.selected_profile, Profiles::SHM_FUTEX);
    assert_eq!(ack.agreed_max_request_payload_bytes, 100_000);
    assert_eq!(ack.agreed_max_request_batch_items, 32);
    assert_eq!(ack.agreed_max_response_payload_bytes, 65_536);
    assert_eq!(ack.agreed_max_response_batch_items, 32);
    assert_eq!(ack.agreed_packet_size, auto);
    assert_eq!(ack.session_id, 42);
}

#[test]
fn successful_handshake_with_defaults() {
    let (client, server) = client_vs_server(
        proposal(),
        ServerPolicy {
            max_response_payload: 0,
            ..policy()
        },
    );
    let ack = client.unwrap();
    assert_eq!(server.unwrap(), ack);
    assert_eq!(ack.selected_profile, Profiles::BASELINE);
    assert_eq!(ack.agreed_max_request_payload_bytes, 1024);
    assert_eq!(ack.agreed_max_request_batch_items, 1);
    assert_eq!(ack.agreed_max_response_payload_bytes, 1024);
    assert_eq!(ack.agreed_max_response_batch_items, 1);
    // Both sides propose SO_SNDBUF − 32 of their socket.
    let (a, _b) = UdsConn::pair().unwrap();
    assert_eq!(ack.agreed_packet_size, a.default_packet_size());
    assert_eq!(ack.session_id, 5);
}

#[test]
fn the_smaller_packet_size_wins_on_the_wire() {
    let (client, _) = client_vs_server(
        ClientProposal {
            packet_size: 1000,
            ..proposal()
        },
        ServerPolicy {
            packet_size: 2000,
            ..policy()
        },
    );
    assert_eq!(client.unwrap().agreed_packet_size, 1000);
    let (client, _) = client_vs_server(
        ClientProposal {
            packet_size: 3000,
            ..proposal()
        },
        ServerPolicy {
            packet_size: 2000,
            ..policy()
        },
    );
    assert_eq!(client.unwrap().agreed_packet_size, 2000);
}

#[test]
fn a_raw_hello_gets_the_exact_ok_ack_bytes() {
    let hello = netipc::wire::Hello {
        supported_profiles: Profiles(0x03),
        preferred_profiles: Profiles(0x01),
        packet_size: 4000,
        ..sample_hello()
    };
    let (ours, peer) = raw_pair();
    let server = spawn_server(
        ours,
        ServerPolicy {
            supported: Profiles(0x07),
            preferred: Profiles(0x01),
            packet_size: 3000,
            ..policy()
        },
        77,
    );
    peer.send(&hello_packet(&hello));
    let reply = peer.recv_packet();
    server.join().unwrap().unwrap();
    let expected = HelloAck {
        server_supported_profiles: Profiles(0x07),
        intersection_profiles: Profiles(0x03),
        selected_profile: Profiles(0x01),
        agreed_max_request_payload_bytes: 4096,
        agreed_max_request_batch_items: 8,
        agreed_max_response_payload_bytes: 4096,
        agreed_max_response_batch_items: 8,
        agreed_packet_size: 3000,
        session_id: 77,
    };
    assert_eq!(reply, ok_packet(&expected));
}
