//! The CGROUPS_SNAPSHOT service: the cgroups collector publishes its
//! snapshot, consumers fetch it whole.
//!
//! The request carries no arguments; the response can be large (thousands
//! of cgroups), which is where overflow recovery earns its keep: the first
//! call to a server whose announced limit is too small renegotiates until
//! the snapshot fits, and later sessions start at the learned size.

use super::client::{Client, Outgoing, ServiceKind};
use super::{CallError, Handler, HandlerError, ServeError};
use crate::codec::cgroups::{SnapshotRequest, SnapshotView, REQUEST_LEN};
use crate::wire::Method;

/// Response size hinted before anything was learned.
const RESPONSE_HINT: u32 = 64 * 1024;

/// Marker type of the CGROUPS_SNAPSHOT service.
#[derive(Debug, Clone, Copy)]
pub struct CgroupsSnapshot;

impl ServiceKind for CgroupsSnapshot {
    const METHOD: Method = Method::CgroupsSnapshot;
    fn request_bytes(_batch_items: u32) -> u32 {
        REQUEST_LEN as u32
    }
    fn response_bytes(_batch_items: u32) -> u32 {
        RESPONSE_HINT
    }
}

/// A client context for a CGROUPS_SNAPSHOT endpoint.
pub type CgroupsSnapshotClient = Client<CgroupsSnapshot>;

impl Client<CgroupsSnapshot> {
    /// Fetches the snapshot. The view borrows the session's receive buffer
    /// until the next call; use [`SnapshotView::to_owned`] to keep it.
    pub fn call_snapshot(&mut self) -> Result<SnapshotView<'_>, CallError> {
        self.request.clear();
        SnapshotRequest.encode_into(&mut self.request);
        self.exchange(Outgoing { batch: None })?;
        Ok(SnapshotView::decode(self.payload())?)
    }
}

/// A managed-server handler for CGROUPS_SNAPSHOT.
///
/// `f` writes the response payload into the buffer it is given, normally
/// through a [`SnapshotBuilder`](crate::codec::cgroups::SnapshotBuilder):
///
/// ```
/// use netipc::codec::cgroups::{CgroupItem, SnapshotBuilder};
/// let handler = netipc::service::cgroups::handler(|buf| {
///     let mut b = SnapshotBuilder::new(buf, 1, 42, 1);
///     b.push(CgroupItem {
///         hash: 0x1234,
///         options: 0,
///         enabled: 1,
///         name: b"system.slice/sshd.service",
///         path: b"/sys/fs/cgroup/system.slice/sshd.service",
///     })?;
///     b.finish()?;
///     Ok(())
/// });
/// # let _ = handler;
/// ```
pub fn handler<F>(f: F) -> impl Handler
where
    F: Fn(&mut Vec<u8>) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    SnapshotHandler(f)
}

struct SnapshotHandler<F>(F);

impl<F> Handler for SnapshotHandler<F>
where
    F: Fn(&mut Vec<u8>) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    fn method(&self) -> Method {
        Method::CgroupsSnapshot
    }
    fn allows_batch(&self) -> bool {
        false
    }
    fn serve(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), ServeError> {
        SnapshotRequest::decode(request).map_err(|_| ServeError::BadRequest)?;
        let start = out.len();
        if let Err(e) = (self.0)(out) {
            out.truncate(start);
            return Err(e.into());
        }
        Ok(())
    }
}
