//! Helpers shared by the integration tests, one module per concept:
//!
//! * [`pattern`]: deterministic test bytes;
//! * [`peer`]: a raw peer on a SEQPACKET socket, socket pairs and channels;
//! * [`wire`]: hand-built headers and packets, native-endian field access;
//! * [`wait`]: polling with a deadline and "returned in time" checks;
//! * [`service`]: test tokens, endpoints and files of a run directory;
//! * [`child`]: re-running this test binary as a child process, optionally
//!   as an unprivileged user;
//! * [`skip`]: the visible, counted skip of a test that cannot run here;
//! * [`vectors`]: the protocol's golden vector files;
//! * [`shm`]: crafted region files and a raw region peer;
//! * [`bounds`]: a handler gate and providers for bounded-call tests;
//! * [`lookup`]: owned models of lookup items.
//!
//! Every test binary compiles this tree on its own and uses a different
//! subset of it, hence the `dead_code` allowance.

#![allow(dead_code, unused_imports, unused_macros)]

/// Asserts that `value` matches `pattern`, printing the value otherwise.
macro_rules! assert_err {
    ($value:expr, $pattern:pat $(if $guard:expr)?) => {{
        let value = &$value;
        assert!(matches!(value, $pattern $(if $guard)?), "{value:?}");
    }};
}

pub mod bounds;
pub mod child;
pub mod lookup;
pub mod pattern;
pub mod peer;
pub mod service;
pub mod shm;
pub mod skip;
pub mod vectors;
pub mod wait;
pub mod wire;

pub use bounds::*;
pub use child::*;
pub use lookup::*;
pub use pattern::*;
pub use peer::*;
pub use service::*;
pub use shm::*;
pub use skip::*;
pub use vectors::{load as load_vectors, unhex, Vector};
pub use wait::*;
pub use wire::*;
