//! The event log handle: opening, the in-memory view of what it holds, flushing and metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latticed_crdt::{NodeId, Op, OpId, TenantId};
use latticed_proto::CaseMapping;
use parking_lot::{Mutex, RwLock};

use crate::entry::Entry;
use crate::error::{LogError, OpenError};
use crate::keys::{self, KeyBuf, META_PROGRESS};
use crate::progress::{OriginProgress, VersionVector};
use crate::storage::{SledStorage, Space, Storage};
use crate::stored::{self, EntryScan};

/// Default page cache of the storage engine: enough for the hot part of a busy log.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// How to open a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Most memory the storage engine may use to cache pages.
    pub cache_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// A node's event log: every op it has seen, from every origin, for every tenant, with history
/// and time indexes, snapshots and node metadata.
///
/// Cheap to clone (a shared handle) and safe to use from many threads. Appends are not durable
/// until the next [`EventLog::flush`]; see [`EventLog::spawn_flusher`] for the group-commit
/// policy and the crate docs for what a power cut can lose. Dropping the last handle flushes.
#[derive(Clone)]
pub struct EventLog {
    pub(crate) inner: Arc<Inner>,
}

/// The shared state behind every handle.
pub(crate) struct Inner {
    pub store: Box<dyn Storage>,
    progress: Mutex<Progress>,
    casemaps: RwLock<HashMap<TenantId, CaseMapping>>,
    /// Serialises read-modify-write of node metadata.
    pub meta_lock: Mutex<()>,
    counters: Counters,
    /// Appends waiting for the writer thread ([`crate::write_behind`]).
    pub backlog: Arc<crate::write_behind::Backlog>,
}

/// Seqs held per tenant and origin, and which progress changed since the last checkpoint.
#[derive(Default)]
struct Progress {
    tenants: BTreeMap<TenantId, BTreeMap<NodeId, OriginProgress>>,
    dirty: BTreeSet<(TenantId, NodeId)>,
}

#[derive(Default)]
struct Counters {
    appends: AtomicU64,
    duplicates: AtomicU64,
    append_errors: AtomicU64,
    flushes: AtomicU64,
    flush_errors: AtomicU64,
    /// Microseconds of the last successful flush, plus one (0: no flush yet).
    last_flush_micros_plus_one: AtomicU64,
    backlog_waits: WaitCounter,
    ceiling_waits: WaitCounter,
}

/// How often, and how long in all, callers waited for something.
#[derive(Default)]
struct WaitCounter {
    waits: AtomicU64,
    micros: AtomicU64,
}

impl WaitCounter {
    fn add(&self, waited: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn get(&self) -> Waits {
        Waits {
            count: self.waits.load(Ordering::Relaxed),
            total: Duration::from_micros(self.micros.load(Ordering::Relaxed)),
        }
    }
}

/// How often, and how long in all, commits waited for the disk for one reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waits {
    /// Waits since open.
    pub count: u64,
    /// Their summed duration.
    pub total: Duration,
}

/// Counters the node exports as metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogMetrics {
    /// Ops newly appended since open.
    pub appends: u64,
    /// Appends of ops the log already held (ignored).
    pub duplicates: u64,
    /// Appends handed to the writer thread that failed (each was logged).
    pub append_errors: u64,
    /// Successful flushes since open.
    pub flushes: u64,
    /// Failed flushes since open.
    pub flush_errors: u64,
    /// How long the last successful flush took.
    pub last_flush_latency: Option<Duration>,
    /// Appends that found the writer's backlog full and waited for it
    /// ([`crate::MAX_BACKLOG`]): the storage engine could not keep up with commits.
    pub backlog_waits: Waits,
    /// Commits that waited for their clock ceiling to reach the disk
    /// ([`crate::CeilingKeeper::await_covering`]): the disk fell half a block of stamps behind.
    pub ceiling_waits: Waits,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("tenants", &self.tenants())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.store.flush() {
            tracing::warn!(%error, "event log: final flush on close failed");
        }
    }
}

impl EventLog {
    /// Opens (creating if needed) the log in directory `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<EventLog, OpenError> {
        EventLog::open_with(dir, &LogOptions::default())
    }

    /// Opens (creating if needed) the log in directory `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: &LogOptions) -> Result<EventLog, OpenError> {
        let dir = dir.as_ref();
        let store =
            SledStorage::open(dir, options.cache_bytes).map_err(|source| OpenError::Storage {
                path: dir.to_path_buf(),
                source,
            })?;
        crate::marker::check_or_create(dir, &store)?;
        EventLog::from_storage(Box::new(store)).map_err(|source| OpenError::Load {
            path: dir.to_path_buf(),
            source,
        })
    }

    /// A log over any storage engine: loads what it holds (per-origin progress from the last
    /// checkpoint onwards, tenant casemappings).
    pub fn from_storage(store: Box<dyn Storage>) -> Result<EventLog, LogError> {
        let tenants = crate::load::load_progress(store.as_ref())?;
        let casemaps = crate::meta::load_casemappings(store.as_ref())?;
        Ok(EventLog {
            inner: Arc::new(Inner {
                store,
                progress: Mutex::new(Progress {
                    tenants,
                    dirty: BTreeSet::new(),
                }),
                casemaps: RwLock::new(casemaps),
                meta_lock: Mutex::new(()),
                counters: Counters::default(),
                backlog: Arc::default(),
            }),
        })
    }

    pub(crate) fn store(&self) -> &dyn Storage {
        self.inner.store.as_ref()
    }

    /// Whether the op's record is known to be held: everything noted by [`EventLog::note_held`]
    /// since the log was opened, and what opening found.
    pub(crate) fn holds(&self, tenant: &TenantId, id: OpId) -> bool {
        self.inner
            .progress
            .lock()
            .tenants
            .get(tenant)
            .and_then(|origins| origins.get(&id.origin))
            .is_some_and(|p| p.holds(id.seq))
    }

    /// Notes that an op is now held (called after its record is written).
    pub(crate) fn note_held(&self, tenant: &TenantId, id: OpId) {
        let mut progress = self.inner.progress.lock();
        let moved = progress
            .tenants
            .entry(tenant.clone())
            .or_default()
            .entry(id.origin)
            .or_default()
            .hold(id.seq);
        if moved {
            progress.dirty.insert((tenant.clone(), id.origin));
        }
    }

    pub(crate) fn count_append(&self, new: bool) {
        let counter = if new {
            &self.inner.counters.appends
        } else {
            &self.inner.counters.duplicates
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_backlog_wait(&self, waited: Duration) {
        self.inner.counters.backlog_waits.add(waited);
    }

    pub(crate) fn count_ceiling_wait(&self, waited: Duration) {
        self.inner.counters.ceiling_waits.add(waited);
    }

    pub(crate) fn count_append_error(&self) {
        self.inner
            .counters
            .append_errors
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Makes every append made before this call durable (one fsync for all of them: group
    /// commit), those handed to the writer thread included. Also checkpoints per-origin progress
    /// so the next open does not rescan the log.
    pub fn flush(&self) -> Result<(), LogError> {
        self.settle();
        let started = Instant::now();
        let result = self.checkpoint_and_flush();
        let counters = &self.inner.counters;
        match &result {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
                counters
                    .last_flush_micros_plus_one
                    .store(micros + 1, Ordering::Relaxed);
                counters.flushes.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counters.flush_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn checkpoint_and_flush(&self) -> Result<(), LogError> {
        let dirty: Vec<(TenantId, NodeId, u64)> = {
            let mut progress = self.inner.progress.lock();
            let dirty = std::mem::take(&mut progress.dirty);
            dirty
                .into_iter()
                .map(|(tenant, origin)| {
                    let contiguous = progress
                        .tenants
                        .get(&tenant)
                        .and_then(|origins| origins.get(&origin))
                        .map_or(0, |p| p.contiguous);
                    (tenant, origin, contiguous)
                })
                .collect()
        };
        for (index, (tenant, origin, contiguous)) in dirty.iter().enumerate() {
            let written = progress_key(tenant, *origin).and_then(|key| {
                self.store()
                    .insert(Space::Meta, &key, &contiguous.to_be_bytes())
                    .map_err(LogError::storage("checkpointing progress"))
            });
            if let Err(error) = written {
                let mut progress = self.inner.progress.lock();
                for (tenant, origin, _) in &dirty[index..] {
                    progress.dirty.insert((tenant.clone(), *origin));
                }
                return Err(error);
            }
        }
        self.store()
            .flush()
            .map_err(LogError::storage("flushing to disk"))
    }

    /// For every origin, the highest seq up to which this log holds all of that origin's ops of
    /// `tenant` (origins with none contiguous from 1 are left out).
    pub fn version_vector(&self, tenant: &TenantId) -> VersionVector {
        self.settle();
        let progress = self.inner.progress.lock();
        progress
            .tenants
            .get(tenant)
            .into_iter()
            .flatten()
            .filter(|(_, p)| p.contiguous > 0)
            .map(|(origin, p)| (*origin, p.contiguous))
            .collect()
    }

    /// What a peer whose version vector is `peer` is missing of `tenant`: every entry held with
    /// a seq above the peer's for its origin, at most `limit` entries, in stamp order: each origin's
    /// in seq order, the origins interleaved as their ops were made, so a peer catching up after a
    /// split applies (and shows its clients) the split's messages in the order they were sent.
    ///
    /// To page through a large gap, call again with the peer's vector raised to the last seq
    /// returned for each origin in the batch; an empty batch means nothing more is held.
    pub fn ops_after(
        &self,
        tenant: &TenantId,
        peer: &VersionVector,
        limit: usize,
    ) -> Result<Vec<Entry>, LogError> {
        self.settle();
        let origins: Vec<NodeId> = {
            let progress = self.inner.progress.lock();
            progress
                .tenants
                .get(tenant)
                .map(|origins| origins.keys().copied().collect())
                .unwrap_or_default()
        };
        let mut streams = Vec::with_capacity(origins.len());
        for origin in origins {
            let seen = peer.get(&origin).copied().unwrap_or(0);
            let Some(first) = seen.checked_add(1) else {
                continue;
            };
            let mut scan = EntryScan::new(self.store(), tenant, origin, first)?;
            if let Some(head) = scan.next_entry()? {
                streams.push((head, scan));
            }
        }
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(earliest) = streams
                .iter()
                .enumerate()
                .min_by_key(|(_, (head, _))| head.stamp())
                .map(|(i, _)| i)
            else {
                break;
            };
            let (head, scan) = &mut streams[earliest];
            match scan.next_entry()? {
                Some(next) => out.push(std::mem::replace(head, next)),
                None => out.push(streams.swap_remove(earliest).0),
            }
        }
        Ok(out)
    }

    /// The entries of one origin for `tenant` with a seq above `after`, in seq order, at most
    /// `limit`: what a peer that missed that origin's ops from `after` on needs, without a scan
    /// of the other origins. Empty when nothing more is held.
    pub fn origin_ops_after(
        &self,
        tenant: &TenantId,
        origin: NodeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, LogError> {
        self.settle();
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut scan = EntryScan::new(self.store(), tenant, origin, first)?;
        let mut out = Vec::new();
        while out.len() < limit {
            match scan.next_entry()? {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        Ok(out)
    }

    /// The entry held for an op id, if any.
    pub fn get(&self, tenant: &TenantId, id: OpId) -> Result<Option<Entry>, LogError> {
        self.settle();
        match stored::find(self.store(), tenant, id)? {
            Some(record) => record.entry(id.seq),
            None => Ok(None),
        }
    }

    /// The ops a `time` entry at op `first` counts: that op, or the `count` ops of the run it
    /// starts (run.rs). Tombstones of pruned messages are left out.
    pub(crate) fn ops_of_time_entry(
        &self,
        tenant: &TenantId,
        first: OpId,
        count: u64,
    ) -> Result<Vec<Op>, LogError> {
        let Some(record) = stored::find(self.store(), tenant, first)? else {
            return Ok(Vec::new());
        };
        if count == 1 {
            return Ok(record
                .entry(first.seq)?
                .and_then(Entry::into_op)
                .into_iter()
                .collect());
        }
        let seqs = first.seq..first.seq.saturating_add(count);
        Ok(record
            .entries()?
            .into_iter()
            .filter(|entry| seqs.contains(&entry.id().seq))
            .filter_map(Entry::into_op)
            .collect())
    }

    /// Every tenant the log holds ops of, in order.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.settle();
        self.inner.progress.lock().tenants.keys().cloned().collect()
    }

    /// The casemapping the log compares `tenant`'s channel names with: the one set by
    /// [`EventLog::set_casemapping`], or `rfc1459` (the IRC default) if none was.
    pub fn casemapping(&self, tenant: &TenantId) -> CaseMapping {
        self.inner
            .casemaps
            .read()
            .get(tenant)
            .copied()
            .unwrap_or(CaseMapping::Rfc1459)
    }

    pub(crate) fn remember_casemapping(&self, tenant: &TenantId, casemapping: CaseMapping) {
        self.inner
            .casemaps
            .write()
            .insert(tenant.clone(), casemapping);
    }

    /// Counters for the node's metrics.
    pub fn metrics(&self) -> LogMetrics {
        let c = &self.inner.counters;
        LogMetrics {
            appends: c.appends.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            append_errors: c.append_errors.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            flush_errors: c.flush_errors.load(Ordering::Relaxed),
            last_flush_latency: match c.last_flush_micros_plus_one.load(Ordering::Relaxed) {
                0 => None,
                n => Some(Duration::from_micros(n - 1)),
            },
            backlog_waits: c.backlog_waits.get(),
            ceiling_waits: c.ceiling_waits.get(),
        }
    }

    /// Bytes the log uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, LogError> {
        self.store()
            .size_on_disk()
            .map_err(LogError::storage("measuring size on disk"))
    }
}

/// Key of the progress checkpoint of one origin in one tenant.
pub(crate) fn progress_key(tenant: &TenantId, origin: NodeId) -> Result<Vec<u8>, LogError> {
    Ok(KeyBuf::meta(META_PROGRESS)
        .str(&tenant.0)?
        .u32(origin.0)
        .into_vec())
}

/// Names an `ops` key in errors: the op (or first op of a run) it holds.
pub(crate) fn describe_op_key(key: &[u8]) -> String {
    let mut r = keys::KeyReader::new(key);
    match (r.str(), r.op_id()) {
        (Ok(tenant), Ok(id)) => format!("op {}/{} of tenant {tenant}", id.origin, id.seq),
        _ => format!("under malformed key {key:02x?}"),
    }
}
