//! Helpers of the CLI tests that are the library tests' own: the counted
//! skip marker and the child-process spawner (including the unprivileged
//! re-run through `setpriv`). Each test binary uses a different subset.

#![allow(dead_code, unused_imports)]

#[path = "../../../netipc/tests/support/child.rs"]
pub mod child;
#[path = "../../../netipc/tests/support/skip.rs"]
pub mod skip;

pub use child::*;
pub use skip::*;
