//! CGROUPS_SNAPSHOT (method code 2): the list of control groups a provider
//! knows about.
//!
//! # Request
//!
//! Four bytes: `u16 layout_version` (1) and `u16 flags` (0). See
//! [`SnapshotRequest`].
//!
//! # Response
//!
//! ```text
//! payload:  header (24 B) | directory (8 B per item) | item area
//! header:   u16 layout_version=1, u16 flags=0, u32 item_count,
//!           u32 systemd_enabled, u32 reserved=0, u64 generation
//! entry:    u32 offset, u32 length  (offset counted from the item area start)
//! item:     u16 layout_version=1, u16 flags=0, u32 hash, u32 options,
//!           u32 enabled, u32 name_offset, u32 name_length,
//!           u32 path_offset, u32 path_length, then name NUL path NUL
//! ```
//!
//! Items start at multiples of 8 inside the item area and the bytes between
//! items are zero. The payload stops right after the last item's final NUL:
//! unlike a batch, it is not padded to a multiple of 8. String offsets count
//! from the start of their item and lengths exclude the NUL.
//!
//! [`SnapshotBuilder`] writes a response into a reusable buffer and
//! [`SnapshotView`] validates one completely up front, after which every
//! accessor is infallible and cheap. [`Snapshot`] is an owned copy.
//!
//! The code is split by concept: `request.rs`, `builder.rs` (encoding),
//! `view.rs` (validation and borrowed access) and `owned.rs` (owned copies).

mod builder;
mod item;
mod owned;
mod request;
mod view;

pub use builder::SnapshotBuilder;
pub use item::CgroupItem;
pub use owned::{Snapshot, SnapshotItem};
pub use request::SnapshotRequest;
pub use view::{ItemView, Items, SnapshotView};

/// The only supported `layout_version` for requests, responses and items.
pub const LAYOUT_VERSION: u16 = 1;

/// The rules every CGROUPS_SNAPSHOT header shares (request and response):
/// `layout_version` is 1 and `flags` are 0.
fn check_header(
    what: &'static str,
    layout: u16,
    flags: u16,
) -> Result<(), crate::codec::CodecError> {
    if layout != LAYOUT_VERSION {
        return Err(crate::codec::CodecError::BadLayoutVersion {
            what,
            found: layout,
        });
    }
    if flags != 0 {
        return Err(crate::codec::CodecError::NonZeroFlags { what, found: flags });
    }
    Ok(())
}
/// Length of a request payload.
pub const REQUEST_LEN: usize = 4;
/// Length of the response header that precedes the directory.
pub const RESPONSE_HEADER_LEN: usize = 24;
/// Length of one directory entry.
pub const DIRECTORY_ENTRY_LEN: usize = 8;
/// Length of the fixed header at the start of every item.
pub const ITEM_HEADER_LEN: usize = 32;
/// Alignment of items inside the item area.
pub const ITEM_ALIGN: usize = 8;

/// Upper bound on the directory slots a builder reserves up front; the hint
/// only affects speed, so a huge one is clamped rather than honoured.
pub(crate) const MAX_RESERVED_SLOTS: usize = 1 << 17;
