//! Property tests for the lookup codecs: round trips of arbitrary valid
//! requests and responses (labels and empty strings included), the §17
//! budget rules of the request-backed builders against an independent model,
//! and arbitrary or mutated bytes never making a decoder panic.

mod lookup_common;

use lookup_common::{decode_apps, decode_cg, encode_apps, encode_cg, AppItem, CgItem, OwnedLabels};
use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus, UID_UNSET};
use netipc::codec::lookup::cgroups_lookup::{self, Status};
use netipc::codec::lookup::Added;
use proptest::collection::vec;
use proptest::prelude::*;

fn text(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, min..=max)
}

fn labels() -> impl Strategy<Value = OwnedLabels> {
    vec((text(1, 12), text(0, 12)), 0..4)
}

fn cg_status() -> impl Strategy<Value = Status> {
    (0u16..5).prop_map(|c| Status::from_code(c).unwrap())
}

fn cg_item() -> impl Strategy<Value = CgItem> {
    (
        cg_status(),
        any::<u16>(),
        text(1, 48),
        text(0, 20),
        labels(),
    )
        .prop_map(|(status, orchestrator, path, name, labels)| {
            if status == Status::Known {
                CgItem {
                    status,
                    orchestrator,
                    path,
                    name,
                    labels,
                }
            } else {
                CgItem {
                    status,
                    orchestrator: 0,
                    path,
                    name: vec![],
                    labels: vec![],
                }
            }
        })
}

fn app_item() -> impl Strategy<Value = AppItem> {
    (
        (
            0u16..4,
            0u16..4,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            any::<u64>(),
            text(1, 15),
            text(0, 60),
            text(0, 16),
            labels(),
        ),
    )
        .prop_map(
            |((s, cs, orchestrator, pid, ppid, uid), (starttime, comm, path, name, labels))| {
                let status = PidStatus::from_code(s).unwrap();
                let cgroup_status = CgroupStatus::from_code(cs).unwrap();
                if status != PidStatus::Known {
                    return AppItem {
                        status,
                        cgroup_status: CgroupStatus::Known,
                        orchestrator: 0,
                        pid,
                        ppid: 0,
                        uid: UID_UNSET,
                        starttime: 0,
                        comm: vec![],
                        cgroup_path: vec![],
                        cgroup_name: vec![],
                        labels: vec![],
                    };
                }
                let mut it = AppItem {
                    status,
                    cgroup_status,
                    orchestrator,
                    pid,
                    ppid,
                    uid,
                    starttime,
                    comm,
                    cgroup_path: path,
                    cgroup_name: name,
                    labels,
                };
                match cgroup_status {
                    CgroupStatus::Known => {}
                    _ => {
                        it.orchestrator = 0;
                        it.cgroup_name.clear();
                        it.labels.clear();
                    }
                }
                match cgroup_status {
                    CgroupStatus::Known | CgroupStatus::UnknownPermanent
                        if it.cgroup_path.is_empty() =>
                    {
                        it.cgroup_path.push(b'/')
                    }
                    CgroupStatus::HostRoot => it.cgroup_path.clear(),
                    _ => {}
                }
                it
            },
        )
}

fn align8(x: usize) -> usize {
    (x + 7) & !7
}

/// Length of a canonical CGROUPS_LOOKUP item (§15.2, §14.6).
fn cg_len(it: &CgItem) -> usize {
    let fixed = 30 + it.path.len() + it.name.len();
    if it.labels.is_empty() {
        fixed
    } else {
        align8(fixed)
            + it.labels
                .iter()
                .map(|(k, v)| 16 + k.len() + v.len() + 2)
                .sum::<usize>()
    }
}

/// Length of a canonical APPS_LOOKUP item (§16.2, §14.6).
fn app_len(it: &AppItem) -> usize {
    let fixed = 63 + it.comm.len() + it.cgroup_path.len() + it.cgroup_name.len();
    if it.labels.is_empty() {
        fixed
    } else {
        align8(fixed)
            + it.labels
                .iter()
                .map(|(k, v)| 16 + k.len() + v.len() + 2)
                .sum::<usize>()
    }
}

/// Independent model of §17.2–§17.3: the outcome per key, or `None` when a
/// placeholder does not fit the budget (OVERFLOW).
fn model(lens: &[usize], placeholders: &[usize], budget: usize) -> Option<Vec<Added>> {
    let n = lens.len();
    // S[i] for i in 0..=n.
    let mut s = vec![0usize; n + 1];
    for i in (0..n).rev() {
        s[i] = if i == n - 1 {
            placeholders[i]
        } else {
            align8(placeholders[i]) + s[i + 1]
        };
    }
    let mut end = 16 + 8 * n;
    let mut sticky = false;
    let mut out = Vec::new();
    for k in 0..n {
        let start = if k == 0 { end } else { align8(end) };
        let outcome = if sticky {
            Added::PayloadExceeded
        } else {
            let e = start + lens[k];
            if e <= budget && align8(e) + s[k + 1] <= budget {
                Added::Item
            } else if k == 0 {
                Added::OversizedItem
            } else {
                Added::PayloadExceeded
            }
        };
        let len = if outcome == Added::Item {
            lens[k]
        } else {
            placeholders[k]
        };
        if outcome != Added::Item && start + len > budget {
            return None;
        }
        sticky |= outcome == Added::PayloadExceeded;
        end = start + len;
        out.push(outcome);
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cgroups_requests_round_trip(paths in vec(text(1, 64), 0..40)) {
        let mut buf = Vec::new();
        let n = cgroups_lookup::encode_request(&mut buf, &paths).unwrap();
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(n as u64, cgroups_lookup::request_len(&paths));
        let view = cgroups_lookup::RequestView::decode(&buf).unwrap();
        prop_assert!(view.iter().eq(paths.iter().map(|p| &p[..])));
        prop_assert_eq!(view.len(), paths.len());
    }

    #[test]
    fn apps_requests_round_trip(pids in vec(any::<u32>(), 0..100)) {
        let mut buf = Vec::new();
        let n = apps_lookup::encode_request(&mut buf, &pids).unwrap();
        prop_assert_eq!(n as u64, apps_lookup::request_len(pids.len()));
        let view = apps_lookup::RequestView::decode(&buf).unwrap();
        prop_assert!(view.iter().eq(pids.iter().copied()));
    }

    #[test]
    fn cgroups_responses_round_trip(items in vec(cg_item(), 0..12), generation: u64, hint in 0usize..20) {
        let bytes = encode_cg(generation, &items, hint);
        let expected: usize = 16 + 8 * items.len()
            + items.iter().enumerate().fold(0, |end, (i, it)| if i == 0 { cg_len(it) } else { align8(end) + cg_len(it) });
        prop_assert_eq!(bytes.len(), expected);
        prop_assert_eq!(decode_cg(&bytes), (generation, items.clone()));
        // Copying the decoded items gives the same bytes (stitching).
        let view = cgroups_lookup::ResponseView::decode(&bytes).unwrap();
        let mut copy = Vec::new();
        let mut b = cgroups_lookup::ResponseBuilder::new(&mut copy, generation, 0);
        for it in view.iter() { b.push_item(&it).unwrap(); }
        b.finish().unwrap();
        prop_assert_eq!(copy, bytes);
    }

    #[test]
    fn apps_responses_round_trip(items in vec(app_item(), 0..12), generation: u64, hint in 0usize..20) {
        let bytes = encode_apps(generation, &items, hint);
        prop_assert_eq!(decode_apps(&bytes), (generation, items.clone()));
        let view = apps_lookup::ResponseView::decode(&bytes).unwrap();
        let mut copy = Vec::new();
        let mut b = apps_lookup::ResponseBuilder::new(&mut copy, generation, 3);
        for it in view.iter() { b.push_item(&it).unwrap(); }
        b.finish().unwrap();
        prop_assert_eq!(copy, bytes);
    }

    #[test]
    fn cgroups_reply_follows_the_budget_rules(items in vec(cg_item(), 0..10), budget in 16usize..1200, stop_early: bool) {
        let paths: Vec<&[u8]> = items.iter().map(|i| &i.path[..]).collect();
        let mut req = Vec::new();
        cgroups_lookup::encode_request(&mut req, &paths).unwrap();
        let request = cgroups_lookup::RequestView::decode(&req).unwrap();
        let lens: Vec<usize> = items.iter().map(cg_len).collect();
        let ph: Vec<usize> = items.iter().map(|i| 30 + i.path.len()).collect();
        let want = model(&lens, &ph, budget);

        let mut buf = Vec::new();
        let mut b = cgroups_lookup::ReplyBuilder::new(&mut buf, request, budget);
        let mut got = Vec::new();
        let mut failed = false;
        for it in &items {
            prop_assert_eq!(b.next_key(), Some(&it.path[..]));
            if stop_early && b.is_exceeded() { break; }
            match it.with_answer(|a| b.add(a)) {
                Ok(o) => got.push(o),
                Err(e) => { prop_assert_eq!(e.kind().name(), "OVERFLOW"); failed = true; break; }
            }
        }
        let Some(want) = want else {
            let finished = if failed {
                drop(b);
                false
            } else {
                b.finish().is_ok()
            };
            prop_assert!(!finished, "placeholders cannot fit");
            prop_assert!(buf.is_empty(), "a failed builder leaves nothing behind");
            return Ok(());
        };
        prop_assert!(!failed);
        prop_assert_eq!(&got[..], &want[..got.len()]);
        b.set_generation(5);
        let n = b.finish().unwrap();
        prop_assert!(n <= budget);
        let (generation, out) = decode_cg(&buf);
        prop_assert_eq!(generation, 5);
        prop_assert_eq!(out.len(), items.len());
        for ((o, it), w) in out.iter().zip(&items).zip(&want) {
            prop_assert_eq!(&o.path, &it.path, "every item echoes its key");
            match w {
                Added::Item => prop_assert_eq!(o, it),
                Added::OversizedItem => prop_assert_eq!(o.status, Status::OversizedItem),
                Added::PayloadExceeded => prop_assert_eq!(o.status, Status::PayloadExceeded),
            }
        }
        // With room for everything the reply is the plain builder's response.
        if want.iter().all(|w| *w == Added::Item) {
            prop_assert_eq!(&buf, &encode_cg(5, &items, 0));
        }
    }

    #[test]
    fn apps_reply_follows_the_budget_rules(items in vec(app_item(), 0..10), budget in 16usize..1500) {
        let pids: Vec<u32> = items.iter().map(|i| i.pid).collect();
        let mut req = Vec::new();
        apps_lookup::encode_request(&mut req, &pids).unwrap();
        let request = apps_lookup::RequestView::decode(&req).unwrap();
        let lens: Vec<usize> = items.iter().map(app_len).collect();
        let want = model(&lens, &vec![63; items.len()], budget);
        let mut buf = Vec::new();
        let mut b = apps_lookup::ReplyBuilder::new(&mut buf, request, budget);
        let mut got = Vec::new();
        for it in &items {
            match it.with_answer(|a| b.add(a)) {
                Ok(o) => got.push(o),
                Err(e) => { prop_assert_eq!(e.kind().name(), "OVERFLOW"); break; }
            }
        }
        let Some(want) = want else {
            prop_assert!(got.len() < items.len() || b.finish().is_err());
            return Ok(());
        };
        prop_assert_eq!(&got, &want);
        b.set_generation(u64::MAX);
        prop_assert!(b.finish().unwrap() <= budget);
        let (generation, out) = decode_apps(&buf);
        prop_assert_eq!(generation, u64::MAX);
        for ((o, it), w) in out.iter().zip(&items).zip(&want) {
            prop_assert_eq!(o.pid, it.pid);
            match w {
                Added::Item => prop_assert_eq!(o, it),
                Added::OversizedItem => prop_assert_eq!(o.status, PidStatus::OversizedItem),
                Added::PayloadExceeded => prop_assert_eq!(o.status, PidStatus::PayloadExceeded),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_payloads_never_panic(
        cg in vec(cg_item(), 0..5),
        apps in vec(app_item(), 0..5),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let paths: Vec<&[u8]> = cg.iter().map(|i| &i.path[..]).collect();
        let pids: Vec<u32> = apps.iter().map(|i| i.pid).collect();
        let mut cg_req = Vec::new();
        cgroups_lookup::encode_request(&mut cg_req, &paths).unwrap();
        let mut apps_req = Vec::new();
        apps_lookup::encode_request(&mut apps_req, &pids).unwrap();
        for mut bytes in [encode_cg(1, &cg, 0), encode_apps(2, &apps, 0), cg_req, apps_req] {
            for (at, value) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *value;
            }
            decode_everything(&bytes);
            decode_everything(&bytes[..cut.index(bytes.len() + 1)]);
        }
    }
}

/// Runs every decoder; whatever they accept must be fully readable.
fn decode_everything(bytes: &[u8]) {
    if let Ok(v) = cgroups_lookup::RequestView::decode(bytes) {
        assert_eq!(v.iter().count(), v.len());
        assert!(v.iter().all(|k| !k.is_empty() && !k.contains(&0)));
    }
    if let Ok(v) = apps_lookup::RequestView::decode(bytes) {
        assert_eq!(v.iter().count(), v.len());
    }
    if cgroups_lookup::ResponseView::decode(bytes).is_ok() {
        decode_cg(bytes);
    }
    if apps_lookup::ResponseView::decode(bytes).is_ok() {
        decode_apps(bytes);
    }
    for r in [
        cgroups_lookup::RequestView::decode(bytes).err(),
        apps_lookup::RequestView::decode(bytes).err(),
        cgroups_lookup::ResponseView::decode(bytes).err(),
        apps_lookup::ResponseView::decode(bytes).err(),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(i) = r.index() {
            let count = u32::from_ne_bytes(bytes[4..8].try_into().unwrap());
            assert!((i as u64) < u64::from(count));
        }
        assert!(!r.to_string().is_empty());
    }
}
