//! Overflow recovery end to end, on the UDS baseline and on shared memory:
//! payloads far over the default sizes arrive in one call, and what was
//! learned is reused.

mod service_common;

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::service::cgroups::{self, CgroupsSnapshotClient};
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{CallError, ClientConfig, ManagedServer, ServerConfig};
use netipc::wire::Profiles;
use service_common::{ep, TOKEN};
use std::time::Duration;

const ITEMS: usize = 5_000;
const PATH_LEN: usize = 4096;

fn big_snapshot_server(dir: &std::path::Path, profiles: Profiles) -> ManagedServer {
    // The snapshot is about 20 MB: far over the 1 MiB a server learns up
    // to unless configured larger.
    let mut config = ServerConfig::new(TOKEN).with_response_ceiling(64 << 20);
    config = config.with_profiles(profiles, profiles);
    ManagedServer::start(
        ep(dir, "big"),
        config,
        cgroups::handler(|buf| {
            let mut b = SnapshotBuilder::new(buf, 1, 77, ITEMS);
            let mut path = vec![b'p'; PATH_LEN];
            for i in 0..ITEMS {
                let name = format!("cg-{i}");
                path[..name.len()].copy_from_slice(name.as_bytes());
                b.push(CgroupItem {
                    hash: i as u32,
                    options: 0,
                    enabled: 1,
                    name: name.as_bytes(),
                    path: &path,
                })?;
            }
            b.finish()?;
            Ok(())
        }),
    )
    .unwrap()
}

fn client_config(profiles: Profiles) -> ClientConfig {
    let mut config = ClientConfig::new(TOKEN);
    // Building and moving 20 MB on a loaded machine may take a while.
    config = config
        .with_profiles(profiles, profiles)
        .with_response_timeout(Duration::from_secs(120));
    config
}

fn check_big_snapshot(profiles: Profiles) {
    let dir = tempfile::tempdir().unwrap();
    let server = big_snapshot_server(dir.path(), profiles);

    let mut first = CgroupsSnapshotClient::new(ep(dir.path(), "big"), client_config(profiles));
    first.refresh();
    let snapshot = first
        .call_snapshot()
        .expect("one call delivers the snapshot");
    assert_eq!(snapshot.item_count(), ITEMS);
    assert_eq!(snapshot.generation(), 77);
    let last = snapshot.item(ITEMS - 1).unwrap();
    assert_eq!(last.name(), format!("cg-{}", ITEMS - 1).as_bytes());
    assert_eq!(last.path().len(), PATH_LEN);
    let payload_len = snapshot.as_bytes().len();
    assert!(payload_len > 20_000_000, "{payload_len}");
    let status = first.status();
    assert!(status.overflow_recoveries >= 1, "{status:?}");
    assert_eq!(status.failures, 0);
    assert_eq!(status.profile, Some(profiles.highest()));
    assert!(status.limits.unwrap().max_response_payload as usize >= payload_len);

    // The server learned the size: a second client negotiates it at once.
    assert!(server.stats().learned_response as usize >= payload_len);
    let mut second = CgroupsSnapshotClient::new(ep(dir.path(), "big"), client_config(profiles));
    second.refresh();
    assert!(second.status().limits.unwrap().max_response_payload as usize >= payload_len);
    assert_eq!(second.call_snapshot().unwrap().item_count(), ITEMS);
    let status = second.status();
    assert_eq!(
        (status.overflow_recoveries, status.reconnects),
        (0, 0),
        "{status:?}"
    );
}

#[test]
fn big_snapshot_over_uds() {
    check_big_snapshot(Profiles::BASELINE);
}

#[test]
fn big_snapshot_over_shm() {
    check_big_snapshot(Profiles::SHM_HYBRID);
}

/// Request sizes never grow past the configured ceilings (the newest
/// servers reject larger proposals), so a 16 000-byte batch needs both sides
/// configured for it; the batch item limit is still learned.
fn check_big_batch(profiles: Profiles) {
    let dir = tempfile::tempdir().unwrap();
    // Two clients, one of which reconnects while the server may not have
    // noticed its previous session end yet: more than the default 2
    // sessions.
    let mut config = ServerConfig::new(TOKEN)
        .with_request_payload(16_384)
        .with_max_sessions(4);
    config = config.with_profiles(profiles, profiles);
    let _server = ManagedServer::start(
        ep(dir.path(), "batch"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let values: Vec<u64> = (0..1000).collect();

    // The default ceiling (1024 bytes) refuses the batch without any I/O.
    let mut small = IncrementClient::new(ep(dir.path(), "batch"), client_config(profiles));
    small.refresh();
    assert_eq!(small.status().limits.unwrap().max_request_payload, 1024);
    assert!(matches!(
        small.call_batch(&values),
        Err(CallError::RequestTooLarge {
            len: 16_000,
            limit: 1024
        })
    ));
    assert_eq!(small.status().reconnects, 0);

    // The client intends single calls: its first batch limit is 1 item,
    // its request proposal the configured ceiling.
    let config = client_config(profiles).with_request_payload(16_384);
    let mut client = IncrementClient::new(ep(dir.path(), "batch"), config);
    client.refresh();
    let limits = client.status().limits.unwrap();
    assert_eq!(limits.max_request_payload, 16_384);
    assert_eq!(limits.max_request_batch_items, 1);
    let answers = client
        .call_batch(&values)
        .expect("batch recovers in one call");
    assert_eq!(answers, (1..=1000).collect::<Vec<u64>>());
    let status = client.status();
    assert!(status.overflow_recoveries >= 1, "{status:?}");
    assert_eq!(status.limits.unwrap().max_request_payload, 16_384);
    assert!(status.limits.unwrap().max_request_batch_items >= 1000);
    // Learned for the context's lifetime: the next batch needs no reconnect.
    let reconnects = status.reconnects;
    assert_eq!(client.call_batch(&values).unwrap().len(), 1000);
    assert_eq!(client.status().reconnects, reconnects);
}

#[test]
fn big_batch_over_uds() {
    check_big_batch(Profiles::BASELINE);
}

#[test]
fn big_batch_over_shm() {
    check_big_batch(Profiles::SHM_HYBRID);
}
