//! Files of a data directory, for tests about damaged event logs: read a directory tree, damage
//! every file in it, and find the copies quarantine moved aside.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every regular file under `dir`, by path relative to it, with its contents.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(here) = pending.pop() {
        for entry in std::fs::read_dir(&here).expect("list the directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let relative = path.strip_prefix(dir).expect("under dir").to_path_buf();
                out.insert(relative, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    out
}

/// Overwrites every file under `dir` with garbage of at least 64 bytes (as the event log's own
/// quarantine test does) and returns what is now there.
pub fn damage(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let before = files_under(dir);
    assert!(!before.is_empty(), "the data directory has files to damage");
    for (relative, old) in &before {
        let garbage: Vec<u8> = (0..old.len().max(64))
            .map(|i| u8::try_from((i * 151 + 7) % 256).expect("a byte"))
            .collect();
        std::fs::write(dir.join(relative), garbage).expect("overwrite a file");
    }
    files_under(dir)
}

/// The siblings of `data_dir` that quarantine made (`<name>.quarantined-<ms>`).
pub fn quarantined(data_dir: &Path) -> Vec<PathBuf> {
    let parent = data_dir.parent().expect("the data directory has a parent");
    let name = data_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("the data directory has a UTF-8 name");
    let prefix = format!("{name}.quarantined-");
    std::fs::read_dir(parent)
        .expect("list the data directory's parent")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}
