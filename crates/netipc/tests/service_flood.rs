//! A flood of connections that never send HELLO. The only test of this
//! binary, so that the thread count it checks is the server's alone.

mod service_common;

use std::time::Duration;

use netipc::service::increment::{self, IncrementClient};
use netipc::service::{ClientConfig, ManagedServer, ServerConfig};
use netipc::transport::{connect, UdsConn};
use service_common::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_thousand_idle_connections_cost_no_threads_and_do_not_lock_out_a_good_client() {
    let dir = tempfile::tempdir().unwrap();
    // A long handshake timeout: the idle connections do not go away by
    // themselves while the test runs.
    let config = ServerConfig::new(TOKEN)
        .uds_only()
        .with_handshake_timeout(Duration::from_secs(600));
    let srv = ManagedServer::start(
        ep(dir.path(), "flood"),
        config,
        increment::handler(|v| Ok(v + 1)),
    )
    .unwrap();
    let before = threads();

    let idle: Vec<UdsConn> = (0..1000)
        .map(|i| {
            connect(&ep(dir.path(), "flood")).unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    // No thread per unauthenticated connection: at most the waiting ones
    // are held (2 × max_sessions), all by the acceptor.
    assert_eq!(threads(), before);

    // A good client still gets in and gets answers.
    let config = ClientConfig::new(TOKEN)
        .uds_only()
        .with_handshake_timeout(Duration::from_secs(60));
    let mut good = IncrementClient::new(ep(dir.path(), "flood"), config);
    good.refresh();
    assert!(good.ready(), "{:?}", good.status());
    for v in 0..100 {
        assert_eq!(good.call(v).unwrap(), v + 1);
    }
    let stats = srv.stats();
    assert_eq!(stats.sessions_served, 1);
    // All but the few still waiting were closed to make room.
    assert!(stats.sessions_refused >= 1000 - 16, "{stats:?}");
    drop(idle);
}
