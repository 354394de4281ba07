//! Linux shared-memory data plane (profiles SHM_HYBRID and SHM_FUTEX).
//!
//! After a handshake selects shared memory, each session gets a region file
//! `{run_dir}/{service}-{session_id:016x}.ipcshm` created by the server
//! ([`ShmRegion::create`]) and mapped by the client ([`ShmRegion::attach`]).
//! Requests and responses are then exchanged through the mapping
//! ([`ShmRegion::send`], [`ShmRegion::recv`]); the socket used for the
//! handshake stays open but carries no data.
//!
//! * [`region`] — the region handle (create/attach; publish/consume in the
//!   private `transfer.rs`), with the layout, file names, owner identity,
//!   stale files, control-socket watch and errors (private files
//!   `layout.rs`, `path.rs`, `owner.rs`, `stale.rs`, `watch.rs`, `error.rs`)
//!   re-exported from it;
//! * [`futex`] — the cross-process futex wait/wake used to sleep and wake.
//!
//! All `unsafe` code of the crate lives in this module, in a small private
//! mapping type with bounds-checked accessors.

mod error;
pub mod futex;
mod layout;
// The only module of the crate allowed to contain `unsafe` code.
#[allow(unsafe_code)]
mod mapping;
mod owner;
mod path;
pub mod region;
mod stale;
mod transfer;
mod watch;

pub use region::{
    process_generation, stale_check, sweep_stale, BadSizeReason, NotReadyReason, RegionLayout,
    ShmError, ShmRegion, ShmRole, StaleVerdict, PEER_CHECK_INTERVAL,
};
