//! CGROUPS_LOOKUP (method 4, service `cgroups-lookup`), §15.
//!
//! A request lists cgroup paths; the response has one item per path, in
//! order, each echoing its path with a [`Status`] and, when KNOWN, a name,
//! an [`Orchestrator`] and labels.
//!
//! * [`encode_request`] / [`request_len`] / [`RequestView`]: the request.
//! * [`ResponseView`] / [`ItemView`]: a validated response.
//! * [`ReplyBuilder`]: a server's response to a decoded request, within the
//!   response budget (§17): it echoes each request path itself and turns
//!   items that do not fit into OVERSIZED_ITEM / PAYLOAD_EXCEEDED
//!   placeholders.
//! * [`ResponseBuilder`]: a response from items in order (tests, and the
//!   client's stitched response via [`ResponseBuilder::push_item`]).
//!
//! ```
//! use netipc::codec::lookup::cgroups_lookup::{
//!     encode_request, Answer, ReplyBuilder, RequestView, ResponseView, Status,
//! };
//! use netipc::codec::lookup::{Label, Orchestrator};
//!
//! let mut req = Vec::new();
//! encode_request(&mut req, &["/sys/fs/cgroup/a.scope", "/gone"])?;
//! let request = RequestView::decode(&req)?;
//!
//! let mut resp = Vec::new();
//! let mut reply = ReplyBuilder::new(&mut resp, request, 65_536);
//! let labels = [Label::new(b"image", b"nginx")];
//! while let Some(path) = reply.next_key() {
//!     let answer = if path.ends_with(b".scope") {
//!         Answer::known(Orchestrator::DOCKER, b"web", &labels)
//!     } else {
//!         Answer::UNKNOWN_PERMANENT
//!     };
//!     reply.add(&answer)?;
//! }
//! reply.set_generation(7);
//! reply.finish()?;
//!
//! let view = ResponseView::decode(&resp)?;
//! assert_eq!(view.generation(), 7);
//! let item = view.item(0).unwrap();
//! assert_eq!((item.status(), item.name()), (Status::Known, &b"web"[..]));
//! assert_eq!(item.labels().next(), Some(labels[0]));
//! assert_eq!(view.item(1).unwrap().status(), Status::UnknownPermanent);
//! # Ok::<(), netipc::codec::lookup::LookupError>(())
//! ```

mod builder;
mod request;
mod response;

pub use builder::{ReplyBuilder, ResponseBuilder};
pub use request::{encode_request, request_len, Keys, RequestView};
pub use response::{ItemView, Items, ResponseView};

use super::common::Orchestrator;
use super::error::LookupError;
use super::strings::Label;

/// Size of a response item header.
pub const ITEM_HEADER_LEN: usize = 28;
/// Smallest key length in the request directory: a 1-byte path and its NUL.
pub const MIN_KEY_LEN: u32 = 2;

crate::codec::lookup::views::status_enum! {
    /// Status of a response item (§15.3).
    Status {
        /// Metadata present: name (may be empty), orchestrator, labels.
        Known = 0,
        /// The provider does not know the path yet; ask again later.
        UnknownRetryLater = 1,
        /// The provider will not know the path (cacheable until the generation
        /// decreases or resets).
        UnknownPermanent = 2,
        /// The server ran out of response budget at this item; the client asks
        /// again. Never reaches applications.
        PayloadExceeded = 3,
        /// The item cannot be delivered within the budget; final.
        OversizedItem = 4,
    }
}

/// What a provider answers for one path: everything of an item except the
/// echoed path.
///
/// Only KNOWN answers may carry an orchestrator, a name or labels (§15.3);
/// builders refuse anything else with [`LookupError::StatusRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer<'x> {
    /// The item status.
    pub status: Status,
    /// The orchestrator (0 unless KNOWN).
    pub orchestrator: Orchestrator,
    /// The cgroup name, without NUL (empty unless KNOWN; may be empty).
    pub name: &'x [u8],
    /// Labels: keys non-empty, no NULs, at most 65 535.
    pub labels: &'x [Label<'x>],
}

impl<'x> Answer<'x> {
    /// UNKNOWN_RETRY_LATER.
    pub const UNKNOWN_RETRY_LATER: Answer<'static> = Answer::empty(Status::UnknownRetryLater);
    /// UNKNOWN_PERMANENT.
    pub const UNKNOWN_PERMANENT: Answer<'static> = Answer::empty(Status::UnknownPermanent);

    /// A KNOWN answer.
    pub const fn known(
        orchestrator: Orchestrator,
        name: &'x [u8],
        labels: &'x [Label<'x>],
    ) -> Self {
        Self {
            status: Status::Known,
            orchestrator,
            name,
            labels,
        }
    }

    /// An answer with `status` and no data (orchestrator 0, empty name, no
    /// labels), as every non-KNOWN item must be.
    pub const fn empty(status: Status) -> Self {
        Self {
            status,
            orchestrator: Orchestrator::UNKNOWN,
            name: b"",
            labels: &[],
        }
    }
}

/// The per-status rules of §15.3, in the specification's order; shared by
/// the decoder (on header values) and the builders (on answers).
pub(crate) fn check_rules(
    index: usize,
    status: u16,
    orchestrator: u16,
    path_len: u64,
    name_len: u64,
    label_count: u64,
) -> Result<Status, LookupError> {
    // Fast path: a defined status with a path, and no data unless KNOWN.
    if let Some(defined) = Status::from_code(status) {
        if path_len != 0
            && (defined == Status::Known || (u64::from(orchestrator) | name_len | label_count) == 0)
        {
            return Ok(defined);
        }
    }
    let status = Status::from_code(status).ok_or(LookupError::UnknownStatus {
        index,
        field: "status",
        found: status,
    })?;
    if path_len == 0 {
        return Err(LookupError::StatusRule {
            index,
            field: "path_length",
            rule: "must be at least 1",
        });
    }
    if status != Status::Known {
        for (field, value) in [
            ("orchestrator", u64::from(orchestrator)),
            ("name_length", name_len),
            ("label_count", label_count),
        ] {
            if value != 0 {
                return Err(LookupError::StatusRule {
                    index,
                    field,
                    rule: "must be 0 unless status is KNOWN",
                });
            }
        }
    }
    Ok(status)
}
