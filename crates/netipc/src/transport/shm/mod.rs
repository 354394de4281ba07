//! Linux shared-memory data plane (profiles SHM_HYBRID and SHM_FUTEX).
//!
//! After a handshake selects shared memory, each session gets a region file
//! `{run_dir}/{service}-{session_id:016x}.ipcshm` created by the server
//! ([`ShmRegion::create`]) and mapped by the client ([`ShmRegion::attach`]).
//! Requests and responses are then exchanged through the mapping
//! ([`ShmRegion::send`], [`ShmRegion::recv`]); the socket used for the
//! handshake stays open but carries no data.
//!
//! * [`region`] — layout, create/attach, publish/consume, stale files;
//! * [`futex`] — the cross-process futex wait/wake used to sleep and wake.
//!
//! All `unsafe` code of the crate lives in this module, in a small private
//! mapping type with bounds-checked accessors.

pub mod futex;
mod mapping;
pub mod region;

pub use region::{
    region_path, stale_check, sweep_stale, BadSizeReason, NotReadyReason, RegionLayout, ShmError,
    ShmRegion, ShmRole, StaleVerdict,
};
