//! CGROUPS_LOOKUP response builders (§15.2, §17).

use super::{check_rules, Answer, ItemView, RequestView, Status, ITEM_HEADER_LEN};
use crate::codec::lookup::common::{put_u16, Added, Orchestrator};
use crate::codec::lookup::error::{Field, LookupError};
use crate::codec::lookup::reply::{PlainCore, ReplyCore};
use crate::codec::lookup::strings::{check_input, item_len, write_body, Label};

/// Positions of the `(offset, length)` pairs of path and name.
const STRING_SLOTS: [usize; 2] = [8, 16];

/// Validates `answer` for `path` (§15.3, §14.5, §14.6) and returns the
/// canonical item length. `path_checked`: the path is a key of a validated
/// request, already known to be NUL-free, so it is not scanned again.
fn answer_len(
    index: usize,
    path: &[u8],
    path_checked: bool,
    answer: &Answer<'_>,
) -> Result<usize, LookupError> {
    check_rules(
        index,
        answer.status.code(),
        answer.orchestrator.0,
        path.len() as u64,
        answer.name.len() as u64,
        answer.labels.len() as u64,
    )?;
    if !path_checked {
        check_input(index, Field::Path, path)?;
    }
    check_input(index, Field::Name, answer.name)?;
    item_len(index, ITEM_HEADER_LEN, &[path, answer.name], answer.labels)
}

/// Writes a canonical item into zeroed `dst` of exactly its length.
fn write_item(
    dst: &mut [u8],
    status: Status,
    orchestrator: Orchestrator,
    path: &[u8],
    name: &[u8],
    labels: &[Label<'_>],
) {
    put_u16(dst, 0, 1);
    put_u16(dst, 2, status.code());
    put_u16(dst, 4, orchestrator.0);
    // Validated: at most u16::MAX labels.
    put_u16(dst, 24, labels.len() as u16);
    write_body(dst, ITEM_HEADER_LEN, &[path, name], &STRING_SLOTS, labels);
}

/// Builds a response from items given in order, at the end of a caller's
/// buffer.
///
/// Items are laid out canonically (§14.4, §15.2); the result is what the
/// reference builders produce for the same items. Use
/// [`push_item`](Self::push_item) to copy decoded items unchanged, e.g. to
/// stitch the accepted items of several sub-responses (§18.6).
///
/// Dropping the builder without [`finish`](Self::finish) truncates `buf`
/// back to its length before [`new`](Self::new).
#[derive(Debug)]
pub struct ResponseBuilder<'b> {
    core: PlainCore<'b>,
}

crate::codec::lookup::views::plain_builder!();

impl<'b> ResponseBuilder<'b> {
    crate::codec::lookup::views::plain_builder_methods!();

    /// Appends an item echoing `path` with `answer`.
    ///
    /// # Errors
    ///
    /// The §15.3 status rules ([`LookupError::StatusRule`], e.g. an empty
    /// path or a non-KNOWN answer with a name), a NUL inside a string
    /// ([`LookupError::StringInteriorNul`]), an empty label key
    /// ([`LookupError::EmptyLabelKey`]), a value too large for its field
    /// ([`LookupError::FieldOverflow`]) or the limit
    /// ([`LookupError::TooLarge`]). Nothing is written on error.
    pub fn push(&mut self, path: &[u8], answer: &Answer<'_>) -> Result<(), LookupError> {
        let len = answer_len(self.core.len(), path, false, answer)?;
        self.core.push(len, |dst| {
            write_item(
                dst,
                answer.status,
                answer.orchestrator,
                path,
                answer.name,
                answer.labels,
            )
        })
    }
}

/// Builds a server's response to a decoded request within the response
/// budget, following §17 step for step.
///
/// The directory is reserved for every request key. Each
/// [`add`](Self::add) answers the next key: the builder echoes the key's
/// path itself (from the validated request, without rescanning it),
/// validates the answer, and writes it if it fits together with the
/// placeholders reserved for the later keys (`end ≤ B` and
/// `align8(end) + S[k+1] ≤ B`). Otherwise key 0 becomes an OVERSIZED_ITEM
/// placeholder and any later key a PAYLOAD_EXCEEDED placeholder, after which
/// every remaining key is PAYLOAD_EXCEEDED whatever is added.
///
/// A provider may stop once [`is_exceeded`](Self::is_exceeded) is true:
/// [`finish`](Self::finish) then fills the remaining keys with
/// PAYLOAD_EXCEEDED placeholders. Otherwise every key needs an item.
///
/// With `budget ≥ 16 + 8n + S[0]` every placeholder is guaranteed to fit;
/// below that an add or finish may fail with [`LookupError::TooLarge`]
/// (which a server answers with LIMIT_EXCEEDED, §17.8).
///
/// Dropping the builder without [`finish`](Self::finish) truncates `buf`
/// back to its length before [`new`](Self::new).
#[derive(Debug)]
pub struct ReplyBuilder<'b, 'r> {
    core: ReplyCore<'b>,
    request: RequestView<'r>,
}

impl<'b, 'r> ReplyBuilder<'b, 'r> {
    /// Starts the response to `request` at the end of `buf`, with response
    /// budget `budget` (the session's agreed response payload limit).
    /// Generation starts at 0.
    pub fn new(buf: &'b mut Vec<u8>, request: RequestView<'r>, budget: usize) -> Self {
        let n = request.len();
        let suffix = ReplyCore::suffix_of((0..n).map(|i| request.placeholder_len(i) as u64));
        Self {
            core: ReplyCore::new(buf, n, budget, suffix),
            request,
        }
    }

    /// The path the next [`add`](Self::add) answers, `None` once every key
    /// has an item.
    #[inline]
    pub fn next_key(&self) -> Option<&'r [u8]> {
        self.request.key(self.core.next())
    }

    crate::codec::lookup::views::reply_builder_methods!();

    /// Answers the next key (§17.3) and reports what was written.
    ///
    /// Once the budget ran out the answer is ignored (not even validated)
    /// and a PAYLOAD_EXCEEDED placeholder is written.
    ///
    /// # Errors
    ///
    /// * the answer breaks a rule, as for [`ResponseBuilder::push`] (a
    ///   handler error; the builder is unchanged);
    /// * [`LookupError::ItemCountMismatch`]: every key already has an item;
    /// * [`LookupError::TooLarge`]: a placeholder does not fit the budget.
    pub fn add(&mut self, answer: &Answer<'_>) -> Result<Added, LookupError> {
        let k = self.core.next();
        let path = self.request.key(k).unwrap_or_default();
        let placeholder = if k < self.request.len() {
            self.request.placeholder_len(k)
        } else {
            0
        };
        self.core.add(
            || answer_len(k, path, true, answer),
            placeholder,
            |dst, outcome| match outcome {
                None => write_item(
                    dst,
                    answer.status,
                    answer.orchestrator,
                    path,
                    answer.name,
                    answer.labels,
                ),
                Some(added) => write_item(
                    dst,
                    placeholder_status(added),
                    Orchestrator::UNKNOWN,
                    path,
                    b"",
                    &[],
                ),
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
            self.add(&Answer::empty(Status::PayloadExceeded))?;
        }
        self.core.finish()
    }
}

fn placeholder_status(added: Added) -> Status {
    match added {
        Added::OversizedItem => Status::OversizedItem,
        _ => Status::PayloadExceeded,
    }
}
