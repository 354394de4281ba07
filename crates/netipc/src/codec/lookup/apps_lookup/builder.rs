//! APPS_LOOKUP response builders (§16.2, §17).

use super::response::STRING_SLOTS;
use super::{
    check_rules, Answer, ItemView, PidStatus, RequestView, Shape, ITEM_HEADER_LEN, PLACEHOLDER_LEN,
};
use crate::codec::lookup::common::{put_u16, put_u32, put_u64, Added};
use crate::codec::lookup::error::{Field, LookupError};
use crate::codec::lookup::reply::{PlainCore, ReplyCore};
use crate::codec::lookup::strings::{check_input, item_len, write_body};

/// Validates `answer` (§16.3, §14.5, §14.6) and returns the canonical item
/// length.
fn answer_len(index: usize, answer: &Answer<'_>) -> Result<usize, LookupError> {
    check_rules(index, &Shape::of(answer))?;
    check_input(index, Field::Comm, answer.comm)?;
    check_input(index, Field::CgroupPath, answer.cgroup_path)?;
    check_input(index, Field::CgroupName, answer.cgroup_name)?;
    item_len(
        index,
        ITEM_HEADER_LEN,
        &[answer.comm, answer.cgroup_path, answer.cgroup_name],
        answer.labels,
    )
}

/// Writes a canonical item into zeroed `dst` of exactly its length.
fn write_item(dst: &mut [u8], pid: u32, a: &Answer<'_>) {
    put_u16(dst, 0, 1);
    put_u16(dst, 2, a.status.code());
    put_u16(dst, 4, a.orchestrator.0);
    put_u16(dst, 6, a.cgroup_status.code());
    put_u32(dst, 8, pid);
    put_u32(dst, 12, a.ppid);
    put_u32(dst, 16, a.uid);
    put_u64(dst, 24, a.starttime);
    // Validated: at most u16::MAX labels.
    put_u16(dst, 56, a.labels.len() as u16);
    write_body(
        dst,
        ITEM_HEADER_LEN,
        &[a.comm, a.cgroup_path, a.cgroup_name],
        &STRING_SLOTS,
        a.labels,
    );
}

/// Builds a response from items given in order, at the end of a caller's
/// buffer; see the CGROUPS_LOOKUP
/// [`ResponseBuilder`](crate::codec::lookup::cgroups_lookup::ResponseBuilder),
/// which works the same way.
#[derive(Debug)]
pub struct ResponseBuilder<'b> {
    core: PlainCore<'b>,
}

crate::codec::lookup::views::plain_builder!();

impl<'b> ResponseBuilder<'b> {
    crate::codec::lookup::views::plain_builder_methods!();

    /// Appends an item echoing `pid` with `answer`.
    ///
    /// # Errors
    ///
    /// The §16.3 rules ([`LookupError::StatusRule`]), a NUL inside a string
    /// ([`LookupError::StringInteriorNul`]), an empty label key
    /// ([`LookupError::EmptyLabelKey`]), a value too large for its field
    /// ([`LookupError::FieldOverflow`]) or the limit
    /// ([`LookupError::TooLarge`]). Nothing is written on error.
    pub fn push(&mut self, pid: u32, answer: &Answer<'_>) -> Result<(), LookupError> {
        let len = answer_len(self.core.len(), answer)?;
        self.core.push(len, |dst| write_item(dst, pid, answer))
    }
}

/// Builds a server's response to a decoded request within the response
/// budget (§17); it echoes each request PID itself. Same rules and API as
/// the CGROUPS_LOOKUP
/// [`ReplyBuilder`](crate::codec::lookup::cgroups_lookup::ReplyBuilder);
/// every placeholder here is 63 bytes.
#[derive(Debug)]
pub struct ReplyBuilder<'b, 'r> {
    core: ReplyCore<'b>,
    request: RequestView<'r>,
}

impl<'b, 'r> ReplyBuilder<'b, 'r> {
    /// Starts the response to `request` at the end of `buf`, with response
    /// budget `budget`. Generation starts at 0.
    pub fn new(buf: &'b mut Vec<u8>, request: RequestView<'r>, budget: usize) -> Self {
        let n = request.len() as u64;
        // S[0] = 64 (n - 1) + 63 for n > 0.
        let suffix = (n * 64).saturating_sub(64 - PLACEHOLDER_LEN as u64);
        Self {
            core: ReplyCore::new(buf, request.len(), budget, suffix),
            request,
        }
    }

    /// The PID the next [`add`](Self::add) answers, `None` once every key
    /// has an item.
    #[inline]
    pub fn next_key(&self) -> Option<u32> {
        self.request.pid(self.core.next())
    }

    crate::codec::lookup::views::reply_builder_methods!();

    /// Answers the next key (§17.3) and reports what was written. Once the
    /// budget ran out the answer is ignored and a PAYLOAD_EXCEEDED
    /// placeholder is written.
    ///
    /// # Errors
    ///
    /// As for [`ResponseBuilder::push`] (a handler error; the builder is
    /// unchanged), [`LookupError::ItemCountMismatch`] when every key already
    /// has an item, [`LookupError::TooLarge`] when a placeholder does not
    /// fit the budget.
    pub fn add(&mut self, answer: &Answer<'_>) -> Result<Added, LookupError> {
        let k = self.core.next();
        let pid = self.request.pid(k).unwrap_or_default();
        self.core.add(
            || answer_len(k, answer),
            PLACEHOLDER_LEN,
            |dst, outcome| match outcome {
                None => write_item(dst, pid, answer),
                Some(added) => {
                    let status = match added {
                        Added::OversizedItem => PidStatus::OversizedItem,
                        _ => PidStatus::PayloadExceeded,
                    };
                    write_item(dst, pid, &Answer::empty(status))
                }
            },
        )
    }

    /// Completes the response and returns its length.
    ///
    /// # Errors
    ///
    /// [`LookupError::ItemCountMismatch`] if keys are left unanswered while
    /// the budget has not run out; [`LookupError::TooLarge`] if a
    /// placeholder for a remaining key does not fit.
    pub fn finish(mut self) -> Result<usize, LookupError> {
        while self.core.exceeded() && self.core.next() < self.core.keys() {
            self.add(&Answer::empty(PidStatus::PayloadExceeded))?;
        }
        self.core.finish()
    }
}
