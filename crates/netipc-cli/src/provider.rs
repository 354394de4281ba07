//! The cgroups snapshot provider: the scanner's last result, encoded once,
//! served to every client.
//!
//! The provider keeps the encoded CGROUPS_SNAPSHOT response payload of the
//! last successful scan behind an `RwLock<Arc<…>>`. The thread that scans
//! (the main thread of `netipc serve`) encodes a new payload only when the
//! snapshot changed and swaps the `Arc`; the server's workers take the read
//! lock just long enough to clone the `Arc` and then copy the bytes into
//! their response buffer. A request therefore never waits for a scan and
//! never encodes anything.
//!
//! Before the first successful scan the provider serves an empty snapshot
//! with generation 0, so clients can tell "no data yet" from a real, empty
//! hierarchy (generation ≥ 1).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use netipc::codec::cgroups::SnapshotBuilder;
use netipc::codec::CodecError;
use netipc::service::{cgroups, Handler};

use crate::cgroupfs::{Layout, ScanError, ScanResult, ScanSource, Scanner};

/// One published snapshot: its encoded payload and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The CGROUPS_SNAPSHOT response payload.
    pub payload: Vec<u8>,
    /// Generation of the snapshot (0 before the first successful scan).
    pub generation: u64,
    /// `systemd_enabled` of the snapshot.
    pub systemd_enabled: u32,
    /// Number of cgroups.
    pub items: usize,
}

impl Published {
    /// The empty generation-0 snapshot served before any scan succeeded.
    pub fn empty() -> Self {
        let mut payload = Vec::new();
        // An empty snapshot always fits; the builder cannot fail on it.
        let _ = SnapshotBuilder::new(&mut payload, 0, 0, 0).finish();
        Published {
            payload,
            generation: 0,
            systemd_enabled: 0,
            items: 0,
        }
    }

    /// Encodes a scan result.
    ///
    /// # Errors
    ///
    /// Only if an item cannot be encoded (a name with a NUL byte or a field
    /// over 4 GiB), which a real cgroup filesystem cannot produce.
    pub fn encode(result: &ScanResult) -> Result<Self, CodecError> {
        let bytes: usize = result
            .items
            .iter()
            .map(|i| 48 + i.name.len() + i.path.len())
            .sum();
        let mut payload = Vec::with_capacity(24 + bytes);
        let mut builder = SnapshotBuilder::new(
            &mut payload,
            result.systemd_enabled,
            result.generation,
            result.items.len(),
        );
        for item in &result.items {
            builder.push_item(item)?;
        }
        builder.finish()?;
        Ok(Published {
            payload,
            generation: result.generation,
            systemd_enabled: result.systemd_enabled,
            items: result.items.len(),
        })
    }
}

/// A cheap, cloneable reader of the current snapshot, for request handlers.
#[derive(Debug, Clone)]
pub struct SnapshotHandle {
    current: Arc<RwLock<Arc<Published>>>,
}

impl SnapshotHandle {
    /// The current snapshot.
    pub fn current(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Appends the current payload to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let current = self.current();
        out.extend_from_slice(&current.payload);
    }

    /// A managed-server handler answering CGROUPS_SNAPSHOT requests with the
    /// current payload.
    pub fn handler(&self) -> impl Handler {
        let handle = self.clone();
        cgroups::handler(move |out| {
            handle.write_to(out);
            Ok(())
        })
    }

    fn publish(&self, snapshot: Published) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
    }
}

/// What one [`SnapshotProvider::rescan`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rescan {
    /// Generation now served.
    pub generation: u64,
    /// Cgroups now served.
    pub items: usize,
    /// Directories left out because they could not be listed.
    pub skipped: usize,
    /// Whether a new snapshot was published (first scan, or the set of
    /// cgroups or `systemd_enabled` changed).
    pub published: bool,
    /// How long the walk and the encoding took.
    pub took: Duration,
}

/// The scanner plus the published snapshot.
#[derive(Debug)]
pub struct SnapshotProvider {
    scanner: Scanner,
    handle: SnapshotHandle,
}

impl SnapshotProvider {
    /// A provider scanning `source`. It serves the empty generation-0
    /// snapshot until [`rescan`](Self::rescan) first succeeds.
    pub fn new(source: ScanSource) -> Self {
        SnapshotProvider {
            scanner: Scanner::new(source),
            handle: SnapshotHandle {
                current: Arc::new(RwLock::new(Arc::new(Published::empty()))),
            },
        }
    }

    /// A provider walking `root` directly as a hierarchy of `layout`.
    pub fn with_root(root: impl Into<std::path::PathBuf>, layout: Layout) -> Self {
        Self::new(ScanSource::Root {
            root: root.into(),
            layout,
        })
    }

    /// A handle for request handlers.
    pub fn handle(&self) -> SnapshotHandle {
        self.handle.clone()
    }

    /// The snapshot served now.
    pub fn current(&self) -> Arc<Published> {
        self.handle.current()
    }

    /// The scanner's last successful result.
    pub fn last_scan(&self) -> Option<&ScanResult> {
        self.scanner.last()
    }

    /// Scans again and publishes the result if it differs from what is
    /// served.
    ///
    /// # Errors
    ///
    /// A failed scan (see [`ScanError`]); the snapshot served so far stays.
    pub fn rescan(&mut self) -> Result<Rescan, RescanError> {
        let started = Instant::now();
        let result = self.scanner.scan()?;
        let served = self.handle.current();
        let changed = served.generation != result.generation
            || served.systemd_enabled != result.systemd_enabled
            || served.items != result.items.len();
        if changed {
            self.handle.publish(Published::encode(result)?);
        }
        Ok(Rescan {
            generation: result.generation,
            items: result.items.len(),
            skipped: result.skipped,
            published: changed,
            took: started.elapsed(),
        })
    }
}

/// Why a rescan failed.
#[derive(Debug, thiserror::Error)]
pub enum RescanError {
    /// The walk failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The result could not be encoded.
    #[error("cannot encode the snapshot")]
    Encode(#[from] CodecError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::codec::cgroups::SnapshotView;
    use std::fs;

    /// (hash, options, enabled, name, path) of one decoded item.
    type Item = (u32, u32, u32, Vec<u8>, Vec<u8>);

    fn decode(p: &Published) -> Vec<Item> {
        let view = SnapshotView::decode(&p.payload).unwrap();
        assert_eq!(view.generation(), p.generation);
        assert_eq!(view.systemd_enabled(), p.systemd_enabled);
        assert_eq!(view.item_count(), p.items);
        view.iter()
            .map(|i| {
                (
                    i.hash(),
                    i.options(),
                    i.enabled(),
                    i.name().to_vec(),
                    i.path().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn empty_before_the_first_scan() {
        let dir = tempfile::tempdir().unwrap();
        let provider = SnapshotProvider::with_root(dir.path().join("missing"), Layout::V2);
        let p = provider.current();
        assert_eq!((p.generation, p.items), (0, 0));
        assert!(decode(&p).is_empty());
    }

    #[test]
    fn failed_scan_keeps_the_served_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cg");
        fs::create_dir_all(root.join("system.slice/ssh.service")).unwrap();
        let mut provider = SnapshotProvider::with_root(&root, Layout::V2);
        let first = provider.rescan().unwrap();
        assert!(first.published);
        assert_eq!((first.generation, first.items), (1, 3));

        fs::rename(&root, dir.path().join("moved")).unwrap();
        assert!(matches!(provider.rescan(), Err(RescanError::Scan(_))));
        assert_eq!(provider.current().generation, 1);
        assert_eq!(provider.current().items, 3);
    }

    #[test]
    fn publishes_only_on_change_and_matches_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("system.slice/ssh.service")).unwrap();
        fs::create_dir_all(root.join("user.slice/user 1000.slice/séance.scope")).unwrap();
        let mut provider = SnapshotProvider::with_root(root, Layout::V2);
        let handle = provider.handle();

        let r = provider.rescan().unwrap();
        assert!(r.published);
        let served = handle.current();
        let items = decode(&served);
        let scan = provider.last_scan().unwrap();
        assert_eq!(items.len(), scan.items.len());
        for (got, want) in items.iter().zip(&scan.items) {
            assert_eq!(
                got,
                &(
                    want.hash,
                    want.options,
                    want.enabled,
                    want.name.clone(),
                    want.path.clone()
                )
            );
        }
        assert_eq!(served.systemd_enabled, 1);

        let again = provider.rescan().unwrap();
        assert!(!again.published);
        assert!(Arc::ptr_eq(&served, &handle.current()));

        fs::remove_dir(root.join("system.slice/ssh.service")).unwrap();
        let changed = provider.rescan().unwrap();
        assert!(changed.published);
        assert_eq!(changed.generation, 2);
        assert_eq!(handle.current().items, items.len() - 1);
    }

    #[test]
    fn handle_appends_the_payload() {
        let provider = SnapshotProvider::with_root("/nonexistent-netipc-root", Layout::V1);
        let mut out = vec![9u8];
        provider.handle().write_to(&mut out);
        assert_eq!(out[0], 9);
        assert_eq!(&out[1..], &provider.current().payload[..]);
    }
}
