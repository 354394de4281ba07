//! APPS_LOOKUP (method 5, service `apps-lookup`), §16.
//!
//! A request lists PIDs; the response has one item per PID, in order, each
//! echoing its PID with a [`PidStatus`] and, when KNOWN, the process's
//! parent, uid, start time, command name and cgroup (with its own
//! [`CgroupStatus`], orchestrator, name and labels).
//!
//! * [`encode_request`] / [`request_len`] / [`RequestView`]: the request.
//! * [`ResponseView`] / [`ItemView`]: a validated response.
//! * [`ReplyBuilder`]: a server's response to a decoded request within the
//!   response budget (§17); it echoes each PID itself.
//! * [`ResponseBuilder`]: a response from items in order (tests, stitching).
//!
//! ```
//! use netipc::codec::lookup::apps_lookup::{
//!     encode_request, Answer, CgroupStatus, PidStatus, ReplyBuilder, RequestView, ResponseView,
//! };
//!
//! let mut req = Vec::new();
//! encode_request(&mut req, &[1, 999_999])?;
//! let request = RequestView::decode(&req)?;
//!
//! let mut resp = Vec::new();
//! let mut reply = ReplyBuilder::new(&mut resp, request, 65_536);
//! while let Some(pid) = reply.next_key() {
//!     let answer = if pid == 1 {
//!         Answer {
//!             comm: b"systemd",
//!             starttime: 2,
//!             uid: 0,
//!             cgroup_status: CgroupStatus::HostRoot,
//!             ..Answer::KNOWN
//!         }
//!     } else {
//!         Answer::UNKNOWN
//!     };
//!     reply.add(&answer)?;
//! }
//! reply.finish()?;
//!
//! let view = ResponseView::decode(&resp)?;
//! let init = view.item(0).unwrap();
//! assert_eq!((init.pid(), init.comm()), (1, &b"systemd"[..]));
//! assert_eq!(init.cgroup_status(), CgroupStatus::HostRoot);
//! assert_eq!(view.item(1).unwrap().status(), PidStatus::Unknown);
//! # Ok::<(), netipc::codec::lookup::LookupError>(())
//! ```

mod builder;
mod request;
mod response;

pub use builder::{ReplyBuilder, ResponseBuilder};
pub use request::{encode_request, request_len, Pids, RequestView};
pub use response::{ItemView, Items, ResponseView};

use super::common::Orchestrator;
use super::error::LookupError;
use super::strings::Label;

/// Size of a response item header (60 on the wire; never use the size of a
/// naturally aligned struct, which would be 64).
pub const ITEM_HEADER_LEN: usize = 60;
/// Size of one request key (`u32 pid`, `u32 reserved`).
pub const KEY_LEN: u32 = 8;
/// `uid` of an item whose user is not known.
pub const UID_UNSET: u32 = u32::MAX;
/// Longest `comm` (the kernel's 16-byte `TASK_COMM_LEN` minus the NUL).
pub const MAX_COMM_LEN: usize = 15;
/// Size of a placeholder item: header and three empty strings.
pub const PLACEHOLDER_LEN: usize = ITEM_HEADER_LEN + 3;

crate::codec::lookup::views::status_enum! {
    /// Status of the PID of a response item (§16.3).
    PidStatus {
        /// The process is known; the other fields are filled.
        Known = 0,
        /// The provider does not know the PID.
        Unknown = 1,
        /// The server ran out of response budget at this item; the client asks
        /// again. Never reaches applications.
        PayloadExceeded = 2,
        /// The item cannot be delivered within the budget; final.
        OversizedItem = 3,
    }
}

crate::codec::lookup::views::status_enum! {
    /// Status of the cgroup of a KNOWN process (§16.3). Note the numbering
    /// differs from CGROUPS_LOOKUP's status.
    CgroupStatus {
        /// Cgroup path (non-empty), name, orchestrator and labels are known.
        Known = 0,
        /// The cgroup is not known yet (the path may be given or empty).
        UnknownRetryLater = 1,
        /// The cgroup (path given) will not be known.
        UnknownPermanent = 2,
        /// The process is in the host's root cgroup (empty path).
        HostRoot = 3,
    }
}

/// What a provider answers for one PID: everything of an item except the
/// echoed PID.
///
/// Builders check the rules of §16.3 ([`LookupError::StatusRule`]): a
/// non-KNOWN answer is [`Answer::empty`]; a KNOWN one has a 1–15 byte
/// `comm` and cgroup fields that match its `cgroup_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer<'x> {
    /// The PID status.
    pub status: PidStatus,
    /// The cgroup status (KNOWN unless the PID status is KNOWN).
    pub cgroup_status: CgroupStatus,
    /// The cgroup's orchestrator.
    pub orchestrator: Orchestrator,
    /// Parent PID (0 if unknown).
    pub ppid: u32,
    /// Effective uid ([`UID_UNSET`] if unknown).
    pub uid: u32,
    /// Start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub starttime: u64,
    /// Command name, at most 15 bytes, no NUL.
    pub comm: &'x [u8],
    /// Cgroup path, no NUL.
    pub cgroup_path: &'x [u8],
    /// Cgroup name, no NUL.
    pub cgroup_name: &'x [u8],
    /// Labels of the cgroup: keys non-empty, no NULs, at most 65 535.
    pub labels: &'x [Label<'x>],
}

impl<'x> Answer<'x> {
    /// UNKNOWN: the provider does not know the PID.
    pub const UNKNOWN: Answer<'static> = Answer::empty(PidStatus::Unknown);

    /// A KNOWN template with every field zero/empty, uid [`UID_UNSET`] and
    /// cgroup status KNOWN; fill it with struct update syntax. As is it is
    /// not valid (`comm` and the cgroup path must be set).
    pub const KNOWN: Answer<'static> = Answer {
        status: PidStatus::Known,
        ..Answer::empty(PidStatus::Known)
    };

    /// An answer with `status` and every other field empty, as every
    /// non-KNOWN item must be.
    pub const fn empty(status: PidStatus) -> Self {
        Self {
            status,
            cgroup_status: CgroupStatus::Known,
            orchestrator: Orchestrator::UNKNOWN,
            ppid: 0,
            uid: UID_UNSET,
            starttime: 0,
            comm: b"",
            cgroup_path: b"",
            cgroup_name: b"",
            labels: &[],
        }
    }
}

/// The numeric shape of an item, as the §16.3 rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) status: u16,
    pub(crate) cgroup_status: u16,
    pub(crate) orchestrator: u16,
    pub(crate) ppid: u32,
    pub(crate) uid: u32,
    pub(crate) starttime: u64,
    pub(crate) comm_len: u64,
    pub(crate) path_len: u64,
    pub(crate) name_len: u64,
    pub(crate) label_count: u64,
}

impl Shape {
    pub(crate) fn of(answer: &Answer<'_>) -> Self {
        Self {
            status: answer.status.code(),
            cgroup_status: answer.cgroup_status.code(),
            orchestrator: answer.orchestrator.0,
            ppid: answer.ppid,
            uid: answer.uid,
            starttime: answer.starttime,
            comm_len: answer.comm.len() as u64,
            path_len: answer.cgroup_path.len() as u64,
            name_len: answer.cgroup_name.len() as u64,
            label_count: answer.labels.len() as u64,
        }
    }
}

fn rule(index: usize, field: &'static str, rule: &'static str) -> LookupError {
    LookupError::StatusRule { index, field, rule }
}

/// The rules of §16.3, in the specification's order; shared by the decoder
/// and the builders.
pub(crate) fn check_rules(index: usize, s: &Shape) -> Result<(), LookupError> {
    // The two shapes of nearly every item, accepted without walking the
    // rules one by one; everything else takes the path below, which also
    // names the rule an item breaks.
    let known = s.status == PidStatus::Known.code()
        && s.cgroup_status == CgroupStatus::Known.code()
        && (1..=MAX_COMM_LEN as u64).contains(&s.comm_len)
        && s.path_len != 0;
    let empty = s.status != PidStatus::Known.code()
        && PidStatus::from_code(s.status).is_some()
        && s.uid == UID_UNSET
        && (u64::from(s.orchestrator)
            | u64::from(s.cgroup_status)
            | u64::from(s.ppid)
            | s.starttime
            | s.comm_len
            | s.path_len
            | s.name_len
            | s.label_count)
            == 0;
    if known || empty {
        return Ok(());
    }
    check_rules_in_order(index, s)
}

/// [`check_rules`] one rule after the other, in the specification's order.
#[cold]
fn check_rules_in_order(index: usize, s: &Shape) -> Result<(), LookupError> {
    let status = PidStatus::from_code(s.status).ok_or(LookupError::UnknownStatus {
        index,
        field: "status",
        found: s.status,
    })?;
    let cgroup = CgroupStatus::from_code(s.cgroup_status).ok_or(LookupError::UnknownStatus {
        index,
        field: "cgroup_status",
        found: s.cgroup_status,
    })?;
    if s.comm_len > MAX_COMM_LEN as u64 {
        return Err(rule(index, "comm_length", "must be at most 15"));
    }
    if status != PidStatus::Known {
        const ZERO: &str = "must be 0 unless status is KNOWN";
        for (field, value) in [
            ("orchestrator", u64::from(s.orchestrator)),
            ("cgroup_status", u64::from(s.cgroup_status)),
            ("ppid", u64::from(s.ppid)),
        ] {
            if value != 0 {
                return Err(rule(index, field, ZERO));
            }
        }
        if s.uid != UID_UNSET {
            return Err(rule(
                index,
                "uid",
                "must be 0xFFFFFFFF unless status is KNOWN",
            ));
        }
        for (field, value) in [
            ("starttime", s.starttime),
            ("comm_length", s.comm_len),
            ("cgroup_path_length", s.path_len),
            ("cgroup_name_length", s.name_len),
            ("label_count", s.label_count),
        ] {
            if value != 0 {
                return Err(rule(index, field, ZERO));
            }
        }
        return Ok(());
    }
    if s.comm_len == 0 {
        return Err(rule(
            index,
            "comm_length",
            "must be at least 1 when status is KNOWN",
        ));
    }
    // Path rule (None: any length), then the rule for the other fields.
    let (path, rest) = match cgroup {
        CgroupStatus::Known => {
            if s.path_len == 0 {
                return Err(rule(
                    index,
                    "cgroup_path_length",
                    "must be at least 1 when cgroup_status is KNOWN",
                ));
            }
            return Ok(());
        }
        CgroupStatus::UnknownRetryLater => {
            (None, "must be 0 when cgroup_status is UNKNOWN_RETRY_LATER")
        }
        CgroupStatus::UnknownPermanent => (
            Some((
                s.path_len == 0,
                "must be at least 1 when cgroup_status is UNKNOWN_PERMANENT",
            )),
            "must be 0 when cgroup_status is UNKNOWN_PERMANENT",
        ),
        CgroupStatus::HostRoot => (
            Some((s.path_len != 0, "must be 0 when cgroup_status is HOST_ROOT")),
            "must be 0 when cgroup_status is HOST_ROOT",
        ),
    };
    if let Some((true, text)) = path {
        return Err(rule(index, "cgroup_path_length", text));
    }
    for (field, value) in [
        ("orchestrator", u64::from(s.orchestrator)),
        ("cgroup_name_length", s.name_len),
        ("label_count", s.label_count),
    ] {
        if value != 0 {
            return Err(rule(index, field, rest));
        }
    }
    Ok(())
}
