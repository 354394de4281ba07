//! A minimal cgroups snapshot provider: serves a fixed two-item snapshot at
//! `{run_dir}/cgroups-snapshot.sock` until Ctrl-C (SIGINT) or SIGTERM, then
//! shuts down, which removes its socket and shared-memory files.
//!
//! ```sh
//! cargo run -p netipc --example snapshot_provider -- /tmp
//! netipc snapshot --run-dir /tmp --token 5eed     # in another terminal
//! ```
//!
//! It follows the generation rules of docs/cgroupfs.md: the snapshot is
//! built once, as generation 1, and every request is answered with the same
//! bytes. A real provider rescans, compares the new set of cgroups with the
//! last one, and raises the generation by exactly 1 only when they differ.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netipc::auth::AuthToken;
use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder};
use netipc::service::{cgroups, Endpoint, ManagedServer, ServerConfig};

/// The snapshot's generation: its data never changes, so neither does this.
const GENERATION: u64 = 1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp".into());
    let token = netipc::auth::token_from_env().unwrap_or(AuthToken::new(0x5EED));

    // Encode the snapshot once; requests get a copy of these bytes.
    let mut payload = Vec::new();
    let names = ["system.slice/sshd.service", "user.slice/user-1000.slice"];
    let mut snapshot = SnapshotBuilder::new(&mut payload, 1, GENERATION, names.len());
    for name in names {
        let path = format!("/sys/fs/cgroup/{name}");
        snapshot.push(CgroupItem {
            hash: netipc::cache::name_hash(name.as_bytes()),
            options: 0,
            enabled: 1,
            name: name.as_bytes(),
            path: path.as_bytes(),
        })?;
    }
    snapshot.finish()?;
    let handler = cgroups::handler(move |buf| {
        buf.extend_from_slice(&payload);
        Ok(())
    });

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }

    let endpoint = Endpoint::new(&run_dir, "cgroups-snapshot")?;
    let server = ManagedServer::start(endpoint, ServerConfig::new(token), handler)?;
    println!(
        "serving {} (generation {GENERATION}) until Ctrl-C",
        server.socket_path().display()
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let socket = server.socket_path().to_path_buf();
    server.shutdown();
    println!("stopped; removed {}", socket.display());
    Ok(())
}
