//! Overflow recovery end to end, on the UDS baseline and on shared memory:
//! payloads far over the default sizes arrive in one call, and what was
//! learned is reused.

mod service_common;

use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::service::cgroups::{self, CgroupsSnapshotClient};
use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, ManagedServer, ServerConfig};
use netipc::wire::Profiles;
use service_common::{ep, TOKEN};

const ITEMS: usize = 5_000;
const PATH_LEN: usize = 4096;

fn big_snapshot_server(dir: &std::path::Path, profiles: Profiles) -> ManagedServer {
    let mut config = ServerConfig::new(TOKEN);
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
    config = config.with_profiles(profiles, profiles);
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

fn check_big_batch(profiles: Profiles) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(TOKEN);
    config = config.with_profiles(profiles, profiles);
    let _server = ManagedServer::start(
        ep(dir.path(), "batch"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    // The client intends single calls: its first proposal is 8 bytes.
    let mut client = IncrementClient::new(ep(dir.path(), "batch"), client_config(profiles));
    client.refresh();
    assert_eq!(client.status().limits.unwrap().max_request_payload, 8);
    let values: Vec<u64> = (0..1000).collect();
    let answers = client
        .call_batch(&values)
        .expect("batch recovers in one call");
    assert_eq!(answers, (1..=1000).collect::<Vec<u64>>());
    let status = client.status();
    assert!(status.overflow_recoveries >= 1, "{status:?}");
    assert!(status.limits.unwrap().max_request_payload >= 16_000);
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
