//! The client's split, retry and stitch of a logical lookup call
//! (PROTOCOL-LOOKUP §18), against well-behaved servers and against hostile
//! ones that break one rule each.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{
    Answer, ReplyBuilder, RequestView, ResponseBuilder, Status,
};
use netipc::codec::lookup::{ErrorKind, Label, LookupError, Orchestrator};
use netipc::service::apps_lookup::{self as apps_service, AppsLookupClient};
use netipc::service::cgroups_lookup::{self, CgroupsLookupClient};
use netipc::service::lookup::{LookupCallError, LookupConfig};
use netipc::service::{ClientConfig, Handler, ManagedServer, Method, ServeError, ServerConfig};
use support::{ep, TOKEN};

const GENERATION: u64 = 7;

/// The well-behaved provider's answer: paths under `/gone` are unknown,
/// any other path is a systemd unit named after its last component.
fn answer_cg(
    path: &[u8],
    add: impl FnOnce(&Answer<'_>) -> Result<(), LookupError>,
) -> Result<(), LookupError> {
    if path.starts_with(b"/gone") {
        return add(&Answer::UNKNOWN_PERMANENT);
    }
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let name = if name.is_empty() { path } else { name };
    let labels = [Label::new(b"unit", name)];
    add(&Answer::known(Orchestrator::SYSTEMD, name, &labels))
}

fn answer_all(
    request: RequestView<'_>,
    reply: &mut ReplyBuilder<'_, '_>,
) -> Result<(), LookupError> {
    for path in request.iter() {
        if reply.is_exceeded() {
            break;
        }
        answer_cg(path, |a| reply.add(a).map(drop))?;
    }
    reply.set_generation(GENERATION);
    Ok(())
}

fn cg_server(dir: &std::path::Path, response_limit: u32) -> ManagedServer {
    ManagedServer::start(
        ep(dir, "cg"),
        ServerConfig::new(TOKEN)
            .uds_only()
            .with_request_payload(4_096)
            .with_response_payload(response_limit),
        cgroups_lookup::handler(|request, reply| Ok(answer_all(request, reply)?)),
    )
    .unwrap()
}

fn cg_client(dir: &std::path::Path, lookup: LookupConfig) -> CgroupsLookupClient {
    let mut client = CgroupsLookupClient::with_lookup_config(
        ep(dir, "cg"),
        ClientConfig::new(TOKEN).uds_only(),
        lookup,
    );
    client.refresh();
    assert!(client.ready());
    client
}

/// What one response holding every answer looks like; `oversized` keys
/// get the OVERSIZED_ITEM placeholder.
fn expected_cg(paths: &[Vec<u8>], oversized: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = ResponseBuilder::new(&mut out, GENERATION, paths.len());
    for path in paths {
        if oversized(path) {
            b.push(path, &Answer::empty(Status::OversizedItem)).unwrap();
        } else {
            answer_cg(path, |a| b.push(path, a)).unwrap();
        }
    }
    b.finish().unwrap();
    out
}

fn paths(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            if i % 5 == 3 {
                format!("/gone/{i}").into_bytes()
            } else {
                format!("/sys/fs/cgroup/system.slice/unit-{i}.service").into_bytes()
            }
        })
        .collect()
}

#[test]
fn sixty_five_thousand_paths_across_sub_calls() {
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let keys = paths(65_536);
    let view = client.call_lookup(&keys).unwrap();
    assert_eq!(view.len(), 65_536);
    assert_eq!(view.generation(), GENERATION);
    assert_eq!(view.as_bytes(), &expected_cg(&keys, |_| false)[..]);
    let requests = server.stats().requests;
    assert!(requests > 1_000, "{requests} sub-calls");
    assert!(requests <= 4_096, "{requests} sub-calls");
    // One more key is over the ceiling: refused before any I/O.
    let more = paths(65_537);
    match client.call_lookup(&more) {
        Err(
            e @ LookupCallError::TooManyKeys {
                count: 65_537,
                max: 65_536,
            },
        ) => {
            assert_eq!(e.kind(), Some(ErrorKind::Overflow))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.stats().requests, requests);
}

#[test]
fn payload_exceeded_suffixes_are_asked_again_and_stitched_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    // 2 048 bytes hold the placeholders of a full request but not all its
    // answers: sub-responses end in a PAYLOAD_EXCEEDED suffix.
    let server = cg_server(dir.path(), 2_048);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let keys = paths(300);
    let view = client.call_lookup(&keys).unwrap();
    assert_eq!(view.as_bytes(), &expected_cg(&keys, |_| false)[..]);
    assert!(view
        .iter()
        .all(|i| i.status() != Status::PayloadExceeded && i.status() != Status::OversizedItem));
    // More sub-calls than the request limit alone needs, all in the first
    // session (no LIMIT_EXCEEDED).
    let stats = server.stats();
    assert_eq!(stats.sessions_served, 1, "{stats:?}");
    let roomy_dir = tempfile::tempdir().unwrap();
    let roomy = cg_server(roomy_dir.path(), 65_536);
    let mut roomy_client = cg_client(roomy_dir.path(), LookupConfig::default());
    roomy_client.call_lookup(&keys).unwrap();
    assert!(
        stats.requests > roomy.stats().requests + 2,
        "{stats:?} vs {:?}",
        roomy.stats()
    );
}

#[test]
fn no_keys_make_one_call_for_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let none: [&[u8]; 0] = [];
    let view = client.call_lookup(&none).unwrap();
    assert_eq!((view.len(), view.generation()), (0, GENERATION));
    assert_eq!(view.as_bytes().len(), 16);
    assert_eq!(server.stats().requests, 1);
}

#[test]
fn duplicate_keys_in_the_request_are_each_answered() {
    let dir = tempfile::tempdir().unwrap();
    let _server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let keys = vec![
        b"/a/x.service".to_vec(),
        b"/a/x.service".to_vec(),
        b"/gone".to_vec(),
    ];
    let view = client.call_lookup(&keys).unwrap();
    assert_eq!(view.as_bytes(), &expected_cg(&keys, |_| false)[..]);
}

#[test]
fn a_key_larger_than_the_request_limit_is_oversized_locally() {
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let mut long = b"/sys/fs/cgroup/".to_vec();
    long.resize(2_000, b'l');
    let mut keys = paths(40);
    keys.insert(17, long.clone());
    keys.push(long.clone());
    let view = client.call_lookup(&keys).unwrap();
    let oversized = |p: &[u8]| p.len() == 2_000;
    assert_eq!(view.as_bytes(), &expected_cg(&keys, oversized)[..]);
    let item = view.item(17).unwrap();
    assert_eq!(item.status(), Status::OversizedItem);
    assert_eq!(item.path(), &long[..]);
    assert_eq!(
        item.as_bytes().len(),
        30 + 2_000,
        "same bytes as a server placeholder"
    );
    // The last key was answered locally: one zero-key sub-call still
    // confirmed the generation, and the session was never renegotiated.
    assert_eq!(client.status().reconnects, 0);
    assert!(server.stats().requests >= 3);

    // Only long keys: every item is local, one empty request remains.
    let before = server.stats().requests;
    let view = client.call_lookup(&[&long, &long]).unwrap();
    assert_eq!((view.len(), view.generation()), (2, GENERATION));
    assert_eq!(server.stats().requests, before + 1);
}

#[test]
fn a_key_larger_than_the_request_limit_reconnects_for_more_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let _server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(
        dir.path(),
        LookupConfig::default().with_request_ceiling(4_096),
    );
    assert_eq!(client.status().limits.unwrap().max_request_payload, 1_024);
    let mut long = b"/sys/fs/cgroup/".to_vec();
    long.resize(2_000, b'l');
    let mut keys = paths(30);
    keys.insert(5, long);
    let view = client.call_lookup(&keys).unwrap();
    assert_eq!(view.as_bytes(), &expected_cg(&keys, |_| false)[..]);
    assert_eq!(view.item(5).unwrap().status(), Status::Known);
    let status = client.status();
    assert_eq!(status.reconnects, 1);
    assert_eq!(status.limits.unwrap().max_request_payload, 2_048);
}

/// A provider that breaks one rule of §18.5 on purpose.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Misbehaviour {
    /// Every response carries a new generation.
    NewGenerationEachTime,
    /// One item too few.
    DropsTheLastItem,
    /// Items 0 and 1 echo each other's key.
    SwapsTwoKeys,
    /// Item 1 echoes key 0.
    DuplicatesAKey,
    /// Every item is PAYLOAD_EXCEEDED.
    ExceedsAtIndexZero,
    /// Item 1 is PAYLOAD_EXCEEDED, item 2 is KNOWN again.
    BreaksTheSuffix,
    /// Answers correctly after 300 ms.
    Slow,
}

struct Hostile {
    how: Misbehaviour,
    calls: AtomicU64,
}

impl Handler for Hostile {
    fn method(&self) -> Method {
        Method::CgroupsLookup
    }
    fn allows_batch(&self) -> bool {
        false
    }
    fn serve(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), ServeError> {
        let request = RequestView::decode(request).map_err(|_| ServeError::BadRequest)?;
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let generation = match self.how {
            Misbehaviour::NewGenerationEachTime => 100 + call,
            _ => GENERATION,
        };
        if self.how == Misbehaviour::Slow {
            std::thread::sleep(Duration::from_millis(300));
        }
        let keys: Vec<&[u8]> = request.iter().collect();
        let mut b = ResponseBuilder::new(out, generation, keys.len());
        for (i, &key) in keys.iter().enumerate() {
            let echoed = match (self.how, i) {
                (Misbehaviour::SwapsTwoKeys, 0) if keys.len() > 1 => keys[1],
                (Misbehaviour::SwapsTwoKeys, 1) => keys[0],
                (Misbehaviour::DuplicatesAKey, 1) => keys[0],
                _ => key,
            };
            let exceeded = match self.how {
                Misbehaviour::ExceedsAtIndexZero => true,
                Misbehaviour::BreaksTheSuffix => i == 1,
                _ => false,
            };
            if self.how == Misbehaviour::DropsTheLastItem && i + 1 == keys.len() {
                break;
            }
            if exceeded {
                b.push(echoed, &Answer::empty(Status::PayloadExceeded))
                    .unwrap();
            } else {
                answer_cg(echoed, |a| b.push(echoed, a)).unwrap();
            }
        }
        b.finish().unwrap();
        Ok(())
    }
}

fn hostile(dir: &std::path::Path, how: Misbehaviour) -> ManagedServer {
    ManagedServer::start(
        ep(dir, "cg"),
        ServerConfig::new(TOKEN)
            .uds_only()
            .with_response_payload(65_536),
        Hostile {
            how,
            calls: AtomicU64::new(0),
        },
    )
    .unwrap()
}

/// Runs a lookup of `n` keys against a hostile provider; returns the
/// error and checks that the session survived (§18.7).
fn against(how: Misbehaviour, n: usize, lookup: LookupConfig) -> LookupCallError {
    let dir = tempfile::tempdir().unwrap();
    let _server = hostile(dir.path(), how);
    let mut client = cg_client(dir.path(), lookup);
    let err = client.call_lookup(&paths(n)).unwrap_err();
    assert!(client.ready(), "{how:?}: the session is kept");
    err
}

#[test]
fn a_generation_change_between_sub_calls_fails_the_whole_call() {
    // One sub-call: nothing to compare, the call succeeds.
    let dir = tempfile::tempdir().unwrap();
    let _server = hostile(dir.path(), Misbehaviour::NewGenerationEachTime);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    assert_eq!(client.call_lookup(&paths(3)).unwrap().generation(), 100);
    // Several sub-calls: the second one differs.
    match client.call_lookup(&paths(100)).unwrap_err() {
        e @ LookupCallError::GenerationChanged {
            first: 101,
            now: 102,
        } => {
            assert_eq!(e.kind(), Some(ErrorKind::BadLayout))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_item_count_fails_the_call() {
    match against(Misbehaviour::DropsTheLastItem, 10, LookupConfig::default()) {
        e @ LookupCallError::ItemCount {
            expected: 10,
            got: 9,
        } => {
            assert_eq!(e.kind(), Some(ErrorKind::BadItemCount))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reordered_keys_fail_the_call() {
    match against(Misbehaviour::SwapsTwoKeys, 10, LookupConfig::default()) {
        e @ LookupCallError::EchoMismatch { index: 0 } => {
            assert_eq!(e.kind(), Some(ErrorKind::BadLayout))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicated_echoes_fail_the_call() {
    match against(Misbehaviour::DuplicatesAKey, 10, LookupConfig::default()) {
        LookupCallError::EchoMismatch { index: 1 } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn payload_exceeded_at_index_zero_is_no_progress() {
    match against(
        Misbehaviour::ExceedsAtIndexZero,
        10,
        LookupConfig::default(),
    ) {
        e @ LookupCallError::NoProgress { index: 0 } => {
            assert_eq!(e.kind(), Some(ErrorKind::Overflow))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn payload_exceeded_must_be_a_suffix() {
    match against(Misbehaviour::BreaksTheSuffix, 10, LookupConfig::default()) {
        LookupCallError::BrokenSuffix { index: 2 } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_sub_call_ceiling_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default().with_max_subcalls(2));
    match client.call_lookup(&paths(200)).unwrap_err() {
        LookupCallError::TooManySubcalls { max: 2 } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(server.stats().requests, 2);
}

#[test]
fn a_call_answered_by_one_sub_call_and_a_split_one_give_the_same_bytes() {
    // 12 paths fit one 1 024-byte request: the sub-response is the answer
    // as it is. 120 paths need several sub-calls and are stitched. Either
    // way the caller sees the canonical response, and alternating the two
    // never leaves bytes of one call in the other.
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    let (small, large) = (paths(12), paths(120));
    for round in 0..2 {
        let before = server.stats().requests;
        let view = client.call_lookup(&small).unwrap();
        assert_eq!(view.as_bytes(), &expected_cg(&small, |_| false)[..]);
        assert_eq!(server.stats().requests, before + 1, "round {round}");
        let before = server.stats().requests;
        let view = client.call_lookup(&large).unwrap();
        assert_eq!(view.as_bytes(), &expected_cg(&large, |_| false)[..]);
        assert!(server.stats().requests > before + 1, "round {round}");
    }
}

#[test]
fn a_whole_sub_response_over_the_stitched_ceiling_is_refused() {
    // One sub-call answers all 5 paths, but the answer is larger than the
    // configured stitched-bytes ceiling: it is not handed out as it is.
    let dir = tempfile::tempdir().unwrap();
    let _server = cg_server(dir.path(), 65_536);
    let keys = paths(5);
    let need = expected_cg(&keys, |_| false).len();
    let mut client = cg_client(
        dir.path(),
        LookupConfig::default().with_max_response_bytes(need - 1),
    );
    match client.call_lookup(&keys).unwrap_err() {
        LookupCallError::ResponseTooLarge { max } => assert_eq!(max, need - 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_stitched_bytes_ceiling_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let _server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(
        dir.path(),
        LookupConfig::default().with_max_response_bytes(4_096),
    );
    match client.call_lookup(&paths(200)).unwrap_err() {
        e @ LookupCallError::ResponseTooLarge { max: 4_096 } => {
            assert_eq!(e.kind(), Some(ErrorKind::Overflow))
        }
        other => panic!("{other:?}"),
    }
    // Within the ceiling the same client succeeds.
    assert_eq!(client.call_lookup(&paths(5)).unwrap().len(), 5);
}

#[test]
fn one_deadline_covers_every_sub_call() {
    // Every sub-call takes 300 ms; the whole call has 500 ms: the second
    // sub-call runs out of time.
    let dir = tempfile::tempdir().unwrap();
    let server = hostile(dir.path(), Misbehaviour::Slow);
    let lookup = LookupConfig::default().with_timeout(Duration::from_millis(500));
    let mut client = cg_client(dir.path(), lookup);
    let started = std::time::Instant::now();
    match client.call_lookup(&paths(100)).unwrap_err() {
        LookupCallError::Call(netipc::service::CallError::Timeout) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        server.stats().requests <= 2,
        "no sub-call after the deadline"
    );
    assert!(
        !client.ready(),
        "a deadline inside a sub-call breaks the session"
    );
    // The context's own call timeout applies when the lookup sets none, and
    // an earlier deadline of the caller wins over the lookup's.
    let mut client = cg_client(dir.path(), LookupConfig::default());
    client.set_call_timeout(Duration::from_millis(100));
    assert!(matches!(
        client.call_lookup(&paths(100)),
        Err(LookupCallError::Call(netipc::service::CallError::Timeout))
    ));
}

#[test]
fn an_aborted_context_does_no_io() {
    let dir = tempfile::tempdir().unwrap();
    let server = cg_server(dir.path(), 65_536);
    let mut client = cg_client(dir.path(), LookupConfig::default());
    client.abort_handle().abort();
    match client.call_lookup(&paths(3)).unwrap_err() {
        LookupCallError::Call(netipc::service::CallError::Aborted) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(server.stats().requests, 0);
}

#[test]
fn a_client_that_is_not_ready_does_no_io() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = CgroupsLookupClient::new(
        ep(dir.path(), "nobody"),
        ClientConfig::new(TOKEN).uds_only(),
    );
    match client.call_lookup(&paths(3)).unwrap_err() {
        LookupCallError::Call(netipc::service::CallError::NotReady(_)) => {}
        other => panic!("{other:?}"),
    }
}

fn answer_pid(pid: u32, reply: &mut apps_lookup::ReplyBuilder<'_, '_>) -> Result<(), LookupError> {
    if pid >= 1_000_000 {
        return reply.add(&apps_lookup::Answer::UNKNOWN).map(drop);
    }
    let comm = format!("p{}", pid % 1_000);
    let path = format!("/sys/fs/cgroup/app-{}.scope", pid % 97);
    let answer = apps_lookup::Answer {
        ppid: pid / 2,
        uid: pid % 5,
        starttime: u64::from(pid) * 10,
        comm: comm.as_bytes(),
        cgroup_path: path.as_bytes(),
        cgroup_name: b"app",
        orchestrator: Orchestrator::SYSTEMD,
        cgroup_status: CgroupStatus::Known,
        ..apps_lookup::Answer::KNOWN
    };
    reply.add(&answer).map(drop)
}

#[test]
fn sixty_five_thousand_pids_across_sub_calls() {
    let dir = tempfile::tempdir().unwrap();
    let server = ManagedServer::start(
        ep(dir.path(), "apps"),
        ServerConfig::new(TOKEN)
            .uds_only()
            .with_response_payload(65_536),
        apps_service::handler(|request, reply| {
            for pid in request.iter() {
                answer_pid(pid, reply)?;
            }
            reply.set_generation(3);
            Ok(())
        }),
    )
    .unwrap();
    let mut client =
        AppsLookupClient::new(ep(dir.path(), "apps"), ClientConfig::new(TOKEN).uds_only());
    client.refresh();
    let pids: Vec<u32> = (0..65_536u32)
        .map(|i| if i % 9 == 0 { 2_000_000 + i } else { i })
        .collect();
    let view = client.call_lookup(&pids).unwrap();
    assert_eq!((view.len(), view.generation()), (65_536, 3));
    for (item, &pid) in view.iter().zip(&pids) {
        assert_eq!(item.pid(), pid);
        if pid >= 1_000_000 {
            assert_eq!(item.status(), PidStatus::Unknown);
        } else {
            assert_eq!(item.status(), PidStatus::Known);
            assert_eq!(item.starttime(), u64::from(pid) * 10);
            assert_eq!(item.comm(), format!("p{}", pid % 1_000).as_bytes());
        }
    }
    // 63 PIDs per 1 024-byte request.
    assert_eq!(server.stats().requests, (65_536 + 62) / 63);
}
