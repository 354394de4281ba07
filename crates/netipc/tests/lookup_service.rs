//! The lookup services end to end: the handler adapters' outcomes
//! (PROTOCOL-LOOKUP §17.8) and both methods over UDS and shared memory.

mod service_common;

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{
    encode_request, Answer, ReplyBuilder, RequestView, Status,
};
use netipc::codec::lookup::{Label, Orchestrator};
use netipc::service::apps_lookup::{self as apps_service, AppsLookupClient};
use netipc::service::cgroups_lookup::{self, CgroupsLookupClient};
use netipc::service::lookup::{LookupCallError, LOOKUP_RESPONSE_PAYLOAD};
use netipc::service::{
    CallError, ClientConfig, Handler, HandlerError, ManagedServer, ServerConfig, Status as Wire,
};
use netipc::transport::{ClientProposal, ClientSession, SessionConfig};
use netipc::wire::{Header, Method, Profiles};
use service_common::{ep, TOKEN};

fn known_or_gone(
    request: RequestView<'_>,
    reply: &mut ReplyBuilder<'_, '_>,
) -> Result<(), HandlerError> {
    for path in request.iter() {
        if path.starts_with(b"/gone") {
            reply.add(&Answer::UNKNOWN_PERMANENT)?;
        } else if path.starts_with(b"/later") {
            reply.add(&Answer::UNKNOWN_RETRY_LATER)?;
        } else {
            let labels = [
                Label::new(b"image", b"nginx:1.25"),
                Label::new(b"empty", b""),
            ];
            reply.add(&Answer::known(Orchestrator::DOCKER, b"web", &labels))?;
        }
    }
    reply.set_generation(11);
    Ok(())
}

fn server(
    dir: &std::path::Path,
    profiles: Profiles,
    response_limit: u32,
    handler: impl Handler,
) -> ManagedServer {
    ManagedServer::start(
        ep(dir, "svc"),
        ServerConfig::new(TOKEN)
            .with_profiles(profiles, profiles)
            .with_response_payload(response_limit),
        handler,
    )
    .unwrap()
}

fn cg_client(dir: &std::path::Path, profiles: Profiles) -> CgroupsLookupClient {
    let mut c = CgroupsLookupClient::new(
        ep(dir, "svc"),
        ClientConfig::new(TOKEN).with_profiles(profiles, profiles),
    );
    c.refresh();
    assert!(c.ready());
    c
}

fn check_cgroups(profiles: Profiles) {
    let dir = tempfile::tempdir().unwrap();
    let _s = server(
        dir.path(),
        profiles,
        LOOKUP_RESPONSE_PAYLOAD,
        cgroups_lookup::handler(known_or_gone),
    );
    let mut client = cg_client(dir.path(), profiles);
    assert_eq!(client.status().profile, Some(profiles));
    let paths = ["/docker/abc", "/gone/x", "/later/y", "/docker/def"];
    let view = client.call_lookup(&paths).unwrap();
    assert_eq!(view.generation(), 11);
    let got: Vec<_> = view
        .iter()
        .map(|i| (i.path(), i.status(), i.name(), i.label_count()))
        .collect();
    assert_eq!(
        got,
        [
            (&b"/docker/abc"[..], Status::Known, &b"web"[..], 2),
            (b"/gone/x", Status::UnknownPermanent, b"", 0),
            (b"/later/y", Status::UnknownRetryLater, b"", 0),
            (b"/docker/def", Status::Known, b"web", 2),
        ]
    );
    assert_eq!(view.item(0).unwrap().orchestrator(), Orchestrator::DOCKER);
}

#[test]
fn cgroups_lookup_over_uds() {
    check_cgroups(Profiles::BASELINE);
}

#[test]
fn cgroups_lookup_over_shm() {
    check_cgroups(Profiles::SHM_HYBRID);
}

fn check_apps(profiles: Profiles) {
    let dir = tempfile::tempdir().unwrap();
    let _s = server(
        dir.path(),
        profiles,
        LOOKUP_RESPONSE_PAYLOAD,
        apps_service::handler(|request, reply| {
            for pid in request.iter() {
                let answer = match pid {
                    1 => apps_lookup::Answer {
                        comm: b"systemd",
                        uid: 0,
                        starttime: 2,
                        cgroup_status: CgroupStatus::HostRoot,
                        ..apps_lookup::Answer::KNOWN
                    },
                    42 => apps_lookup::Answer {
                        comm: b"nginx",
                        ppid: 1,
                        uid: 33,
                        starttime: 12_345,
                        cgroup_path: b"/sys/fs/cgroup/docker-abc.scope",
                        cgroup_name: b"web",
                        orchestrator: Orchestrator::DOCKER,
                        ..apps_lookup::Answer::KNOWN
                    },
                    _ => apps_lookup::Answer::UNKNOWN,
                };
                reply.add(&answer)?;
            }
            reply.set_generation(5);
            Ok(())
        }),
    );
    let mut client = AppsLookupClient::new(
        ep(dir.path(), "svc"),
        ClientConfig::new(TOKEN).with_profiles(profiles, profiles),
    );
    client.refresh();
    let pids: Vec<u32> = (0..200).map(|i| [1, 42, 7][i % 3]).collect();
    let view = client.call_lookup(&pids).unwrap();
    assert_eq!((view.len(), view.generation()), (200, 5));
    for (item, &pid) in view.iter().zip(&pids) {
        assert_eq!(item.pid(), pid);
        match pid {
            1 => assert_eq!(
                (item.status(), item.cgroup_status(), item.comm()),
                (PidStatus::Known, CgroupStatus::HostRoot, &b"systemd"[..])
            ),
            42 => {
                assert_eq!((item.ppid(), item.uid(), item.starttime()), (1, 33, 12_345));
                assert_eq!(item.cgroup_name(), b"web");
            }
            _ => {
                assert_eq!(item.status(), PidStatus::Unknown);
                assert_eq!(item.uid(), apps_lookup::UID_UNSET);
            }
        }
    }
}

#[test]
fn apps_lookup_over_uds() {
    check_apps(Profiles::BASELINE);
}

#[test]
fn apps_lookup_over_shm() {
    check_apps(Profiles::SHM_HYBRID);
}

#[test]
fn the_adapter_applies_the_response_budget_in_process() {
    let handler = cgroups_lookup::handler(known_or_gone);
    let mut request = Vec::new();
    encode_request(&mut request, &["/docker/a", "/docker/b", "/docker/c"]).unwrap();
    let mut expected = Vec::new();
    let view = RequestView::decode(&request).unwrap();
    let mut reply = ReplyBuilder::new(&mut expected, view, 260);
    known_or_gone(view, &mut reply).unwrap();
    reply.finish().unwrap();
    let mut out = vec![0xAA];
    handler.serve_within(&request, &mut out, 260).unwrap();
    assert_eq!(&out[1..], &expected[..]);
    let statuses: Vec<_> = netipc::codec::lookup::cgroups_lookup::ResponseView::decode(&out[1..])
        .unwrap()
        .iter()
        .map(|i| i.status())
        .collect();
    assert_eq!(
        statuses,
        [
            Status::Known,
            Status::PayloadExceeded,
            Status::PayloadExceeded
        ]
    );
}

/// Sends one raw request and returns the response's transport status.
fn raw_status(dir: &std::path::Path, method: Method, payload: &[u8], batch: bool) -> Wire {
    let mut proposal = ClientProposal {
        supported: Profiles::BASELINE,
        preferred: Profiles::BASELINE,
        auth_token: TOKEN,
        ..ClientProposal::default()
    };
    proposal.max_request_payload = 1_024;
    proposal.max_request_batch_items = 4;
    proposal.max_response_batch_items = 4;
    let mut session =
        ClientSession::connect(&ep(dir, "svc"), &SessionConfig::new(proposal)).unwrap();
    let header = if batch {
        Header::batch_request(method, payload.len() as u32, 1, 1)
    } else {
        Header::request(method, payload.len() as u32, 1)
    };
    session.call(&header, payload).unwrap().status().unwrap()
}

#[test]
fn undecodable_requests_batches_and_other_methods_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _s = server(
        dir.path(),
        Profiles::BASELINE,
        LOOKUP_RESPONSE_PAYLOAD,
        cgroups_lookup::handler(known_or_gone),
    );
    let mut good = Vec::new();
    encode_request(&mut good, &["/docker/a"]).unwrap();
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &good, false),
        Wire::Ok
    );
    let mut bad = good.clone();
    bad[0] = 2; // layout_version
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &bad, false),
        Wire::BadEnvelope
    );
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &good[..10], false),
        Wire::BadEnvelope
    );
    let mut batch = vec![0u8; 8];
    batch[4..8].copy_from_slice(&(good.len() as u32).to_ne_bytes());
    batch.extend_from_slice(&good);
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &batch, true),
        Wire::BadEnvelope
    );
    assert_eq!(
        raw_status(dir.path(), Method::AppsLookup, &good, false),
        Wire::Unsupported
    );

    // The typed client of the other method sees UNSUPPORTED.
    let mut apps =
        AppsLookupClient::new(ep(dir.path(), "svc"), ClientConfig::new(TOKEN).uds_only());
    apps.refresh();
    match apps.call_lookup(&[1]).unwrap_err() {
        LookupCallError::Call(CallError::Status(Wire::Unsupported)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_handler_that_leaves_keys_unanswered_gets_bad_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let _s = server(
        dir.path(),
        Profiles::BASELINE,
        LOOKUP_RESPONSE_PAYLOAD,
        cgroups_lookup::handler(|_request, reply| {
            reply.add(&Answer::UNKNOWN_PERMANENT)?;
            Ok(())
        }),
    );
    let mut good = Vec::new();
    encode_request(&mut good, &["/a", "/b"]).unwrap();
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &good, false),
        Wire::BadEnvelope
    );
    // A handler error that is not the builder's is INTERNAL_ERROR.
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        dir.path(),
        Profiles::BASELINE,
        LOOKUP_RESPONSE_PAYLOAD,
        cgroups_lookup::handler(|_request, _reply| Err(HandlerError::new("no data"))),
    );
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &good, false),
        Wire::InternalError
    );
    assert_eq!(s.stats().handler_failures, 1);
    // A builder layout error the handler returns is BAD_ENVELOPE.
    let dir = tempfile::tempdir().unwrap();
    let _s = server(
        dir.path(),
        Profiles::BASELINE,
        LOOKUP_RESPONSE_PAYLOAD,
        cgroups_lookup::handler(|_request, reply| {
            reply.add(&Answer::known(Orchestrator::SYSTEMD, b"a\0b", &[]))?;
            Ok(())
        }),
    );
    assert_eq!(
        raw_status(dir.path(), Method::CgroupsLookup, &good, false),
        Wire::BadEnvelope
    );
}

#[test]
fn placeholders_over_the_response_limit_are_limit_exceeded_then_learned() {
    let dir = tempfile::tempdir().unwrap();
    // 64 bytes cannot hold the placeholders of 10 keys: LIMIT_EXCEEDED;
    // the server learns twice the limit per round and the client's
    // overflow recovery reconnects until the answer fits.
    let s = server(
        dir.path(),
        Profiles::BASELINE,
        64,
        cgroups_lookup::handler(known_or_gone),
    );
    let mut client = cg_client(dir.path(), Profiles::BASELINE);
    let paths: Vec<String> = (0..10).map(|i| format!("/gone/{i}")).collect();
    let view = client.call_lookup(&paths).unwrap();
    assert_eq!(view.len(), 10);
    assert!(view.iter().all(|i| i.status() == Status::UnknownPermanent));
    assert!(client.status().overflow_recoveries >= 1);
    assert!(s.stats().learned_response >= 512, "{:?}", s.stats());
}
