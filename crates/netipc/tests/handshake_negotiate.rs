//! The negotiation matrix (PROTOCOL.md §5.3–§5.5) row by row, without
//! sockets: `negotiate` is a pure function.

use netipc::auth::AuthToken;
use netipc::transport::handshake::{ClientProposal, DEFAULT_PAYLOAD_LIMIT};
use netipc::transport::{negotiate, ServerPolicy, SessionIds};
use netipc::wire::{Hello, Profiles, Status, MAX_REQUEST_PAYLOAD};

const TOKEN: u64 = 0xdead_beef_0bad_f00d;

fn hello() -> Hello {
    Hello {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles(0),
        max_request_payload_bytes: 4096,
        max_request_batch_items: 8,
        max_response_payload_bytes: 9999,
        max_response_batch_items: 77,
        auth_token: TOKEN,
        packet_size: 65_536,
    }
}

fn policy() -> ServerPolicy {
    ServerPolicy {
        supported: Profiles::BASELINE,
        preferred: Profiles(0),
        max_request_payload: MAX_REQUEST_PAYLOAD,
        max_response_payload: 2048,
        packet_size: 8192,
        auth_token: AuthToken::new(TOKEN),
    }
}

fn selected(client_supported: u32, client_preferred: u32, server: u32, server_pref: u32) -> u32 {
    let h = Hello {
        supported_profiles: Profiles(client_supported),
        preferred_profiles: Profiles(client_preferred),
        ..hello()
    };
    let p = ServerPolicy {
        supported: Profiles(server),
        preferred: Profiles(server_pref),
        ..policy()
    };
    negotiate(&h, &p, 1).unwrap().selected_profile.bits()
}

#[test]
fn request_payload_is_the_client_proposal_echoed() {
    for v in [1, 4096, 65_536, MAX_REQUEST_PAYLOAD] {
        let h = Hello {
            max_request_payload_bytes: v,
            ..hello()
        };
        let ack = negotiate(&h, &policy(), 1).unwrap();
        assert_eq!(ack.agreed_max_request_payload_bytes, v);
    }
}

#[test]
fn request_batch_items_are_echoed() {
    for v in [1, 8, 1000] {
        let h = Hello {
            max_request_batch_items: v,
            ..hello()
        };
        assert_eq!(
            negotiate(&h, &policy(), 1)
                .unwrap()
                .agreed_max_request_batch_items,
            v
        );
    }
}

#[test]
fn response_payload_is_the_servers_and_ignores_the_client_hint() {
    let ack = negotiate(&hello(), &policy(), 1).unwrap();
    assert_eq!(ack.agreed_max_response_payload_bytes, 2048);
    assert_ne!(hello().max_response_payload_bytes, 2048);
}

#[test]
fn response_payload_zero_means_1024() {
    let p = ServerPolicy {
        max_response_payload: 0,
        ..policy()
    };
    let ack = negotiate(&hello(), &p, 1).unwrap();
    assert_eq!(ack.agreed_max_response_payload_bytes, DEFAULT_PAYLOAD_LIMIT);
    assert_eq!(DEFAULT_PAYLOAD_LIMIT, 1024);
}

#[test]
fn response_batch_items_equal_request_batch_items() {
    let h = Hello {
        max_request_batch_items: 13,
        max_response_batch_items: 500,
        ..hello()
    };
    let ack = negotiate(&h, &policy(), 1).unwrap();
    assert_eq!(ack.agreed_max_response_batch_items, 13);
}

#[test]
fn packet_size_is_the_minimum() {
    let h = Hello {
        packet_size: 4000,
        ..hello()
    };
    assert_eq!(
        negotiate(&h, &policy(), 1).unwrap().agreed_packet_size,
        4000
    );
    let h = Hello {
        packet_size: 100_000,
        ..hello()
    };
    assert_eq!(
        negotiate(&h, &policy(), 1).unwrap().agreed_packet_size,
        8192
    );
}

#[test]
fn packet_size_33_is_the_smallest_accepted() {
    let h = Hello {
        packet_size: 33,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1).unwrap().agreed_packet_size, 33);
}

#[test]
fn packet_size_of_32_or_less_is_incompatible() {
    for (client, server) in [(32, 8192), (0, 8192), (65_536, 32), (65_536, 1), (20, 20)] {
        let h = Hello {
            packet_size: client,
            ..hello()
        };
        let p = ServerPolicy {
            packet_size: server,
            ..policy()
        };
        assert_eq!(
            negotiate(&h, &p, 1),
            Err(Status::Incompatible),
            "client {client}, server {server}"
        );
    }
}

#[test]
fn server_packet_size_zero_falls_back_to_65536_in_the_pure_function() {
    let p = ServerPolicy {
        packet_size: 0,
        ..policy()
    };
    let h = Hello {
        packet_size: 1_000_000,
        ..hello()
    };
    assert_eq!(negotiate(&h, &p, 1).unwrap().agreed_packet_size, 65_536);
}

#[test]
fn profile_sets_are_reported() {
    let h = Hello {
        supported_profiles: Profiles(0x03),
        ..hello()
    };
    let p = ServerPolicy {
        supported: Profiles(0x05),
        ..policy()
    };
    let ack = negotiate(&h, &p, 1).unwrap();
    assert_eq!(ack.server_supported_profiles, Profiles(0x05));
    assert_eq!(ack.intersection_profiles, Profiles(0x01));
    assert_eq!(ack.selected_profile, Profiles(0x01));
}

#[test]
fn server_supported_zero_means_baseline() {
    let p = ServerPolicy {
        supported: Profiles(0),
        ..policy()
    };
    let ack = negotiate(&hello(), &p, 1).unwrap();
    assert_eq!(ack.server_supported_profiles, Profiles::BASELINE);
    assert_eq!(ack.selected_profile, Profiles::BASELINE);
}

#[test]
fn selection_highest_common_bit_when_nothing_is_preferred() {
    assert_eq!(selected(0x07, 0, 0x07, 0), 0x04);
    assert_eq!(selected(0x03, 0, 0x07, 0), 0x02);
    assert_eq!(selected(0x07, 0, 0x03, 0), 0x02);
    assert_eq!(selected(0x01, 0, 0x07, 0), 0x01);
}

#[test]
fn selection_shm_futex_beats_shm_hybrid() {
    assert_eq!(selected(0x06, 0x06, 0x06, 0x06), 0x04);
    assert_eq!(selected(0x06, 0, 0x06, 0), 0x04);
}

#[test]
fn selection_preferred_first() {
    // Both prefer the hybrid profile: it wins over the higher futex bit.
    assert_eq!(selected(0x07, 0x02, 0x07, 0x02), 0x02);
    // Both prefer only the baseline: baseline wins over shared memory.
    assert_eq!(selected(0x07, 0x01, 0x07, 0x01), 0x01);
    // Highest bit of the common preference.
    assert_eq!(selected(0x07, 0x03, 0x07, 0x07), 0x02);
}

#[test]
fn selection_when_only_one_side_prefers_falls_back_to_highest_common() {
    assert_eq!(selected(0x07, 0x01, 0x07, 0), 0x04);
    assert_eq!(selected(0x07, 0, 0x07, 0x01), 0x04);
    // The preferences do not overlap.
    assert_eq!(selected(0x07, 0x01, 0x07, 0x02), 0x04);
    // A preference outside the intersection is ignored.
    assert_eq!(selected(0x03, 0x04, 0x07, 0x04), 0x02);
}

#[test]
fn session_id_is_passed_through() {
    for id in [1, 2, 77, u64::MAX] {
        assert_eq!(negotiate(&hello(), &policy(), id).unwrap().session_id, id);
    }
}

#[test]
fn rejection_auth_failed() {
    for token in [0, TOKEN ^ 1, TOKEN ^ (1 << 63), !TOKEN] {
        let h = Hello {
            auth_token: token,
            ..hello()
        };
        assert_eq!(negotiate(&h, &policy(), 1), Err(Status::AuthFailed));
    }
}

#[test]
fn rejection_unsupported_no_common_profile() {
    let h = Hello {
        supported_profiles: Profiles::SHM_ANY,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::Unsupported));
    let h = Hello {
        supported_profiles: Profiles(0),
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::Unsupported));
}

#[test]
fn rejection_limit_exceeded_above_one_mebibyte() {
    let h = Hello {
        max_request_payload_bytes: MAX_REQUEST_PAYLOAD + 1,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::LimitExceeded));
    let h = Hello {
        max_request_payload_bytes: u32::MAX,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::LimitExceeded));
}

#[test]
fn rejection_incompatible_packet_size() {
    let h = Hello {
        packet_size: 32,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::Incompatible));
}

#[test]
fn order_auth_is_checked_before_profiles() {
    // Wrong token and no common profile: the prose specification's order
    // reports AUTH_FAILED.
    let h = Hello {
        auth_token: !TOKEN,
        supported_profiles: Profiles::SHM_ANY,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::AuthFailed));
}

#[test]
fn order_profiles_before_limits_before_packet_size() {
    let h = Hello {
        supported_profiles: Profiles::SHM_ANY,
        max_request_payload_bytes: u32::MAX,
        packet_size: 1,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::Unsupported));
    let h = Hello {
        max_request_payload_bytes: u32::MAX,
        packet_size: 1,
        ..hello()
    };
    assert_eq!(negotiate(&h, &policy(), 1), Err(Status::LimitExceeded));
}

#[test]
fn client_proposal_defaults_for_zero_fields() {
    let h = ClientProposal::default().to_hello(5000);
    assert_eq!(h.supported_profiles, Profiles::BASELINE);
    assert_eq!(h.preferred_profiles, Profiles(0));
    assert_eq!(h.max_request_payload_bytes, 1024);
    assert_eq!(h.max_request_batch_items, 1);
    assert_eq!(h.max_response_payload_bytes, 1024);
    assert_eq!(h.max_response_batch_items, 1);
    assert_eq!(h.packet_size, 5000);
    assert_eq!(h.auth_token, 0);

    let p = ClientProposal {
        supported: Profiles(0x07),
        preferred: Profiles(0x02),
        max_request_payload: 7,
        max_request_batch_items: 8,
        max_response_payload: 9,
        max_response_batch_items: 10,
        auth_token: AuthToken::new(11),
        packet_size: 12,
    };
    let h = p.to_hello(5000);
    assert_eq!(
        (
            h.supported_profiles.bits(),
            h.preferred_profiles.bits(),
            h.max_request_payload_bytes,
            h.max_request_batch_items,
            h.max_response_payload_bytes,
            h.max_response_batch_items,
            h.auth_token,
            h.packet_size
        ),
        (7, 2, 7, 8, 9, 10, 11, 12)
    );
}

#[test]
fn server_policy_defaults() {
    let p = ServerPolicy::default();
    assert_eq!(p.effective_supported(), Profiles::BASELINE);
    assert_eq!(p.effective_max_response_payload(), 1024);
    assert_eq!(p.packet_size, 0);
}

#[test]
fn session_ids_start_at_one_and_advance() {
    let ids = SessionIds::new();
    assert_eq!(ids.next_id(), 1);
    assert_eq!(ids.next_id(), 2);
    assert_eq!(ids.next_id(), 3);
    let shared = std::sync::Arc::new(SessionIds::default());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = shared.clone();
            std::thread::spawn(move || (0..100).map(|_| s.next_id()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<u64>>());
}
