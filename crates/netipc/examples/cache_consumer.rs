//! A cgroups cache consumer: refreshes the cache once a second and looks a
//! cgroup up by hash and name, surviving a provider that is late or
//! restarts.
//!
//! ```sh
//! cargo run -p netipc --example cache_consumer -- /tmp system.slice/sshd.service
//! ```

use std::time::Duration;

use netipc::auth::AuthToken;
use netipc::cache::CgroupsCache;
use netipc::service::{ClientConfig, Endpoint};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let run_dir = args.next().unwrap_or_else(|| "/tmp".into());
    let name = args
        .next()
        .unwrap_or_else(|| "system.slice/sshd.service".into());
    let token = netipc::auth::token_from_env().unwrap_or(AuthToken::new(0x5EED));
    let hash = netipc::cache::name_hash(name.as_bytes());

    let endpoint = Endpoint::new(&run_dir, "cgroups-snapshot")?;
    let mut cache = CgroupsCache::new(endpoint, ClientConfig::new(token));
    for _ in 0..10 {
        match cache.refresh() {
            Ok(()) => match cache.lookup(hash, name.as_bytes()) {
                Some(cg) => println!("{} -> {} (enabled {})", name, cg.path_lossy(), cg.enabled),
                None => println!("{name}: not in generation {}", cache.generation()),
            },
            // The previous snapshot stays usable; just report and go on.
            Err(e) => println!("refresh failed ({e}); {} cached cgroups", cache.len()),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
