//! CGROUPS_LOOKUP (method 4) and APPS_LOOKUP (method 5) payloads, §14–§17 of
//! the lookup protocol.
//!
//! Both methods share one framing ([`common`]): a 16-byte header, a
//! directory of `(offset, length)` entries and a packed area holding keys
//! (requests) or items (responses) at multiples of 8. Response items carry
//! NUL-terminated strings addressed from the item start and an optional
//! label table ([`Label`], [`Labels`]).
//!
//! | module | method | keys | items |
//! |---|---|---|---|
//! | [`cgroups_lookup`] | CGROUPS_LOOKUP (4) | cgroup paths | status, orchestrator, name, labels |
//! | [`apps_lookup`] | APPS_LOOKUP (5) | PIDs | PID and cgroup status, ppid, uid, start time, comm, cgroup, labels |
//!
//! Decoders validate every rule of the specification before returning a
//! view (all-or-nothing), borrow from the payload, never allocate and never
//! panic; errors are [`LookupError`]s whose [`kind`](LookupError::kind)
//! names the rule class as the specification does. Encoders append to a
//! caller-owned `Vec<u8>`. Response builders come in two forms: a plain one
//! that writes the items it is given, and a request-backed one that echoes
//! each request key itself and applies the server's response-budget rules
//! (OVERSIZED_ITEM / PAYLOAD_EXCEEDED placeholders, §17).
//!
//! Design notes and the rule-to-error table are in `docs/codec-lookup.md`.

#![forbid(unsafe_code)]

pub mod apps_lookup;
pub mod cgroups_lookup;
pub mod common;
mod error;
mod packer;
mod reply;
mod strings;
mod views;

pub use common::{Added, Orchestrator};
pub use error::{ErrorKind, Field, LookupError};
pub use strings::{Label, Labels};
pub(crate) use views::{PlainBuilder, Response};
