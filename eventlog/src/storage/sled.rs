//! [`Storage`] on sled 0.34: one sled tree per [`Space`].

use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use super::{Scan, Space, Storage, StorageError};

/// The log's storage in a sled database directory.
///
/// sled writes to its own log and fsyncs on [`Storage::flush`], and by itself every 500 ms; it
/// holds an exclusive lock on the directory while open.
pub struct SledStorage {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl SledStorage {
    /// Opens (creating if needed) the database in `dir`, with a page cache of at most
    /// `cache_bytes`.
    ///
    /// Damage is reported as [`StorageError::Corrupt`]: sled's own corruption errors, a panic
    /// of sled on some kinds of damaged files (caught here), and a non-empty database file from
    /// which sled recovered nothing (which sled itself would silently treat as a new database).
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStorage, StorageError> {
        // sled releases its file lock from a background thread after the last handle is
        // dropped, so a log reopened at once (a restart within one process) can find it held
        // for a moment; another process holding it keeps it held past the bounded wait.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::open_once(dir, cache_bytes) {
                Err(StorageError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path, cache_bytes: u64) -> Result<SledStorage, StorageError> {
        let had_data = std::fs::metadata(dir.join("db")).is_ok_and(|m| m.len() > 0);
        let opened = catch_unwind(AssertUnwindSafe(|| -> Result<SledStorage, StorageError> {
            let db = sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                .open()
                .map_err(from_sled)?;
            if had_data && !db.was_recovered() {
                // sled treats an unreadable log as a torn write and silently starts empty.
                return Err(StorageError::Corrupt {
                    detail: "sled recovered nothing from a non-empty database file".into(),
                });
            }
            let trees = Space::ALL
                .into_iter()
                .map(|space| db.open_tree(space.name()).map_err(from_sled))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SledStorage { db, trees })
        }));
        match opened {
            Ok(result) => result,
            Err(panic) => Err(StorageError::Corrupt {
                detail: format!("sled panicked while opening: {}", panic_text(&panic)),
            }),
        }
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        // `trees` was built from `Space::ALL`, whose order is the discriminant order.
        &self.trees[space as usize]
    }
}

/// How long [`SledStorage::open`] waits for a just-closed log's lock to be released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

/// Sorts sled's errors into what the log can act on: damaged data, a held lock, the operating
/// system, or anything else.
fn from_sled(error: sled::Error) -> StorageError {
    match error {
        sled::Error::Corruption { at, .. } => StorageError::Corrupt {
            detail: format!("sled found corrupt data at {at:?}"),
        },
        sled::Error::Unsupported(detail) => StorageError::Corrupt {
            detail: format!("sled refused its own files: {detail}"),
        },
        sled::Error::Io(source) => match source.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
                StorageError::Corrupt {
                    detail: format!("sled could not read its files: {source}"),
                }
            }
            _ if source.to_string().contains("could not acquire lock") => StorageError::Locked {
                detail: source.to_string(),
            },
            _ => StorageError::Io { source },
        },
        other => StorageError::Engine {
            detail: other.to_string(),
        },
    }
}

fn to_vec((k, v): (sled::IVec, sled::IVec)) -> (Vec<u8>, Vec<u8>) {
    (k.to_vec(), v.to_vec())
}

impl Storage for SledStorage {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.tree(space)
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(from_sled)
    }

    fn contains(&self, space: Space, key: &[u8]) -> Result<bool, StorageError> {
        self.tree(space).contains_key(key).map_err(from_sled)
    }

    fn insert(&self, space: Space, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.tree(space)
            .insert(key, value)
            .map(drop)
            .map_err(from_sled)
    }

    fn insert_if_absent(
        &self,
        space: Space,
        key: &[u8],
        value: &[u8],
    ) -> Result<bool, StorageError> {
        let swapped = self
            .tree(space)
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))
            .map_err(from_sled)?;
        Ok(swapped.is_ok())
    }

    fn remove(&self, space: Space, key: &[u8]) -> Result<(), StorageError> {
        self.tree(space).remove(key).map(drop).map_err(from_sled)
    }

    fn scan(
        &self,
        space: Space,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Scan<'_> {
        let empty = match (&start, &end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
            _ => false,
        };
        if empty {
            return Box::new(std::iter::empty());
        }
        let iter = self.tree(space).range::<Vec<u8>, _>((start, end));
        let map =
            |item: sled::Result<(sled::IVec, sled::IVec)>| item.map(to_vec).map_err(from_sled);
        if reverse {
            Box::new(iter.rev().map(map))
        } else {
            Box::new(iter.map(map))
        }
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map(drop).map_err(from_sled)
    }

    fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.db.size_on_disk().map_err(from_sled)
    }
}
