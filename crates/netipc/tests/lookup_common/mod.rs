//! Owned models of lookup items shared by the lookup tests: built from the
//! golden vectors' JSON or from proptest strategies, compared with decoded
//! views, and turned into builder answers.

#![allow(dead_code)] // each test binary uses a different subset

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus, PidStatus};
use netipc::codec::lookup::cgroups_lookup::{self, Status};
use netipc::codec::lookup::{Label, Orchestrator};

pub type OwnedLabels = Vec<(Vec<u8>, Vec<u8>)>;

/// A CGROUPS_LOOKUP item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgItem {
    pub status: Status,
    pub orchestrator: u16,
    pub path: Vec<u8>,
    pub name: Vec<u8>,
    pub labels: OwnedLabels,
}

/// An APPS_LOOKUP item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppItem {
    pub status: PidStatus,
    pub cgroup_status: CgroupStatus,
    pub orchestrator: u16,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub starttime: u64,
    pub comm: Vec<u8>,
    pub cgroup_path: Vec<u8>,
    pub cgroup_name: Vec<u8>,
    pub labels: OwnedLabels,
}

pub fn borrow_labels(labels: &OwnedLabels) -> Vec<Label<'_>> {
    labels.iter().map(|(k, v)| Label::new(k, v)).collect()
}

fn own_labels<'a>(labels: impl Iterator<Item = Label<'a>>) -> OwnedLabels {
    labels.map(|l| (l.key.to_vec(), l.value.to_vec())).collect()
}

impl CgItem {
    pub fn of(v: &cgroups_lookup::ItemView<'_>) -> Self {
        let labels = own_labels(v.labels());
        assert_eq!(labels.len(), v.label_count(), "label_count vs labels()");
        assert_eq!(v.labels().rev().count(), labels.len(), "labels() backwards");
        Self {
            status: v.status(),
            orchestrator: v.orchestrator().0,
            path: v.path().to_vec(),
            name: v.name().to_vec(),
            labels,
        }
    }

    /// Runs `f` with this item's answer (everything but the path).
    pub fn with_answer<R>(&self, f: impl FnOnce(&cgroups_lookup::Answer<'_>) -> R) -> R {
        let labels = borrow_labels(&self.labels);
        f(&cgroups_lookup::Answer {
            status: self.status,
            orchestrator: Orchestrator(self.orchestrator),
            name: &self.name,
            labels: &labels,
        })
    }
}

impl AppItem {
    pub fn of(v: &apps_lookup::ItemView<'_>) -> Self {
        let labels = own_labels(v.labels());
        assert_eq!(labels.len(), v.label_count(), "label_count vs labels()");
        Self {
            status: v.status(),
            cgroup_status: v.cgroup_status(),
            orchestrator: v.orchestrator().0,
            pid: v.pid(),
            ppid: v.ppid(),
            uid: v.uid(),
            starttime: v.starttime(),
            comm: v.comm().to_vec(),
            cgroup_path: v.cgroup_path().to_vec(),
            cgroup_name: v.cgroup_name().to_vec(),
            labels,
        }
    }

    /// Runs `f` with this item's answer (everything but the PID).
    pub fn with_answer<R>(&self, f: impl FnOnce(&apps_lookup::Answer<'_>) -> R) -> R {
        let labels = borrow_labels(&self.labels);
        f(&apps_lookup::Answer {
            status: self.status,
            cgroup_status: self.cgroup_status,
            orchestrator: Orchestrator(self.orchestrator),
            ppid: self.ppid,
            uid: self.uid,
            starttime: self.starttime,
            comm: &self.comm,
            cgroup_path: &self.cgroup_path,
            cgroup_name: &self.cgroup_name,
            labels: &labels,
        })
    }
}

/// Encodes a CGROUPS_LOOKUP response with the plain builder.
pub fn encode_cg(generation: u64, items: &[CgItem], hint: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = cgroups_lookup::ResponseBuilder::new(&mut buf, generation, hint);
    for it in items {
        it.with_answer(|a| b.push(&it.path, a)).expect("push");
    }
    let n = b.finish().expect("finish");
    assert_eq!(n, buf.len());
    buf
}

/// Encodes an APPS_LOOKUP response with the plain builder.
pub fn encode_apps(generation: u64, items: &[AppItem], hint: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = apps_lookup::ResponseBuilder::new(&mut buf, generation, hint);
    for it in items {
        it.with_answer(|a| b.push(it.pid, a)).expect("push");
    }
    let n = b.finish().expect("finish");
    assert_eq!(n, buf.len());
    buf
}

/// Decodes a CGROUPS_LOOKUP response into owned items, checking that
/// forward, backward and random access agree.
pub fn decode_cg(bytes: &[u8]) -> (u64, Vec<CgItem>) {
    let v = cgroups_lookup::ResponseView::decode(bytes).expect("decode");
    let items: Vec<CgItem> = v.iter().map(|i| CgItem::of(&i)).collect();
    assert_eq!(items.len(), v.len());
    assert_eq!(v.is_empty(), items.is_empty());
    let back: Vec<CgItem> = v.iter().rev().map(|i| CgItem::of(&i)).collect();
    assert!(back.iter().rev().eq(items.iter()), "backward iteration");
    for (i, it) in items.iter().enumerate() {
        assert_eq!(&CgItem::of(&v.item(i).expect("item")), it);
    }
    assert!(v.item(items.len()).is_none());
    (v.generation(), items)
}

/// Decodes an APPS_LOOKUP response into owned items, checking that
/// forward, backward and random access agree.
pub fn decode_apps(bytes: &[u8]) -> (u64, Vec<AppItem>) {
    let v = apps_lookup::ResponseView::decode(bytes).expect("decode");
    let items: Vec<AppItem> = v.iter().map(|i| AppItem::of(&i)).collect();
    assert_eq!(items.len(), v.len());
    let back: Vec<AppItem> = v.iter().rev().map(|i| AppItem::of(&i)).collect();
    assert!(back.iter().rev().eq(items.iter()), "backward iteration");
    for (i, it) in items.iter().enumerate() {
        assert_eq!(&AppItem::of(&v.item(i).expect("item")), it);
    }
    assert!(v.item(items.len()).is_none());
    (v.generation(), items)
}
