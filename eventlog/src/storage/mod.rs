//! The storage engine behind the log, as one small trait: the only code that knows which engine
//! is used is its implementation ([`SledStorage`]), so swapping engines touches one module.
//!
//! The engine offers a few ordered keyspaces ([`Space`]) of byte keys and values with point
//! reads and writes, insert-if-absent, ordered range scans in both directions and an explicit
//! flush that makes every earlier write durable. Writes become durable only at a flush (or
//! whenever the engine chooses to flush on its own); after a crash the engine recovers a prefix
//! of the writes in the order they were made.

mod sled;

use std::ops::Bound;

use thiserror::Error;

pub use self::sled::SledStorage;

/// The keyspaces of the log; see the key layout in the crate's README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Every op (or pruned tombstone) by (tenant, origin, seq).
    Ops = 0,
    /// Time index: (tenant, wall_ms, origin, seq).
    Time = 1,
    /// Message history by (tenant, target, wall_ms, msgid).
    History = 2,
    /// Message position by (tenant, msgid).
    MsgIds = 3,
    /// Private conversations per user: (tenant, user, peer).
    Conversations = 4,
    /// Tenant snapshots by (tenant, taken_ms).
    Snapshots = 5,
    /// Node and tenant metadata: clock ceiling, epoch, casemapping, progress checkpoints.
    Meta = 6,
}

impl Space {
    /// Every keyspace, in discriminant order.
    pub const ALL: [Space; 7] = [
        Space::Ops,
        Space::Time,
        Space::History,
        Space::MsgIds,
        Space::Conversations,
        Space::Snapshots,
        Space::Meta,
    ];

    /// Stable name of the keyspace (a sled tree name).
    pub fn name(self) -> &'static str {
        match self {
            Space::Ops => "ops",
            Space::Time => "time",
            Space::History => "history",
            Space::MsgIds => "msgids",
            Space::Conversations => "conversations",
            Space::Snapshots => "snapshots",
            Space::Meta => "meta",
        }
    }
}

/// One key and value read from a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Items of a scan, in key order (or reverse key order).
pub type Scan<'a> = Box<dyn Iterator<Item = Result<KeyValue, StorageError>> + Send + 'a>;

/// What went wrong in the storage engine.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The stored data is damaged: the engine cannot make sense of its own files.
    #[error("storage is corrupt: {detail}")]
    Corrupt {
        /// What the engine reported.
        detail: String,
    },
    /// The data directory is in use by another process (or another open log in this one).
    #[error("storage is locked by another user: {detail}")]
    Locked {
        /// What the engine reported.
        detail: String,
    },
    /// An I/O error from the operating system (permissions, disk full...): not the data's fault.
    #[error("storage I/O failed: {source}")]
    Io {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else the engine reported.
    #[error("storage engine failed: {detail}")]
    Engine {
        /// What the engine reported.
        detail: String,
    },
}

impl StorageError {
    /// Whether the error means the stored data itself is damaged, so the directory should be
    /// quarantined and the node resynced from peers.
    pub fn is_corruption(&self) -> bool {
        matches!(self, StorageError::Corrupt { .. })
    }
}

/// An ordered key-value engine with a few keyspaces; see the module docs for the durability
/// contract. Implementations are shared between threads.
pub trait Storage: Send + Sync {
    /// The value under `key`.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Whether `key` is present.
    fn contains(&self, space: Space, key: &[u8]) -> Result<bool, StorageError>;

    /// Sets `key` to `value`, replacing any previous value.
    fn insert(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StorageError>;

    /// Sets `key` to `value` only if `key` is absent, atomically; returns whether it was set.
    fn insert_if_absent(
        &self,
        space: Space,
        key: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError>;

    /// Removes `key` if present.
    fn remove(&self, space: Space, key: &[u8]) -> Result<(), StorageError>;

    /// Keys and values within the bounds, in key order, or reverse key order if `reverse`.
    /// Bounds that select nothing (start above end) give an empty scan.
    fn scan(
        &self,
        space: Space,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Scan<'_>;

    /// Makes every write made before this call durable.
    fn flush(&self) -> Result<(), StorageError>;

    /// Bytes the engine uses on disk.
    fn size_on_disk(&self) -> Result<u64, StorageError>;
}

/// Every key starting with `prefix`, in key order or reverse.
pub(crate) fn scan_prefix<'a>(
    storage: &'a dyn Storage,
    space: Space,
    prefix: &[u8],
    reverse: bool,
) -> Scan<'a> {
    let end = match crate::keys::prefix_successor(prefix) {
        Some(succ) => Bound::Excluded(succ),
        None => Bound::Unbounded,
    };
    storage.scan(space, Bound::Included(prefix.to_vec()), end, reverse)
}
