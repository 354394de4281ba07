//! Linux shared-memory data plane (profiles SHM_HYBRID and SHM_FUTEX).

pub mod futex;
pub mod region;
