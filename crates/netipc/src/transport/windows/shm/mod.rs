//! Windows shared memory (profiles 0x02 SHM_HYBRID and 0x04 SHM_BUSYWAIT,
//! PROTOCOL-WINDOWS.md §4).
//!
//! Per session and profile the server creates a page-file-backed section
//! `Local\netipc-…-mapping` with a 128-byte header, a request area and a
//! response area; HYBRID adds two named auto-reset events. Kernel objects
//! disappear with their last handle, so there are no files, no stale
//! objects and no startup sweep.
//!
//! * [`layout`] — header offsets, capacities, attach checks (pure);
//! * [`ShmRegion`] — create, attach, publish, receive, close;
//! * the private `view` — the mapped view and named events (all of this
//!   module's `unsafe`).

mod error;
pub mod layout;
mod region;
// The mapped view and named events: this module's only `unsafe` code.
#[allow(unsafe_code)]
mod view;

pub use error::ShmError;
pub use layout::Layout;
pub use region::{ShmRegion, ShmRole};
