//! The Level 3 cgroups cache against a live provider.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use netipc::cache::{name_hash, CgroupsCache, CgroupsTable};
use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::service::{cgroups, ClientConfig, HandlerError, ManagedServer, ServerConfig};
use support::{ep, TOKEN};

const ITEMS: u32 = 10_000;

fn name(i: u32) -> String {
    format!("system.slice/unit-{i}.service")
}

fn provider(dir: &std::path::Path, fail: Arc<AtomicBool>) -> ManagedServer {
    ManagedServer::start(
        ep(dir, "cgroups-snapshot"),
        // The snapshot is over 1 MiB, the response size a server learns up
        // to unless configured larger.
        ServerConfig::new(TOKEN).with_response_ceiling(8 << 20),
        cgroups::handler(move |buf| {
            if fail.load(Ordering::SeqCst) {
                return Err(HandlerError::new("provider is failing on purpose"));
            }
            let mut b = SnapshotBuilder::new(buf, 1, 3, ITEMS as usize);
            for i in 0..ITEMS {
                let n = name(i);
                let path = format!("/sys/fs/cgroup/{n}");
                b.push(CgroupItem {
                    hash: name_hash(n.as_bytes()),
                    options: i,
                    enabled: i % 2,
                    name: n.as_bytes(),
                    path: path.as_bytes(),
                })?;
            }
            b.finish()?;
            Ok(())
        }),
    )
    .unwrap()
}

#[test]
fn lookup_finds_every_item_and_misses_absent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let _srv = provider(dir.path(), Arc::new(AtomicBool::new(false)));
    let mut cache = CgroupsCache::new(ep(dir.path(), "cgroups-snapshot"), ClientConfig::new(TOKEN));
    assert!(!cache.ready());
    assert!(cache
        .lookup(name_hash(name(0).as_bytes()), name(0).as_bytes())
        .is_none());

    cache.refresh().unwrap();
    assert!(cache.ready());
    assert_eq!(cache.len(), ITEMS as usize);
    assert_eq!((cache.generation(), cache.systemd_enabled()), (3, 1));
    for i in 0..ITEMS {
        let n = name(i);
        let cg = cache
            .lookup(name_hash(n.as_bytes()), n.as_bytes())
            .expect("present");
        assert_eq!(cg.name, n.as_bytes());
        assert_eq!(cg.path, format!("/sys/fs/cgroup/{n}").as_bytes());
        assert_eq!((cg.options, cg.enabled), (i, i % 2));
    }
    // Absent names, and present names under the wrong hash.
    for i in ITEMS..ITEMS + 1000 {
        let n = name(i);
        assert!(cache
            .lookup(name_hash(n.as_bytes()), n.as_bytes())
            .is_none());
    }
    let n = name(5);
    assert!(cache
        .lookup(name_hash(n.as_bytes()) ^ 1, n.as_bytes())
        .is_none());
    assert!(cache
        .lookup(name_hash(n.as_bytes()), b"system.slice/unit-5.servic")
        .is_none());
    assert_eq!(cache.iter().count(), ITEMS as usize);
}

#[test]
fn failed_refresh_keeps_the_old_cache() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let srv = provider(dir.path(), fail.clone());
    let mut cache = CgroupsCache::new(ep(dir.path(), "cgroups-snapshot"), ClientConfig::new(TOKEN));
    cache.refresh().unwrap();
    let n = name(42);
    let hash = name_hash(n.as_bytes());

    // The provider fails its handler.
    fail.store(true, Ordering::SeqCst);
    assert!(cache.refresh().is_err());
    assert!(cache.lookup(hash, n.as_bytes()).is_some());
    let status = cache.status();
    assert_eq!((status.successes, status.failures), (1, 1));
    assert!(status.last_error.is_some());

    // The provider goes away entirely.
    srv.shutdown();
    assert!(cache.refresh().is_err());
    assert!(cache.ready());
    assert_eq!(cache.len(), ITEMS as usize);
    assert!(cache.lookup(hash, n.as_bytes()).is_some());
    assert_eq!(cache.status().failures, 2);
}

#[test]
fn table_handles_duplicates_and_colliding_hashes() {
    let item = |hash, enabled, name: &'static [u8], path: &'static [u8]| CgroupItem {
        hash,
        options: 0,
        enabled,
        name,
        path,
    };
    let items = [
        item(7, 1, b"a", b"/a"),
        item(7, 1, b"b", b"/b"),
        item(7, 1, b"a", b"/a-dup"),
        item(8, 0, b"", b""),
    ];
    let table = CgroupsTable::from_items(0, 1, items);
    assert_eq!(table.lookup(7, b"a").unwrap().path, b"/a", "first wins");
    assert_eq!(table.lookup(7, b"b").unwrap().path, b"/b");
    assert_eq!(table.lookup(8, b"").unwrap().enabled, 0);
    assert!(table.lookup(8, b"a").is_none());
    assert!(CgroupsTable::default().lookup(7, b"a").is_none());
}

#[test]
fn table_items_by_position_follow_snapshot_order() {
    let items = [
        CgroupItem {
            hash: 7,
            options: 1,
            enabled: 1,
            name: b"a",
            path: b"/a",
        },
        CgroupItem {
            hash: 9,
            options: 2,
            enabled: 0,
            name: b"b",
            path: b"/b",
        },
    ];
    let table = CgroupsTable::from_items(0, 1, items);
    let walked: Vec<_> = (0..table.len()).map(|i| table.item(i).unwrap()).collect();
    assert_eq!(walked, table.iter().collect::<Vec<_>>());
    assert_eq!(walked[1].options, 2);
    assert!(table.item(2).is_none());
}

#[test]
fn name_hash_is_32_bit_fnv1a() {
    assert_eq!(name_hash(b""), 0x811c_9dc5);
    assert_eq!(name_hash(b"a"), 0xe40c_292c);
    assert_eq!(name_hash(b"foobar"), 0xbf9c_f968);
}
