//! CGROUPS_LOOKUP response: `ResponseView::decode`, every item accessor and
//! both builders.
//!
//! Checked properties:
//! * an error that names an item names one the header announced;
//! * every accepted item obeys the §15.3 status rules as read back through
//!   the accessors, and its strings and labels hold no NUL (label keys are
//!   non-empty);
//! * forward, backward and indexed access agree;
//! * copying the items (`push_item`) and rebuilding them from their fields
//!   (`push`) both succeed — the builder accepts whatever the decoder
//!   accepts — and decode to the same items; the rebuilt bytes are a fixed
//!   point, and the request-backed builder with an unlimited budget gives
//!   the same bytes as the plain one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netipc::codec::lookup::cgroups_lookup::{
    encode_request, Answer, ItemView, ReplyBuilder, RequestView, ResponseBuilder, ResponseView,
    Status,
};
use netipc::codec::lookup::{Added, Label, Orchestrator};
use netipc_fuzz::ne_u32;

type Owned = (Status, u16, Vec<u8>, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

fn own(i: &ItemView<'_>) -> Owned {
    let labels: Vec<_> = i.labels().map(|l| (l.key.to_vec(), l.value.to_vec())).collect();
    assert_eq!(labels.len(), i.label_count());
    (i.status(), i.orchestrator().0, i.path().to_vec(), i.name().to_vec(), labels)
}

fn items(bytes: &[u8]) -> (u64, Vec<Owned>) {
    let v = ResponseView::decode(bytes).expect("decodes");
    (v.generation(), v.iter().map(|i| own(&i)).collect())
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
    assert_eq!(owned.len(), view.len());
    for (i, o) in owned.iter().enumerate() {
        let item = view.item(i).unwrap();
        assert_eq!(&own(&item), o);
        let (status, orch, path, name, labels) = o;
        assert!(!path.is_empty() && !path.contains(&0) && !name.contains(&0));
        if *status != Status::Known {
            assert!(*orch == 0 && name.is_empty() && labels.is_empty(), "item {i}");
        }
        for (k, v) in labels {
            assert!(!k.is_empty() && !k.contains(&0) && !v.contains(&0));
        }
    }
    let back: Vec<Owned> = view.iter().rev().map(|i| own(&i)).collect();
    assert!(back.iter().rev().eq(owned.iter()));

    // Copy byte for byte.
    let mut copy = Vec::new();
    let mut b = ResponseBuilder::new(&mut copy, generation, 0);
    for item in view.iter() {
        b.push_item(&item).unwrap();
    }
    b.finish().unwrap();
    assert_eq!(items(&copy), (generation, owned.clone()));

    // Rebuild from the fields.
    let mut rebuilt = Vec::new();
    let mut b = ResponseBuilder::new(&mut rebuilt, generation, owned.len());
    for (status, orch, path, name, labels) in &owned {
        let labels: Vec<Label<'_>> = labels.iter().map(|(k, v)| Label::new(k, v)).collect();
        let answer = Answer { status: *status, orchestrator: Orchestrator(*orch), name, labels: &labels };
        b.push(path, &answer).expect("decoded items satisfy the builder");
    }
    b.finish().unwrap();
    assert_eq!(items(&rebuilt), (generation, owned.clone()));

    // The request-backed builder with room for everything agrees.
    let paths: Vec<&[u8]> = owned.iter().map(|o| &o.2[..]).collect();
    let mut req = Vec::new();
    encode_request(&mut req, &paths).unwrap();
    let request = RequestView::decode(&req).unwrap();
    let mut replied = Vec::new();
    let mut r = ReplyBuilder::new(&mut replied, request, usize::MAX);
    for (status, orch, _, name, labels) in &owned {
        let labels: Vec<Label<'_>> = labels.iter().map(|(k, v)| Label::new(k, v)).collect();
        let answer = Answer { status: *status, orchestrator: Orchestrator(*orch), name, labels: &labels };
        assert_eq!(r.add(&answer), Ok(Added::Item));
    }
    r.set_generation(generation);
    r.finish().unwrap();
    assert_eq!(replied, rebuilt);
});
