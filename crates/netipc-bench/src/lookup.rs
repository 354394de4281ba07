//! `lookup-bench`: in-process lookups in the Level 3 cgroups table, no
//! transport.

use std::hint::black_box;

use netipc::cache::CgroupsTable;
use netipc::codec::cgroups::CgroupItem;

use crate::measure::{Outcome, Samples, Window};
use crate::snapshot;

/// Full passes over the 16 keys between two reads of the clock. The limit
/// is only ever checked between passes, as the driver interface requires;
/// reading the clock after every pass would cost about as much as the
/// lookups themselves.
const PASSES_PER_CLOCK_CHECK: u64 = 64;

/// Runs `lookup-bench`; prints the CSV line and returns the exit code.
pub fn run(duration_sec: u64) -> i32 {
    let items = snapshot::items();
    let table = CgroupsTable::from_items(
        1,
        1,
        items.iter().map(|c| CgroupItem {
            hash: c.hash,
            options: c.options,
            enabled: c.enabled,
            name: c.name.as_bytes(),
            path: c.path.as_bytes(),
        }),
    );
    let keys: Vec<(u32, &[u8])> = items.iter().map(|c| (c.hash, c.name.as_bytes())).collect();

    let mut lookups = 0u64;
    let mut misses = 0u64;
    let window = Window::start(duration_sec);
    while window.open() {
        for _ in 0..PASSES_PER_CLOCK_CHECK {
            // black_box on the key stops the compiler from hoisting the
            // lookup out of the loop; black_box on the result keeps the
            // lookup (and the name comparison it implies) from being
            // deleted.
            for &(hash, name) in &keys {
                let hit = table.lookup(black_box(hash), black_box(name));
                if black_box(hit).is_none() {
                    misses += 1;
                }
            }
            lookups += keys.len() as u64;
        }
    }
    let (wall, cpu_pct) = window.finish();
    let mut no_samples = Samples::with_capacity(0);
    let outcome = Outcome::new("lookup".into(), lookups, wall, &mut no_samples, cpu_pct);
    println!("{}", outcome.csv());
    eprintln!("netipc-bench: lookup: {lookups} lookups in {wall:.3} s, {misses} misses");
    if misses > 0 {
        1
    } else {
        0
    }
}
