//! The owned, indexed cgroups snapshot and the cache that refreshes it.

use std::time::{Duration, Instant};

use crate::codec::cgroups::{CgroupItem, SnapshotView};
use crate::service::cgroups::CgroupsSnapshotClient;
use crate::service::{AbortHandle, CallError, ClientConfig, ClientError, ClientState, Endpoint};

/// Fewest index buckets.
const MIN_BUCKETS: usize = 16;

/// One cgroup of a [`CgroupsTable`], borrowed from it: the codec's
/// [`CgroupItem`].
pub type Cgroup<'a> = CgroupItem<'a>;

/// Fixed-size part of an entry; its strings live in the table's arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    options: u32,
    enabled: u32,
    /// Arena range of the name: `name_start..name_end`; the path follows
    /// up to `path_end`.
    name_start: usize,
    name_end: usize,
    path_end: usize,
}

/// An owned copy of one snapshot with an open-addressing index on
/// `(hash, name)`.
///
/// Strings are kept in one arena (name then path per entry), so a table of
/// N cgroups is three allocations. The index has a power of two ≥ 2·N
/// buckets (at least 16) and probes linearly from a slot derived from the
/// hash alone; a bucket stores the hash next to the entry number so that a
/// probe touches the strings only when the hash matches.
#[derive(Debug, Clone, Default)]
pub struct CgroupsTable {
    entries: Vec<Entry>,
    strings: Vec<u8>,
    /// (hash, entry + 1); entry 0 marks an empty bucket.
    buckets: Vec<(u32, u32)>,
    shift: u32,
    systemd_enabled: u32,
    generation: u64,
}

impl CgroupsTable {
    /// Copies every item of a decoded snapshot and indexes it.
    pub fn from_view(view: &SnapshotView<'_>) -> Self {
        let mut table = CgroupsTable::with_header(view.systemd_enabled(), view.generation());
        let bytes: usize = view.iter().map(|i| i.name().len() + i.path().len()).sum();
        table.entries.reserve_exact(view.item_count());
        table.strings.reserve_exact(bytes);
        for item in view.iter() {
            table.push(item.item());
        }
        table.reindex();
        table
    }

    /// Builds a table from items.
    pub fn from_items<'a, I>(systemd_enabled: u32, generation: u64, items: I) -> Self
    where
        I: IntoIterator<Item = CgroupItem<'a>>,
    {
        let mut table = CgroupsTable::with_header(systemd_enabled, generation);
        for item in items {
            table.push(item);
        }
        table.reindex();
        table
    }

    fn with_header(systemd_enabled: u32, generation: u64) -> Self {
        CgroupsTable {
            systemd_enabled,
            generation,
            ..CgroupsTable::default()
        }
    }

    fn push(&mut self, item: CgroupItem<'_>) {
        let CgroupItem {
            hash,
            options,
            enabled,
            name,
            path,
        } = item;
        let name_start = self.strings.len();
        self.strings.extend_from_slice(name);
        let name_end = self.strings.len();
        self.strings.extend_from_slice(path);
        self.entries.push(Entry {
            hash,
            options,
            enabled,
            name_start,
            name_end,
            path_end: self.strings.len(),
        });
    }

    fn reindex(&mut self) {
        let buckets = (self.entries.len() * 2)
            .next_power_of_two()
            .max(MIN_BUCKETS);
        self.shift = 64 - buckets.trailing_zeros();
        self.buckets.clear();
        self.buckets.resize(buckets, (0, 0));
        let mask = buckets - 1;
        for (i, e) in self.entries.iter().enumerate() {
            let mut slot = self.slot(e.hash);
            while self.buckets[slot].1 != 0 {
                slot = (slot + 1) & mask;
            }
            self.buckets[slot] = (e.hash, i as u32 + 1);
        }
    }

    /// Fibonacci hashing of the producer's hash onto the bucket array.
    #[inline]
    fn slot(&self, hash: u32) -> usize {
        ((u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, e: &Entry) -> Cgroup<'_> {
        Cgroup {
            hash: e.hash,
            options: e.options,
            enabled: e.enabled,
            name: &self.strings[e.name_start..e.name_end],
            path: &self.strings[e.name_end..e.path_end],
        }
    }

    /// The cgroup whose hash is `hash` and whose name equals `name` byte for
    /// byte (the first such item of the snapshot). O(1), no allocation.
    #[inline]
    pub fn lookup(&self, hash: u32, name: &[u8]) -> Option<Cgroup<'_>> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut slot = self.slot(hash);
        loop {
            let (h, entry) = self.buckets[slot];
            if entry == 0 {
                return None;
            }
            if h == hash {
                let e = &self.entries[entry as usize - 1];
                if bytes_eq(&self.strings[e.name_start..e.name_end], name) {
                    return Some(self.get(e));
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The cgroup at `index` in snapshot order (`None` past the end). O(1),
    /// so a caller can walk the table by position.
    #[inline]
    pub fn item(&self, index: usize) -> Option<Cgroup<'_>> {
        self.entries.get(index).map(|e| self.get(e))
    }

    /// Number of cgroups.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds no cgroup.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The snapshot's `systemd_enabled` field.
    pub fn systemd_enabled(&self) -> u32 {
        self.systemd_enabled
    }

    /// The snapshot's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The cgroups in snapshot order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            table: self,
            entries: self.entries.iter(),
        }
    }
}

/// Byte-wise equality tuned for short names: lengths first, then at most
/// two overlapping word loads for names up to 16 bytes, instead of a call
/// into `memcmp`. Longer names use the slice comparison.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    use crate::bytes::{get_u32 as half, get_u64 as word};
    match n {
        0 => true,
        1..=3 => a == b,
        4..=8 => ((half(a, 0) ^ half(b, 0)) | (half(a, n - 4) ^ half(b, n - 4))) == 0,
        9..=16 => ((word(a, 0) ^ word(b, 0)) | (word(a, n - 8) ^ word(b, n - 8))) == 0,
        _ => a == b,
    }
}

/// Iterator over the cgroups of a table, in snapshot order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    table: &'a CgroupsTable,
    entries: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Cgroup<'a>;
    fn next(&mut self) -> Option<Cgroup<'a>> {
        self.entries.next().map(|e| self.table.get(e))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The cache's state and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheStatus {
    /// At least one refresh succeeded.
    pub populated: bool,
    /// Cgroups in the cache.
    pub item_count: usize,
    /// The cached snapshot's `systemd_enabled`.
    pub systemd_enabled: u32,
    /// The cached snapshot's generation.
    pub generation: u64,
    /// Successful refreshes.
    pub successes: u64,
    /// Failed refreshes.
    pub failures: u64,
    /// State of the Level 2 client.
    pub client_state: ClientState,
    /// When the cache was last replaced.
    pub last_success: Option<Instant>,
    /// Why the last refresh failed, if it did (cleared by a successful
    /// one). [`ClientError::connect_failure`] tells a missing provider, a
    /// rejected token, a denied permission … apart.
    pub last_error: Option<ClientError>,
}

/// A client-side cache of the cgroups snapshot, refreshed on demand.
///
/// Creating it does no I/O. [`CgroupsCache::refresh`] connects (or
/// reconnects) and fetches a new snapshot; when anything fails the previous
/// cache stays in place and the error is returned and remembered.
///
/// A refresh is bounded like any Level 2 call: connecting by the handshake
/// timeout, the snapshot call by the call timeout
/// ([`ClientConfig::with_call_timeout`],
/// [`CgroupsCache::refresh_with_timeout`]); and it can be aborted from
/// another thread through [`CgroupsCache::abort_handle`]. A refresh that
/// times out or is aborted keeps the previous snapshot.
#[derive(Debug)]
pub struct CgroupsCache {
    client: CgroupsSnapshotClient,
    table: CgroupsTable,
    populated: bool,
    successes: u64,
    failures: u64,
    last_success: Option<Instant>,
    last_error: Option<ClientError>,
}

impl CgroupsCache {
    /// A cache fed by the provider at `endpoint`. No I/O happens here.
    pub fn new(endpoint: Endpoint, config: ClientConfig) -> Self {
        CgroupsCache {
            client: CgroupsSnapshotClient::new(endpoint, config),
            table: CgroupsTable::default(),
            populated: false,
            successes: 0,
            failures: 0,
            last_success: None,
            last_error: None,
        }
    }

    /// Refreshes the Level 2 client and fetches a new snapshot. On success
    /// the new snapshot replaces the cache; on failure the previous cache is
    /// kept and the error returned: [`ClientError::Connect`] with the real
    /// cause when the client could not connect (no provider, token
    /// rejected, permission denied, incompatible, timed out …),
    /// [`ClientError::Call`] when the snapshot call failed.
    pub fn refresh(&mut self) -> Result<(), ClientError> {
        let timeout = self.client.call_timeout();
        self.refresh_with_timeout(timeout)
    }

    /// [`CgroupsCache::refresh`] with the snapshot call bounded by
    /// `timeout` instead of the call timeout (zero: the call timeout).
    /// While the abort handle is aborted it fails at once with
    /// [`CallError::Aborted`] and does no I/O.
    pub fn refresh_with_timeout(&mut self, timeout: Duration) -> Result<(), ClientError> {
        let fetched = self.fetch(timeout);
        match fetched {
            Ok(table) => {
                self.table = table;
                self.populated = true;
                self.successes += 1;
                self.last_success = Some(Instant::now());
                self.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.failures += 1;
                self.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Connects if needed and fetches a new table.
    fn fetch(&mut self, timeout: Duration) -> Result<CgroupsTable, ClientError> {
        let abort = self.client.abort_handle();
        if abort.is_aborted() {
            return Err(ClientError::Call(CallError::Aborted));
        }
        self.client.refresh();
        if abort.is_aborted() {
            // The connection attempt was aborted.
            return Err(ClientError::Call(CallError::Aborted));
        }
        if self.client.ready() {
            self.client
                .call_with_timeout(timeout, |c| {
                    c.call_snapshot().map(|view| CgroupsTable::from_view(&view))
                })
                .map_err(ClientError::Call)
        } else {
            let status = self.client.status();
            Err(match status.last_connect_error {
                Some(e) => ClientError::Connect(e),
                None => ClientError::Call(CallError::NotReady(status.state)),
            })
        }
    }

    /// A handle that aborts this cache's refreshes from any thread: a
    /// blocked refresh returns [`CallError::Aborted`] promptly and every
    /// refresh fails at once until the handle is cleared. The cached
    /// snapshot is kept. The same handle as the Level 2 client's.
    pub fn abort_handle(&self) -> AbortHandle {
        self.client.abort_handle()
    }

    /// Sets the deadline of one refresh's snapshot call (zero: 30 s).
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.client.set_call_timeout(timeout);
    }

    /// True once a refresh has succeeded (not "connected").
    pub fn ready(&self) -> bool {
        self.populated
    }

    /// Looks a cgroup up by the producer's hash and its exact name. Always
    /// `None` before the first successful refresh.
    #[inline]
    pub fn lookup(&self, hash: u32, name: &[u8]) -> Option<Cgroup<'_>> {
        self.table.lookup(hash, name)
    }

    /// The cached snapshot.
    pub fn table(&self) -> &CgroupsTable {
        &self.table
    }

    /// The cached cgroups in snapshot order.
    pub fn iter(&self) -> Iter<'_> {
        self.table.iter()
    }

    /// Number of cached cgroups.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no cgroup is cached.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The cached snapshot's generation.
    pub fn generation(&self) -> u64 {
        self.table.generation()
    }

    /// The cached snapshot's `systemd_enabled`.
    pub fn systemd_enabled(&self) -> u32 {
        self.table.systemd_enabled()
    }

    /// State and counters.
    pub fn status(&self) -> CacheStatus {
        CacheStatus {
            populated: self.populated,
            item_count: self.table.len(),
            systemd_enabled: self.table.systemd_enabled(),
            generation: self.table.generation(),
            successes: self.successes,
            failures: self.failures,
            client_state: self.client.state(),
            last_success: self.last_success,
            last_error: self.last_error.clone(),
        }
    }

    /// The Level 2 client (for its status).
    pub fn client(&self) -> &CgroupsSnapshotClient {
        &self.client
    }

    /// Drops the cached snapshot and closes the client.
    pub fn close(&mut self) {
        self.client.close();
        self.table = CgroupsTable::default();
        self.populated = false;
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_eq;

    #[test]
    fn bytes_eq_agrees_with_slice_equality_at_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(7))
                .collect();
            assert!(bytes_eq(&a, &a.clone()), "len {n}");
            for pos in 0..n {
                let mut b = a.clone();
                b[pos] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "len {n}, differs at {pos}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!bytes_eq(&a, &longer), "len {n} vs {}", n + 1);
        }
    }
}
