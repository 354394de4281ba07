//! Rules of the lookup codecs that the golden vectors do not reach: encoder
//! and builder refusals, the request-backed builders' item-count and
//! early-stop behaviour, and the documented leniencies of the decoders.

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{self, Answer, Status};
use netipc::codec::lookup::{Added, ErrorKind, Field, Label, LookupError, Orchestrator};

fn cg_request(paths: &[&str]) -> Vec<u8> {
    let mut buf = Vec::new();
    cgroups_lookup::encode_request(&mut buf, paths).unwrap();
    buf
}

#[test]
fn request_encoder_refuses_bad_paths_and_leaves_the_buffer() {
    let mut buf = vec![9];
    let e = cgroups_lookup::encode_request(&mut buf, &["/a", ""]).unwrap_err();
    assert_eq!(e, LookupError::EmptyKey { index: 1 });
    assert_eq!(e.kind(), ErrorKind::BadLayout);
    let e = cgroups_lookup::encode_request(&mut buf, &[&b"/a\0b"[..]]).unwrap_err();
    assert_eq!(e, LookupError::KeyInteriorNul { index: 0, at: 2 });
    assert_eq!(buf, [9]);
}

#[test]
fn builder_refuses_answers_that_break_the_rules() {
    let mut buf = vec![1, 2];
    let mut b = cgroups_lookup::ResponseBuilder::new(&mut buf, 3, 0);
    let empty_key = [Label::new(b"k", b"v"), Label::new(b"", b"v")];
    let nul_value = [Label::new(b"k", b"v\0")];
    let bad_status = Answer {
        name: b"x",
        ..Answer::UNKNOWN_PERMANENT
    };
    let cases: [(&[u8], Answer<'_>, LookupError); 5] = [
        (
            b"/p",
            bad_status,
            LookupError::StatusRule {
                index: 0,
                field: "name_length",
                rule: "must be 0 unless status is KNOWN",
            },
        ),
        (
            b"",
            Answer::UNKNOWN_RETRY_LATER,
            LookupError::StatusRule {
                index: 0,
                field: "path_length",
                rule: "must be at least 1",
            },
        ),
        (
            b"/p",
            Answer::known(Orchestrator::K8S, b"a\0", &[]),
            LookupError::StringInteriorNul {
                index: 0,
                field: Field::Name,
                at: 1,
            },
        ),
        (
            b"/p",
            Answer::known(Orchestrator::K8S, b"", &empty_key),
            LookupError::EmptyLabelKey { index: 0, label: 1 },
        ),
        (
            b"/p",
            Answer::known(Orchestrator::K8S, b"", &nul_value),
            LookupError::StringInteriorNul {
                index: 0,
                field: Field::LabelValue(0),
                at: 1,
            },
        ),
    ];
    for (path, answer, want) in cases {
        assert_eq!(b.push(path, &answer), Err(want));
        assert_eq!(want.kind(), ErrorKind::BadLayout);
    }
    let many = vec![Label::new(b"k", b""); 65_536];
    let e = b
        .push(b"/p", &Answer::known(Orchestrator::K8S, b"", &many))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overflow);
    assert!(b.is_empty(), "refused answers add nothing");
    b.push(
        b"/p",
        &Answer::known(Orchestrator(999), b"", &many[..65_535]),
    )
    .unwrap();
    b.finish().unwrap();
    let v = cgroups_lookup::ResponseView::decode(&buf[2..]).unwrap();
    let item = v.item(0).unwrap();
    assert_eq!(item.label_count(), 65_535);
    assert_eq!(item.orchestrator(), Orchestrator(999));
    assert_eq!(item.orchestrator().name(), None);
    assert_eq!(Orchestrator::NSPAWN.name(), Some("NSPAWN"));
}

#[test]
fn apps_builder_checks_comm_and_cgroup_rules() {
    let mut buf = Vec::new();
    let mut b = apps_lookup::ResponseBuilder::new(&mut buf, 0, 1);
    let long = apps_lookup::Answer {
        comm: b"0123456789abcdef",
        cgroup_path: b"/",
        ..apps_lookup::Answer::KNOWN
    };
    assert_eq!(
        b.push(1, &long).unwrap_err().to_string(),
        "item 0: comm_length must be at most 15"
    );
    let empty_comm = apps_lookup::Answer {
        cgroup_path: b"/",
        ..apps_lookup::Answer::KNOWN
    };
    assert!(matches!(
        b.push(1, &empty_comm),
        Err(LookupError::StatusRule {
            field: "comm_length",
            ..
        })
    ));
    assert!(matches!(
        b.push(
            1,
            &apps_lookup::Answer {
                comm: b"x",
                ..apps_lookup::Answer::KNOWN
            }
        ),
        Err(LookupError::StatusRule {
            field: "cgroup_path_length",
            ..
        })
    ));
    let host_root_path = apps_lookup::Answer {
        comm: b"x",
        cgroup_status: CgroupStatus::HostRoot,
        cgroup_path: b"/",
        ..apps_lookup::Answer::KNOWN
    };
    assert!(matches!(
        b.push(1, &host_root_path),
        Err(LookupError::StatusRule {
            field: "cgroup_path_length",
            ..
        })
    ));
    let retry_no_path = apps_lookup::Answer {
        comm: b"x",
        cgroup_status: CgroupStatus::UnknownRetryLater,
        ..apps_lookup::Answer::KNOWN
    };
    b.push(7, &retry_no_path).unwrap();
    let unknown_with_uid = apps_lookup::Answer {
        uid: 0,
        ..apps_lookup::Answer::UNKNOWN
    };
    assert!(matches!(
        b.push(8, &unknown_with_uid),
        Err(LookupError::StatusRule { field: "uid", .. })
    ));
    b.finish().unwrap();
    let v = apps_lookup::ResponseView::decode(&buf).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(
        v.item(0).unwrap().cgroup_status(),
        CgroupStatus::UnknownRetryLater
    );
}

#[test]
fn limit_refuses_an_item_and_drop_restores_the_buffer() {
    let mut buf = vec![7; 4];
    {
        let mut b = cgroups_lookup::ResponseBuilder::new(&mut buf, 1, 0).with_limit(16 + 8 + 32);
        b.push(b"/a", &Answer::UNKNOWN_PERMANENT).unwrap(); // 32 bytes: 56 in total
        let e = b.push(b"/b", &Answer::UNKNOWN_PERMANENT).unwrap_err();
        assert_eq!(
            e,
            LookupError::TooLarge {
                need: 16 + 16 + 32 + 32,
                limit: 56
            }
        );
        assert_eq!(b.payload_len(), 56);
        // Dropped without finish.
    }
    assert_eq!(buf, [7; 4]);
    let e = cgroups_lookup::ResponseBuilder::new(&mut buf, 1, 0)
        .with_limit(15)
        .finish()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overflow);
    assert_eq!(buf, [7; 4]);
}

#[test]
fn reply_builder_needs_one_item_per_key() {
    let req = cg_request(&["/a", "/b"]);
    let request = cgroups_lookup::RequestView::decode(&req).unwrap();
    let mut buf = Vec::new();
    let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, 65_536);
    assert_eq!(b.add(&Answer::UNKNOWN_PERMANENT), Ok(Added::Item));
    // A handler error leaves the builder where it was.
    let bad = Answer {
        orchestrator: Orchestrator::DOCKER,
        ..Answer::UNKNOWN_RETRY_LATER
    };
    assert_eq!(b.add(&bad).unwrap_err().index(), Some(1));
    assert_eq!((b.next_index(), b.next_key()), (1, Some(&b"/b"[..])));
    let e = b.finish().unwrap_err();
    assert_eq!(
        e,
        LookupError::ItemCountMismatch {
            expected: 2,
            added: 1
        }
    );
    assert_eq!(e.kind(), ErrorKind::BadItemCount);
    assert!(buf.is_empty());

    let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, 65_536);
    b.add(&Answer::UNKNOWN_PERMANENT).unwrap();
    b.add(&Answer::UNKNOWN_PERMANENT).unwrap();
    assert_eq!(b.next_key(), None);
    let e = b.add(&Answer::UNKNOWN_PERMANENT).unwrap_err();
    assert_eq!(
        e,
        LookupError::ItemCountMismatch {
            expected: 2,
            added: 3
        }
    );
    b.finish().unwrap();
    assert_eq!(cgroups_lookup::ResponseView::decode(&buf).unwrap().len(), 2);
}

#[test]
fn a_provider_may_stop_once_the_budget_ran_out() {
    let req = cg_request(&["/a", "/b", "/c", "/d"]);
    let request = cgroups_lookup::RequestView::decode(&req).unwrap();
    let labels = [Label::new(b"k", &[b'v'; 100])];
    let big = Answer::known(Orchestrator::SYSTEMD, b"n", &labels);
    // Header + directory 48, placeholders 32 each: 48 + 32·4 = 176 fits all
    // placeholders; the 159-byte answer for /a needs align8(48 + 159) + 96.
    let mut buf = Vec::new();
    let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, 300);
    assert_eq!(b.add(&big), Ok(Added::OversizedItem));
    assert!(!b.is_exceeded(), "OVERSIZED_ITEM at key 0 is not sticky");
    assert_eq!(b.add(&Answer::UNKNOWN_PERMANENT), Ok(Added::Item));
    assert_eq!(b.add(&big), Ok(Added::PayloadExceeded));
    assert!(b.is_exceeded());
    b.set_generation(11);
    b.finish().unwrap();
    let v = cgroups_lookup::ResponseView::decode(&buf).unwrap();
    let got: Vec<(Status, &[u8])> = v.iter().map(|i| (i.status(), i.path())).collect();
    assert_eq!(
        got,
        [
            (Status::OversizedItem, &b"/a"[..]),
            (Status::UnknownPermanent, b"/b"),
            (Status::PayloadExceeded, b"/c"),
            (Status::PayloadExceeded, b"/d"),
        ]
    );
    assert_eq!(v.generation(), 11);
}

#[test]
fn a_budget_below_the_placeholders_is_an_overflow() {
    let mut req = Vec::new();
    apps_lookup::encode_request(&mut req, &[1, 2]).unwrap();
    let request = apps_lookup::RequestView::decode(&req).unwrap();
    let mut buf = Vec::new();
    // 16 + 16 + 63 = 95: key 0's placeholder fits, key 1's does not.
    let mut b = apps_lookup::ReplyBuilder::new(&mut buf, request, 100);
    assert_eq!(
        b.add(&apps_lookup::Answer::UNKNOWN),
        Ok(Added::OversizedItem)
    );
    let e = b.add(&apps_lookup::Answer::UNKNOWN).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Overflow);
}

#[test]
fn empty_request_gives_the_bare_header() {
    let req = cg_request(&[]);
    assert_eq!(req.len(), 16);
    let request = cgroups_lookup::RequestView::decode(&req).unwrap();
    assert!(request.is_empty());
    let mut buf = Vec::new();
    let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, 16);
    b.set_generation(u64::MAX);
    assert_eq!(b.finish(), Ok(16));
    let v = cgroups_lookup::ResponseView::decode(&buf).unwrap();
    assert_eq!((v.len(), v.generation()), (0, u64::MAX));
    // In a request the same bytes are reserved and must be zero.
    assert_eq!(
        cgroups_lookup::RequestView::decode(&buf).unwrap_err(),
        LookupError::NonZeroReserved {
            field: "reserved0",
            found: u32::MAX
        }
    );
}

#[test]
fn huge_item_count_is_a_truncated_directory() {
    let mut p = cg_request(&[]);
    p[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    let e = cgroups_lookup::RequestView::decode(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
    assert!(
        matches!(e, LookupError::DirectoryTruncated { need, .. } if need == 16 + 8 * u64::from(u32::MAX))
    );
    for short in 0..16 {
        assert_eq!(
            apps_lookup::ResponseView::decode(&p[..short]),
            Err(LookupError::HeaderTruncated { have: short })
        );
    }
}

#[test]
fn gaps_and_trailing_bytes_are_not_checked() {
    // As in the reference decoders (§14.4): accepted, content unchanged.
    let mut req = cg_request(&["/a", "/bc"]);
    req[16 + 16 + 3] = 0xaa; // gap byte after key 0
    req.extend_from_slice(b"junk");
    let v = cgroups_lookup::RequestView::decode(&req).unwrap();
    assert!(v.iter().eq([&b"/a"[..], b"/bc"]));

    let mut resp = Vec::new();
    let mut b = apps_lookup::ResponseBuilder::new(&mut resp, 0, 0);
    b.push(5, &apps_lookup::Answer::UNKNOWN).unwrap();
    b.finish().unwrap();
    resp.push(1);
    let v = apps_lookup::ResponseView::decode(&resp).unwrap();
    assert_eq!(v.item(0).unwrap().status(), PidStatus::Unknown);
}

#[test]
fn status_codes_round_trip() {
    for c in 0..5u16 {
        assert_eq!(Status::from_code(c).unwrap().code(), c);
    }
    assert_eq!(Status::from_code(5), None);
    for c in 0..4u16 {
        assert_eq!(PidStatus::from_code(c).unwrap().code(), c);
        assert_eq!(CgroupStatus::from_code(c).unwrap().code(), c);
    }
    assert_eq!(PidStatus::from_code(4), None);
    assert_eq!(CgroupStatus::from_code(4), None);
    assert_eq!(ErrorKind::MissingNul.to_string(), "MISSING_NUL");
    assert_eq!(Field::LabelKey(3).to_string(), "label 3 key");
}
