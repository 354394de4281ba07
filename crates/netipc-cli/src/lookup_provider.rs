//! Request handlers of the lookup providers: `cgroups-lookup` answers from a
//! shared [`CgroupsSource`], `apps-lookup` from [`AppsSource`]s (one per
//! concurrently served request, sharing the cgroups source).
//!
//! Each handler answers the request's keys in order through the codec's
//! reply builder, which echoes the keys and applies the response budget; it
//! stops looking keys up once the budget ran out (the rest are
//! PAYLOAD_EXCEEDED and asked again by the client). The generation is the
//! cgroups index generation that answered the last key.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use netipc::codec::lookup::apps_lookup::{self, CgroupStatus};
use netipc::codec::lookup::cgroups_lookup::Answer;
use netipc::service::{apps_lookup as apps_service, cgroups_lookup, Handler};

use crate::apps_source::{AppsSource, PidCgroup, PidInfo};
use crate::cgroups_source::{CgroupLookup, CgroupsSource};

/// A managed-server handler for CGROUPS_LOOKUP answering from `source`.
pub fn cgroups_handler(source: Arc<CgroupsSource>) -> impl Handler {
    cgroups_lookup::handler(move |request, reply| {
        let asked_at = Instant::now();
        let mut index = source.current();
        for key in request.iter() {
            if reply.is_exceeded() {
                break;
            }
            match source.lookup(&mut index, key, asked_at) {
                CgroupLookup::Known(meta) => meta.with_wire_labels(|labels| {
                    reply.add(&Answer::known(meta.orchestrator, &meta.name, labels))
                }),
                CgroupLookup::UnknownRetryLater => reply.add(&Answer::UNKNOWN_RETRY_LATER),
                CgroupLookup::UnknownPermanent => reply.add(&Answer::UNKNOWN_PERMANENT),
            }?;
        }
        reply.set_generation(index.generation());
        Ok(())
    })
}

/// A managed-server handler for APPS_LOOKUP reading processes under
/// `proc_root` and their cgroups from `cgroups`.
///
/// Each request borrows an [`AppsSource`] (with its read buffers) from a
/// small pool, so concurrent sessions never share one and a sequential
/// session reuses the same buffers.
pub fn apps_handler(proc_root: impl Into<PathBuf>, cgroups: Arc<CgroupsSource>) -> impl Handler {
    let pool = Pool {
        proc_root: proc_root.into(),
        cgroups,
        free: Mutex::new(Vec::new()),
    };
    apps_service::handler(move |request, reply| {
        let mut source = pool.take();
        let mut result = Ok(());
        for pid in request.iter() {
            if reply.is_exceeded() {
                break;
            }
            result = add_pid(reply, source.lookup_pid(pid)).map(drop);
            if result.is_err() {
                break;
            }
        }
        reply.set_generation(source.generation());
        pool.give(source);
        Ok(result?)
    })
}

fn add_pid(
    reply: &mut apps_lookup::ReplyBuilder<'_, '_>,
    info: PidInfo<'_>,
) -> Result<netipc::codec::lookup::Added, netipc::codec::lookup::LookupError> {
    let process = match info {
        PidInfo::Known(process) => process,
        PidInfo::Unknown(_) => return reply.add(&apps_lookup::Answer::UNKNOWN),
    };
    let base = apps_lookup::Answer {
        ppid: process.ppid,
        uid: process.uid,
        starttime: process.starttime,
        comm: process.comm,
        ..apps_lookup::Answer::KNOWN
    };
    match process.cgroup {
        PidCgroup::Known { path, meta } => meta.with_wire_labels(|labels| {
            reply.add(&apps_lookup::Answer {
                cgroup_status: CgroupStatus::Known,
                cgroup_path: path,
                cgroup_name: &meta.name,
                orchestrator: meta.orchestrator,
                labels,
                ..base
            })
        }),
        PidCgroup::UnknownRetryLater { path } => reply.add(&apps_lookup::Answer {
            cgroup_status: CgroupStatus::UnknownRetryLater,
            cgroup_path: path,
            ..base
        }),
        PidCgroup::UnknownPermanent { path } => reply.add(&apps_lookup::Answer {
            cgroup_status: CgroupStatus::UnknownPermanent,
            cgroup_path: path,
            ..base
        }),
        PidCgroup::HostRoot => reply.add(&apps_lookup::Answer {
            cgroup_status: CgroupStatus::HostRoot,
            ..base
        }),
    }
}

/// Idle [`AppsSource`]s.
struct Pool {
    proc_root: PathBuf,
    cgroups: Arc<CgroupsSource>,
    free: Mutex<Vec<AppsSource>>,
}

impl Pool {
    fn take(&self) -> AppsSource {
        let idle = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        idle.unwrap_or_else(|| AppsSource::new(&self.proc_root, Arc::clone(&self.cgroups)))
    }

    fn give(&self, source: AppsSource) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(source);
    }
}
