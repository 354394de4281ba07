//! A minimal cgroups snapshot provider: serves a fixed two-item snapshot at
//! `{run_dir}/cgroups-snapshot.sock` until Ctrl-C.
//!
//! ```sh
//! cargo run -p netipc --example snapshot_provider -- /tmp
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use netipc::auth::AuthToken;
use netipc::codec::cgroups::CgroupItem;
use netipc::codec::cgroups::SnapshotBuilder;
use netipc::service::{cgroups, Endpoint, ManagedServer, ServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp".into());
    let token = netipc::auth::token_from_env().unwrap_or(AuthToken::new(0x5EED));
    let generation = AtomicU64::new(0);

    let handler = cgroups::handler(move |buf| {
        let generation = generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut snapshot = SnapshotBuilder::new(buf, 1, generation, 2);
        for name in ["system.slice/sshd.service", "user.slice/user-1000.slice"] {
            let path = format!("/sys/fs/cgroup/{name}");
            let hash = netipc::cache::name_hash(name.as_bytes());
            snapshot.push(CgroupItem {
                hash,
                options: 0,
                enabled: 1,
                name: name.as_bytes(),
                path: path.as_bytes(),
            })?;
        }
        snapshot.finish()?;
        Ok(())
    });

    let endpoint = Endpoint::new(&run_dir, "cgroups-snapshot")?;
    let server = ManagedServer::start(endpoint, ServerConfig::new(token), handler)?;
    println!("serving {}", server.socket_path().display());
    // A real provider would rescan and wait for a signal; this one serves
    // for a minute.
    std::thread::sleep(std::time::Duration::from_secs(60));
    server.shutdown();
    Ok(())
}
