//! Damaged logs are quarantined, never deleted; a log in use is not mistaken for a damaged one;
//! damaged records are errors, not panics.

use std::collections::BTreeMap;
use std::path::Path;

use latticed_eventlog::{EventLog, LogOptions, Opened, SledStorage, Space, Storage};

use crate::support::{append_all, tenant, uid, Origin};

fn write_some_ops(path: &Path) {
    let log = EventLog::open(path).unwrap();
    let mut a = Origin::new(1);
    append_all(
        &log,
        &[a.arrive(1, uid(1, 1), "alice"), a.join(2, uid(1, 1), "#c")],
    );
    log.flush().unwrap();
}

/// Overwrites the sled files in `dir` whose names pass `which` with garbage of the same length.
fn overwrite_files_with_garbage(dir: &Path, which: impl Fn(&str) -> bool) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && which(&name) {
            let len = std::fs::metadata(&path).unwrap().len().max(64) as usize;
            let garbage: Vec<u8> = (0..len).map(|i| (i * 151 + 7) as u8).collect();
            std::fs::write(&path, garbage).unwrap();
        }
    }
}

#[test]
fn a_damaged_log_is_renamed_aside_and_replaced_by_an_empty_one() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("log");
    write_some_ops(&path);
    overwrite_files_with_garbage(&path, |_| true);

    let error = EventLog::open(&path).expect_err("garbage opened as a log");
    assert!(error.is_corruption(), "{error}");

    let (log, opened) = EventLog::open_or_quarantine(&path, &LogOptions::default()).unwrap();
    let Opened::Quarantined { moved_to, reason } = opened else {
        panic!("not quarantined: {opened:?}");
    };
    assert!(!reason.is_empty());
    assert!(moved_to.starts_with(root.path()));
    assert!(moved_to
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("log.quarantined-"));
    assert!(moved_to.join("conf").is_file(), "quarantined files kept");
    assert!(log.tenants().is_empty());
    assert!(log.version_vector(&tenant()).is_empty());
    drop(log);

    let (_log, opened) = EventLog::open_or_quarantine(&path, &LogOptions::default()).unwrap();
    assert_eq!(opened, Opened::Clean);
}

#[test]
fn a_database_file_sled_cannot_read_is_not_silently_treated_as_empty() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("log");
    write_some_ops(&path);
    overwrite_files_with_garbage(&path, |name| name == "db");

    let error = EventLog::open(&path).expect_err("unreadable data opened as empty");
    assert!(error.is_corruption(), "{error}");
    let (log, opened) = EventLog::open_or_quarantine(&path, &LogOptions::default()).unwrap();
    assert!(matches!(opened, Opened::Quarantined { .. }), "{opened:?}");
    assert!(log.tenants().is_empty());
}

#[test]
fn a_log_in_use_is_not_quarantined() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("log");
    let _open = EventLog::open(&path).unwrap();
    let error = EventLog::open_or_quarantine(&path, &LogOptions::default())
        .expect_err("opened a locked log twice");
    assert!(!error.is_corruption(), "{error}");
    let siblings = std::fs::read_dir(root.path()).unwrap().count();
    assert_eq!(siblings, 1, "something was renamed");
}

#[test]
fn a_damaged_record_is_an_error_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("log");
    write_some_ops(&path);
    {
        let store = SledStorage::open(&path, 1 << 20).unwrap();
        let keys: Vec<Vec<u8>> = store
            .scan(
                Space::Ops,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                false,
            )
            .map(|item| item.unwrap().0)
            .collect();
        assert_eq!(keys.len(), 2);
        store.insert(Space::Ops, &keys[0], &[1, 200, 1, 2]).unwrap();
        store.insert(Space::Ops, &keys[1], &[9, 0]).unwrap();
        store.flush().unwrap();
    }
    let log = EventLog::open(&path).unwrap();
    let error = log.ops_after(&tenant(), &BTreeMap::new(), 10).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    let error = log.replay(&tenant(), u64::MAX).unwrap_err();
    assert!(error.is_corruption(), "{error}");
}
