//! Telling a damaged log from a new one.
//!
//! A storage engine that cannot read its files may quietly start empty (sled treats an
//! unreadable log as a torn write), which would look exactly like a brand-new log. So a log is
//! created in two durable steps: a format marker inside the engine, then a sentinel file beside
//! the engine's files. On open, a sentinel without a marker means the engine lost the log's
//! data: that is corruption, and it stays detectable however often the directory is reopened.

use std::io::Write;
use std::path::Path;

use crate::error::{LogError, OpenError};
use crate::keys::{KeyBuf, META_FORMAT};
use crate::storage::{Space, Storage};

/// The on-disk format of the log as a whole (key layout and record encoding). Format 2 added
/// runs of messages under one key (run.rs) and history entries for several messages
/// (history_group.rs); format 3 lets a run hold ops of any one kind. A log of an earlier format
/// is a valid log of this one and is marked with this format when opened, so a build that only
/// reads an earlier format refuses it by name instead of misreading its first run record.
pub const LOG_FORMAT: u8 = 3;

/// The earlier formats this build opens and upgrades.
const PREVIOUS_FORMATS: [u8; 2] = [1, 2];

/// Name of the sentinel file written into the log directory once the log exists.
pub const SENTINEL_FILE: &str = "LATTICED_EVENTLOG";

/// Checks that `store`, opened from `dir`, holds the log it should, or marks it as a new log.
pub(crate) fn check_or_create(dir: &Path, store: &dyn Storage) -> Result<(), OpenError> {
    let load = |source: LogError| OpenError::Load {
        path: dir.to_path_buf(),
        source,
    };
    let key = KeyBuf::meta(META_FORMAT).into_vec();
    let marker = store
        .get(Space::Meta, &key)
        .map_err(LogError::storage("reading the format marker"))
        .map_err(load)?;
    let sentinel = dir.join(SENTINEL_FILE);
    match marker.as_deref() {
        Some([LOG_FORMAT]) => {}
        Some([previous]) if PREVIOUS_FORMATS.contains(previous) => {
            store
                .insert(Space::Meta, &key, &[LOG_FORMAT])
                .and_then(|()| store.flush())
                .map_err(LogError::storage("upgrading the format marker"))
                .map_err(load)?;
        }
        Some(other) => {
            return Err(OpenError::UnsupportedFormat {
                path: dir.to_path_buf(),
                found: other.to_vec(),
            })
        }
        None if sentinel.exists() => {
            return Err(OpenError::Lost {
                path: dir.to_path_buf(),
            })
        }
        None => {
            store
                .insert(Space::Meta, &key, &[LOG_FORMAT])
                .and_then(|()| store.flush())
                .map_err(LogError::storage("writing the format marker"))
                .map_err(load)?;
        }
    }
    if !sentinel.exists() {
        write_sentinel(&sentinel).map_err(|source| OpenError::Sentinel {
            path: sentinel.clone(),
            source,
        })?;
    }
    Ok(())
}

fn write_sentinel(path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    writeln!(file, "latticed event log, format {LOG_FORMAT}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SledStorage;

    fn marker(store: &dyn Storage) -> Option<Vec<u8>> {
        store
            .get(Space::Meta, &KeyBuf::meta(META_FORMAT).into_vec())
            .unwrap()
    }

    #[test]
    fn a_previous_format_is_upgraded_and_an_unknown_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStorage::open(dir.path(), 1 << 20).unwrap();
        check_or_create(dir.path(), &store).unwrap();
        assert_eq!(marker(&store), Some(vec![LOG_FORMAT]));

        let key = KeyBuf::meta(META_FORMAT).into_vec();
        for previous in PREVIOUS_FORMATS {
            store.insert(Space::Meta, &key, &[previous]).unwrap();
            check_or_create(dir.path(), &store).unwrap();
            assert_eq!(marker(&store), Some(vec![LOG_FORMAT]));
        }

        store.insert(Space::Meta, &key, &[LOG_FORMAT + 1]).unwrap();
        assert!(matches!(
            check_or_create(dir.path(), &store),
            Err(OpenError::UnsupportedFormat { found, .. }) if found == [LOG_FORMAT + 1]
        ));
    }
}
