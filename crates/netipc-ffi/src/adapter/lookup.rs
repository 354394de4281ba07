//! The lookup services (CGROUPS_LOOKUP, APPS_LOOKUP) for C: owned copies of
//! a logical call's answers, the mapping of its errors, and servers whose
//! C handler answers through a request-backed reply builder.

use netipc_core::codec::lookup::{
    apps_lookup, cgroups_lookup, Added, Label, LookupError, Orchestrator,
};
use netipc_core::service::lookup::{LookupCallError, LOOKUP_RESPONSE_PAYLOAD};
use netipc_core::service::{self, HandlerError};

use super::server::{start, Running, ServerSettings};
use super::{call_failure, error_text, Endpoint};
use crate::result::*;

/// A failed logical lookup call as a C code and message.
pub(crate) fn lookup_failure(e: &LookupCallError) -> Failure {
    let code = match e {
        LookupCallError::Call(inner) => call_failure(inner).code,
        LookupCallError::TooManyKeys { .. }
        | LookupCallError::TooManySubcalls { .. }
        | LookupCallError::ResponseTooLarge { .. }
        | LookupCallError::NoProgress { .. }
        | LookupCallError::RequestCapacity { .. }
        | LookupCallError::RequestLimitTooSmall { .. } => NETIPC_ERR_OVERFLOW,
        LookupCallError::Key(_) => NETIPC_ERR_INVALID_ARGUMENT,
        LookupCallError::ItemCount { .. } => NETIPC_ERR_BAD_ITEM_COUNT,
        _ => NETIPC_ERR_PROTOCOL,
    };
    Failure::new(code, error_text(e))
}

/// Owns a copy of a validated response and a view of it.
macro_rules! owned_answers {
    ($name:ident, $codec:ident) => {
        /// The answers of one logical call, copied out of the client.
        #[derive(Debug)]
        pub(crate) struct $name {
            // Borrows `_bytes` (see `copy`); never handed out with a longer
            // lifetime than `&self`.
            view: $codec::ResponseView<'static>,
            _bytes: Vec<u8>,
        }

        impl $name {
            /// Copies a response the library validated.
            pub fn copy(view: &$codec::ResponseView<'_>) -> Result<Self, Failure> {
                let bytes = view.as_bytes().to_vec();
                let slice: &'static [u8] = {
                    // SAFETY: the slice points into the heap buffer of `bytes`,
                    // which is stored next to the view, never modified, and only
                    // freed when the whole value is dropped; moving the value
                    // moves the Vec's pointer, not the buffer. The view is only
                    // reachable through `&self`, so no borrow outlives it.
                    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
                };
                let view = $codec::ResponseView::decode(slice)
                    .map_err(|e| Failure::new(NETIPC_ERR_PROTOCOL, error_text(&e)))?;
                Ok(Self {
                    view,
                    _bytes: bytes,
                })
            }

            pub fn len(&self) -> usize {
                self.view.len()
            }

            pub fn generation(&self) -> u64 {
                self.view.generation()
            }

            fn get(&self, index: usize) -> Result<$codec::ItemView<'_>, Failure> {
                self.view.item(index).ok_or_else(|| {
                    Failure::invalid(format!(
                        "index {index} is past the end of a result of {} items",
                        self.view.len()
                    ))
                })
            }

            /// Label `label` of item `index`: (key, value).
            pub fn label(&self, index: usize, label: usize) -> Result<(&[u8], &[u8]), Failure> {
                let item = self.get(index)?;
                let count = item.label_count();
                item.labels()
                    .nth(label)
                    .map(|l| (l.key, l.value))
                    .ok_or_else(|| {
                        Failure::invalid(format!(
                            "label {label} is past the end of item {index}'s {count} labels"
                        ))
                    })
            }
        }
    };
}

owned_answers!(CgroupsAnswers, cgroups_lookup);
owned_answers!(AppsAnswers, apps_lookup);

/// One CGROUPS_LOOKUP answer, borrowed from [`CgroupsAnswers`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct CgroupsItem<'a> {
    pub status: u32,
    pub orchestrator: u32,
    pub path: &'a [u8],
    pub name: &'a [u8],
    pub label_count: usize,
}

impl CgroupsAnswers {
    pub fn item(&self, index: usize) -> Result<CgroupsItem<'_>, Failure> {
        let i = self.get(index)?;
        Ok(CgroupsItem {
            status: u32::from(i.status().code()),
            orchestrator: u32::from(i.orchestrator().0),
            path: i.path(),
            name: i.name(),
            label_count: i.label_count(),
        })
    }
}

/// One APPS_LOOKUP answer, borrowed from [`AppsAnswers`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppsItem<'a> {
    pub pid: u32,
    pub status: u32,
    pub ppid: u32,
    pub uid: u32,
    pub starttime: u64,
    pub comm: &'a [u8],
    pub cgroup_status: u32,
    pub orchestrator: u32,
    pub cgroup_path: &'a [u8],
    pub cgroup_name: &'a [u8],
    pub label_count: usize,
}

impl AppsAnswers {
    pub fn item(&self, index: usize) -> Result<AppsItem<'_>, Failure> {
        let i = self.get(index)?;
        Ok(AppsItem {
            pid: i.pid(),
            status: u32::from(i.status().code()),
            ppid: i.ppid(),
            uid: i.uid(),
            starttime: i.starttime(),
            comm: i.comm(),
            cgroup_status: u32::from(i.cgroup_status().code()),
            orchestrator: u32::from(i.orchestrator().0),
            cgroup_path: i.cgroup_path(),
            cgroup_name: i.cgroup_name(),
            label_count: i.label_count(),
        })
    }
}

// ---- servers ---------------------------------------------------------------

/// The keys of one lookup request, as a C handler reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RequestKeys<'r> {
    Paths(cgroups_lookup::RequestView<'r>),
    Pids(apps_lookup::RequestView<'r>),
}

impl RequestKeys<'_> {
    pub fn len(&self) -> usize {
        match self {
            RequestKeys::Paths(r) => r.len(),
            RequestKeys::Pids(r) => r.len(),
        }
    }

    pub fn path(&self, index: usize) -> Result<&[u8], Failure> {
        match self {
            RequestKeys::Paths(r) => r.key(index).ok_or_else(|| past_end(index, r.len())),
            RequestKeys::Pids(_) => Err(Failure::invalid(
                "an APPS_LOOKUP request holds PIDs, not paths",
            )),
        }
    }

    pub fn pid(&self, index: usize) -> Result<u32, Failure> {
        match self {
            RequestKeys::Pids(r) => r.pid(index).ok_or_else(|| past_end(index, r.len())),
            RequestKeys::Paths(_) => Err(Failure::invalid(
                "a CGROUPS_LOOKUP request holds paths, not PIDs",
            )),
        }
    }
}

fn past_end(index: usize, len: usize) -> Failure {
    Failure::invalid(format!(
        "key {index} is past the end of a request of {len} keys"
    ))
}

#[derive(Debug)]
enum Reply<'a, 'b, 'r> {
    Cgroups(&'a mut cgroups_lookup::ReplyBuilder<'b, 'r>),
    Apps(&'a mut apps_lookup::ReplyBuilder<'b, 'r>),
}

/// An APPS_LOOKUP answer as C gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppAnswer<'x> {
    pub ppid: u32,
    pub uid: u32,
    pub starttime: u64,
    pub comm: &'x [u8],
    pub cgroup_status: u32,
    pub orchestrator: u32,
    pub cgroup_path: &'x [u8],
    pub cgroup_name: &'x [u8],
}

/// The response a C lookup handler fills: one answer per request key, in
/// order, with labels staged before the answer they belong to.
#[derive(Debug)]
pub(crate) struct LookupSink<'a, 'b, 'r> {
    reply: Reply<'a, 'b, 'r>,
    /// Staged label keys and values, back to back.
    label_bytes: Vec<u8>,
    /// Where each staged label's key and value end in `label_bytes`.
    label_ends: Vec<(usize, usize)>,
    /// A placeholder that did not fit the response limit: the request is
    /// answered LIMIT_EXCEEDED whatever the handler returns.
    too_large: Option<LookupError>,
}

fn orchestrator(value: u32) -> Result<Orchestrator, Failure> {
    u16::try_from(value)
        .map(Orchestrator)
        .map_err(|_| Failure::invalid(format!("orchestrator {value} is over 65535")))
}

impl<'a, 'b, 'r> LookupSink<'a, 'b, 'r> {
    fn new(reply: Reply<'a, 'b, 'r>) -> Self {
        LookupSink {
            reply,
            label_bytes: Vec::new(),
            label_ends: Vec::new(),
            too_large: None,
        }
    }

    /// Stages a label for the next answer.
    pub fn stage_label(&mut self, key: &[u8], value: &[u8]) {
        self.label_bytes.extend_from_slice(key);
        let key_end = self.label_bytes.len();
        self.label_bytes.extend_from_slice(value);
        self.label_ends.push((key_end, self.label_bytes.len()));
    }

    pub fn is_exceeded(&self) -> bool {
        match &self.reply {
            Reply::Cgroups(r) => r.is_exceeded(),
            Reply::Apps(r) => r.is_exceeded(),
        }
    }

    pub fn set_generation(&mut self, generation: u64) {
        match &mut self.reply {
            Reply::Cgroups(r) => r.set_generation(generation),
            Reply::Apps(r) => r.set_generation(generation),
        }
    }

    /// Answers the next key of a CGROUPS_LOOKUP request with `status`
    /// (a `Status` code) and, when KNOWN, the rest.
    pub fn add_cgroup(
        &mut self,
        status: u32,
        orchestrator_code: u32,
        name: &[u8],
    ) -> Result<(), Failure> {
        let result = self.add_cgroup_inner(status, orchestrator_code, name);
        self.clear_labels();
        result
    }

    fn add_cgroup_inner(
        &mut self,
        status: u32,
        orchestrator_code: u32,
        name: &[u8],
    ) -> Result<(), Failure> {
        let status = u16::try_from(status)
            .ok()
            .and_then(cgroups_lookup::Status::from_code)
            .filter(|s| {
                !matches!(
                    s,
                    cgroups_lookup::Status::PayloadExceeded | cgroups_lookup::Status::OversizedItem
                )
            })
            .ok_or_else(|| Failure::invalid(format!("{status} is not an answer status")))?;
        let orchestrator = orchestrator(orchestrator_code)?;
        let labels = staged(&self.label_bytes, &self.label_ends);
        let answer = cgroups_lookup::Answer {
            status,
            orchestrator,
            name,
            labels: &labels,
        };
        let added = match &mut self.reply {
            Reply::Cgroups(r) => r.add(&answer),
            Reply::Apps(_) => return Err(wrong_reply("APPS_LOOKUP", "a cgroup")),
        };
        outcome(added, &mut self.too_large)
    }

    /// Answers the next key of an APPS_LOOKUP request: KNOWN with
    /// `answer`, or UNKNOWN when `answer` is `None`.
    pub fn add_app(&mut self, answer: Option<&AppAnswer<'_>>) -> Result<(), Failure> {
        let result = self.add_app_inner(answer);
        self.clear_labels();
        result
    }

    fn add_app_inner(&mut self, answer: Option<&AppAnswer<'_>>) -> Result<(), Failure> {
        let labels = staged(&self.label_bytes, &self.label_ends);
        let built = match answer {
            None => apps_lookup::Answer {
                labels: &labels,
                ..apps_lookup::Answer::UNKNOWN
            },
            Some(a) => apps_lookup::Answer {
                status: apps_lookup::PidStatus::Known,
                cgroup_status: u16::try_from(a.cgroup_status)
                    .ok()
                    .and_then(apps_lookup::CgroupStatus::from_code)
                    .ok_or_else(|| {
                        Failure::invalid(format!("{} is not a cgroup status", a.cgroup_status))
                    })?,
                orchestrator: orchestrator(a.orchestrator)?,
                ppid: a.ppid,
                uid: a.uid,
                starttime: a.starttime,
                comm: a.comm,
                cgroup_path: a.cgroup_path,
                cgroup_name: a.cgroup_name,
                labels: &labels,
            },
        };
        let added = match &mut self.reply {
            Reply::Apps(r) => r.add(&built),
            Reply::Cgroups(_) => return Err(wrong_reply("CGROUPS_LOOKUP", "a process")),
        };
        outcome(added, &mut self.too_large)
    }

    pub fn clear_labels(&mut self) {
        self.label_bytes.clear();
        self.label_ends.clear();
    }

    /// What the handler's return leaves to the library: `Err` when the
    /// request must be answered with an error status.
    fn conclude(self, handler: Result<(), String>) -> Result<(), HandlerError> {
        if let Some(e) = self.too_large {
            return Err(HandlerError::Lookup(e));
        }
        handler.map_err(HandlerError::new)?;
        let (next, keys, exceeded) = match &self.reply {
            Reply::Cgroups(r) => (r.next_index(), r.request().len(), r.is_exceeded()),
            Reply::Apps(r) => (r.next_index(), r.request().len(), r.is_exceeded()),
        };
        if next < keys && !exceeded {
            return Err(HandlerError::new(format!(
                "the handler answered {next} of {keys} keys"
            )));
        }
        Ok(())
    }
}

/// The staged labels as the codec takes them.
fn staged<'l>(bytes: &'l [u8], ends: &[(usize, usize)]) -> Vec<Label<'l>> {
    let mut start = 0;
    ends.iter()
        .map(|&(key_end, value_end)| {
            let label = Label::new(&bytes[start..key_end], &bytes[key_end..value_end]);
            start = value_end;
            label
        })
        .collect()
}

fn wrong_reply(method: &str, what: &str) -> Failure {
    Failure::invalid(format!(
        "this reply answers {method}; it takes no answer for {what}"
    ))
}

/// An add's result for C: `Ok` when the answer was written, OVERFLOW when
/// a placeholder was written instead.
fn outcome(
    added: Result<Added, LookupError>,
    too_large: &mut Option<LookupError>,
) -> Result<(), Failure> {
    match added {
        Ok(Added::Item) => Ok(()),
        Ok(Added::OversizedItem) => Err(Failure::new(
            NETIPC_ERR_OVERFLOW,
            "the answer does not fit the response; it was sent as OVERSIZED_ITEM",
        )),
        Ok(_) => Err(Failure::new(
            NETIPC_ERR_OVERFLOW,
            "the response is full; this and every later key are sent as PAYLOAD_EXCEEDED",
        )),
        Err(e @ LookupError::TooLarge { .. }) => {
            let failure = Failure::new(NETIPC_ERR_OVERFLOW, error_text(&e));
            *too_large = Some(e);
            Err(failure)
        }
        Err(e @ LookupError::ItemCountMismatch { .. }) => Err(Failure::invalid(format!(
            "every key already has an answer: {}",
            error_text(&e)
        ))),
        Err(e) => Err(Failure::invalid(error_text(&e))),
    }
}

/// Serves CGROUPS_LOOKUP with `f`, which answers through a
/// [`LookupSink`]; its `Err` is answered INTERNAL_ERROR, as are keys left
/// unanswered while the response has room.
pub(crate) fn start_cgroups_lookup<F>(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    f: F,
) -> Result<Running, Failure>
where
    F: Fn(&RequestKeys<'_>, &mut LookupSink<'_, '_, '_>) -> Result<(), String>
        + Send
        + Sync
        + 'static,
{
    start(
        endpoint,
        settings,
        LOOKUP_RESPONSE_PAYLOAD,
        service::cgroups_lookup::handler(move |request, reply| {
            let mut sink = LookupSink::new(Reply::Cgroups(reply));
            let result = f(&RequestKeys::Paths(request), &mut sink);
            sink.conclude(result)
        }),
    )
}

/// Serves APPS_LOOKUP with `f`, as [`start_cgroups_lookup`].
pub(crate) fn start_apps_lookup<F>(
    endpoint: &Endpoint,
    settings: &ServerSettings,
    f: F,
) -> Result<Running, Failure>
where
    F: Fn(&RequestKeys<'_>, &mut LookupSink<'_, '_, '_>) -> Result<(), String>
        + Send
        + Sync
        + 'static,
{
    start(
        endpoint,
        settings,
        LOOKUP_RESPONSE_PAYLOAD,
        service::apps_lookup::handler(move |request, reply| {
            let mut sink = LookupSink::new(Reply::Apps(reply));
            let result = f(&RequestKeys::Pids(request), &mut sink);
            sink.conclude(result)
        }),
    )
}

#[cfg(test)]
mod tests {
    use netipc_core::codec::lookup::apps_lookup::{CgroupStatus, PidStatus, UID_UNSET};
    use netipc_core::codec::lookup::cgroups_lookup::Status;
    use netipc_core::codec::lookup::Orchestrator;

    use crate::ffi_client::{NETIPC_SERVICE_APPS_LOOKUP, NETIPC_SERVICE_CGROUPS_LOOKUP};
    use crate::ffi_lookup::*;
    use netipc_core::wire::Method;

    #[test]
    fn c_constants_match_the_library() {
        let code = |c: u16| u32::from(c);
        assert_eq!(
            NETIPC_SERVICE_CGROUPS_LOOKUP,
            code(Method::CgroupsLookup.code())
        );
        assert_eq!(NETIPC_SERVICE_APPS_LOOKUP, code(Method::AppsLookup.code()));
        assert_eq!(NETIPC_CGROUP_KNOWN, code(Status::Known.code()));
        assert_eq!(
            NETIPC_CGROUP_UNKNOWN_RETRY_LATER,
            code(Status::UnknownRetryLater.code())
        );
        assert_eq!(
            NETIPC_CGROUP_UNKNOWN_PERMANENT,
            code(Status::UnknownPermanent.code())
        );
        assert_eq!(
            NETIPC_CGROUP_OVERSIZED_ITEM,
            code(Status::OversizedItem.code())
        );
        assert_eq!(NETIPC_APP_KNOWN, code(PidStatus::Known.code()));
        assert_eq!(NETIPC_APP_UNKNOWN, code(PidStatus::Unknown.code()));
        assert_eq!(
            NETIPC_APP_OVERSIZED_ITEM,
            code(PidStatus::OversizedItem.code())
        );
        assert_eq!(NETIPC_APP_CGROUP_KNOWN, code(CgroupStatus::Known.code()));
        assert_eq!(
            NETIPC_APP_CGROUP_UNKNOWN_RETRY_LATER,
            code(CgroupStatus::UnknownRetryLater.code())
        );
        assert_eq!(
            NETIPC_APP_CGROUP_UNKNOWN_PERMANENT,
            code(CgroupStatus::UnknownPermanent.code())
        );
        assert_eq!(
            NETIPC_APP_CGROUP_HOST_ROOT,
            code(CgroupStatus::HostRoot.code())
        );
        assert_eq!(NETIPC_UID_UNSET, UID_UNSET);
        assert_eq!(NETIPC_ORCHESTRATOR_UNKNOWN, code(Orchestrator::UNKNOWN.0));
        assert_eq!(NETIPC_ORCHESTRATOR_SYSTEMD, code(Orchestrator::SYSTEMD.0));
        assert_eq!(NETIPC_ORCHESTRATOR_DOCKER, code(Orchestrator::DOCKER.0));
        assert_eq!(NETIPC_ORCHESTRATOR_K8S, code(Orchestrator::K8S.0));
        assert_eq!(NETIPC_ORCHESTRATOR_KVM, code(Orchestrator::KVM.0));
        assert_eq!(NETIPC_ORCHESTRATOR_LXC, code(Orchestrator::LXC.0));
        assert_eq!(NETIPC_ORCHESTRATOR_PODMAN, code(Orchestrator::PODMAN.0));
        assert_eq!(NETIPC_ORCHESTRATOR_NSPAWN, code(Orchestrator::NSPAWN.0));
    }
}
