//! APPS_LOOKUP response: `ResponseView::decode`, every item accessor and
//! both builders.
//!
//! Checked properties:
//! * an error that names an item names one the header announced;
//! * every accepted item obeys the §16.3 rules as read back through the
//!   accessors (non-KNOWN items are empty with uid UID_UNSET; comm ≤ 15);
//! * forward, backward and indexed access agree;
//! * copying (`push_item`) and rebuilding from the fields (`push`, and the
//!   request-backed builder with an unlimited budget) succeed and decode to
//!   the same items; the two rebuilt payloads are identical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::lookup::apps_lookup::{
    encode_request, Answer, CgroupStatus, ItemView, PidStatus, ReplyBuilder, RequestView,
    ResponseBuilder, ResponseView, UID_UNSET,
};
use netipc::codec::lookup::{Added, Label, Orchestrator};
use netipc_fuzz::ne_u32;

#[derive(Debug, Clone, PartialEq)]
struct Owned {
    status: PidStatus,
    cgroup_status: CgroupStatus,
    orchestrator: u16,
    pid: u32,
    ppid: u32,
    uid: u32,
    starttime: u64,
    comm: Vec<u8>,
    path: Vec<u8>,
    name: Vec<u8>,
    labels: Vec<(Vec<u8>, Vec<u8>)>,
}

fn own(i: &ItemView<'_>) -> Owned {
    let labels: Vec<_> = i.labels().map(|l| (l.key.to_vec(), l.value.to_vec())).collect();
    assert_eq!(labels.len(), i.label_count());
    Owned {
        status: i.status(),
        cgroup_status: i.cgroup_status(),
        orchestrator: i.orchestrator().0,
        pid: i.pid(),
        ppid: i.ppid(),
        uid: i.uid(),
        starttime: i.starttime(),
        comm: i.comm().to_vec(),
        path: i.cgroup_path().to_vec(),
        name: i.cgroup_name().to_vec(),
        labels,
    }
}

fn items(bytes: &[u8]) -> (u64, Vec<Owned>) {
    let v = ResponseView::decode(bytes).expect("decodes");
    (v.generation(), v.iter().map(|i| own(&i)).collect())
}

fn with_answer<R>(o: &Owned, f: impl FnOnce(&Answer<'_>) -> R) -> R {
    let labels: Vec<Label<'_>> = o.labels.iter().map(|(k, v)| Label::new(k, v)).collect();
    f(&Answer {
        status: o.status,
        cgroup_status: o.cgroup_status,
        orchestrator: Orchestrator(o.orchestrator),
        ppid: o.ppid,
        uid: o.uid,
        starttime: o.starttime,
        comm: &o.comm,
        cgroup_path: &o.path,
        cgroup_name: &o.name,
        labels: &labels,
    })
}

fuzz_target!(|data: &[u8]| {
    let view = match ResponseView::decode(data) {
        Ok(v) => v,
        Err(e) => {
            if let Some(i) = e.index() {
                assert!(data.len() >= 16 && (i as u64) < u64::from(ne_u32(data, 4)));
            }
            return;
        }
    };
    let (generation, owned) = items(data);
    for (i, o) in owned.iter().enumerate() {
        assert_eq!(&own(&view.item(i).unwrap()), o);
        assert!(o.comm.len() <= 15);
        if o.status != PidStatus::Known {
            let empty = Owned {
                status: o.status,
                cgroup_status: CgroupStatus::Known,
                orchestrator: 0,
                pid: o.pid,
                ppid: 0,
                uid: UID_UNSET,
                starttime: 0,
                comm: vec![],
                path: vec![],
                name: vec![],
                labels: vec![],
            };
            assert_eq!(o, &empty, "item {i}");
        } else {
            assert!(!o.comm.is_empty());
        }
    }
    let back: Vec<Owned> = view.iter().rev().map(|i| own(&i)).collect();
    assert!(back.iter().rev().eq(owned.iter()));

    let mut copy = Vec::new();
    let mut b = ResponseBuilder::new(&mut copy, generation, 1);
    for item in view.iter() {
        b.push_item(&item).unwrap();
    }
    b.finish().unwrap();
    assert_eq!(items(&copy), (generation, owned.clone()));

    let mut rebuilt = Vec::new();
    let mut b = ResponseBuilder::new(&mut rebuilt, generation, 0);
    for o in &owned {
        with_answer(o, |a| b.push(o.pid, a)).expect("decoded items satisfy the builder");
    }
    b.finish().unwrap();
    assert_eq!(items(&rebuilt), (generation, owned.clone()));

    let pids: Vec<u32> = owned.iter().map(|o| o.pid).collect();
    let mut req = Vec::new();
    encode_request(&mut req, &pids).unwrap();
    let request = RequestView::decode(&req).unwrap();
    let mut replied = Vec::new();
    let mut r = ReplyBuilder::new(&mut replied, request, usize::MAX);
    for o in &owned {
        assert_eq!(with_answer(o, |a| r.add(a)), Ok(Added::Item));
    }
    r.set_generation(generation);
    r.finish().unwrap();
    assert_eq!(replied, rebuilt);
});
