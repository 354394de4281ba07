//! The envelope of protocol v1 (PROTOCOL.md §2–§5): pure bytes, no I/O.
//!
//! Every message starts with the 32-byte outer [`Header`]. Messages larger
//! than a UDS packet continue in packets that start with a [`ChunkHeader`].
//! Batch messages carry a directory of items ([`BatchBuilder`],
//! [`BatchView`]). The handshake exchanges one [`Hello`] and one
//! [`HelloAck`].
//!
//! All integers are in the host's native byte order, as the protocol says.
//! Decoders never allocate and never panic; every rejection is a
//! [`WireError`] that names the rule that failed. Decoding is strict about
//! fields the protocol requires to be zero; `docs/wire.md` lists each choice.

#![forbid(unsafe_code)]

mod batch;
mod chunk;
mod error;
mod header;
mod hello;
mod status;

pub use batch::{BatchBuilder, BatchIter, BatchView, BATCH_ENTRY_LEN};
pub use chunk::{ChunkHeader, CHUNK_HEADER_LEN, CHUNK_MAGIC};
pub use error::WireError;
pub use header::{Flags, Header, HEADER_LEN, MAGIC, VERSION};
pub use hello::{Hello, HelloAck, HELLO_ACK_LEN, HELLO_LAYOUT_VERSION, HELLO_LEN};
pub use status::{ControlOpcode, Kind, Method, Profiles, Status};

/// Hard cap on a request payload a client may propose (1 MiB).
pub const MAX_REQUEST_PAYLOAD: u32 = 1 << 20;

pub use crate::bytes::{align64, align8};

/// Fails with [`WireError::Truncated`] unless `buf` holds at least `need` bytes.
#[inline]
pub(crate) fn need(what: &'static str, buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need {
        Err(WireError::Truncated {
            what,
            need,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}
